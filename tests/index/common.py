"""Shared pieces of the index tests: event and query strategies, a brute-force
search to compare backends with, and corpus events."""

from __future__ import annotations

import re
import zlib
from datetime import timezone

from hypothesis import strategies as st

from logship.core import tokenize
from logship.core.event import Event
from logship.core.ingest import LineEncoder
from logship.core.parse import PRI_NONE, structured_parts
from logship.core.query import Query, severity_condition
from tests.corpus import corpus_lines_at
from tests.strategies import pids, pris, short_messages

#: A base point (2023-11-14) and the span the strategies spread events over:
#: a few of the sqlite backend's 2^21-tick groups, so that pages cross them.
BASE = 1_700_000_000 * 10**8
SPAN = 5 * 2**21

HOSTS = [b"web1", b"WEB1", b"db\xff", b"", b"h o s t"]
APPS = [b"sshd", b"CRON", b"caf\xc3\xa9", b"\x00"]

#: Words that tokenize in interesting ways, mixed into messages and asked
#: for as terms and substrings.
WORDS = [
    b"error", b"Error", b"ERROR", b"caf\xc3\xa9", b"Caf\xc3\xa9", b"\xff\xfe", b"\xc3",
    b"10.0.0.1", b"key=value", b"/var/log/syslog", b"a.b", b"x@y.z", b"fe80::1",
    b"-12", b"port", b"22", b"\xe2\x82\xac", b"\x00", b"%s", b'"', b"\\", b"ab",
]  # fmt: skip


def vocabulary_messages() -> st.SearchStrategy[bytes]:
    """
    Messages made of L{WORDS} and separators, so that queries hit often.
    """
    piece = st.one_of(st.sampled_from(WORDS), st.sampled_from([b" ", b": ", b"=", b",", b"  "]))
    return st.lists(piece, max_size=12).map(b"".join)


def points() -> st.SearchStrategy[int]:
    """
    Points within L{SPAN} of L{BASE}, often equal or in one group.
    """
    return st.one_of(
        st.integers(BASE, BASE + SPAN),
        st.sampled_from([BASE, BASE + 1, BASE + 2**21 - 1, BASE + 2**21, BASE + SPAN]),
    )


def index_events() -> st.SearchStrategy[Event]:
    """
    Events to index: names and words from small sets, sometimes anything.
    """
    return st.builds(
        Event,
        point=points(),
        pri=pris(),
        shn=st.one_of(st.sampled_from(HOSTS), st.binary(max_size=8)),
        app=st.sampled_from(APPS),
        pid=pids(),
        message=st.one_of(vocabulary_messages(), short_messages()),
        continued=st.booleans(),
        structured=st.booleans(),
    )


def _text(data: bytes) -> str:
    return data.decode("utf-8", "surrogateescape")


#: Severity conditions the query strategy adds (L{severity_condition}).
SEVERITY_TERMS = ["sev:err", "severity:Warning", "sev:0", "sev:7", "severity:debug"]


@st.composite
def queries(draw: st.DrawFn, events: list[Event]) -> Query:
    """
    A query over C{events}: pieces of their messages as substrings, their
    tokens (in another case) and L{WORDS} as terms, their names as hosts.
    """
    msgs = [e.message for e in events] or [b""]
    substrings = []
    for _ in range(draw(st.integers(0, 2))):
        m = draw(st.sampled_from(msgs))
        i = draw(st.integers(0, len(m)))
        j = draw(st.integers(i, min(len(m), i + 12)))
        substrings.append(_text(draw(st.sampled_from([m[i:j], *WORDS]))))
    candidates = [t for m in msgs for t in tokenize.tokens(m)][:50] + WORDS
    terms = [
        _text(t.swapcase() if draw(st.booleans()) else t)
        for t in draw(st.lists(st.sampled_from(candidates), max_size=2))
        if tokenize.tokens(t)
    ]
    terms += draw(st.lists(st.sampled_from(SEVERITY_TERMS), max_size=1))
    names = [e.shn for e in events][:5] + HOSTS
    start = draw(st.none() | points())
    return Query(
        start=start,
        end=draw(st.none() | points()),
        hosts=tuple(draw(st.lists(st.sampled_from(names), max_size=2))),
        apps=tuple(draw(st.lists(st.sampled_from(APPS), max_size=1))),
        terms=tuple(terms),
        substrings=tuple(substrings),
        limit=draw(st.integers(1, 7)),
    )


def unique(events: list[Event]) -> list[Event]:
    """
    The first event of each identity, in order.
    """
    seen: dict[tuple, Event] = {}
    for e in events:
        seen.setdefault(e.identity, e)
    return list(seen.values())


def brute_force(query: Query, events: list[Event]) -> list[Event]:
    """
    The events matching C{query}, found the slow and obvious way, newest
    first (ties in no particular order).
    """
    def ok(e: Event) -> bool:
        if query.start is not None and e.point < query.start:
            return False
        if query.end is not None and e.point >= query.end:
            return False
        if query.hosts and e.shn not in query.hosts:
            return False
        if query.apps and e.app not in query.apps:
            return False
        for s in query.substrings:
            if s.encode("utf-8", "surrogateescape") not in e.message:
                return False
        have = {t.lower() for t in tokenize.tokens(e.message) + tokenize.tokens(e.pid or b"")}
        sd = structured_parts(e.message, e.structured)[1] or {}
        for term in query.terms:
            level = severity_condition(term)
            if level is not None:
                if e.pri == PRI_NONE or e.pri % 8 > level:
                    return False
                continue
            asked = re.fullmatch(r"sd\.(.+)\.([^.:]+?):(.*)", term, re.DOTALL)
            if asked is not None and ":" not in asked.group(1):
                sd_id, name, value = asked.groups()
                if sd.get(sd_id, {}).get(name) != value:
                    return False
                continue
            for t in tokenize.tokens(term.encode("utf-8", "surrogateescape")):
                if t.lower() not in have:
                    return False
        return True

    return sorted((e for e in unique(events) if ok(e)), key=lambda e: e.point, reverse=True)


def identities(events: list[Event]) -> list[tuple]:
    """
    The identities of C{events} with every field, to compare whole events.
    """
    return [(e.identity, e.pri, e.pid, e.continued, e.structured, zlib.crc32(e.message)) for e in events]


def corpus_events(name: str) -> list[Event]:
    """
    The events of one corpus log, parsed as a tailer would (UTC, year 2024).
    """
    encoder = LineEncoder(host=b"corpus", tz=timezone.utc, year=2024, source=1)
    return [
        e for at, line in corpus_lines_at(name) for e in encoder.events(line, BASE / 10**8, at)
    ]


#: Queries of SD terms, with and without other terms.
SD_QUERIES = [
    ("sd.origin.software:rsyslogd",), ("sd.origin.software:rsyslog",),
    ("sd.exampleSDID@32473.eventSource:Application",), ("sd.meta.q:a]\"b",),
    ("sd.origin.software:rsyslogd", "start"), ("sd.origin.software:rsyslogd", "stop"),
    ("sd.meta.q:x",), ("application",),
]  # fmt: skip


def sd_events() -> list[Event]:
    """
    Events of RFC 5424 and RFC 3164 lines with SD, and some without.
    """
    encoder = LineEncoder(host=b"h", tz=timezone.utc, source=7)
    lines = [
        b'<165>1 2003-10-11T22:14:15.003Z mymachine.example.com evntslog - ID47'
        b' [exampleSDID@32473 iut="3" eventSource="Application" eventID="1011"]'
        b' An application event',
        b'<46>Jan  5 15:33:03 h rsyslogd: [origin software="rsyslogd" swVersion="8.32.0"] start',
        b'<13>1 2019-02-13T19:48:34Z h app - - [meta q="a\\]\\"b"] [origin software="rsyslogd"]',
        b'<46>Jan  5 15:34:03 h rsyslogd: [origin software="rsyslogd"] stop',
        b"<46>Jan  5 15:35:03 h rsyslogd: origin software=rsyslogd",
    ]
    return [e for i, line in enumerate(lines) for e in encoder.events(line, 1.7e9, i * 100)]
