"""Hypothesis strategies for logship's domain types, one function per type.

Messages include invalid UTF-8, NUL, the empty message, text made of the
tokenizer's awkward pieces (colons, dots, slashes, IPv6 shapes ...), and long
messages up to 1 MiB made cheaply by repeating a short chunk.
"""

from __future__ import annotations

from hypothesis import strategies as st

from logship.core.event import MAX_NAME, MAX_PART, Event, pack_origin
from logship.core.points import SequencerState
from tests.formatlines import EXAMPLES, HPC_EXAMPLES

#: One MiB: the longest message the strategies make.
MIB = 1 << 20

#: Pieces that exercise the tokenizer rule at its edges.
_PIECES = [
    b" ", b"  ", b"a", b"Z", b"f", b"0", b"9", b"_", b"x1", b"\xff", b"\xc3\xa9", b"\x80",
    b"\x00", b"\t", b"\n", b"\r", b".", b"-", b"/", b"//", b"@", b":", b"::", b"%", b"$",
    b"=", b"[", b"]", b"(", b")", b",", b"'", b'"', b"%s", b"%%", b"fe80", b"::1",
    b"1:2:3:4:5:6:7:8", b"/var/log", b"-12", b"3.14", b"a.b", b"x@y.z", b"A", b"B",
    b"dead", b"BEEF", b"12345", b"1:", b":1", b"ffff:", b":ffff", b"%eth0", b"g", b"0:0",
    b"10.0.0.1", b"::ffff:", b"a:b:c:d:e:f", b"1::", b":::",
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


def _joined(*choices: list[bytes]) -> st.SearchStrategy[bytes]:
    """
    One piece from each list, joined.
    """
    return st.tuples(*(st.sampled_from(c) for c in choices)).map(b"".join)


#: Pieces of header lines, right and wrong, for each shape the parser knows.
_PRIS = [b"", b"<0>", b"<13>", b"<191>", b"<192>", b"<01>", b"<1000>", b"<>", b"<13> "]
_MONTHS = [b"Jan", b"dec", b"jUN", b"Xyz", b"Ja", b"J4n"]
_DAYS = [b" 1", b"  1", b" 01", b" 31", b" 32", b" 0", b" 123", b" 1x", b"   1"]
_TIMES = [b" 00:00:00", b" 23:59:59", b" 24:00:00", b" 12:60:00", b" 12:00:60", b" 1:00:00",
          b" 12:00:00.5", b" 12:00:00:", b" 2008 12:00:00", b" 12:00"]  # fmt: skip
_HOSTS = [b" host", b" h:", b" " + b"a" * 255, b" " + b"a" * 256, b" h\x7f", b" \xc3\xa4",
          b"", b" -", b"  two"]  # fmt: skip
_TAGS = [b" su:", b" sshd[123]:", b" app[1]:x", b" app[]:", b" a[b[c]:", b" app:x", b" app",
         b" [x]:", b"", b" a:", b" " + b"t" * 256 + b":", b" p[" + b"9" * 256 + b"]:",
         b" app[1] :", b" app[1]:  two", b" a\x00b:"]  # fmt: skip
_RESTS = [b"", b" msg", b" key=value 10.0.0.1", b" \xff\x00", b"\n"]
_ISO_DATES = [b"2026-11-26", b"2026-02-29", b"2024-02-29", b"1969-12-31", b"9999-12-31",
              b"2026-13-01", b"2026-1-01"]  # fmt: skip
_ISO_SEPS = [b"T", b" ", b"t", b"x"]
_ISO_TIMES = [b"09:37:01", b"23:59:59", b"24:00:00", b"09:60:01", b"09:37:60", b"9:37:01"]
_FRACTIONS = [b"", b".1", b",747", b".12345678", b".123456789012", b".1234567890123", b".",
              b".x"]  # fmt: skip
_OFFSETS = [b"", b"Z", b"+01:00", b"-0130", b"+1:00", b"+01:0", b"+0100x", b"+23:59", b"+24:00",
            b"-00:60", b"Zx"]  # fmt: skip
_AFTER = [b"", b" ", b"x", b"  "]
_HDFS = [b"081109 203615", b"081109 203660", b"081309 203615", b"991231 235959", b"081109 20361",
         b"0811092 03615", b"081109  203615"]  # fmt: skip
_APACHE = [b"[Sun Dec 04 04:47:44 2005]", b"[Mon Dec 04 04:47:44 2005]", b"[Sun Dec  4 04:47:44 2005]",
           b"[Sun Dec 4 04:47:44 2005]", b"[Sun Dec 04 04:47:44.123 2005]", b"[sun Dec 04 04:47:44 2005]",
           b"[Sun Dec 04 04:47:44 2005", b"[Sun Dec 04 04:47:44.1234567890123 2005]",
           b"[Thu Feb 29 00:00:00 2024]", b"[Sun Dec 04 04:47:60 2005]"]  # fmt: skip


# After an ISO time with a space: what formats.py may read (a level, a pid,
# a thread, logcat's pid and tid), near misses, and what it may not.
_TAILS = [b"INFO ", b"INFO", b"[main] ", b"123 ", b"WARN  [a b] x.Y: ", b"- INFO  [x] - ",
          b"info ", b"2211  2290 I Tag: ", b"1 2 Q t: ", b"Z ", b" ERROR a.b c", b"[x"]  # fmt: skip
_FORMAT_LINES = [e.line for e in EXAMPLES + HPC_EXAMPLES]


def header_lines() -> st.SearchStrategy[bytes]:
    """
    Log lines whose headers are near the shapes the parser knows (RFC 3164
    with and without PRI, ISO 8601, HDFS, Apache), right and subtly wrong,
    the shapes of formats.py (whole or cut short), and arbitrary bytes: the
    inputs that tell a fast path from the reference.
    """
    syslog = _joined(_PRIS, _MONTHS, _DAYS, _TIMES, _HOSTS, _TAGS, _RESTS).map(
        lambda line: line.replace(b"> ", b">", 1) if line.startswith(b"<13> ") else line
    )
    iso = _joined(_PRIS[:2], _ISO_DATES, _ISO_SEPS, _ISO_TIMES, _FRACTIONS, _OFFSETS, _AFTER,
                  _HOSTS, _TAGS, _RESTS)  # fmt: skip
    hdfs = _joined(_HDFS, _AFTER, _RESTS)
    apache = _joined(_APACHE, _AFTER, _RESTS)
    rfc5424 = _joined([b"<13>1 ", b"<13>1"], [b"2026-11-26T09:37:01Z", b"-"],
                      [b" host app 12 ID47 - ", b" - - - - -", b" h a p m [x@1 a=\"1\"] "],
                      _RESTS)  # fmt: skip
    log4j = _joined(_ISO_DATES[:2], _ISO_SEPS[:2], _ISO_TIMES[:3], _FRACTIONS, _OFFSETS[:3],
                    [b" ", b"  ", b""], _TAILS, _RESTS)  # fmt: skip
    others = st.tuples(st.sampled_from(_FORMAT_LINES), st.integers(0, 60)).map(
        lambda t: t[0][: t[1]] if t[1] < 60 else t[0]
    )
    return st.one_of(syslog, iso, hdfs, apache, rfc5424, log4j, others, st.binary(max_size=80),
                     messages(200))  # fmt: skip


def forged_events() -> st.SearchStrategy[bytes]:
    """
    Byte strings laid out like serialized events, with every field drawn
    freely: versions and flags known and not, lengths right and wrong, marks
    and tokens that match or not, a crc that is right (computed from the
    message the fields rebuild, when they rebuild one) or not.
    """
    import struct
    import zlib

    def build(t: tuple) -> bytes:  # type: ignore[type-arg]
        vb, point, pri, origin, shn, app, marks, tokens, line, right_crc, cut = t
        marks_field = marks if marks is not None else bytes((len(line) >> 3) + 1)
        crc = 0
        if right_crc:
            pieces = tokens.split(b" ") if tokens else []
            if vb & 0x40 and pieces:
                pieces.pop(0)
            positions = [
                8 * j + k for j, b in enumerate(marks_field) for k in range(8) if b & (0x80 >> k)
            ]
            message, at = b"", 0
            for position, token in zip(positions, pieces):
                message += line[at:position] + token
                at = position
            crc = zlib.crc32(message + line[at:])
        data = (
            struct.pack(">BQIB", vb, point, crc, pri) + origin
            + bytes((len(shn),)) + shn + bytes((len(app),)) + app
            + struct.pack(">H", len(marks_field)) + marks_field
            + struct.pack(">H", len(tokens)) + tokens
            + struct.pack(">H", len(line)) + line
        )  # fmt: skip
        return data[:cut] if cut is not None else data

    return st.tuples(
        st.sampled_from([1, 2, 0x42, 0x41, 0x82, 0x22, 0xE2, 0x62, 0, 3, 0x1F]),
        points(),
        pris(),
        st.sampled_from([b"", b"\x00" * 12, b"\x01" * 12, b"\x02" * 5]),
        st.binary(max_size=8),
        st.binary(max_size=8),
        st.one_of(st.none(), st.binary(max_size=6)),
        st.lists(st.sampled_from([b"a", b"bc", b"", b"%s", b"\xff"]), max_size=6).map(b" ".join),
        st.lists(st.sampled_from([b" ", b"=", b"%", b"x", b"\x00"]), max_size=30).map(b"".join),
        st.booleans(),
        st.one_of(st.none(), st.integers(0, 80)),
    ).map(build)


def syslog_frames() -> st.SearchStrategy[list[tuple[bool, bytes]]]:
    """
    Syslog messages over TCP, each C{(octet_counted, message)}: a message
    ends in neither LF nor NUL (those are trimmed); an LF-framed one holds
    no LF and starts with no digit (it would be read as a count).
    """
    tail = st.binary(max_size=40).filter(lambda m: not m.endswith((b"\n", b"\0")))
    octets = st.tuples(st.just(True), tail.filter(bool))
    lf = st.tuples(
        st.just(False),
        st.tuples(st.binary(min_size=1, max_size=1), tail).map(b"".join).filter(
            lambda m: b"\n" not in m and not m[:1].isdigit() and not m.endswith((b"\n", b"\0"))
        ),
    )
    return st.lists(st.one_of(octets, lf), max_size=12)


def cuts(data: bytes) -> st.SearchStrategy[list[bytes]]:
    """
    C{data} cut into chunks at random places (empty ones included).
    """
    return st.lists(st.integers(0, len(data)), max_size=12).map(
        lambda at: [data[a:b] for a, b in zip([0, *sorted(at)], [*sorted(at), len(data)])]
    )
