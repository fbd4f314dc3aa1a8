"""Tests for L{logship.core.syslogframe}: RFC 6587 streams, RFC 5426 datagrams."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from logship.core.syslogframe import (
    FramingError,
    Piece,
    StreamFramer,
    datagram_pieces,
)
from tests.strategies import cuts, syslog_frames


def _stream(frames: list[tuple[bool, bytes]]) -> bytes:
    return b"".join(
        b"%d %s" % (len(m), m) if octets else m + b"\n" for octets, m in frames
    )


def _feed(chunks: list[bytes], max_line: int) -> tuple[list[Piece], bool]:
    framer = StreamFramer(max_line=max_line)
    pieces: list[Piece] = []
    failed = False
    for chunk in chunks:
        got, error = framer.feed_until_error(chunk)
        pieces += got
        if error is not None:
            failed = True
            break
    if not failed:
        pieces += framer.close()
    return pieces, failed


def _joined(pieces: list[Piece]) -> list[bytes]:
    messages, current = [], b""
    for piece in pieces:
        current += piece.data
        if piece.ended:
            messages.append(current)
            current = b""
    assert current == b""
    return messages


@given(st.data(), syslog_frames(), st.integers(1, 50))
def test_any_chunking_gives_the_same_messages(
    data: st.DataObject, frames: list[tuple[bool, bytes]], max_line: int
) -> None:
    """
    However the stream is cut into reads, the framer gives the same pieces
    (data, offsets, flags), and the pieces of each message join to it.
    """
    stream = _stream(frames)
    whole, failed = _feed([stream], max_line)
    assert not failed
    assert _joined(whole) == [m for _, m in frames]
    assert all(len(p.data) <= max_line for p in whole)
    chunked, failed = _feed(data.draw(cuts(stream)), max_line)
    assert not failed
    assert chunked == whole


@given(st.data(), st.binary(max_size=200), st.integers(1, 20))
def test_garbage_is_at_worst_a_framing_error(
    data: st.DataObject, garbage: bytes, max_line: int
) -> None:
    """
    Any bytes give pieces or a L{FramingError} (never another exception),
    the same whatever the chunking, with offsets inside the stream.
    """
    whole, failed = _feed([garbage], max_line)
    chunked, failed_chunked = _feed(data.draw(cuts(garbage)), max_line)
    assert (chunked, failed_chunked) == (whole, failed)
    assert all(0 <= p.offset <= len(garbage) for p in whole)


def test_octet_counted_and_lf_mixed() -> None:
    framer = StreamFramer()
    stream = b"5 hello<13>1 x - - - - y\n\n7 world\n\x00"
    assert framer.feed(stream) == [
        Piece(b"hello", 2, True),
        Piece(b"<13>1 x - - - - y", 7, True),
        Piece(b"world", 28, True),
    ]
    assert framer.messages == 3
    assert framer.close() == []


def test_digits_without_a_space_start_an_lf_frame() -> None:
    framer = StreamFramer()
    assert framer.feed(b"2026-12-05 host app: hi\n12345678901 x\n") == [
        Piece(b"2026-12-05 host app: hi", 0, True),
        Piece(b"12345678901 x", 24, True),
    ]


def test_bad_counts() -> None:
    for stream in (b"0 x", b"012 x", b"99999999 x"):
        framer = StreamFramer(max_frame=1000)
        pieces, error = framer.feed_until_error(b"3 abc" + stream)
        assert pieces == [Piece(b"abc", 2, True)]
        assert isinstance(error, FramingError)
        assert "bad octet count" in str(error)
        assert framer.feed_until_error(b"more")[0] == []
        assert framer.close() == []


def test_long_messages_in_pieces() -> None:
    framer = StreamFramer(max_line=4)
    assert framer.feed(b"10 abcdefghij") == [
        Piece(b"abcd", 3, False), Piece(b"efgh", 7, False), Piece(b"ij", 11, True),
    ]
    # a message whose last piece is only the trimmed LF still ends
    assert framer.feed(b"abcd\x00\n") == [Piece(b"abcd", 13, False), Piece(b"", 17, True)]


def test_close_hands_on_the_last_message() -> None:
    framer = StreamFramer()
    assert framer.feed(b"no newline") == []
    assert framer.close() == [Piece(b"no newline", 0, True)]
    truncated = StreamFramer()
    assert truncated.feed(b"10 abc") == []
    assert truncated.close() == [Piece(b"abc", 3, True)]


def test_datagrams() -> None:
    assert datagram_pieces(b"<13>hi\n\x00", 7) == [Piece(b"<13>hi", 7, True)]
    assert datagram_pieces(b"\n", 0) == []
    assert datagram_pieces(b"abcde", 10, max_line=2) == [
        Piece(b"ab", 10, False), Piece(b"cd", 12, False), Piece(b"e", 14, True),
    ]
