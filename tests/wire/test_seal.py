"""Tests for L{logship.wire.seal}."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st
from twisted.trial.unittest import SynchronousTestCase

from logship.wire.seal import (
    COUNTER_SIZE,
    HANDSHAKE_OVERHEAD,
    MAGIC,
    SESSION_OVERHEAD,
    BadCounter,
    FrameOpener,
    FrameSealer,
    InsecureMismatch,
    NotLogship,
    OpenFailed,
    SealError,
    Side,
    check_key,
    derive_session_keys,
    new_random,
    open_handshake,
    seal_handshake,
    session,
)
from tests.wire.common import KEY, OTHER_KEY

_End = tuple[FrameSealer, FrameOpener]


def _pair(key: bytes | None = KEY) -> tuple[_End, _End]:
    """
    The sealers and openers of both ends of one connection.
    """
    c, s = new_random(), new_random()
    client = session(key, Side.CLIENT, c, s)
    server = session(key, Side.SERVER, c, s)
    return client, server


def _flip(data: bytes, bit: int) -> bytes:
    changed = bytearray(data)
    changed[bit // 8] ^= 1 << (bit % 8)
    return bytes(changed)


class HandshakeSealTests(SynchronousTestCase):
    def test_round_trip(self) -> None:
        frame = seal_handshake(KEY, b"hello")
        self.assertTrue(frame.startswith(MAGIC + b"\x01"))
        self.assertEqual(len(frame), len(b"hello") + HANDSHAKE_OVERHEAD)
        self.assertEqual(open_handshake(KEY, frame), b"hello")

    def test_random_nonce(self) -> None:
        """
        The same body sealed twice with the cluster key differs: the nonce
        is random, never a counter.
        """
        self.assertNotEqual(seal_handshake(KEY, b"x"), seal_handshake(KEY, b"x"))

    def test_wrong_key(self) -> None:
        e = self.assertRaises(
            OpenFailed, open_handshake, OTHER_KEY, seal_handshake(KEY, b"x")
        )
        self.assertEqual(e.code, "bad-seal")

    @given(st.data())
    def test_any_flipped_bit(self, data: st.DataObject) -> None:
        frame = seal_handshake(KEY, b"hello there")
        bit = data.draw(st.integers(0, len(frame) * 8 - 1))
        # The mode byte flipped to plain reads as an insecure peer.
        self.assertRaises(SealError, open_handshake, KEY, _flip(frame, bit))

    def test_not_logship(self) -> None:
        for frame in [b"", b"LOGSHIP", b"LOGSHIQ\x01abc", MAGIC + b"\x03abc"]:
            e = self.assertRaises(NotLogship, open_handshake, KEY, frame)
            self.assertEqual(e.code, "not-logship")

    def test_insecure_round_trip(self) -> None:
        frame = seal_handshake(None, b"hello")
        self.assertEqual(frame, MAGIC + b"\x00hello")
        self.assertEqual(open_handshake(None, frame), b"hello")

    def test_secure_meets_insecure(self) -> None:
        """
        Each side names the mismatch itself, whichever it is.
        """
        e = self.assertRaises(
            InsecureMismatch, open_handshake, KEY, seal_handshake(None, b"x")
        )
        self.assertIn("peer is insecure", e.detail)
        e = self.assertRaises(
            InsecureMismatch, open_handshake, None, seal_handshake(KEY, b"x")
        )
        self.assertIn("this node is insecure", e.detail)

    def test_check_key(self) -> None:
        self.assertEqual(check_key(KEY), KEY)
        self.assertIsNone(check_key(None))
        self.assertRaises(ValueError, check_key, b"short")
        self.assertRaises(ValueError, check_key, "x" * 32)


class SessionTests(SynchronousTestCase):
    def test_keys(self) -> None:
        """
        Each direction has its own key; both depend on both randoms and on
        the cluster key.
        """
        c, s = new_random(), new_random()
        c2s, s2c = derive_session_keys(KEY, c, s)
        self.assertEqual(len(c2s), 32)
        self.assertNotEqual(c2s, s2c)
        self.assertNotIn(c2s, derive_session_keys(KEY, c, new_random()))
        self.assertNotIn(c2s, derive_session_keys(KEY, new_random(), s))
        self.assertNotIn(c2s, derive_session_keys(OTHER_KEY, c, s))

    def test_round_trip(self) -> None:
        (c_seal, c_open), (s_seal, s_open) = _pair()
        for i in range(3):
            frame = c_seal.seal(b"to server %d" % i)
            self.assertEqual(frame[:COUNTER_SIZE], i.to_bytes(COUNTER_SIZE, "big"))
            self.assertEqual(len(frame), len(b"to server 0") + SESSION_OVERHEAD)
            self.assertEqual(s_open.open(frame), b"to server %d" % i)
            self.assertEqual(c_open.open(s_seal.seal(b"to client")), b"to client")

    def test_directions_differ(self) -> None:
        """
        A frame reflected back to its sender does not open.
        """
        (c_seal, c_open), _ = _pair()
        self.assertRaises(OpenFailed, c_open.open, c_seal.seal(b"x"))

    def test_replay(self) -> None:
        (c_seal, _), (_, s_open) = _pair()
        frame = c_seal.seal(b"once")
        s_open.open(frame)
        e = self.assertRaises(BadCounter, s_open.open, frame)
        self.assertEqual(e.code, "bad-counter")
        self.assertIn("counter 0, expected 1", e.detail)

    def test_reorder(self) -> None:
        (c_seal, _), (_, s_open) = _pair()
        first, second = c_seal.seal(b"1"), c_seal.seal(b"2")
        self.assertRaises(BadCounter, s_open.open, second)
        # A refused frame does not advance the counter.
        self.assertEqual(s_open.open(first), b"1")

    def test_counter_forged(self) -> None:
        """
        Rewriting the counter to the expected one does not help: it is the
        nonce, so the frame no longer opens.
        """
        (c_seal, _), (_, s_open) = _pair()
        c_seal.seal(b"skipped")
        frame = c_seal.seal(b"second")
        forged = (0).to_bytes(COUNTER_SIZE, "big") + frame[COUNTER_SIZE:]
        self.assertRaises(OpenFailed, s_open.open, forged)

    def test_other_session(self) -> None:
        """
        A frame of another connection (same cluster key, same counter) does
        not open.
        """
        (c_seal, _), _ = _pair()
        _, (_, other_open) = _pair()
        self.assertRaises(OpenFailed, other_open.open, c_seal.seal(b"x"))

    def test_short(self) -> None:
        _, (_, s_open) = _pair()
        self.assertRaises(OpenFailed, s_open.open, b"\x00" * (SESSION_OVERHEAD - 1))

    @given(st.binary(max_size=200), st.data())
    def test_any_flipped_bit(self, body: bytes, data: st.DataObject) -> None:
        (c_seal, _), (_, s_open) = _pair()
        frame = c_seal.seal(body)
        bit = data.draw(st.integers(0, len(frame) * 8 - 1))
        self.assertRaises((OpenFailed, BadCounter), s_open.open, _flip(frame, bit))

    @given(st.binary(max_size=200))
    def test_garbage(self, frame: bytes) -> None:
        _, (_, s_open) = _pair()
        self.assertRaises((OpenFailed, BadCounter), s_open.open, frame)

    def test_insecure(self) -> None:
        (c_seal, c_open), (s_seal, s_open) = _pair(None)
        self.assertEqual(c_seal.seal(b"plain"), b"plain")
        self.assertEqual(s_open.open(b"plain"), b"plain")
