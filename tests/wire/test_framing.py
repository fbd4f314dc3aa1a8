"""Tests for L{logship.wire.framing}."""

from __future__ import annotations

import struct
from itertools import pairwise

from hypothesis import given
from hypothesis import strategies as st
from twisted.trial.unittest import SynchronousTestCase

from logship.wire.framing import MAX_FRAME, Framer, FrameTooLarge, encode_frame

BODIES = st.lists(st.binary(max_size=300), max_size=20)


def _chunks(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({c % (len(data) + 1) for c in cuts} | {0, len(data)})
    return [data[a:b] for a, b in pairwise(points)]


class FramerTests(SynchronousTestCase):
    def test_layout(self) -> None:
        """
        A frame is a 4-byte big-endian length and the body.
        """
        self.assertEqual(encode_frame(b"abc"), b"\x00\x00\x00\x03abc")
        self.assertEqual(encode_frame(b""), b"\x00\x00\x00\x00")

    def test_whole_stream(self) -> None:
        framer = Framer()
        stream = b"".join(encode_frame(b) for b in [b"one", b"", b"three"])
        self.assertEqual(framer.feed(stream), [b"one", b"", b"three"])
        self.assertEqual(framer.buffered, 0)

    def test_byte_at_a_time(self) -> None:
        """
        Feeding one byte at a time gives the same frames, each as soon as
        its last byte arrives.
        """
        bodies = [b"one", b"", b"three" * 100, b"\x00\x00\x00\x05"]
        stream = b"".join(encode_frame(b) for b in bodies)
        framer = Framer()
        got = []
        for i in range(len(stream)):
            got.extend(framer.feed(stream[i : i + 1]))
        self.assertEqual(got, bodies)
        self.assertEqual(framer.buffered, 0)

    def test_partial_is_buffered(self) -> None:
        framer = Framer()
        self.assertEqual(framer.feed(encode_frame(b"hello")[:6]), [])
        self.assertEqual(framer.buffered, 6)
        self.assertEqual(framer.feed(b"llo"), [b"hello"])
        self.assertEqual(framer.buffered, 0)

    def test_oversize_rejected_from_prefix(self) -> None:
        """
        A length over the cap is refused as soon as the 4 prefix bytes are
        in, before any body byte, and the framer stays broken.
        """
        framer = Framer(max_frame=100)
        self.assertEqual(framer.feed(encode_frame(b"x" * 100)), [b"x" * 100])
        e = self.assertRaises(FrameTooLarge, framer.feed, struct.pack(">I", 101))
        self.assertEqual((e.length, e.limit, e.code), (101, 100, "frame-too-large"))
        self.assertEqual(framer.buffered, 0)
        self.assertRaises(FrameTooLarge, framer.feed, b"")

    def test_default_cap(self) -> None:
        framer = Framer()
        self.assertEqual(framer.feed(struct.pack(">I", MAX_FRAME)), [])
        self.assertRaises(
            FrameTooLarge, Framer().feed, struct.pack(">I", MAX_FRAME + 1)
        )
        self.assertRaises(FrameTooLarge, Framer().feed, b"GET / HTTP/1.1\r\n")

    def test_encode_refuses_oversize(self) -> None:
        self.assertRaises(FrameTooLarge, encode_frame, b"x" * 11, 10)

    def test_bad_cap(self) -> None:
        self.assertRaises(ValueError, Framer, 1 << 32)

    @given(BODIES, st.lists(st.integers(min_value=0), max_size=30))
    def test_any_chunking(self, bodies: list[bytes], cuts: list[int]) -> None:
        """
        However the stream is cut, the same bodies come out, in order.
        """
        stream = b"".join(encode_frame(b) for b in bodies)
        framer = Framer()
        got = []
        for chunk in _chunks(stream, cuts):
            got.extend(framer.feed(chunk))
        self.assertEqual(got, bodies)
        self.assertEqual(framer.buffered, 0)

    @given(st.binary(max_size=2000), st.lists(st.integers(min_value=0), max_size=10))
    def test_garbage_bounded(self, data: bytes, cuts: list[int]) -> None:
        """
        Arbitrary bytes only ever give bodies within the cap or
        L{FrameTooLarge}, and the buffer never holds more than a frame.
        """
        framer = Framer(max_frame=1000)
        try:
            for chunk in _chunks(data, cuts):
                for body in framer.feed(chunk):
                    self.assertLessEqual(len(body), 1000)
                self.assertLess(framer.buffered, 4 + 1000)
        except FrameTooLarge:
            pass
