"""Tests for L{logship.core.formats}: the non-syslog shapes, guessed and hinted."""

from __future__ import annotations

from datetime import timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from logship.core import formats, parse
from logship.core.formats import FORMAT_NAMES, check_format
from logship.core.parse import PRI_NONE, Parsed, parse_line
from logship.core.render import iso_time
from tests.corpus import LOG_NAMES, corpus_lines
from tests.formatlines import EXAMPLES, HPC_EXAMPLES, NOW, Example

pytestmark = pytest.mark.usefixtures("implementation")

UTC = timezone.utc


def fields(parsed: Parsed) -> tuple[object, ...]:
    """
    What an L{Example} states of a parse.
    """
    severity = None if parsed.pri == PRI_NONE else parsed.pri & 7
    return (
        iso_time(parsed.point),
        None if parsed.host is None else parsed.host.decode(),
        parsed.app.decode(),
        None if parsed.pid is None else parsed.pid.decode(),
        severity,
        parsed.message.decode(),
    )


def expected(example: Example) -> tuple[object, ...]:
    return example[2:]


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda e: e.line[:40].decode())
def test_guessed(example: Example) -> None:
    """
    Each example gives its fields without a hint; the message is a suffix
    of the line; a stated level comes with facility 1 (user).
    """
    parsed = parse_line(example.line, now=NOW, tz=UTC)
    assert fields(parsed) == expected(example)
    assert example.line.endswith(parsed.message)
    if parsed.pri != PRI_NONE and not example.line.startswith(b"<"):
        assert parsed.pri >> 3 == formats.FACILITY


@pytest.mark.parametrize("example", EXAMPLES + HPC_EXAMPLES, ids=lambda e: e.line[:40].decode())
def test_hinted(example: Example) -> None:
    """
    With its format named, each example gives the same fields (hpc lines
    only then).
    """
    parsed = parse_line(example.line, now=NOW, tz=UTC, hint=example.format)
    assert fields(parsed) == expected(example)


@pytest.mark.parametrize("example", HPC_EXAMPLES, ids=lambda e: e.line[:40].decode())
def test_hpc_not_guessed(example: Example) -> None:
    """
    An hpc header is only generic words: without the hint it stays text.
    """
    parsed = parse_line(example.line, now=NOW, tz=UTC)
    assert parsed.host is None
    assert parsed.message == example.line


def test_year_inferred_or_given() -> None:
    """
    The shapes without a year take it as RFC 3164 does: inferred from the
    reading time, or the one given.
    """
    line = b"[12.31 23:59:59] a.exe - x"
    jan_2 = 1704153600.0  # 2024-01-02
    assert iso_time(parse_line(line, now=jan_2, tz=UTC).point).startswith("2023-12-31")
    given_year = parse_line(line, now=jan_2, tz=UTC, year=2020).point
    assert iso_time(given_year).startswith("2020-12-31")
    logcat = b"01-01 00:00:01.000  1  2 I t: x"
    assert iso_time(parse_line(logcat, now=jan_2, tz=UTC).point).startswith("2024-01-01")


def test_local_time() -> None:
    """
    Times without an offset are in C{tz}; an epoch is exact.
    """
    plus_two = timezone(timedelta(hours=2))
    pipe = parse_line(b"20231114-22:15:23:481|A|1|x", now=NOW, tz=plus_two)
    assert iso_time(pipe.point) == "2023-11-14T20:15:23.481000Z"
    [cluster] = [e for e in EXAMPLES if e.format == "cluster"][:1]
    assert iso_time(parse_line(cluster.line, now=NOW, tz=plus_two).point) == cluster.time


def test_impossible_times_are_not_taken() -> None:
    """
    A shape with an impossible date or an epoch far from its date is not
    taken: the line is headerless.
    """
    for line in [
        b"20231131-22:15:23:481|A|1|x",
        b"02-30 22:15:23.481  1  2 I t: x",
        b"[13.14 22:15:23] a.exe - x",
        b"- 1700000123 2023.12.14 cn-42 x",
        b"23/11/14 24:15:23 WARN a.B: x",
    ]:
        parsed = parse_line(line, now=NOW, tz=UTC)
        assert (parsed.host, parsed.app, parsed.message) == (None, b"", line), line


def test_hint_wins_where_guessing_is_ambiguous() -> None:
    """
    log4j named: a logger that is not a dotted name is taken too.
    """
    line = b"2023-11-14 22:15:23,481 INFO Server - started"
    assert parse_line(line, now=NOW, tz=UTC).app == b""
    hinted = parse_line(line, now=NOW, tz=UTC, hint="log4j")
    assert (hinted.app, hinted.message) == (b"Server", b"started")


def test_a_line_not_of_its_hint_is_guessed() -> None:
    """
    A hint is tried first; a line of another shape is guessed as usual.
    """
    for hint in FORMAT_NAMES:
        for example in EXAMPLES[::3]:
            if example.format != hint:
                parsed = parse_line(example.line, now=NOW, tz=UTC, hint=hint)
                assert parsed == parse_line(example.line, now=NOW, tz=UTC)
    line = b"Dec 10 06:55:46 LabSZ sshd[24200]: Connection closed"
    assert parse_line(line, now=NOW, tz=UTC, hint="pipe").app == b"sshd"


def test_check_format() -> None:
    """
    Known names pass (auto as C{None}); an unknown one is an error that
    lists them; parse_line itself guesses for an unknown name.
    """
    assert check_format(None) is None
    assert check_format("auto") is None
    assert [check_format(name) for name in FORMAT_NAMES[1:]] == list(FORMAT_NAMES[1:])
    with pytest.raises(ValueError, match="unknown format 'syslogish'; known: auto, cluster"):
        check_format("syslogish")
    line = EXAMPLES[0].line
    assert parse_line(line, now=NOW, tz=UTC, hint="nope") == parse_line(line, now=NOW, tz=UTC)


def test_corpus_parses_as_without_formats(monkeypatch: pytest.MonkeyPatch) -> None:
    """
    The corpus logs (syslog, Apache, HDFS, Zookeeper's log4j) parse exactly
    as they did before this module: no guess changes any of their lines.
    """
    for name in LOG_NAMES:
        lines = corpus_lines(name)
        now = 1795685820.0
        with_formats = [parse_line(line, now=now, tz=UTC) for line in lines]
        with monkeypatch.context() as m:
            m.setattr(formats, "guess", lambda *args: None)
            without = [parse._parse(line, now, UTC, None) for line in lines]
        assert with_formats == without, name


# --- a host never comes from a message word ----------------------------------

_WORDS = [b"error", b"-", b"ECC", b"1700000123", b"2001.01.01", b"node-7", b"cn-42", b"INFO",
          b"I", b"W", b"12", b"0", b"1", b"a.log", b"[x]", b"x.y.Z:", b"Nov", b"|", b"2211",
          b"22:15:23", b"11-14", b"23/11/14", b"[11.14", b"22:15:23]", b"(x):", b"app[1]"]  # fmt: skip
_HOSTLESS_HEADS = [
    b"20231114-22:15:23:481|App|12|",
    b"11-14 22:15:23.481  2211  2290 I Tag: ",
    b"23/11/14 22:15:23 WARN a.B: ",
    b"23/11/14 22:15:23 ",
    b"2023-11-14 22:15:23,481 INFO [main] a.B: ",
    b"2023-11-14 22:15:23,481 INFO ",
    b"[11.14 22:15:23] a.exe - ",
    b"[11.14 22:15:23] ",
    b"2023-11-14 22:15:23, Info  CSI  ",
    b"x.log 2023-11-14 22:15:23,481 INFO ",
]
_HOST_HEADS = [
    (b"- 1700000123 2023.11.14 cn-42 ", b"cn-42"),
    (b"- 1700000123 2023.11.14 cn-42 Nov 14 22:15:23 other sshd[1]: ", b"cn-42"),
    (b"Nov 14 22:15:23 mbp-7 ", b"mbp-7"),
]
words = st.lists(st.sampled_from(_WORDS), max_size=8).map(b" ".join)


@given(words)
@settings(max_examples=300)
def test_words_alone_name_no_host(text: bytes) -> None:
    """
    A line of words (numbers, dates, tags, levels ...) without a shape
    that names a host gets no host.
    """
    assert parse_line(text, now=NOW, tz=UTC).host is None


@given(st.sampled_from(_HOSTLESS_HEADS), words)
@settings(max_examples=300)
def test_no_host_after_a_hostless_header(head: bytes, text: bytes) -> None:
    """
    After the header of a shape that names no host, no word is a host.
    """
    assert parse_line(head + text, now=NOW, tz=UTC).host is None


@given(st.sampled_from(_HOST_HEADS), words)
@settings(max_examples=300)
def test_the_host_is_the_headers(head: tuple[bytes, bytes], text: bytes) -> None:
    """
    A shape that names a host takes it from its header, whatever follows.
    """
    line, host = head
    assert parse_line(line + text, now=NOW, tz=UTC).host == host
