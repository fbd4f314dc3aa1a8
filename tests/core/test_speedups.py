"""Tests for L{logship.core.speedups}: the compiled hot path gives exactly the
reference's results.

Every function the compiled module replaces is run through both, on
arbitrary inputs: the same value, or the same exception class with the same
message.  The corpus goes through the whole path (parse, encode, decode) in
both.  Where the compiled module is not built these tests are skipped,
except that a machine with a C compiler must have built it.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import sysconfig
import zlib
from collections.abc import Callable
from datetime import timedelta, timezone, tzinfo
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from logship.core import speedups
from logship.core.event import Event, pack_origin
from logship.core.ingest import LineEncoder
from tests import strategies
from tests.corpus import LOG_NAMES, corpus_lines

compiled_only = pytest.mark.skipif(
    speedups.compiled is None, reason=f"the codec runs {speedups.describe()}"
)

ZONES: list[tzinfo] = [timezone.utc, timezone(timedelta(hours=5, minutes=30)), ZoneInfo("Europe/Berlin")]
NOW = 1795685820.0  # 2026-11-26T09:37:00Z


def both(module: str, name: str) -> tuple[Callable[..., Any], Callable[..., Any]]:
    """
    The pure and the compiled version of a replaced function.
    """
    core = f"logship.core.{module}"
    return speedups.pure(core, name), speedups.compiled_function(core, name)


def outcome(function: Callable[..., Any], *args: Any, **kwargs: Any) -> tuple[str, Any]:
    """
    What a call gives: its value, or its exception's class and message.
    """
    try:
        return "value", function(*args, **kwargs)
    except Exception as e:
        return "raised", (type(e), str(e))


def same(module: str, name: str, *args: Any, **kwargs: Any) -> Any:
    """
    Assert that both implementations give the same outcome; return it.
    """
    pure, compiled = both(module, name)
    expected = outcome(pure, *args, **kwargs)
    got = outcome(compiled, *args, **kwargs)
    assert got == expected, (args, kwargs)
    if expected[0] == "value" and isinstance(expected[1], bytes):
        assert type(got[1]) is bytes
    return expected


def test_compiled_is_built_where_it_can_be() -> None:
    """
    The compiled module is there unless forced off or no C compiler exists:
    a machine that can build it runs the suite against it.
    """
    forced = os.environ.get(speedups.ENV_PURE, "") not in ("", "0")
    compiler = (sysconfig.get_config_var("CC") or "cc").split()[0]
    if forced or shutil.which(compiler) is None:
        pytest.skip(f"the codec runs {speedups.describe()}")
    assert speedups.compiled is not None, speedups.describe()
    assert speedups.active == "compiled"
    assert speedups.describe() == "compiled (logship.core._speedups)"


@compiled_only
def test_select_binds_the_core_names() -> None:
    """
    L{speedups.select} switches the names of the core modules.
    """
    from logship.core import event, parse, tokenize

    try:
        speedups.select("pure")
        assert event.decode is speedups.pure("logship.core.event", "decode")
        assert parse.parse_line is speedups.pure("logship.core.parse", "parse_line")
        assert speedups.describe() == "pure Python (selected)"
        speedups.select("compiled")
        assert tokenize.split is speedups.compiled_function("logship.core.tokenize", "split")
    finally:
        speedups.select("compiled")


@compiled_only
@given(st.one_of(strategies.messages(), strategies.tokenizer_texts(), st.binary()))
@example(b"")
@example(b"a::b 1:2:3:4:5:6:7:8 ::1")
@example(b"x//y ./rel ~/z /abs -5 --5 a-")
def test_split(message: bytes) -> None:
    """
    The tokenizer cuts every message the same way.
    """
    same("tokenize", "split", message)


@compiled_only
@given(strategies.short_messages())
def test_crc(message: bytes) -> None:
    """
    The compiled crc is zlib's.
    """
    assert speedups.compiled is not None
    assert speedups.compiled.crc32(message) == zlib.crc32(message)
    assert speedups.compiled.crc32(bytearray(message)) == zlib.crc32(message)


def _fields() -> st.SearchStrategy[tuple[Any, ...]]:
    """
    Arguments of encode_fields, valid and not.
    """
    return st.tuples(
        st.one_of(strategies.points(), st.sampled_from([-1, 2**64, True, 1.5])),
        st.one_of(strategies.pris(), st.sampled_from([-1, 256, False])),
        st.one_of(strategies.names(), st.just(b"h" * 256), st.just(bytearray(b"h"))),
        st.one_of(strategies.names(), st.just(b"a" * 256)),
        st.one_of(strategies.pids(), st.sampled_from([b"", b"a b", b"p" * 256, bytearray(b"1")])),
        st.one_of(strategies.messages(), st.just(bytearray(b"x y"))),
        st.one_of(st.booleans(), st.sampled_from([0, 1, None])),
        st.one_of(st.booleans(), st.sampled_from([0, 2])),
        st.one_of(strategies.origins(), st.sampled_from([b"\x00" * 5, b"\x00" * 13])),
    )


@compiled_only
@given(_fields())
@settings(max_examples=300)
def test_encode_fields(fields: tuple[Any, ...]) -> None:
    """
    encode_fields gives the same bytes, or refuses with the same error, for
    any fields (positional and by keyword).
    """
    same("event", "encode_fields", *fields)
    names = ("continued", "structured", "origin")
    same("event", "encode_fields", *fields[:6], **dict(zip(names, fields[6:])))


@compiled_only
@given(strategies.events())
@example(Event(2**64 - 1, 255, b"\xff" * 255, b"\x00" * 255, b"\xff" * 255, b"%s%%\x00"))
def test_encode_and_decode(e: Event) -> None:
    """
    Any event encodes to the same bytes; those decode to the same event,
    the same tokens and the same point.
    """
    kind, data = same("event", "encode", e)
    if kind == "value":
        same("event", "decode", data)
        same("event", "decode", bytearray(data))
        same("event", "decode", memoryview(data))
        same("event", "decode_with_tokens", data)
        same("event", "check_event", data)


@compiled_only
@given(st.one_of(strategies.forged_events(), st.binary(max_size=120)))
@settings(max_examples=500)
@example(b"")
@example(b"\x02" + b"\x00" * 13)
def test_forged_records(data: bytes) -> None:
    """
    Any bytes, laid out as an event or not: the same accept or reject (and
    the same reason) from decode, decode_with_tokens and check_event.
    """
    for name in ("decode", "decode_with_tokens", "check_event"):
        same("event", name, data)


@compiled_only
@given(strategies.events(strategies.messages(max_size=200)), st.data())
@settings(max_examples=300)
def test_damaged_records(e: Event, data: st.DataObject) -> None:
    """
    A valid record with a byte changed, cut or extended: the same outcome.
    """
    record = bytearray(speedups.pure("logship.core.event", "encode")(e))
    where = data.draw(st.integers(0, len(record) - 1))
    how = data.draw(st.sampled_from(["flip", "cut", "extend"]))
    if how == "flip":
        record[where] ^= data.draw(st.integers(1, 255))
    elif how == "cut":
        del record[where:]
    else:
        record += data.draw(st.binary(min_size=1, max_size=4))
    for name in ("decode", "decode_with_tokens", "check_event"):
        same("event", name, bytes(record))


@compiled_only
@given(
    strategies.header_lines(),
    st.sampled_from(ZONES),
    st.sampled_from([None, 2026, 2000]),
    st.sampled_from([NOW, NOW + 0.75, 1767225600.0, 0.5, 1795685820]),
)
@settings(max_examples=1000)
@example(b"<13>Oct 11 22:14:15 host su: hi", timezone.utc, None, NOW)
@example(b"2026-11-26T09:37:01.1234+01:00 host app[12]: msg", timezone.utc, None, NOW)
@example(b"Dec 31 23:59:59 h a: x", timezone.utc, None, 1767225600.0)
def test_parse_line(line: bytes, tz: tzinfo, year: int | None, now: float) -> None:
    """
    Any line parses to the same fields.
    """
    same("parse", "parse_line", line, now=now, tz=tz, year=year)


@compiled_only
def test_parse_line_odd_arguments() -> None:
    """
    Arguments the fast path does not take go to the reference whole.
    """
    line = b"Jun 14 15:16:01 h a: x"
    same("parse", "parse_line", bytearray(line), now=NOW, tz=timezone.utc)
    same("parse", "parse_line", line, now=float("nan"), tz=timezone.utc)
    same("parse", "parse_line", line, now=NOW, tz=timezone.utc, year=True)
    same("parse", "parse_line", line, now=NOW, tz=timezone.utc, hint=None)  # on the fast path
    same("parse", "parse_line", line, now=NOW, tz=timezone.utc, hint="log4j")
    same("parse", "parse_line", line, now=NOW)
    same("parse", "parse_line", line, NOW, timezone.utc)


@compiled_only
@pytest.mark.parametrize("name", LOG_NAMES)
def test_corpus_through_both(name: str) -> None:
    """
    Every corpus line gives the same events and records through the whole
    path (parse, points, encode) in both, and they decode the same.
    """
    lines = corpus_lines(name)
    records: dict[str, list[bytes]] = {}
    for implementation in ("pure", "compiled"):
        speedups.select(implementation)  # type: ignore[arg-type]
        try:
            encoder = LineEncoder(host=b"bench", tz=timezone.utc, source=7)
            from logship.core import event

            records[implementation] = [
                event.encode(e)
                for at, line in enumerate(lines)
                for e in encoder.events(line, NOW, at * 200)
            ]
        finally:
            speedups.select("compiled")
    assert records["compiled"] == records["pure"]
    pure_decode, compiled_decode = both("event", "decode")
    for data in records["pure"]:
        assert compiled_decode(data) == pure_decode(data)


@compiled_only
def test_encode_takes_other_types_to_the_reference() -> None:
    """
    An Event subclass or odd field types go to the reference.
    """

    @dataclasses.dataclass(slots=True)
    class Other(Event):
        pass

    other = Other(1, 2, b"h", b"a", None, b"m x", origin=pack_origin(1, 2, 3))
    same("event", "encode", other)
    same("event", "encode", Event(1, 2, b"h", b"a", None, b"m", continued=1))  # type: ignore[arg-type]
    same("event", "encode", "not an event")
