"""Tests for L{logship.core.relp}: RELP frames and the server's session rules."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from logship.core.relp import (
    MAX_TXNR,
    SERVERCLOSE,
    Frame,
    RelpError,
    RelpFramer,
    RelpSession,
    encode_frame,
    parse_offers,
)
from tests.strategies import cuts

# What librelp 1.11 (rsyslog's omrelp) sends to open a session.
OFFERS = b"relp_version=0\nrelp_software=librelp,1.11.0,http://librelp.adiscon.com\ncommands=syslog"
OPEN = encode_frame(1, b"open", OFFERS)

commands = st.sampled_from([b"syslog", b"open", b"close", b"rsp", b"x" * 32])
frames = st.lists(
    st.tuples(st.integers(0, MAX_TXNR), commands, st.binary(max_size=40)), max_size=8
)


def _feed(chunks: list[bytes], max_data: int = 1 << 20) -> tuple[list[Frame], str | None]:
    framer = RelpFramer(max_data)
    out: list[Frame] = []
    for chunk in chunks:
        got, error = framer.feed_until_error(chunk)
        out += got
        if error is not None:
            return out, str(error)
    return out, None


@given(st.data(), frames)
def test_any_split_gives_the_same_frames(
    data: st.DataObject, sent: list[tuple[int, bytes, bytes]]
) -> None:
    """
    Encoded frames come back as they were, with their data's offsets,
    however the stream is cut into reads.
    """
    stream = b"".join(encode_frame(*f) for f in sent)
    whole, error = _feed([stream])
    assert error is None
    assert [(f.txnr, f.command, f.data) for f in whole] == sent
    for frame in whole:
        assert stream[frame.offset : frame.offset + len(frame.data)] == frame.data
    assert _feed(data.draw(cuts(stream))) == (whole, None)


@given(st.data(), st.binary(max_size=200), st.integers(1, 300))
def test_arbitrary_bytes_never_crash(data: st.DataObject, stream: bytes, max_data: int) -> None:
    """
    Any bytes: frames or one L{RelpError}, never another exception, and
    the same ones however the bytes are cut; nothing after an error.
    """
    whole = _feed([stream], max_data)
    assert _feed(data.draw(cuts(stream)), max_data) == whole
    framer = RelpFramer(max_data)
    _, error = framer.feed_until_error(stream)
    if error is not None:
        assert framer.feed_until_error(b"1 close 0\n")[0] == []


@given(st.data(), frames, st.binary(min_size=1, max_size=60))
def test_garbage_after_frames_keeps_them(
    data: st.DataObject, sent: list[tuple[int, bytes, bytes]], garbage: bytes
) -> None:
    """
    Frames before a forged or garbage one are all handed on.
    """
    stream = b"".join(encode_frame(*f) for f in sent)
    got, _ = _feed(data.draw(cuts(stream + b"!" + garbage)))
    assert [(f.txnr, f.command, f.data) for f in got] == sent


def test_strict_frames() -> None:
    for bad, reason in [
        (b"x 1", "bad txnr"),
        (b"1x syslog 1 a\n", "bad txnr"),
        (b"1234567890 syslog 1 a\n", "bad txnr"),
        (b" 1 syslog", "bad txnr"),
        (b"1 sys1og 1 a\n", "bad command"),
        (b"1 " + b"s" * 33 + b" 1 a\n", "bad command"),
        (b"1  1 a\n", "bad command"),
        (b"1 syslog x\n", "bad data length"),
        (b"1 syslog 1234567890 ", "bad data length"),
        (b"1 syslog 2000 ", "over the limit"),
        (b"1 syslog 3 abcd\n", "no LF after 3 bytes"),
        (b"1 syslog 0 \n", "a space after a data length of 0"),
        (b"1 syslog 3\n", "data length 3 and no data"),
    ]:
        frames, error = RelpFramer(max_data=1000).feed_until_error(bad)
        assert frames == [] and error is not None and reason in str(error), (bad, error)
    # an incomplete valid prefix waits
    assert RelpFramer().feed_until_error(b"12 sysl") == ([], None)


def test_encode_as_librelp() -> None:
    assert encode_frame(3, b"rsp", b"200 OK") == b"3 rsp 6 200 OK\n"
    assert encode_frame(9, b"rsp") == b"9 rsp 0\n"
    assert SERVERCLOSE == b"0 serverclose 0\n"
    assert parse_offers(OFFERS) == {
        b"relp_version": [b"0"],
        b"relp_software": [b"librelp", b"1.11.0", b"http://librelp.adiscon.com"],
        b"commands": [b"syslog"],
    }


def _session(*stream: bytes) -> tuple[RelpSession, list[object]]:
    session = RelpSession()
    frames, error = RelpFramer().feed_until_error(b"".join(stream))
    assert error is None
    replies: list[object] = []
    for frame in frames:
        try:
            replies.append(session.receive(frame))
        except RelpError as e:
            replies.append(str(e))
            break
    return session, replies


def test_session_open_syslog_close() -> None:
    session, (opened, first, second, closed) = _session(
        OPEN, encode_frame(2, b"syslog", b"<13>hello"), encode_frame(3, b"syslog", b"x"),
        encode_frame(4, b"close"),
    )
    assert session.opened
    assert opened.response.startswith(b"1 rsp ")  # type: ignore[attr-defined]
    assert b"\n200 OK\nrelp_version=0\n" in b"\n" + opened.response.split(b" ", 3)[3]  # type: ignore[attr-defined]
    assert opened.response.endswith(b"commands=syslog\n")  # type: ignore[attr-defined]
    assert first.response == b"2 rsp 6 200 OK\n"  # type: ignore[attr-defined]
    assert first.message.data == b"<13>hello"  # type: ignore[attr-defined]
    assert second.message.data == b"x"  # type: ignore[attr-defined]
    assert closed.response == b"4 rsp 0\n" and closed.close  # type: ignore[attr-defined]
    assert closed.message is None  # type: ignore[attr-defined]


def test_session_rules() -> None:
    syslog = encode_frame(2, b"syslog", b"m")
    assert "out of sequence (expected 2)" in _session(OPEN, encode_frame(3, b"syslog", b"m"))[1][-1]
    assert "out of sequence (expected 1)" in _session(encode_frame(0, b"open", OFFERS))[1][-1]
    assert "'syslog' before 'open'" in _session(encode_frame(1, b"syslog", b"m"))[1][-1]
    assert "'rsp' not taken" in _session(OPEN, encode_frame(2, b"rsp", b"200 OK"))[1][-1]
    assert "'serverclose' not taken" in _session(OPEN, encode_frame(2, b"serverclose"))[1][-1]
    assert "without a relp_version" in _session(encode_frame(1, b"open", b"commands=syslog"))[1][-1]
    _, [refused] = _session(encode_frame(1, b"open", b"relp_version=0\ncommands=other"))
    assert refused.response.startswith(b"1 rsp 44 500 ") and refused.close  # type: ignore[attr-defined]
    _, [_, again, _] = _session(OPEN, encode_frame(2, b"open", OFFERS), encode_frame(3, b"syslog", b"m"))
    assert again.response.startswith(b"2 rsp 37 200 connection already open")  # type: ignore[attr-defined]
    assert len(_session(OPEN, syslog)[1]) == 2


def test_txnr_wraps_to_one() -> None:
    session = RelpSession()
    session.receive(Frame(1, b"open", OFFERS, 0))
    session._next = MAX_TXNR
    session.receive(Frame(MAX_TXNR, b"syslog", b"m", 0))
    assert session.receive(Frame(1, b"syslog", b"m", 0)).message is not None
