"""The Event and its serialized form (docs/design.md "Event", normative).

Pure code, no I/O.  See C{docs/format.md} for the byte layout; in short,
big-endian, for format version 2::

    version 1 | point 8 | crc 4 | pri 1 | origin 12 | shn 1+n | app 1+n
    | marks 2+n | tokens 2+n | line 2+n

The C{origin} says where the event's line was read: which source, which file
of it, at which byte offset (see L{Origin}).  It is what makes two events the
same occurrence (L{Event.identity}).  Version 1, written before origins
existed, has no origin field; it is still read, and written only for events
that came from version-1 data.

The message is cut by L{logship.core.tokenize} into tokens and the text between
them; C{tokens} holds the tokens joined by single spaces (a token never
contains one), C{line} the text between them, and C{marks} one bit per
position C{0..len(line)} of the line, most significant bit first, saying
where a token goes back in.  C{decode} rebuilds the message and checks it
against the crc.

The hot paths avoid per-token Python work: the marks are computed and read
through bounded caches keyed by the line "template" (log lines repeat their
punctuation a lot), and the message is rebuilt with one C{bytes %} call.
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass
from functools import cache
from itertools import chain
from operator import getitem
from typing import Iterable, Sequence

from logship.core import speedups, tokenize

#: Flags kept in the high bits of the version byte (see docs/format.md).
FLAG_CONTINUED = 0x80  # this event's message continues in the next event
FLAG_PID = 0x40  # the first token is the pid and is not placed in the line
FLAG_STRUCTURED = 0x20  # the message begins with RFC 5424 MSGID and SD

#: The format written for events with an origin.
FORMAT_VERSION = 2

#: The format of events without an origin (written before version 2).
LEGACY_VERSION = 1

#: Bytes of the origin field of a version-2 event.
ORIGIN_SIZE = 12

#: The low bits of the version byte hold L{FORMAT_VERSION}.
VERSION_MASK = 0x1F

#: A serialized event is at most this long (it follows a 2-byte length).
MAX_EVENT_SIZE = 0xFFFF

#: Longest C{shn}, C{app} and C{pid}, in bytes.
MAX_NAME = 255

#: L{split_message} cuts messages into parts of at most this many bytes; a
#: part of this size encodes within L{MAX_EVENT_SIZE} whatever its content
#: (see L{worst_case_size}).
MAX_PART = 40960

#: Where L{split_message} looks back for a space to cut after.
_CUT_LOOKBACK = 1024


#: Where the length of C{shn} is, by format version.
_NAMES_AT = {LEGACY_VERSION: 14, FORMAT_VERSION: 14 + ORIGIN_SIZE}

_origin_struct = struct.Struct(">IHHI")  # source, file, offset high 16, low 32


def pack_origin(source: int, file: int, offset: int) -> bytes:
    """
    The origin field of an event read at C{offset} of file number C{file}
    of source C{source}.

    @param source: the source tag, C{0 <= source < 2**32}: drawn at random
        when a tailer first follows a path (and saved with its state), or
        derived from the file by C{logship import}.
    @param file: the file number within the source, counted modulo
        C{2**16} (the follower's count of files it moved to).
    @param offset: the byte offset of the line in the file (decompressed
        bytes for C{.gz}), plus the part number for the parts of a long
        line; C{0 <= offset < 2**48}.
    @return: the L{ORIGIN_SIZE} bytes.
    @raise ValueError: a value out of range.
    """
    if not 0 <= offset < 1 << 48:
        raise ValueError(f"origin offset out of range: {offset}")
    try:
        return _origin_struct.pack(source, file & 0xFFFF, offset >> 32, offset & 0xFFFFFFFF)
    except struct.error as e:
        raise ValueError(f"origin out of range: {e}") from None


def unpack_origin(origin: bytes) -> tuple[int, int, int]:
    """
    The C{(source, file, offset)} of an origin field (L{pack_origin}).

    @raise ValueError: C{origin} is not L{ORIGIN_SIZE} bytes.
    """
    try:
        source, file, high, low = _origin_struct.unpack(origin)
    except struct.error:
        raise ValueError(f"an origin is {ORIGIN_SIZE} bytes, not {len(origin)}") from None
    return source, file, high << 32 | low


class CorruptEvent(ValueError):
    """
    Bytes that are not one valid serialized event (truncated, bad lengths,
    unknown version, crc mismatch ...).  The message says which.
    """


@dataclass(slots=True)
class Event:
    """
    One log event.

    A value: nothing changes an event once it is made (it is not a frozen
    dataclass only because a frozen one takes four times as long to build,
    which shows on the per-line path); use C{dataclasses.replace}.

    @ivar point: ticks (10^-8 s) since the epoch, unique per host and source.
    @ivar pri: syslog priority, or 255 when the source had none.
    @ivar shn: host name (at most 255 bytes).
    @ivar app: app name, else process name, else pid (at most 255 bytes).
    @ivar pid: process id or C{None}; when given, 1 to 255 bytes, no space.
    @ivar message: the message as shown; its crc32 is the event's C{crc}.
    @ivar continued: the message goes on in the next event of this source.
    @ivar structured: the message begins with RFC 5424 MSGID and SD.
    @ivar origin: where the line was read (L{pack_origin}), or C{b""} for
        an event of format version 1, which has none.
    """

    point: int
    pri: int
    shn: bytes
    app: bytes
    pid: bytes | None
    message: bytes
    continued: bool = False
    structured: bool = False
    origin: bytes = b""

    @property
    def crc(self) -> int:
        """
        The crc32 of the message, as stored in the serialized form.
        """
        return zlib.crc32(self.message)

    @property
    def identity(self) -> bytes:
        """
        The de-duplication identity: what makes two events one occurrence
        (C{docs/format.md}, "Identity"), as one C{bytes}.

        With an origin: the origin, the crc and the host,
        C{b"\\x02" + origin + crc + shn}; the point is not part of it.  A
        version-1 event has the identity of that format,
        C{b"\\x01" + point + crc + len(shn) + shn + len(app) + app}.  The
        two kinds never compare equal.  Equal to L{identity_key} of the
        serialized event.
        """
        crc = zlib.crc32(self.message)
        if self.origin:
            return _OCCURRENCE + self.origin + crc.to_bytes(4, "big") + self.shn
        return legacy_identity(self.point, crc, self.shn, self.app)


#: The first byte of an identity with an origin, and of one without.
_OCCURRENCE = b"\x02"
_LEGACY = b"\x01"


def legacy_identity(point: int, crc: int, shn: bytes, app: bytes) -> bytes:
    """
    The identity of an event of format version 1 (no origin): its point,
    crc, host and app (L{Event.identity}).
    """
    return (
        _LEGACY + point.to_bytes(8, "big") + crc.to_bytes(4, "big")
        + bytes((len(shn),)) + shn + bytes((len(app),)) + app
    )  # fmt: skip


def origin_of_identity(identity: bytes) -> bytes:
    """
    The origin held in an identity (L{Event.identity}); C{b""} for a
    version-1 event's.
    """
    return identity[1 : 1 + ORIGIN_SIZE] if identity[:1] == _OCCURRENCE else b""


# ---------------------------------------------------------------------------
# Encoding

_pack_head = struct.Struct(">BQIB").pack  # version, point, crc, pri
_unpack_head = struct.Struct(">BQIB").unpack_from

#: Gaps never contain word bytes, so a word byte can stand between them.
_SEP = b"A"

#: Maps the separator to "1" and every other byte to "0".
_TO_BITS = bytes(0x31 if b == _SEP[0] else 0x30 for b in range(256))

#: Bounded caches (cleared when full): they hold what depends only on the
#: line "template" or on the names, which repeat from one event to the next.
#: Templates longer than _CACHE_MAX_KEY bytes are not cached, so the caches
#: stay within a few MiB whatever the input.
_CACHE_SIZE = 4096
_CACHE_MAX_KEY = 1024
#: gaps joined by _SEP -> (marks with its length, line with its length)
_template_cache: dict[bytes, tuple[bytes, bytes]] = {}
#: (shn, app) -> shn and app with their lengths
_names_cache: dict[tuple[bytes, bytes], bytes] = {}
#: (marks, line) -> %-format that rebuilds the message from the tokens
_format_cache: dict[tuple[bytes, bytes], bytes] = {}
#: shn and app with their lengths -> (shn, app)
_names_decode_cache: dict[bytes, tuple[bytes, bytes]] = {}

_pack_u16 = struct.Struct(">H").pack

#: The pure-Python tokenizer, whatever L{tokenize.split} is bound to.
_split = speedups.pure("logship.core.tokenize", "split")


def _template(key: bytes) -> tuple[bytes, bytes]:
    """
    The marks and line fields (each with its length) of a line template.

    @param key: C{_SEP.join(gaps)}: the line with a separator where each
        token goes (gaps never contain word bytes, so this is unambiguous).
    @return: C{(marks field, line field)}, both with their 2-byte lengths;
        the marks are MSB first, C{len(line) // 8 + 1} bytes.
    """
    line = key.translate(None, _SEP)
    if len(line) > 0xFFFF:
        raise ValueError("message too long for one event: split it first")
    # "1" where a separator was, "0" for each line byte, then the "1"s
    # overwrite the byte after them (gaps between tokens are not empty);
    # the appended "0" is position len(line)
    bits = (key.translate(_TO_BITS) + b"0").replace(b"10", b"1")
    nbytes = (len(bits) + 7) >> 3
    marks = int(bits.ljust(nbytes << 3, b"0"), 2).to_bytes(nbytes, "big")
    fields = (_pack_u16(nbytes) + marks, _pack_u16(len(line)) + line)
    if len(key) <= _CACHE_MAX_KEY:
        if len(_template_cache) >= _CACHE_SIZE:
            _template_cache.clear()
        _template_cache[key] = fields
    return fields


def _names(shn: bytes, app: bytes) -> bytes:
    """
    The shn and app fields, each with its 1-byte length.

    @raise ValueError: one is longer than L{MAX_NAME}.
    """
    if len(shn) > MAX_NAME or len(app) > MAX_NAME:
        raise ValueError(
            f"shn and app must be at most {MAX_NAME} bytes (got {len(shn)}, {len(app)})"
        )
    fields = bytes((len(shn),)) + shn + bytes((len(app),)) + app
    if len(_names_cache) >= _CACHE_SIZE:
        _names_cache.clear()
    _names_cache[(shn, app)] = fields
    return fields


def encode_fields(
    point: int,
    pri: int,
    shn: bytes,
    app: bytes,
    pid: bytes | None,
    message: bytes,
    continued: bool = False,
    structured: bool = False,
    origin: bytes = b"",
) -> bytes:
    """
    Serialize one event given as fields, without building an L{Event}.

    @param point: ticks since the epoch, C{0 <= point < 2**64}.
    @param pri: syslog priority C{0..255} (255: none).
    @param shn: host name, at most 255 bytes.
    @param app: app name, at most 255 bytes.
    @param pid: C{None}, or 1 to 255 bytes without a space.
    @param message: the message, any bytes; at most L{MAX_PART} bytes is
        always small enough, longer ones may be too long.
    @param continued: set L{FLAG_CONTINUED}.
    @param structured: set L{FLAG_STRUCTURED}.
    @param origin: the L{ORIGIN_SIZE}-byte origin (L{pack_origin}): the
        event is written in format L{FORMAT_VERSION}; or C{b""} for an
        event from version-1 data, written in L{LEGACY_VERSION}.
    @return: the serialized event (without a record length).
    @raise ValueError: a field out of range, or the result would exceed
        L{MAX_EVENT_SIZE} (split long messages with L{split_message}).
    """
    parts = _split(message)
    key = _SEP.join(parts[0::2])
    marks_field, line_field = _template_cache.get(key) or _template(key)
    if len(origin) == ORIGIN_SIZE:
        vb = FORMAT_VERSION
    elif not origin:
        vb = LEGACY_VERSION
    else:
        raise ValueError(f"an origin is {ORIGIN_SIZE} bytes, not {len(origin)}")
    if pid is None:
        tokens = b" ".join(parts[1::2])
    else:
        if not pid or len(pid) > MAX_NAME or b" " in pid:
            raise ValueError(f"pid must be 1 to {MAX_NAME} bytes without a space: {pid!r}")
        tokens = pid + b" " + b" ".join(parts[1::2]) if len(parts) > 1 else pid
        vb |= FLAG_PID
    if continued:
        vb |= FLAG_CONTINUED
    if structured:
        vb |= FLAG_STRUCTURED
    if len(tokens) > 0xFFFF:
        raise ValueError("message too long for one event: split it first")
    try:
        head = _pack_head(vb, point, zlib.crc32(message), pri)
    except struct.error as e:
        raise ValueError(f"point or pri out of range: {e}") from None
    data = b"".join(
        (
            head,
            origin,
            _names_cache.get((shn, app)) or _names(shn, app),
            marks_field,
            _pack_u16(len(tokens)),
            tokens,
            line_field,
        )
    )
    if len(data) > MAX_EVENT_SIZE:
        raise ValueError(
            f"event of {len(data)} bytes exceeds {MAX_EVENT_SIZE}: split the message first"
        )
    return data


#: The pure-Python encoder, whatever L{encode_fields} is bound to.
_encode_fields = encode_fields


def encode(event: Event) -> bytes:
    """
    Serialize C{event} (without the 2-byte record length).

    @param event: the event.
    @return: the serialized event, at most L{MAX_EVENT_SIZE} bytes.
    @raise ValueError: a field out of range (see L{encode_fields}), or the
        result would exceed L{MAX_EVENT_SIZE}; callers split long messages
        first with L{split_message}.
    """
    return _encode_fields(
        event.point,
        event.pri,
        event.shn,
        event.app,
        event.pid,
        event.message,
        event.continued,
        event.structured,
        event.origin,
    )


# ---------------------------------------------------------------------------
# Decoding

#: Marks up to this many bytes are read through L{_positions_table}.
_POSITIONS_TABLE_BYTES = 256


@cache
def _positions_table() -> list[tuple[tuple[int, ...], ...]]:
    """
    For the j-th byte of the marks and its value, the marked line positions.

    Built on first use (about 12 MiB): the compiled codec never needs it.
    """
    return [
        tuple(tuple(8 * j + k for k in range(8) if b & (0x80 >> k)) for b in range(256))
        for j in range(_POSITIONS_TABLE_BYTES)
    ]


def _positions(marks: bytes) -> list[int]:
    """
    The marked positions, ascending.

    @param marks: a marks bitset, MSB first.
    @return: the positions of its set bits.
    """
    if len(marks) <= _POSITIONS_TABLE_BYTES:
        return list(chain.from_iterable(map(getitem, _positions_table(), marks)))
    x = int.from_bytes(marks, "big")
    top = len(marks) * 8 - 1
    found = []
    while x:
        low = x & -x
        found.append(top - (low.bit_length() - 1))
        x ^= low
    found.reverse()
    return found


def _format_for(marks: bytes, line: bytes) -> bytes:
    """
    The C{%}-format that rebuilds a message from its tokens.

    @param marks: the marks bitset.
    @param line: the line.
    @return: the line with C{%} doubled and C{%s} at each marked position.
    @raise CorruptEvent: marks of the wrong length or with padding bits set.
    """
    ll = len(line)
    if len(marks) != (ll >> 3) + 1:
        raise CorruptEvent(
            f"marks field is {len(marks)} bytes, expected {(ll >> 3) + 1} for a {ll}-byte line"
        )
    positions = _positions(marks)
    if positions and positions[-1] > ll:
        raise CorruptEvent("marks has bits set beyond the end of the line")
    starts = [0, *positions]
    stops = [*positions, ll]
    fmt = b"%s".join(
        line[a:b].replace(b"%", b"%%") for a, b in zip(starts, stops)
    )
    if ll <= _CACHE_MAX_KEY:
        if len(_format_cache) >= _CACHE_SIZE:
            _format_cache.clear()
        _format_cache[(marks, line)] = fmt
    return fmt


def _names_decoded(field: bytes) -> tuple[bytes, bytes]:
    """
    Split the shn and app fields (each with its length) into C{(shn, app)}.
    """
    shn_end = 1 + field[0]
    names = (field[1:shn_end], field[shn_end + 1 :])
    if len(_names_decode_cache) >= _CACHE_SIZE:
        _names_decode_cache.clear()
    _names_decode_cache[field] = names
    return names


def _checked(data: bytes | bytearray | memoryview) -> tuple[bytes, int, int, int, bytes, bytes | None, bytes]:
    """
    Walk one serialized event and rebuild its message, checking everything
    L{decode} promises.

    @return: C{(data as bytes, version byte, point, pri, names field, pid,
        message)}.
    @raise CorruptEvent: on any malformed input or a crc mismatch.
    """
    if type(data) is not bytes:
        data = bytes(data)
    size = len(data)
    try:
        vb, point, crc, pri = _unpack_head(data)
        names_at = _NAMES_AT.get(vb & VERSION_MASK)
        if names_at is None:
            raise CorruptEvent(f"unknown format version {vb & VERSION_MASK}")
        o = names_at + 1 + data[names_at]
        names_end = o + 1 + data[o]
        names = data[names_at:names_end]
        o = names_end + 2 + (data[names_end] << 8 | data[names_end + 1])
        marks = data[names_end + 2 : o]
        tok_end = o + 2 + (data[o] << 8 | data[o + 1])
        tokens = data[o + 2 : tok_end]
        end = tok_end + 2 + (data[tok_end] << 8 | data[tok_end + 1])
        line = data[tok_end + 2 : end]
    except (IndexError, struct.error):
        raise CorruptEvent(f"truncated event ({size} bytes)") from None
    if end != size:
        if end > size:
            raise CorruptEvent(f"truncated event: its fields need {end} bytes, got {size}")
        raise CorruptEvent(f"{size - end} trailing bytes after the event")
    toks = tokens.split(b" ") if tokens else []
    if vb & FLAG_PID:
        if not toks or not toks[0]:
            raise CorruptEvent("FLAG_PID is set but the pid token is empty")
        pid: bytes | None = toks.pop(0)
    else:
        pid = None
    try:
        message = (_format_cache.get((marks, line)) or _format_for(marks, line)) % tuple(toks)
    except TypeError:
        raise CorruptEvent(f"{len(toks)} tokens for {len(_positions(marks))} marks") from None
    if zlib.crc32(message) != crc:
        raise CorruptEvent(
            f"crc mismatch: stored {crc:08x}, message has {zlib.crc32(message):08x}"
        )
    return data, vb, point, pri, names, pid, message


def decode(data: bytes | bytearray | memoryview) -> Event:
    """
    Deserialize one event and verify its crc.

    Decoding does not re-run the tokenizer: any tokens and marks that
    rebuild a message matching the crc are accepted (so the tokenizer rule
    may change without making old events unreadable).

    @param data: exactly one serialized event (without a record length).
    @return: the event, its message rebuilt byte for byte.
    @raise CorruptEvent: on any malformed input or a crc mismatch.
    """
    data, vb, point, pri, names, pid, message = _checked(data)
    shn, app = _names_decode_cache.get(names) or _names_decoded(names)
    return Event(
        point,
        pri,
        shn,
        app,
        pid,
        message,
        vb & FLAG_CONTINUED != 0,
        vb & FLAG_STRUCTURED != 0,
        data[14 : _NAMES_AT[vb & VERSION_MASK]],
    )


def check_event(data: bytes | bytearray | memoryview) -> int:
    """
    Check one serialized event exactly as L{decode} does (layout, message
    rebuilt, crc), without making the L{Event}: what a buck does with every
    event it receives.

    @param data: exactly one serialized event (without a record length).
    @return: the event's point (to find its bucket).
    @raise CorruptEvent: where L{decode} raises it, with the same reason.
    """
    return _checked(data)[2]


#: The pure-Python decoder, whatever L{decode} is bound to.
_decode = decode


def decode_with_tokens(data: bytes | bytearray | memoryview) -> tuple[Event, list[bytes]]:
    """
    Like L{decode}, also giving the message's tokens as stored (for an
    index, without tokenizing again).

    @param data: exactly one serialized event.
    @return: C{(event, tokens)}; the tokens do not include the pid.
    @raise CorruptEvent: as L{decode}.
    """
    event = _decode(data)
    toks = tokens_field(bytes(data)).split(b" ")
    if toks == [b""]:
        toks = []
    return event, toks[1:] if event.pid is not None else toks


def tokens_field(data: bytes) -> bytes:
    """
    The tokens field of a serialized event, as stored (the pid first with
    L{FLAG_PID}), found without decoding.

    @param data: one serialized event, known to decode.
    @return: the tokens joined by single spaces.
    """
    names_at = _NAMES_AT[data[0] & VERSION_MASK]
    o = names_at + 2 + data[names_at] + data[names_at + 1 + data[names_at]]
    o += 2 + (data[o] << 8 | data[o + 1])
    return data[o + 2 : o + 2 + (data[o] << 8 | data[o + 1])]


def origin_field(data: bytes) -> bytes:
    """
    The origin of a serialized event, found without decoding: C{b""} for
    format version 1.

    @param data: one serialized event, known to decode.
    """
    return data[14 : _NAMES_AT[data[0] & VERSION_MASK]]


def host_field(data: bytes) -> bytes:
    """
    The C{shn} of a serialized event, found without decoding.

    @param data: one serialized event, known to decode.
    """
    names_at = _NAMES_AT[data[0] & VERSION_MASK]
    return data[names_at + 1 : names_at + 1 + data[names_at]]


def identity_key(data: bytes) -> bytes:
    """
    The identity of a serialized event read from its layout without
    decoding: equal to L{Event.identity} of the decoded event.

    @param data: one serialized event, known to decode.
    @return: the key.
    """
    if data[0] & VERSION_MASK == FORMAT_VERSION:
        shn_at = 14 + ORIGIN_SIZE
        return (
            _OCCURRENCE + data[14:shn_at] + data[9:13]
            + data[shn_at + 1 : shn_at + 1 + data[shn_at]]
        )  # fmt: skip
    app_at = 15 + data[14]
    return _LEGACY + data[1:13] + data[14 : app_at + 1 + data[app_at]]


def tokens_of(event: Event) -> list[bytes]:
    """
    The tokens of an event's message (the pid is not among them).

    @param event: the event.
    @return: the tokens, in order, as L{logship.core.tokenize} finds them.
    """
    return tokenize.tokens(event.message)


# ---------------------------------------------------------------------------
# Long messages


def worst_case_size(message_length: int) -> int:
    """
    An upper bound of the serialized size of any event whose message has
    C{message_length} bytes, with the longest shn, app and pid.

    With C{L} bytes of line and C{k} tokens of C{S} bytes in all
    (C{L + S = n}), tokens are separated by at least one line byte and are
    not empty, so C{k <= min(L + 1, S)}; the size is
    C{14 + 256 + 256 + (2 + L // 8 + 1) + (2 + 256 + S + k - 1) + (2 + L)},
    largest near C{L = n / 2}: about C{1.5625 n + 790}.

    @param message_length: C{n}.
    @return: the bound in bytes.
    """
    n = message_length
    # header, shn and app with lengths, three 2-byte lengths, pid and its space
    fixed = 14 + (1 + MAX_NAME) + (1 + MAX_NAME) + 2 + 2 + 2 + (MAX_NAME + 1)
    best = 0
    # the maximum of L // 8 + 1 + L + S + k - 1 over L is near L = n / 2;
    # check a window around it (and the ends) exactly
    candidates = {0, n, *range(max(0, n // 2 - 16), min(n, n // 2 + 16) + 1)}
    for line_length in candidates:
        s = n - line_length
        k = min(line_length + 1, s)
        best = max(best, line_length // 8 + 1 + line_length + s + max(k - 1, 0))
    return fixed + best


assert worst_case_size(MAX_PART) <= MAX_EVENT_SIZE


def split_message(message: bytes) -> list[bytes]:
    """
    Cut a message into parts that each encode within L{MAX_EVENT_SIZE}.

    Parts are at most L{MAX_PART} bytes.  A cut goes after the last space
    in the last 1 KiB before the limit if there is one, else before the
    nearest UTF-8 lead byte at most 3 bytes back, else at the limit.
    C{b"".join(parts) == message}; a message of at most L{MAX_PART} bytes
    (the empty one too) is one part.

    @param message: any bytes.
    @return: the parts, in order; encode all but the last with
        C{continued=True}.
    """
    n = len(message)
    if n <= MAX_PART:
        return [message]
    parts = []
    start = 0
    while n - start > MAX_PART:
        limit = start + MAX_PART
        cut = message.rfind(b" ", limit - _CUT_LOOKBACK, limit) + 1
        if cut <= start:
            cut = limit
            for back in range(4):
                if message[limit - back] & 0xC0 != 0x80:
                    cut = limit - back
                    break
        parts.append(message[start:cut])
        start = cut
    parts.append(message[start:])
    return parts


def split_event(event: Event, points: Sequence[int] | None = None) -> list[Event]:
    """
    Cut an event with a long message into continued parts.

    Part C{i} has the origin of the event with C{i} added to its offset: a
    line has at least as many bytes as parts, so the parts' origins never
    reach the next line's.

    @param event: the event; its C{continued} flag goes on the last part.
    @param points: the point of each part (from the sequencer, one call per
        part); by default all parts keep C{event.point}.
    @return: the parts; all but the last have C{continued=True}.
    @raise ValueError: C{points} does not give one point per part.
    """
    messages = split_message(event.message)
    if points is None:
        points = [event.point] * len(messages)
    if len(points) != len(messages):
        raise ValueError(f"{len(messages)} parts but {len(points)} points")
    if event.origin:
        source, file, offset = unpack_origin(event.origin)
        origins = [pack_origin(source, file, offset + i) for i in range(len(messages))]
    else:
        origins = [b""] * len(messages)
    last = len(messages) - 1
    return [
        Event(
            point,
            event.pri,
            event.shn,
            event.app,
            event.pid,
            message,
            event.continued if i == last else True,
            event.structured if i == 0 else False,
            origin,
        )
        for i, (point, message, origin) in enumerate(zip(points, messages, origins))
    ]


def join_parts(parts: Iterable[Event]) -> bytes:
    """
    Rejoin the messages of the parts of one long line.

    @param parts: the events of one line, in order: all but the last have
        C{continued} set, the last has not.
    @return: the whole message.
    @raise ValueError: the flags do not say that these are exactly the parts
        of one line.
    """
    events = list(parts)
    if not events:
        raise ValueError("no parts")
    for event in events[:-1]:
        if not event.continued:
            raise ValueError("a part before the last is not marked continued")
    if events[-1].continued:
        raise ValueError("the last part is marked continued: parts are missing")
    return b"".join(event.message for event in events)


@dataclass
class Decoded:
    """
    Events decoded from serialized ones, and what could not be.

    @ivar events: the good events, in order.
    @ivar corrupt: how many did not decode (their crc or layout is wrong).
    @ivar first_error: the first one's reason, for the log.
    """

    events: list[Event]
    corrupt: int = 0
    first_error: str | None = None


def decode_all(serialized: Iterable[bytes]) -> Decoded:
    """
    Decode serialized events, skipping (and counting) the corrupt ones.

    For stored events (bucket files, which bucks write only after checking
    every event): a corrupt one is damage on a disk, and its other copies
    (another buck, the tailer's upload) still count.
    """
    result = Decoded([])
    append = result.events.append
    for data in serialized:
        try:
            append(decode(data))
        except CorruptEvent as e:
            result.corrupt += 1
            if result.first_error is None:
                result.first_error = str(e)
    return result


speedups.install(
    globals(),
    ("encode", "encode_fields", "decode", "decode_with_tokens", "check_event"),
    lambda compiled: compiled.configure_event(
        Event, CorruptEvent, encode, encode_fields, decode, decode_with_tokens, check_event
    ),
)
