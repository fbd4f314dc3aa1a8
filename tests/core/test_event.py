"""Tests for L{logship.core.event}: the serialized form of docs/design.md "Event"."""

from __future__ import annotations

import dataclasses
import struct
import zlib
from typing import Any

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from logship.core import event as event_module
from logship.core import tokenize
from logship.core.event import (
    FLAG_CONTINUED,
    FLAG_PID,
    FLAG_STRUCTURED,
    FORMAT_VERSION,
    MAX_EVENT_SIZE,
    MAX_PART,
    CorruptEvent,
    Event,
    decode,
    decode_with_tokens,
    encode,
    encode_fields,
    host_field,
    identity_key,
    join_parts,
    origin_of_identity,
    pack_origin,
    split_event,
    split_message,
    unpack_origin,
    worst_case_size,
)
from tests import strategies
from tests.corpus import LOG_NAMES, corpus_lines

#: Each test runs through the compiled and the pure-Python codec (tests/core/conftest.py).
pytestmark = pytest.mark.usefixtures("implementation")

#: An origin for events of these tests.
ORIGIN = pack_origin(7, 1, 2)

#: The worked example of docs/format.md: OpenSSH_2k.log line 2 (at byte
#: 153 of the file), year 2026, UTC, read by a tailer whose source tag for
#: the file is 0x00c0ffee, in the first file it followed.
EXAMPLE = Event(
    point=1796885746_00000000,
    pri=255,
    shn=b"LabSZ",
    app=b"sshd",
    pid=b"24200",
    message=b"Invalid user webmaster from 173.234.31.186",
    origin=pack_origin(0x00C0FFEE, 0, 153),
)
EXAMPLE_HEX = (
    "42"  # version 2 | FLAG_PID
    "027e61ce7b3ab200"  # point: 1796885746 s * 10**8
    "bf7cda8f"  # crc32 of the message
    "ff"  # pri: none
    "00c0ffee" "0000" "000000000099"  # origin: source, file 0, offset 153
    "05" "4c6162535a"  # shn "LabSZ"
    "04" "73736864"  # app "sshd"
    "0001" "f8"  # marks: positions 0 1 2 3 4 of a 4-byte line
    "0030"  # tokens: pid and the 5 tokens joined by spaces
    "3234323030" "20" "496e76616c6964" "20" "75736572" "20" "7765626d6173746572" "20"
    "66726f6d" "20" "3137332e3233342e33312e313836"
    "0004" "20202020"  # line: the 4 spaces between the tokens
)  # fmt: skip


def test_worked_example() -> None:
    """
    The hex dump of docs/format.md is what the code makes.
    """
    data = encode(EXAMPLE)
    assert data.hex() == EXAMPLE_HEX
    assert decode(data) == EXAMPLE
    assert EXAMPLE.crc == 0xBF7CDA8F


#: The same line as format version 1 wrote it (no origin).
LEGACY_HEX = "41" + EXAMPLE_HEX[2:28] + EXAMPLE_HEX[52:]


def test_version_1_reads() -> None:
    """
    An event written in format version 1 (before origins) still decodes,
    with no origin and the identity that format had; an event without an
    origin is written in version 1 again, byte for byte.
    """
    legacy = dataclasses.replace(EXAMPLE, origin=b"")
    data = bytes.fromhex(LEGACY_HEX)
    assert decode(data) == legacy
    assert encode(legacy) == data
    assert identity_key(data) == legacy.identity
    assert legacy.identity[:1] == b"\x01"
    assert legacy.identity != EXAMPLE.identity
    assert host_field(data) == b"LabSZ"
    assert decode_with_tokens(data)[1] == decode_with_tokens(encode(EXAMPLE))[1]


def test_origin_round_trip() -> None:
    """
    An origin holds a 32-bit source, a file number modulo 2**16 and a
    48-bit offset; other sizes and values are refused.
    """
    assert unpack_origin(pack_origin(2**32 - 1, 2**16 + 5, 2**48 - 1)) == (
        2**32 - 1, 5, 2**48 - 1)
    for bad in ((-1, 0, 0), (2**32, 0, 0), (0, 0, -1), (0, 0, 2**48)):
        with pytest.raises(ValueError, match="out of range"):
            pack_origin(*bad)
    with pytest.raises(ValueError, match="12 bytes"):
        unpack_origin(b"x")
    with pytest.raises(ValueError, match="12 bytes"):
        encode(dataclasses.replace(EXAMPLE, origin=b"x"))


def test_layout() -> None:
    """
    The fields sit in the order and widths of docs/design.md, big-endian.
    """
    origin = pack_origin(7, 1, 2)
    e = Event(0x0102030405060708, 13, b"host", b"app", None, b"a=1 %b", origin=origin)
    data = encode(e)
    version, point, crc, pri = struct.unpack_from(">BQIB", data)
    assert (version, point, crc, pri) == (FORMAT_VERSION, e.point, zlib.crc32(e.message), 13)
    assert data[14:26] == origin
    o = 26
    fields = []
    for width in (1, 1, 2, 2, 2):
        length = int.from_bytes(data[o : o + width], "big")
        fields.append(data[o + width : o + width + length])
        o += width + length
    assert o == len(data)
    shn, app, marks, tokens, line = fields
    assert (shn, app) == (b"host", b"app")
    assert tokens == b"a 1 b"
    assert line == b"= %"
    # tokens go before line[0], line[1] and at the end (position 3); MSB first
    assert marks == bytes([0b11010000])


def test_marks_length() -> None:
    """
    The marks cover positions 0 to len(line): ceil((len(line) + 1) / 8) bytes.
    """
    for n in range(0, 20):
        message = b" " * n + b"x"
        data = encode(Event(0, 0, b"", b"", None, message))
        assert len(data) == 14 + 1 + 1 + 2 + (n // 8 + 1) + 2 + 1 + 2 + n
        marks = data[18 : 18 + n // 8 + 1]
        assert int.from_bytes(marks, "big") == 1 << (8 * len(marks) - 1 - n)


@pytest.mark.parametrize(
    "fields, flags",
    [
        ({}, 0),
        ({"continued": True}, FLAG_CONTINUED),
        ({"pid": b"42"}, FLAG_PID),
        ({"structured": True}, FLAG_STRUCTURED),
        ({"continued": True, "pid": b"1", "structured": True}, 0xE0),
    ],
)
def test_flags(fields: dict[str, Any], flags: int) -> None:
    """
    The flags sit in the high bits of the version byte, the format version
    in its low 5 bits.
    """
    e = dataclasses.replace(Event(1, 2, b"h", b"a", None, b"msg x", origin=ORIGIN), **fields)
    data = encode(e)
    assert data[0] == FORMAT_VERSION | flags
    assert decode(data) == e


def test_pid_is_first_token() -> None:
    """
    With FLAG_PID, the pid is the first token and is not placed in the line.
    """
    data = encode(Event(1, 2, b"h", b"a", b"24200", b"hello world"))
    assert b"24200 hello world" in data
    event, tokens = decode_with_tokens(data)
    assert event.pid == b"24200"
    assert event.message == b"hello world"
    assert tokens == [b"hello", b"world"]
    only_pid = Event(1, 2, b"h", b"a", b"7", b"")
    assert decode(encode(only_pid)) == only_pid


def test_crc_and_identity() -> None:
    """
    An event's crc is the crc32 of its message; its identity is its origin,
    crc and host: not its point, app or pri, which a re-read may parse
    differently (a year inferred, a time of reading).
    """
    e = Event(5, 6, b"h", b"a", None, b"hello", origin=ORIGIN)
    assert e.crc == zlib.crc32(b"hello")
    assert e.identity == b"\x02" + ORIGIN + zlib.crc32(b"hello").to_bytes(4, "big") + b"h"
    assert dataclasses.replace(e, point=9, app=b"b", pri=1).identity == e.identity
    for other in ({"origin": pack_origin(7, 1, 3)}, {"shn": b"g"}, {"message": b"hellO"}):
        assert dataclasses.replace(e, **other).identity != e.identity
    assert origin_of_identity(e.identity) == ORIGIN
    assert origin_of_identity(dataclasses.replace(e, origin=b"").identity) == b""


@pytest.mark.parametrize(
    "fields, reason",
    [
        ({"shn": b"h" * 256}, "at most 255"),
        ({"app": b"a" * 256}, "at most 255"),
        ({"pid": b""}, "pid"),
        ({"pid": b"1 2"}, "pid"),
        ({"pid": b"1" * 256}, "pid"),
        ({"pri": 256}, "out of range"),
        ({"pri": -1}, "out of range"),
        ({"point": 2**64}, "out of range"),
        ({"point": -1}, "out of range"),
        ({"message": b"a " * 40000}, "split"),
    ],
)
def test_encode_rejects(fields: dict[str, Any], reason: str) -> None:
    """
    Fields out of range, and messages too long for one event, raise
    ValueError (callers truncate names and split messages).
    """
    e = dataclasses.replace(Event(0, 0, b"", b"", None, b""), **fields)
    with pytest.raises(ValueError, match=reason):
        encode(e)


def test_decode_accepts_buffers() -> None:
    """
    decode takes bytes, bytearray or memoryview.
    """
    data = encode(EXAMPLE)
    assert decode(bytearray(data)) == EXAMPLE
    assert decode(memoryview(b"xx" + data)[2:]) == EXAMPLE


def corrupt(data: bytes, **fields: bytes) -> bytes:
    """
    Re-assemble an encoded event with some fields replaced (length prefixes
    follow the new contents unless given explicitly).
    """
    head = data[:26]
    o = 26
    values = {}
    for name, width in (("shn", 1), ("app", 1), ("marks", 2), ("tokens", 2), ("line", 2)):
        length = int.from_bytes(data[o : o + width], "big")
        values[name] = (width, data[o + width : o + width + length])
        o += width + length
    out = [fields.get("head", head)]
    for name, (width, value) in values.items():
        value = fields.get(name, value)
        out.append(len(value).to_bytes(width, "big") + value)
    return b"".join(out)


@pytest.mark.parametrize(
    "mutate, reason",
    [
        (lambda d: d[:-1], "truncated"),
        (lambda d: d[:10], "truncated"),
        (lambda d: b"", "truncated"),
        (lambda d: d + b"\x00", "trailing"),
        (lambda d: bytes([d[0] & 0xE0 | 3]) + d[1:], "unknown format version 3"),
        (lambda d: bytes([d[0] & 0xE0]) + d[1:], "unknown format version 0"),
        (lambda d: d[:9] + bytes([d[9] ^ 1]) + d[10:], "crc mismatch"),
        (lambda d: d[:-1] + b"!", "crc mismatch"),
        (lambda d: corrupt(d, marks=b""), "marks field is 0 bytes"),
        (lambda d: corrupt(d, marks=b"\xf8\x00"), "marks field is 2 bytes"),
        (lambda d: corrupt(d, marks=b"\xfc"), "beyond the end of the line"),
        (lambda d: corrupt(d, marks=b"\xf0"), "tokens for 4 marks"),
        (lambda d: corrupt(d, tokens=d[36:80] + b" x"), "tokens for 5 marks"),
        (lambda d: corrupt(d, tokens=b""), "pid token is empty"),
        (lambda d: corrupt(d, tokens=b" " + d[42:80]), "pid token is empty"),
        (lambda d: corrupt(d, line=b"   "), "beyond the end of the line"),
        (lambda d: corrupt(d, line=b" " * 8), "marks field is 1 bytes, expected 2"),
    ],
)
def test_decode_rejects(mutate, reason: str) -> None:  # type: ignore[no-untyped-def]
    """
    Truncation, trailing bytes, unknown versions, bad lengths, marks and
    tokens that disagree, and crc mismatches raise CorruptEvent saying so.
    """
    data = encode(EXAMPLE)
    assert corrupt(data) == data
    with pytest.raises(CorruptEvent, match=reason):
        decode(mutate(data))


def test_every_truncation_rejected() -> None:
    """
    Every proper prefix of an encoded event is rejected.
    """
    data = encode(EXAMPLE)
    for n in range(len(data)):
        with pytest.raises(CorruptEvent):
            decode(data[:n])


@given(strategies.events())
@example(EXAMPLE)
@example(Event(0, 0, b"", b"", None, b""))
@example(Event(2**64 - 1, 255, b"\xff" * 255, b"\x00" * 255, b"\xff" * 255, b"%s%%\x00"))
def test_round_trip(e: Event) -> None:
    """
    decode(encode(e)) == e for any event that fits, byte for byte, and the
    stored crc is the message's.
    """
    data = encode(e)
    assert len(data) <= MAX_EVENT_SIZE
    assert int.from_bytes(data[9:13], "big") == zlib.crc32(e.message)
    assert decode(data) == e
    event, tokens = decode_with_tokens(data)
    assert tokens == tokenize.tokens(e.message)
    assert identity_key(data) == e.identity
    assert host_field(data) == e.shn


@given(strategies.messages(), strategies.pids())
@settings(max_examples=60, deadline=None)
@example(b"", None)
@example(b"a " * (MAX_PART // 2 + 1), b"p" * 255)
@example(b"\xe2\x82\xac" * 30000, None)
def test_long_messages(message: bytes, pid: bytes | None) -> None:
    """
    Any message up to 1 MiB: split, each part encoded (all but the last
    continued) within MAX_EVENT_SIZE, decoded with the crc verified, joined:
    the same bytes.
    """
    parts = split_message(message)
    assert b"".join(parts) == message
    assert all(len(p) <= MAX_PART for p in parts)
    assert all(parts[:-1])
    events = [
        Event(i, 255, b"h" * 255, b"a" * 255, pid, part, continued=i < len(parts) - 1)
        for i, part in enumerate(parts)
    ]
    encoded = [encode(e) for e in events]
    assert all(len(data) <= MAX_EVENT_SIZE for data in encoded)
    decoded = [decode(data) for data in encoded]
    assert decoded == events
    assert join_parts(decoded) == message


@given(st.binary(min_size=1, max_size=64).map(lambda c: (c * MAX_PART)[:MAX_PART]))
@settings(max_examples=20, deadline=None)
@example(b"a " * (MAX_PART // 2))
def test_worst_case_part(message: bytes) -> None:
    """
    A part of the longest length encodes within MAX_EVENT_SIZE with the
    longest names and pid, and within L{worst_case_size}.
    """
    data = encode(Event(0, 0, b"h" * 255, b"a" * 255, b"p" * 255, message))
    assert len(data) <= worst_case_size(len(message)) <= MAX_EVENT_SIZE


def test_worst_case_is_tight() -> None:
    """
    C{"a a a ..."} is the worst content: within a few bytes of the bound.
    """
    message = b"a " * (MAX_PART // 2)
    data = encode(Event(0, 0, b"h" * 255, b"a" * 255, b"p" * 255, message))
    assert worst_case_size(MAX_PART) - len(data) < 16
    assert len(data) == worst_case_size(MAX_PART)


def test_split_prefers_spaces_and_utf8() -> None:
    """
    Long messages are cut after a space near the limit, else before a
    UTF-8 lead byte, else at the limit.
    """
    words = b"word " * 20000
    parts = split_message(words)
    assert all(p.endswith(b" ") for p in parts[:-1])
    euro = "€".encode() * 20000
    parts = split_message(euro)
    assert all(len(p) % 3 == 0 for p in parts)
    assert all(p.decode() for p in parts)
    raw = b"\x80" * 100000
    assert [len(p) for p in split_message(raw)] == [MAX_PART, MAX_PART, 100000 - 2 * MAX_PART]


def test_split_event_and_join() -> None:
    """
    split_event gives continued parts with the points asked for;
    join_parts rejects parts whose flags do not make one line.
    """
    e = Event(7, 3, b"h", b"a", b"1", b"x" * 100000, structured=True, origin=ORIGIN)
    parts = split_event(e, [7, 8, 9])
    assert [p.point for p in parts] == [7, 8, 9]
    # part i is at the line's offset + i: distinct, and still inside the line
    assert [unpack_origin(p.origin) for p in parts] == [(7, 1, 2), (7, 1, 3), (7, 1, 4)]
    assert [p.continued for p in parts] == [True, True, False]
    assert [p.structured for p in parts] == [True, False, False]
    assert join_parts(parts) == e.message
    with pytest.raises(ValueError):
        split_event(e, [1])
    with pytest.raises(ValueError):
        join_parts(parts[:-1])
    with pytest.raises(ValueError):
        join_parts([parts[0], parts[2], parts[1]])
    with pytest.raises(ValueError):
        join_parts([])
    assert split_event(Event(1, 2, b"", b"", None, b"short")) == [
        Event(1, 2, b"", b"", None, b"short")
    ]


def field_spans(data: bytes) -> dict[str, range]:
    """
    Where each field's contents and lengths sit in an encoded event.
    """
    spans = {"version": range(0, 1), "point": range(1, 9), "crc": range(9, 13)}
    spans["pri"] = range(13, 14)
    o = 14 if data[0] & 0x1F == 1 else 26
    spans["origin"] = range(14, o)
    for name, width in (("shn", 1), ("app", 1), ("marks", 2), ("tokens", 2), ("line", 2)):
        length = int.from_bytes(data[o : o + width], "big")
        spans[name + "_length"] = range(o, o + width)
        spans[name] = range(o + width, o + width + length)
        o += width + length
    return spans


@given(strategies.events(strategies.messages(max_size=200)), st.data())
@settings(max_examples=300)
def test_flipped_byte(e: Event, data: st.DataObject) -> None:
    """
    Changing any one byte of an encoded event:

      - in the marks, tokens or line fields or their lengths, or in the crc:
        decode raises CorruptEvent, except inside the pid token (to a byte
        other than a space), which gives the event with that pid;
      - in the point, the pri, the origin, the shn or app bytes, or the
        continued and structured flag bits: decode gives the event with
        that field changed (the crc covers the message only);
      - in the shn or app length: decode raises, or gives an event whose
        names differ (bytes move between shn, app and the fields after)
        and whose message is the same;
      - in the other bits of the version byte: decode raises.

    In no case does decode give a different message.
    """
    encoded = encode(e)
    i = data.draw(st.integers(0, len(encoded) - 1), label="index")
    value = data.draw(st.integers(0, 255).filter(lambda v: v != encoded[i]), label="value")
    changed = encoded[:i] + bytes([value]) + encoded[i + 1 :]
    spans = field_spans(encoded)
    pid_span = range(spans["tokens"].start, spans["tokens"].start + len(e.pid or b""))
    flag_bits_only = i == 0 and (value ^ encoded[0]) & ~0xA0 == 0
    try:
        got = decode(changed)
    except CorruptEvent:
        # the fields the crc does not cover always decode
        assert i not in spans["point"] and i not in spans["pri"] and i not in spans["origin"]
        assert i not in spans["shn"] and i not in spans["app"]
        assert not (i in pid_span and value != 0x20)
        assert not flag_bits_only
        return
    assert got.message == e.message
    assert got != e
    if i in spans["point"]:
        assert got == dataclasses.replace(e, point=int.from_bytes(changed[1:9], "big"))
    elif i in spans["pri"]:
        assert got == dataclasses.replace(e, pri=value)
    elif i in spans["shn"]:
        assert got == dataclasses.replace(e, shn=changed[spans["shn"].start : spans["shn"].stop])
    elif i in spans["app"]:
        assert got == dataclasses.replace(e, app=changed[spans["app"].start : spans["app"].stop])
    elif i in pid_span:
        assert got == dataclasses.replace(e, pid=changed[pid_span.start : pid_span.stop])
    elif i in spans["origin"]:
        assert got == dataclasses.replace(e, origin=changed[14:26])
    elif i in spans["shn_length"] or i in spans["app_length"]:
        assert (got.point, got.pri, got.continued, got.structured) == (
            e.point,
            e.pri,
            e.continued,
            e.structured,
        )
    else:
        assert flag_bits_only
        assert got == dataclasses.replace(
            e, continued=bool(value & FLAG_CONTINUED), structured=bool(value & FLAG_STRUCTURED)
        )


def test_names_not_covered_by_crc() -> None:
    """
    The names are not covered by the crc: a changed shn length can move
    bytes from shn to app and still decode (the message is unchanged).
    """
    e = Event(0, 0, b"\n\x00\x00\x00\x00", b"LabSZ", None, b"")
    data = encode(e)
    got = decode(data[:14] + b"\x00" + data[15:])
    assert (got.shn, got.app) == (b"", b"\x00\x00\x00\x00\x05LabSZ")
    assert got.message == e.message


def test_caches_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    """
    The template caches stay bounded and results stay right when they are
    cleared.
    """
    monkeypatch.setattr(event_module, "_CACHE_SIZE", 4)
    for cache in (
        event_module._template_cache,
        event_module._format_cache,
        event_module._names_cache,
        event_module._names_decode_cache,
    ):
        cache.clear()
    for n in range(50):
        e = Event(n, 1, b"h%d" % (n % 7), b"a", None, b"x" + b"=" * n + b"y")
        assert decode(encode(e)) == e
        assert len(event_module._template_cache) <= 4
        assert len(event_module._format_cache) <= 4
        assert len(event_module._names_cache) <= 4
        assert len(event_module._names_decode_cache) <= 4


def test_long_line_positions() -> None:
    """
    Lines longer than the positions table decode too.
    """
    message = b"x" + b" " * 5000 + b"y z" + b"." * 3000 + b"w"
    e = Event(0, 0, b"", b"", None, message)
    assert decode(encode(e)) == e


def test_encode_fields_matches_encode() -> None:
    """
    encode_fields(...) is encode(Event(...)).
    """
    assert encode_fields(*dataclasses.astuple(EXAMPLE)) == encode(EXAMPLE)


@pytest.mark.parametrize("name", LOG_NAMES)
def test_corpus_round_trip(name: str) -> None:
    """
    Every line of every corpus log, as a whole message, survives
    encode/decode byte for byte with its crc verified.
    """
    lines = corpus_lines(name)
    assert lines
    for n, line in enumerate(lines):
        e = Event(n, 255, b"host", b"app", None, line)
        data = encode(e)
        assert int.from_bytes(data[9:13], "big") == zlib.crc32(line)
        got = decode(data)
        assert got.message == line, (name, n)
        assert got == e


def test_long_templates_not_cached() -> None:
    """
    Templates over the cache's key limit are encoded and decoded without
    being cached.
    """
    message = b"x" + b" =" * 1000 + b"y"
    e = Event(0, 0, b"", b"", None, message)
    data = encode(e)
    assert decode(data) == e
    assert b"A" + b" =" * 1000 + b"A" not in event_module._template_cache
    assert all(len(line) <= 1024 for _, line in event_module._format_cache)
