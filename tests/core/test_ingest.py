"""Tests for L{logship.core.ingest}: line → events → bytes → events → line."""

from __future__ import annotations

import zlib
from datetime import timezone

from hypothesis import given, settings
from hypothesis import strategies as st
from twisted.trial.unittest import SynchronousTestCase

from logship.core.event import MAX_EVENT_SIZE, decode, encode, unpack_origin
from logship.core.ingest import LineEncoder, file_source_tag, lines_at, split_lines
from logship.core.parse import parse_line
from logship.core.render import whole_lines
from tests.corpus import LOG_NAMES, corpus_lines

NOW = 1795685820.0  # 2026-11-26T09:37:00Z
SOURCE = 0x5EED


def round_trip(encoder: LineEncoder, line: bytes) -> tuple[list[bytes], bytes]:
    """
    The serialized events of C{line}, and its message decoded back from them.
    """
    encoded = [encode(e) for e in encoder.events(line, NOW, 0)]
    [whole] = list(whole_lines(decode(data) for data in encoded))
    return encoded, whole.message


class SplitLinesTests(SynchronousTestCase):
    def test_terminators(self) -> None:
        chunks = [b"a\r\nb", b"\nc\r", b"\n\nd"]
        self.assertEqual(list(split_lines(chunks)), [b"a", b"b", b"c", b"", b"d"])

    def test_trailing_newline_makes_no_empty_line(self) -> None:
        self.assertEqual(list(split_lines([b"a\n", b"b\n"])), [b"a", b"b"])

    def test_lone_cr_inside_a_line_is_kept(self) -> None:
        self.assertEqual(list(split_lines([b"a\rb\n"])), [b"a\rb"])

    def test_offsets(self) -> None:
        """
        Each line comes with the offset where it starts, across chunks and
        terminators.
        """
        chunks = [b"a\r\nb", b"\nc\r", b"\n\nd"]
        self.assertEqual(
            list(lines_at(chunks)), [(0, b"a"), (3, b"b"), (5, b"c"), (8, b""), (9, b"d")]
        )

    @given(st.lists(st.binary(max_size=20), max_size=10))
    def test_offsets_point_at_the_lines(self, chunks: list[bytes]) -> None:
        data = b"".join(chunks)
        for offset, line in lines_at(chunks):
            self.assertEqual(data[offset : offset + len(line)], line)


class CorpusRoundTripTests(SynchronousTestCase):
    def test_every_corpus_line(self) -> None:
        """
        Every line of every corpus log goes through parse → encode → decode
        with its message byte for byte equal and the crc verified.
        """
        for name in LOG_NAMES:
            encoder = LineEncoder(host=b"h", tz=timezone.utc, source=SOURCE)
            lines = corpus_lines(name)
            self.assertEqual(len(lines), 2000, name)
            for line in lines:
                expected = parse_line(line, now=NOW, tz=timezone.utc).message
                encoded, message = round_trip(encoder, line)
                self.assertEqual(message, expected, (name, line))
                for data in encoded:
                    event = decode(data)
                    self.assertEqual(zlib.crc32(event.message), int.from_bytes(data[9:13], "big"))

    def test_identical_lines_stay_two_events(self) -> None:
        encoder = LineEncoder(host=b"h", tz=timezone.utc, source=SOURCE)
        line = b"Dec 10 06:55:46 LabSZ sshd[24200]: Connection closed by 1.2.3.4"
        first = encoder.events(line, NOW, 0)
        second = encoder.events(line, NOW, len(line) + 1)
        self.assertNotEqual(first[0].point, second[0].point)
        self.assertEqual(first[0].point // 10**8, second[0].point // 10**8)
        self.assertNotEqual(first[0].identity, second[0].identity)

    def test_origin(self) -> None:
        """
        An event's origin is the encoder's source tag and the file number
        and offset given with its line; the same line read again at the
        same place has the same identity, whatever the time of reading.
        """
        line = b"no header at all"
        [event] = LineEncoder(host=b"h", tz=timezone.utc, source=SOURCE).events(
            line, NOW, 77, file=3)
        self.assertEqual(unpack_origin(event.origin), (SOURCE, 3, 77))
        [again] = LineEncoder(host=b"h", tz=timezone.utc, source=SOURCE).events(
            line, NOW + 3600, 77, file=3)
        self.assertNotEqual(again.point, event.point)
        self.assertEqual(again.identity, event.identity)

    def test_file_source_tag(self) -> None:
        """
        The tag of an imported file depends on its name and first bytes.
        """
        tag = file_source_tag(b"/var/log/a", b"first line")
        self.assertEqual(tag, file_source_tag(b"/var/log/a", b"first line"))
        self.assertNotEqual(tag, file_source_tag(b"/var/log/b", b"first line"))
        self.assertNotEqual(tag, file_source_tag(b"/var/log/a", b"other line"))
        self.assertLess(tag, 2**32)

    def test_points_are_deterministic_from_the_content(self) -> None:
        lines = corpus_lines("OpenSSH_2k.log")
        runs = []
        for _ in range(2):
            encoder = LineEncoder(host=b"h", tz=timezone.utc, source=SOURCE)
            runs.append([e.point for line in lines for e in encoder.events(line, NOW, 0)])
        self.assertEqual(runs[0], runs[1])
        self.assertEqual(len(set(runs[0])), len(lines))


long_lines = st.builds(
    lambda unit, times, tail: (unit * times + tail).replace(b"\n", b""),
    st.binary(min_size=1, max_size=64),
    st.integers(0, (1 << 20) // 64),
    st.binary(max_size=64),
)


class PropertyTests(SynchronousTestCase):
    @settings(max_examples=150, deadline=None)
    @given(st.one_of(st.binary(max_size=300).map(lambda b: b.replace(b"\n", b"")), long_lines))
    def test_any_line_round_trips(self, line: bytes) -> None:
        """
        Any bytes line (invalid UTF-8, NUL, empty, up to 1 MiB) comes back
        byte for byte, every event within the size cap.
        """
        encoder = LineEncoder(host=b"h", tz=timezone.utc, source=SOURCE)
        encoded, message = round_trip(encoder, line)
        self.assertEqual(message, parse_line(line, now=NOW, tz=timezone.utc).message)
        self.assertTrue(all(len(data) <= MAX_EVENT_SIZE for data in encoded))


class PiecesTests(SynchronousTestCase):
    def test_pieces_of_a_huge_line_join_again(self) -> None:
        """
        A line read in pieces (C{ended=False}) gives events that join back
        to the whole message; later pieces are not parsed as headers.
        """
        encoder = LineEncoder(host=b"h", tz=timezone.utc, source=SOURCE)
        head = b"<13>Dec 10 06:55:46 LabSZ sshd[1]: "
        pieces = [head + b"a" * 100_000, b"<34>Oct 11 22:14:15 x y: " + b"b" * 50, b"c" * 10]
        events = []
        for i, piece in enumerate(pieces):
            events += encoder.events(piece, NOW, 1000 * i, ended=i == len(pieces) - 1)
        [whole] = list(whole_lines(decode(encode(e)) for e in events))
        self.assertEqual(whole.message, b"".join(pieces)[len(head):])
        self.assertEqual((whole.shn, whole.app, whole.pid, whole.pri), (b"LabSZ", b"sshd", b"1", 13))
        points = [e.point for e in events]
        self.assertEqual(points, sorted(set(points)))
        self.assertEqual(len({e.identity for e in events}), len(events))
        after = encoder.events(b"Dec 10 06:55:47 LabSZ cron: next", NOW, 5000)
        self.assertEqual((after[0].app, after[0].continued), (b"cron", False))
