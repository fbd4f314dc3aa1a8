"""The packed form of a whole bucket, for transfer and archive.

Pure code, no I/O.  A bucket file is a list of records (2-byte length +
serialized event), which compresses poorly: binary fields interleaved with
text.  L{pack} lays the same events out in columns, each column homogeneous
(small varints and bytes, dictionaries for the repeated host and app names,
message templates and their variables grouped by template and slot), and
compresses the lot with LZMA2 (stdlib C{lzma}).  L{unpack} gives back the
same events, in the same order.  On the corpus the result is about 0.4 to
0.65 of C{gzip -6} of the raw lines (see C{docs/archive.md}).

Layout (big-endian; see C{docs/format.md} "Packed bucket")::

    magic "LSPK" | version u8 (3) | count u32 | body length u32
    | sha256(body) 32 | raw LZMA2 stream of the body

The body holds, in order, for C{n = count} events: the points as three
columns (second deltas, sub-second exponents and mantissas: see
L{_points_columns}); pri (C{n} bytes); flags (C{n} bytes: C{0x80}
continued, C{0x20} structured, C{0x01} has an origin); the host dictionary
(varint count, then u8 length + name each) and C{n} varint host indexes; the
same for apps; pid lengths (C{n} bytes, 0 for none) then the pids
concatenated; for the C{m} events that have an origin (see
L{_origin_columns}), the source dictionary and C{m} varint source indexes,
C{m} varint file numbers and C{m} zigzag varint offset deltas; the template
dictionary (see L{_templates}) and C{n} varint template indexes; then the
variables, each followed by C{\n}, grouped by template, then by slot, then
in event order.  Varints are unsigned LEB128; signed values are
zigzag-encoded.

A message is cut into literal text and B{variables}: maximal runs of
C{A-Z a-z 0-9 _ . : / @ % + -} that hold a digit (numbers, addresses, ids,
times).  The literal pieces make the message's template.  This cut is the
packer's choice only: the reader never re-runs it, it joins what it is
given.

The per-event crc is not stored: it is the crc32 of the message, recomputed.
The sha256 covers the whole body and is checked by L{unpack}, which also
bounds the decompressed size (a decompression bomb stops at the declared
length, itself at most C{max_size}).
"""

from __future__ import annotations

import hashlib
import lzma
import re
import struct
from typing import Iterable

from logship.core.event import MAX_NAME, Event, pack_origin, unpack_origin

MAGIC = b"LSPK"
PACK_VERSION = 3

#: Older versions L{unpack} still reads (version 2: no origins).
READABLE_VERSIONS = (2, PACK_VERSION)

#: Default bound of the decompressed body (1 GiB).
DEFAULT_MAX_SIZE = 1 << 30

_HEADER = struct.Struct(">4sBII32s")

_FLAG_CONTINUED = 0x80
_FLAG_STRUCTURED = 0x20
_FLAG_ORIGIN = 0x01
_U64_MASK = (1 << 64) - 1
_TICKS_PER_SECOND = 100_000_000

#: The fewest body bytes one event takes (three varints, e, pri, flags,
#: host, app and template indexes, pid length).
_MIN_EVENT_BODY = 9

_POW10 = [10**e for e in range(9)]

#: Default LZMA preset (0 to 9).  The dictionary size is set apart (see
#: L{_filters}), so higher presets only search harder: on the corpus,
#: C{6 | PRESET_EXTREME} packs 30% slower for under 1% less.
DEFAULT_LEVEL = 6

#: Largest LZMA dictionary: bounds the packer's memory (about 11 times
#: this) and the reader's (about this); a bucket body larger than this
#: still packs, with a window of this size.
_MAX_DICT = 8 << 20

#: A variable: a run of these bytes holding a digit.  The lookbehind makes
#: a match start only where a run starts, so the lookahead scans each run
#: once: linear time whatever the message.
_VARIABLE = re.compile(
    rb"(?<![A-Za-z0-9_.:/@%+\-])(?=[A-Za-z0-9_.:/@%+\-]*?[0-9])([A-Za-z0-9_.:/@%+\-]++)"
)


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

    def count(self, what: str) -> int:
        """A varint count, at most the bytes left (each item takes one)."""
        (count,) = self.varints(1, what)
        if count > len(self._data) - self._offset:
            raise CorruptPack(f"impossible {what} count {count}")
        return count

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


def _origin_columns(origins: list[bytes]) -> bytes:
    """
    The origin columns of the events that have one (L{pack_origin}).

    The sources are a dictionary of 4-byte tags with an index per event;
    the file numbers are varints; an offset is coded as the zigzag varint
    of its difference from the previous offset of the same source and file
    (from 0 for the first), so the lines of one file in order cost about
    their length's varint.
    """
    tags = []
    files = []
    deltas = []
    last: dict[tuple[int, int], int] = {}
    for origin in origins:
        source, file, offset = unpack_origin(origin)
        tags.append(origin[:4])
        files.append(file)
        key = (source, file)
        deltas.append(_zigzag(offset - last.get(key, 0)))
        last[key] = offset
    dictionary, index = _dictionary(tags, "source")
    return b"".join((dictionary, index, _varints(files), _varints(deltas)))


def _read_origins(reader: _Reader, m: int) -> list[bytes]:
    """
    Read the origin columns of C{m} events (the inverse of
    L{_origin_columns}).
    """
    tags = reader.names("source")
    index = reader.varints(m, "source index")
    files = reader.varints(m, "file number")
    deltas = reader.varints(m, "offset delta")
    if m and max(index) >= len(tags):
        raise CorruptPack("a source index is outside its dictionary")
    origins = []
    last: dict[tuple[bytes, int], int] = {}
    for i in range(m):
        tag = tags[index[i]]
        if len(tag) != 4:
            raise CorruptPack(f"a source tag of {len(tag)} bytes")
        key = (tag, files[i])
        offset = last.get(key, 0) + _unzigzag(deltas[i])
        last[key] = offset
        origins.append(pack_origin(int.from_bytes(tag, "big"), files[i], offset))
    return origins


def _templates(messages: list[bytes]) -> tuple[bytes, bytes, bytes]:
    """
    Cut the messages into templates and variables, as the body lays them out.

    Each message is split by L{_VARIABLE} into literal pieces
    C{lit0, lit1, ..., litk} and variables C{var1, ..., vark}
    (C{message = lit0 var1 lit1 ... vark litk}).  The template is the
    tuple of literal pieces.

    @return: the template dictionary (varint count; for each template, in
        order of first use, varint C{k} then C{k + 1} pieces as varint
        length + bytes), the template index of each message (varints), and
        the variables (each followed by C{\\n}; a variable never holds one),
        grouped by template, then by slot, then in message order.
    """
    index: dict[tuple[bytes, ...], int] = {}
    rows: list[list[list[bytes]]] = []
    indexes = []
    split = _VARIABLE.split
    for message in messages:
        parts = split(message)
        key = tuple(parts[0::2])
        t = index.get(key)
        if t is None:
            t = index[key] = len(index)
            rows.append([])
        indexes.append(t)
        rows[t].append(parts[1::2])
    out = [_varints([len(index)])]
    for pieces in index:
        out.append(_varints([len(pieces) - 1]))
        for piece in pieces:
            out.append(_varints([len(piece)]))
            out.append(piece)
    variables = []
    for t_rows in rows:
        for slot in zip(*t_rows):
            variables.append(b"\n".join(slot))
            variables.append(b"\n")
    return b"".join(out), _varints(indexes), b"".join(variables)


def _filters(body_length: int, level: int | None = None) -> list[dict[str, int]]:
    """
    The LZMA2 filter chain for a body of this length.

    The dictionary is no larger than the body (nor than L{_MAX_DICT}); the
    reader derives the same size from the declared length (a raw LZMA2
    stream carries its other properties itself).  The packer also sets
    C{pb=0} (no position bits: text has no 4-byte alignment), 1 to 3%
    smaller on the corpus.

    @param body_length: the body's length in bytes.
    @param level: the LZMA preset when packing; C{None} when unpacking.
    """
    dict_size = max(4096, min(body_length, _MAX_DICT))
    if level is None:
        return [{"id": lzma.FILTER_LZMA2, "dict_size": dict_size}]
    return [{"id": lzma.FILTER_LZMA2, "preset": level, "dict_size": dict_size, "pb": 0}]


def pack(events: Iterable[Event], level: int = DEFAULT_LEVEL) -> bytes:
    """
    Pack events into one compressed, checksummed blob.

    An archived bucket is given sorted by point and de-duplicated (the
    porter's job); any order packs and is kept, sorted packs smaller.

    @param events: the events, in any order (the order is kept).
    @param level: LZMA preset, 0 to 9 (L{DEFAULT_LEVEL}).
    @return: the packed bucket.
    @raise ValueError: a field is out of range (point not in
        C{[0, 2**64)}, pri not in C{0..255}, a name or pid longer than 255
        bytes, an empty pid), or the body would exceed 4 GiB.
    """
    events = list(events)
    pids = [e.pid or b"" for e in events]
    for e in events:
        if e.pid is not None and not 0 < len(e.pid) <= MAX_NAME:
            raise ValueError(f"pid must be 1 to {MAX_NAME} bytes: {e.pid!r}")
    try:
        pri = bytes(e.pri for e in events)
    except ValueError:
        raise ValueError("pri out of range 0..255") from None
    flags = bytes(
        (_FLAG_CONTINUED if e.continued else 0)
        | (_FLAG_STRUCTURED if e.structured else 0)
        | (_FLAG_ORIGIN if e.origin else 0)
        for e in events
    )
    hosts, host_index = _dictionary([e.shn for e in events], "shn")
    apps, app_index = _dictionary([e.app for e in events], "app")
    templates, template_index, variables = _templates([e.message for e in events])
    body = b"".join(
        (
            _points_columns([e.point for e in events]),
            pri,
            flags,
            hosts,
            host_index,
            apps,
            app_index,
            bytes(map(len, pids)),
            b"".join(pids),
            _origin_columns([e.origin for e in events if e.origin]),
            templates,
            template_index,
            variables,
        )
    )
    if len(body) > 0xFFFFFFFF:
        raise ValueError("bucket too large for one pack")
    header = _HEADER.pack(MAGIC, PACK_VERSION, len(events), len(body), hashlib.sha256(body).digest())
    compressed = lzma.compress(body, format=lzma.FORMAT_RAW, filters=_filters(len(body), level))
    return header + compressed


def unpack(data: bytes | bytearray | memoryview, max_size: int = DEFAULT_MAX_SIZE) -> list[Event]:
    """
    The events of a packed bucket, in the order they were packed.

    @param data: what L{pack} made.
    @param max_size: the largest decompressed body accepted, in bytes.
    @return: the events; their crcs are those of their messages.
    @raise CorruptPack: bad magic or version, truncated data, a body larger
        than declared or than C{max_size}, a checksum mismatch, malformed
        columns.  No other exception escapes for any input bytes.
    """
    data = bytes(data)
    if len(data) < _HEADER.size:
        raise CorruptPack(f"truncated pack: {len(data)} bytes, the header alone is {_HEADER.size}")
    magic, version, n, body_length, digest = _HEADER.unpack_from(data)
    if magic != MAGIC:
        raise CorruptPack(f"bad magic {magic!r}, expected {MAGIC!r}")
    if version not in READABLE_VERSIONS:
        raise CorruptPack(f"unknown pack version {version}")
    if body_length > max_size:
        raise CorruptPack(f"declared body of {body_length} bytes exceeds the limit {max_size}")
    if _MIN_EVENT_BODY * n + 3 > body_length:
        raise CorruptPack(f"{n} events cannot fit in a {body_length}-byte body")
    decompressor = lzma.LZMADecompressor(lzma.FORMAT_RAW, filters=_filters(body_length))
    try:
        # one byte more than declared: a larger body shows, and a bomb stops
        body = decompressor.decompress(data[_HEADER.size :], body_length + 1)
    except lzma.LZMAError as e:
        raise CorruptPack(f"bad compressed data: {e}") from None
    if len(body) > body_length:
        raise CorruptPack(f"body is larger than the declared {body_length} bytes")
    if not decompressor.eof:
        if len(body) < body_length:
            raise CorruptPack("truncated compressed data")
        raise CorruptPack("compressed data goes on past the declared body")
    if decompressor.unused_data:
        raise CorruptPack(f"{len(decompressor.unused_data)} trailing bytes after the pack")
    if len(body) != body_length:
        raise CorruptPack(f"body is {len(body)} bytes, declared {body_length}")
    if hashlib.sha256(body).digest() != digest:
        raise CorruptPack("checksum mismatch: the body is not what was packed")
    try:
        return _read_body(body, n, with_origins=version >= 3)
    except (IndexError, ValueError, TypeError) as e:
        if isinstance(e, CorruptPack):
            raise
        raise CorruptPack(f"malformed body: {e}") from None


def _read_templates(reader: _Reader, n: int) -> tuple[list[bytes], list[int], list[int]]:
    """
    Read the template dictionary and index.

    @return: the C{%}-format of each template (C{%s} for each variable),
        the number of variables of each, and each event's template index.
    """
    formats = []
    slots = []
    for _ in range(reader.count("template")):
        k = reader.count("template slot")
        pieces = [reader.take(reader.varints(1, "template")[0], "template") for _ in range(k + 1)]
        formats.append(b"%s".join(p.replace(b"%", b"%%") for p in pieces))
        slots.append(k)
    indexes = reader.varints(n, "template index")
    if n and max(indexes) >= len(formats):
        raise CorruptPack("a template index is outside its dictionary")
    return formats, slots, indexes


def _messages(reader: _Reader, n: int) -> list[bytes]:
    """
    Read the templates and the variables, and rebuild the messages.
    """
    formats, slots, indexes = _read_templates(reader, n)
    uses = [0] * len(formats)
    for t in indexes:
        uses[t] += 1
    values = reader.rest().split(b"\n")
    needed = sum(c * k for c, k in zip(uses, slots))
    if values.pop() != b"" or len(values) != needed:
        raise CorruptPack(f"{len(values)} variables, the templates need {needed}")
    rows = []
    offset = 0
    for c, k in zip(uses, slots):
        if k:
            block = [values[offset + j * c : offset + (j + 1) * c] for j in range(k)]
            rows.append(iter(list(zip(*block))))
            offset += c * k
        else:
            rows.append(iter([()] * c))
    return [formats[t] % next(rows[t]) for t in indexes]


def _read_body(body: bytes, n: int, *, with_origins: bool) -> list[Event]:
    """
    Parse a verified body into C{n} events.

    @param with_origins: the body has origin columns (version 3).
    """
    reader = _Reader(body)
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
    if n and (max(host_index) >= len(hosts) or max(app_index) >= len(apps)):
        raise CorruptPack("a host or app index is outside its dictionary")
    if n and max(exponents) > 8:
        raise CorruptPack("a point exponent is larger than 8")
    if with_origins:
        origins = iter(_read_origins(reader, sum(f & _FLAG_ORIGIN for f in flags)))
    else:
        if any(f & _FLAG_ORIGIN for f in flags):
            raise CorruptPack("an origin flag in a pack of version 2")
        origins = iter(())
    messages = _messages(reader, n)
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
                next(origins) if f & _FLAG_ORIGIN else b"",
            )
        )
    return events
