"""Hypothesis strategies for logship's domain types, one function per type.

Messages include invalid UTF-8, NUL, the empty message, text made of the
tokenizer's awkward pieces (colons, dots, slashes, IPv6 shapes ...), and long
messages up to 1 MiB made cheaply by repeating a short chunk.
"""

from __future__ import annotations

from hypothesis import strategies as st

from logship.core.event import MAX_NAME, MAX_PART, Event, pack_origin
from logship.core.points import SequencerState

#: One MiB: the longest message the strategies make.
MIB = 1 << 20

#: Pieces that exercise the tokenizer rule at its edges.
_PIECES = [
    b" ", b"  ", b"a", b"Z", b"f", b"0", b"9", b"_", b"x1", b"\xff", b"\xc3\xa9", b"\x80",
    b"\x00", b"\t", b"\n", b"\r", b".", b"-", b"/", b"//", b"@", b":", b"::", b"%", b"$",
    b"=", b"[", b"]", b"(", b")", b",", b"'", b'"', b"%s", b"%%", b"fe80", b"::1",
    b"1:2:3:4:5:6:7:8", b"/var/log", b"-12", b"3.14", b"a.b", b"x@y.z", b"A", b"B",
]  # fmt: skip


def tokenizer_texts(max_pieces: int = 40) -> st.SearchStrategy[bytes]:
    """
    Messages made of pieces that sit at the edges of the tokenizer rule.
    """
    return st.lists(st.sampled_from(_PIECES), max_size=max_pieces).map(b"".join)


def long_messages(max_size: int = MIB) -> st.SearchStrategy[bytes]:
    """
    Long messages (up to C{max_size} bytes) made cheaply: a short chunk,
    repeated, sometimes with a different head and tail.
    """
    chunk = st.one_of(st.binary(min_size=1, max_size=64), tokenizer_texts(8).filter(bool))
    return st.tuples(
        st.binary(max_size=16), chunk, st.floats(0, 1), st.binary(max_size=16)
    ).map(
        lambda t: (t[0] + t[1] * int(t[2] * (max_size - 32) / len(t[1])) + t[3])[:max_size]
    )


def messages(max_size: int = MIB) -> st.SearchStrategy[bytes]:
    """
    Any message: short arbitrary bytes (invalid UTF-8, NUL, empty),
    tokenizer-edge text, UTF-8 text, or long repeated content.
    """
    short = [
        st.binary(max_size=300),
        tokenizer_texts(),
        st.text(max_size=100).map(lambda s: s.encode("utf-8", "surrogatepass")),
    ]
    if max_size <= 300:
        return st.one_of(short).map(lambda m: m[:max_size])
    return st.one_of(*short, long_messages(max_size))


def short_messages() -> st.SearchStrategy[bytes]:
    """
    Messages that always fit one event (at most L{MAX_PART} bytes).
    """
    return messages(MAX_PART)


def names() -> st.SearchStrategy[bytes]:
    """
    Host or app names: 0 to 255 arbitrary bytes.
    """
    return st.one_of(
        st.sampled_from([b"", b"LabSZ", b"sshd", b"combo", b"sshd(pam_unix)"]),
        st.binary(max_size=MAX_NAME),
    )


def pids() -> st.SearchStrategy[bytes | None]:
    """
    A pid: C{None}, or 1 to 255 bytes without a space.
    """
    return st.one_of(
        st.none(),
        st.integers(0, 2**22).map(lambda i: str(i).encode()),
        st.binary(min_size=1, max_size=MAX_NAME).map(lambda b: b.replace(b" ", b"_")),
    )


def points() -> st.SearchStrategy[int]:
    """
    A point: ticks of 10^-8 s since the epoch, an unsigned 64-bit integer.
    """
    return st.one_of(
        st.integers(0, 2**64 - 1),
        st.integers(1_500_000_000, 2_000_000_000).map(lambda s: s * 10**8),
    )


def pris() -> st.SearchStrategy[int]:
    """
    A syslog priority, or 255 for none.
    """
    return st.integers(0, 255)


def origins() -> st.SearchStrategy[bytes]:
    """
    An event's origin (L{pack_origin}), or mostly so: now and then C{b""},
    the origin-less event of format version 1.
    """
    return st.one_of(
        st.builds(
            pack_origin, st.integers(0, 2**32 - 1), st.integers(0, 2**16 - 1),
            st.integers(0, 2**48 - 1),
        ),
        st.just(b""),
    )


def events(message: st.SearchStrategy[bytes] | None = None) -> st.SearchStrategy[Event]:
    """
    An event whose message fits one serialized event.

    @param message: the messages to use (default: L{short_messages}).
    """
    return st.builds(
        Event,
        point=points(),
        pri=pris(),
        shn=names(),
        app=names(),
        pid=pids(),
        message=short_messages() if message is None else message,
        continued=st.booleans(),
        structured=st.booleans(),
        origin=origins(),
    )


def resolutions() -> st.SearchStrategy[int]:
    """
    A point resolution: ticks per unit of the last digit a source gives.
    """
    return st.sampled_from([10**8, 10**7, 10**5, 10**2, 10, 3, 2, 1])


def bases() -> st.SearchStrategy[list[tuple[int, int]]]:
    """
    A run of parsed C{(point, resolution)} pairs as a source gives them:
    few distinct values, often repeated in a row, sometimes going back.
    """
    base = st.tuples(st.integers(0, 5).map(lambda s: (1_700_000_000 + s) * 10**8), resolutions())
    return st.lists(
        st.tuples(base, st.integers(1, 6)), max_size=30
    ).map(lambda runs: [b for b, count in runs for _ in range(count)])


def sequencer_states() -> st.SearchStrategy[SequencerState]:
    """
    A saved point sequencer state.
    """
    return st.one_of(
        st.just(SequencerState()),
        st.builds(
            SequencerState,
            point=points().filter(lambda p: p < 2**63),
            resolution=resolutions(),
            seq=st.integers(0, 10),
        ).filter(lambda s: s.seq < s.resolution),
    )
