"""Tests of L{logship.core.query}: parsing times and query text, the Query checks
and its reference matching."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from logship.core.event import Event
from logship.core.parse import PRI_NONE
from logship.core.query import (
    Query,
    event_tokens,
    parse_q,
    parse_time,
    severity_condition,
    term_tokens,
)

NOW = 1_790_000_000.25
T = 10**8


@pytest.mark.parametrize("text, point", [
    ("now", 179_000_000_025_000_000),
    ("-15m", 179_000_000_025_000_000 - 900 * T),
    ("-2h", 179_000_000_025_000_000 - 7200 * T),
    ("-7d", 179_000_000_025_000_000 - 7 * 86400 * T),
    ("1700000000", 1_700_000_000 * T),
    ("1700000000.12345678", 170_000_000_012_345_678),
    ("2026-11-26", 1_795_651_200 * T),
    ("20261126", 1_795_651_200 * T),
    ("2026-11-26T09:37:00Z", 1_795_685_820 * T),
    ("2026-11-26 09:37:00.123456", 1_795_685_820 * T + 12_345_600),
    ("2026-11-26T10:37:00+01:00", 1_795_685_820 * T),
    ("2026-11-26T09:37:00z", 1_795_685_820 * T),
    ("0", 0),
])  # fmt: skip
def test_parse_time(text: str, point: int) -> None:
    """
    ISO 8601 (UTC without an offset), dates, epoch seconds, relative times.
    """
    assert parse_time(text, NOW) == point


@pytest.mark.parametrize("text, why", [
    ("yesterday", "is not a time"), ("", "is not a time"), ("-15x", "is not a time"),
    ("2026-13-01", "is not a time"), ("1969-12-31", "before 1970"),
    ("-100000000d", "before 1970"), ("-1000000000d", "is not a time"), ("9" * 30, "too far in the future"),
    ("-1000000w", "before 1970"),
])  # fmt: skip
def test_parse_time_errors(text: str, why: str) -> None:
    """
    A ValueError naming the text and why.
    """
    with pytest.raises(ValueError) as e:
        parse_time(text, NOW)
    assert repr(text) in str(e.value) and why in str(e.value)


@pytest.mark.parametrize("text, terms, substrings", [
    ('error "disk full" sda1', ("error", "sda1"), ("disk full",)),
    ('a"b c"d', ("a", "d"), ("b c",)),
    (r'"say \"hi\" \\ there"', (), ('say "hi" \\ there',)),
    ('""  x', ("x",), ()),
    ("  ", (), ()),
    ('"café \udcff"', (), ("café \udcff",)),
])  # fmt: skip
def test_parse_q(text: str, terms: tuple, substrings: tuple) -> None:
    """
    Words are terms, quoted text is a substring.
    """
    assert parse_q(text) == (terms, substrings)


@pytest.mark.parametrize("text", ['"open', 'a "b" "c', '"\\"'])
def test_parse_q_unclosed(text: str) -> None:
    """
    An unclosed quote is a clear ValueError.
    """
    with pytest.raises(ValueError, match="unclosed quote at position"):
        parse_q(text)


def test_terms_tokenized_like_messages() -> None:
    """
    A term is cut like a message and lowercased; one without a token is
    refused.
    """
    assert term_tokens("Key=Value") == [b"key", b"value"]
    assert term_tokens("10.0.0.1:80") == [b"10.0.0.1", b"80"]
    assert term_tokens("/var/log/Syslog") == [b"/var/log/syslog"]
    assert term_tokens("\udcffX") == [b"\xffx"]
    with pytest.raises(ValueError, match="no word characters"):
        term_tokens(":: ==")
    with pytest.raises(ValueError, match="no word characters"):
        parse_q("ok ==")


@pytest.mark.parametrize("kw", [
    {"limit": 0}, {"limit": 10_001}, {"start": -1}, {"end": 2**64}, {"terms": ["x"]},
    {"terms": ("==",)}, {"hosts": [b"h"]},
])  # fmt: skip
def test_query_checks(kw: dict) -> None:
    """
    A Query refuses values out of range.
    """
    with pytest.raises(ValueError):
        Query(**kw)


@given(st.binary(max_size=60), st.binary(max_size=10))
def test_matches_tokens(message: bytes, pid: bytes) -> None:
    """
    An event matches each of its own tokens as a term, in any case.
    """
    event = Event(5, 1, b"h", b"a", pid.replace(b" ", b"_") or None, message)
    for token in event_tokens(event)[:5]:
        term = token.upper().decode("utf-8", "surrogateescape")
        assert Query(terms=(term,)).matches(event)
    assert Query(start=5, end=6, hosts=(b"h",), apps=(b"a",)).matches(event)
    assert not Query(start=6).matches(event)
    assert not Query(end=5).matches(event)
    assert not Query(hosts=(b"x",)).matches(event)


@pytest.mark.parametrize(("term", "level"), [
    ("sev:err", 3), ("severity:ERROR", 3), ("sev:warning", 4), ("SEV:Warn", 4),
    ("severity:0", 0), ("sev:7", 7), ("sev:crit", 2), ("severity:info", 6),
    ("sev:8", None), ("sev:", None), ("severe:err", None), ("err", None),
])  # fmt: skip
def test_severity_condition(term: str, level: int | None) -> None:
    """
    C{severity:LEVEL} and C{sev:LEVEL} name a level or its number; other
    terms are words.
    """
    assert severity_condition(term) == level


def test_unknown_severity_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown severity 'loud'"):
        Query(terms=("sev:loud",))
    with pytest.raises(ValueError, match="unknown severity"):
        parse_q("disk sev:loud")


def test_matches_severity() -> None:
    """
    A severity term matches events at least as grave, never one without a
    priority; several of them: the gravest holds.
    """
    def event(pri: int) -> Event:
        return Event(1_700_000_000 * 10**8, pri, b"h", b"a", None, b"disk full")

    query = Query(terms=("sev:warning", "disk"))
    assert query.severity() == 4
    assert [query.matches(event(pri)) for pri in (8 + 3, 8 + 4, 8 + 5, PRI_NONE)] == [
        True, True, False, False]  # fmt: skip
    assert Query(terms=("sev:warning", "sev:err")).severity() == 3
    assert parse_q("sev:err disk") == (("sev:err", "disk"), ())
