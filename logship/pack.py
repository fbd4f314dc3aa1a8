"""The packed form of a whole bucket, for transfer and archive.

Pure code, no I/O.  A bucket file is a list of records (2-byte length +
serialized event), which compresses poorly: binary fields interleaved with
text.  L{pack} lays the same events out in columns, each column homogeneous
(small varints and bytes, dictionaries for the repeated host and app names,
then all the messages as text), and compresses the lot with zlib.
L{unpack} gives back the same events, in the same order.  On the corpus the
result is smaller than zlib of the raw lines (see C{docs/format.md}).

Layout (big-endian; see C{docs/format.md} "Packed bucket")::

    magic "LSPK" | version u8 | count u32 | body length u32 | sha256(body) 32
    | zlib(body)

The body holds, in order, for C{n = count} events: a layout byte; the
points as three columns (second deltas, sub-second exponents and mantissas:
see L{_points_columns}); pri (C{n} bytes); flags (C{n} bytes: C{0x80}
continued, C{0x20} structured); the host dictionary (varint count, then
u8 length + name each) and C{n} varint host indexes; the same for apps; pid
lengths (C{n} bytes, 0 for none) then the pids concatenated; then the
messages, joined by newlines (layout 1, when no message holds a newline) or
C{n} varint lengths then the messages concatenated (layout 0).  Varints are
unsigned LEB128; signed values are zigzag-encoded.

The per-event crc is not stored: it is the crc32 of the message, recomputed.
The sha256 covers the whole body and is checked by L{unpack}, which also
bounds the decompressed size (a decompression bomb stops at the declared
length, itself at most C{max_size}).
"""

from __future__ import annotations

import hashlib
import struct
import zlib
from typing import Iterable

from logship.event import MAX_NAME, Event

MAGIC = b"LSPK"
PACK_VERSION = 1

#: Default bound of the decompressed body (1 GiB).
DEFAULT_MAX_SIZE = 1 << 30

_HEADER = struct.Struct(">4sBII32s")

_FLAG_CONTINUED = 0x80
_FLAG_STRUCTURED = 0x20
_U64_MASK = (1 << 64) - 1
_TICKS_PER_SECOND = 100_000_000

#: Body layouts: messages with a length column, or joined by newlines
#: (used when no message contains one: it compresses better).
_LAYOUT_LENGTHS = 0
_LAYOUT_LINES = 1

#: The fewest body bytes one event takes (three varints, e, pri, flags,
#: two indexes, pid length).
_MIN_EVENT_BODY = 9

_POW10 = [10**e for e in range(9)]


class CorruptPack(ValueError):
    """
    Bytes that are not a valid packed bucket (bad magic, unknown version,
    truncation, checksum mismatch, too large, malformed columns).
    """


def _zigzag(value: int) -> int:
    return value << 1 if value >= 0 else (-value << 1) - 1


def _unzigzag(value: int) -> int:
    return (value >> 1) ^ -(value & 1)


def _varints(values: list[int]) -> bytes:
    """
    LEB128 varints of non-negative integers, concatenated.
    """
    if not values or max(values) < 0x80:
        return bytes(values)
    out = bytearray()
    for v in values:
        while v >= 0x80:
            out.append(v & 0x7F | 0x80)
            v >>= 7
        out.append(v)
    return bytes(out)


class _Reader:
    """
    Bounds-checked reads of the body's columns.
    """

    __slots__ = ("_data", "_offset")

    def __init__(self, data: bytes) -> None:
        self._data = data
        self._offset = 0

    def take(self, size: int, what: str) -> bytes:
        end = self._offset + size
        if size < 0 or end > len(self._data):
            raise CorruptPack(f"body ends inside the {what} column")
        chunk = self._data[self._offset : end]
        self._offset = end
        return chunk

    def varints(self, n: int, what: str) -> list[int]:
        data = self._data
        start = self._offset
        chunk = data[start : start + n]
        if len(chunk) == n and (not chunk or max(chunk) < 0x80):
            self._offset = start + n
            return list(chunk)
        values = []
        o = start
        size = len(data)
        for _ in range(n):
            v = 0
            shift = 0
            while True:
                if o >= size:
                    raise CorruptPack(f"body ends inside the {what} column")
                b = data[o]
                o += 1
                v |= (b & 0x7F) << shift
                if b < 0x80:
                    break
                shift += 7
                if shift > 63:
                    raise CorruptPack(f"overlong varint in the {what} column")
            values.append(v)
        self._offset = o
        return values

    def names(self, what: str) -> list[bytes]:
        (count,) = self.varints(1, what)
        if count > len(self._data) - self._offset:
            raise CorruptPack(f"impossible {what} dictionary size {count}")
        return [self.take(self.take(1, what)[0], what) for _ in range(count)]

    def rest(self) -> bytes:
        chunk = self._data[self._offset :]
        self._offset = len(self._data)
        return chunk

    def done(self) -> None:
        if self._offset != len(self._data):
            raise CorruptPack(f"{len(self._data) - self._offset} bytes left over in the body")


def _dictionary(values: list[bytes], what: str) -> tuple[bytes, bytes]:
    """
    A dictionary of distinct values (in order of first appearance) and the
    index of each value in it, as the body lays them out.
    """
    index: dict[bytes, int] = {}
    indexes = [index.setdefault(v, len(index)) for v in values]
    names = [_varints([len(index)])]
    for name in index:
        if len(name) > MAX_NAME:
            raise ValueError(f"{what} longer than {MAX_NAME} bytes: {name[:40]!r}...")
        names.append(bytes((len(name),)))
        names.append(name)
    return b"".join(names), _varints(indexes)


def _points_columns(points: list[int]) -> bytes:
    """
    The three point columns: second deltas, sub-second exponents, mantissas.

    A point is C{second * 10**8 + sub}.  Column 1 holds the zigzag varint
    of C{second - previous second}; the sub-second part is coded as
    C{d = sub - previous sub} when the second is the previous one, else
    C{d = sub}; C{d = m * 10**e} with C{m} not a multiple of 10 (C{e <= 8}),
    column 2 holds C{e} (one byte each) and column 3 the zigzag varint of
    C{m}.  So whole-second sources cost about one byte per point, and
    millisecond sources keep their decimal roundness.
    """
    seconds = []
    exponents = []
    mantissas = []
    previous_second = 0
    previous_sub = 0
    for point in points:
        if not 0 <= point <= _U64_MASK:
            raise ValueError(f"point out of range: {point}")
        second, sub = divmod(point, _TICKS_PER_SECOND)
        seconds.append(_zigzag(second - previous_second))
        d = sub - previous_sub if second == previous_second else sub
        e = 0
        if d:
            while e < 8 and d % 10 == 0:
                d //= 10
                e += 1
        exponents.append(e)
        mantissas.append(_zigzag(d))
        previous_second = second
        previous_sub = sub
    return b"".join((_varints(seconds), bytes(exponents), _varints(mantissas)))


def pack(events: Iterable[Event], level: int = 6) -> bytes:
    """
    Pack events into one compressed, checksummed blob.

    @param events: the events, in any order (the order is kept).
    @param level: zlib compression level, 0 to 9.
    @return: the packed bucket.
    @raise ValueError: a field is out of range (point not in
        C{[0, 2**64)}, pri not in C{0..255}, a name or pid longer than 255
        bytes, an empty pid).
    """
    events = list(events)
    messages = [e.message for e in events]
    pids = [e.pid or b"" for e in events]
    for e in events:
        if e.pid is not None and not 0 < len(e.pid) <= MAX_NAME:
            raise ValueError(f"pid must be 1 to {MAX_NAME} bytes: {e.pid!r}")
    try:
        pri = bytes(e.pri for e in events)
    except ValueError:
        raise ValueError("pri out of range 0..255") from None
    flags = bytes(
        (_FLAG_CONTINUED if e.continued else 0) | (_FLAG_STRUCTURED if e.structured else 0)
        for e in events
    )
    hosts, host_index = _dictionary([e.shn for e in events], "shn")
    apps, app_index = _dictionary([e.app for e in events], "app")
    if any(b"\n" in m for m in messages):
        layout = _LAYOUT_LENGTHS
        text = _varints(list(map(len, messages))) + b"".join(messages)
    else:
        layout = _LAYOUT_LINES
        text = b"\n".join(messages)
    body = b"".join(
        (
            bytes((layout,)),
            _points_columns([e.point for e in events]),
            pri,
            flags,
            hosts,
            host_index,
            apps,
            app_index,
            bytes(map(len, pids)),
            b"".join(pids),
            text,
        )
    )
    if len(body) > 0xFFFFFFFF:
        raise ValueError("bucket too large for one pack")
    header = _HEADER.pack(MAGIC, PACK_VERSION, len(events), len(body), hashlib.sha256(body).digest())
    return header + zlib.compress(body, level)


def unpack(data: bytes | bytearray | memoryview, max_size: int = DEFAULT_MAX_SIZE) -> list[Event]:
    """
    The events of a packed bucket, in the order they were packed.

    @param data: what L{pack} made.
    @param max_size: the largest decompressed body accepted, in bytes.
    @return: the events; their crcs are those of their messages.
    @raise CorruptPack: bad magic or version, truncated data, a body larger
        than declared or than C{max_size}, a checksum mismatch, malformed
        columns.
    """
    data = bytes(data)
    if len(data) < _HEADER.size:
        raise CorruptPack(f"truncated pack: {len(data)} bytes, the header alone is {_HEADER.size}")
    magic, version, n, body_length, digest = _HEADER.unpack_from(data)
    if magic != MAGIC:
        raise CorruptPack(f"bad magic {magic!r}, expected {MAGIC!r}")
    if version != PACK_VERSION:
        raise CorruptPack(f"unknown pack version {version}")
    if body_length > max_size:
        raise CorruptPack(f"declared body of {body_length} bytes exceeds the limit {max_size}")
    if _MIN_EVENT_BODY * n + 1 > body_length:
        raise CorruptPack(f"{n} events cannot fit in a {body_length}-byte body")
    decompressor = zlib.decompressobj()
    try:
        # one byte more than declared: a larger body shows, and a bomb stops
        body = decompressor.decompress(data[_HEADER.size :], body_length + 1)
    except zlib.error as e:
        raise CorruptPack(f"bad compressed data: {e}") from None
    if len(body) > body_length:
        raise CorruptPack(f"body is larger than the declared {body_length} bytes")
    if not decompressor.eof:
        raise CorruptPack("truncated compressed data")
    if decompressor.unused_data:
        raise CorruptPack(f"{len(decompressor.unused_data)} trailing bytes after the pack")
    if len(body) != body_length:
        raise CorruptPack(f"body is {len(body)} bytes, declared {body_length}")
    if hashlib.sha256(body).digest() != digest:
        raise CorruptPack("checksum mismatch: the body is not what was packed")
    try:
        return _read_body(body, n)
    except (IndexError, ValueError) as e:
        if isinstance(e, CorruptPack):
            raise
        raise CorruptPack(f"malformed body: {e}") from None


def _read_body(body: bytes, n: int) -> list[Event]:
    """
    Parse a verified body into C{n} events.
    """
    reader = _Reader(body)
    layout = reader.take(1, "layout")[0]
    if layout not in (_LAYOUT_LENGTHS, _LAYOUT_LINES):
        raise CorruptPack(f"unknown body layout {layout}")
    seconds = reader.varints(n, "point second")
    exponents = reader.take(n, "point exponent")
    mantissas = reader.varints(n, "point mantissa")
    pris = reader.take(n, "pri")
    flags = reader.take(n, "flags")
    hosts = reader.names("host")
    host_index = reader.varints(n, "host index")
    apps = reader.names("app")
    app_index = reader.varints(n, "app index")
    pid_lengths = reader.take(n, "pid length")
    pid_data = reader.take(sum(pid_lengths), "pid")
    if layout == _LAYOUT_LENGTHS:
        lengths = reader.varints(n, "message length")
        text = reader.take(sum(lengths), "message")
        reader.done()
        messages = []
        offset = 0
        for length in lengths:
            messages.append(text[offset : offset + length])
            offset += length
    else:
        messages = reader.rest().split(b"\n") if n else []
        if len(messages) != n:
            raise CorruptPack(f"{len(messages)} messages for {n} events")
    if n and (max(host_index) >= len(hosts) or max(app_index) >= len(apps)):
        raise CorruptPack("a host or app index is outside its dictionary")
    if n and max(exponents) > 8:
        raise CorruptPack("a point exponent is larger than 8")
    events = []
    second = 0
    sub = 0
    pid_offset = 0
    for i in range(n):
        delta = _unzigzag(seconds[i])
        d = _unzigzag(mantissas[i]) * _POW10[exponents[i]]
        if delta:
            second += delta
            sub = d
        else:
            sub += d
        point = second * _TICKS_PER_SECOND + sub
        if not (0 <= sub < _TICKS_PER_SECOND and 0 <= point <= _U64_MASK):
            raise CorruptPack(f"event {i}: point out of range")
        pid_length = pid_lengths[i]
        if pid_length:
            pid: bytes | None = pid_data[pid_offset : pid_offset + pid_length]
            pid_offset += pid_length
        else:
            pid = None
        f = flags[i]
        events.append(
            Event(
                point,
                pris[i],
                hosts[host_index[i]],
                apps[app_index[i]],
                pid,
                messages[i],
                f & _FLAG_CONTINUED != 0,
                f & _FLAG_STRUCTURED != 0,
            )
        )
    return events
