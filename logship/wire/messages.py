"""Typed wire messages and their encoding: msgpack header, zlib payload.

Pure code, no I/O.

Protocol steps (this layer only; C{docs/protocol.md} has the whole picture):

  1. A message body is a msgpack array of exactly two items:
     C{[header, payload]}.  C{header} is a map with string keys; its
     C{"type"} names the message.  C{payload} is binary or nil.
  2. Each message type has an exact set of header keys, each of an exact
     msgpack type and range (a boolean is not an integer, an integer is not
     a boolean); a missing, extra or mistyped key, an unknown type, trailing
     bytes, invalid UTF-8 or an oversize item is L{MalformedMessage}.
  3. L{Batch} and L{BucketPut} carry their bytes as a zlib stream in the
     payload.  Decompression is bounded (L{MAX_BATCH_BYTES},
     L{MAX_CHUNK}): a stream that would expand beyond is refused as a
     decompression bomb before the excess is produced; a truncated stream or
     bytes after its end are refused too.
  4. A batch's decompressed payload is its events as records (a 2-byte
     big-endian length, then the event), which must fill it exactly: no
     torn record, and as many as the header's C{events} count says.
  5. A L{Hello} with another version is refused as L{UnsupportedVersion}
     before anything else in it is checked, so that versions can change the
     hello and still get a clear answer.

Events are opaque here: serialized events (L{logship.core.event.encode}), at
most 65535 bytes each.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal, TypeAlias, get_args

import msgpack

from logship.core.credentials import MAX_CREDENTIAL, SIGNATURE_SIZE
from logship.core.receipts import MAX_RECEIPT
from logship.wire import WireError
from logship.wire.framing import MAX_FRAME

#: The version this code speaks.
PROTOCOL_VERSION = 1

Role = Literal["tailer", "buck", "porter"]
Durability = Literal["live", "ack1", "ack2", "ack2+fsync"]
ROLES: tuple[Role, ...] = get_args(Role)
DURABILITIES: tuple[Durability, ...] = get_args(Durability)

#: The longest serialized event (it follows a 2-byte length).
MAX_EVENT_SIZE = 0xFFFF
#: The most bytes of records (2-byte length + event, each) in one batch.
MAX_BATCH_BYTES = 4 * 1024 * 1024
#: The most bytes of bucket file in one L{BucketPut}.
MAX_CHUNK = 1024 * 1024
#: The longest node name, in characters.
MAX_NODE = 255
#: The longest error reason, in characters.
MAX_REASON = 1024
#: zlib level for payloads.  On 1,000 real events of ~120 bytes, level 1
#: compresses 3.47:1 in 1.41 ms of CPU, level 3 3.77:1 in 1.84 ms: CPU is
#: scarcer than bytes on a LAN, so level 1 (see docs/protocol.md).
COMPRESS_LEVEL = 1

_MAX_U64 = (1 << 64) - 1
_MAX_U32 = (1 << 32) - 1
_SHA256_SIZE = 32
_RANDOM_SIZE = 32
_LENGTH = struct.Struct(">H")
_UNPACK_LIMITS: dict[str, Any] = dict(
    raw=False,
    strict_map_key=True,
    use_list=True,
    max_bin_len=MAX_FRAME,
    max_str_len=4 * MAX_REASON,
    max_array_len=2,
    max_map_len=16,
    max_ext_len=0,
)


class MalformedMessage(WireError):
    """
    A frame body is not a valid message; C{detail} says why.
    """

    code = "malformed"


class UnsupportedVersion(MalformedMessage):
    """
    A hello speaks another protocol version.

    @ivar version: the version the peer speaks.
    """

    code = "bad-version"

    def __init__(self, version: int) -> None:
        super().__init__(
            f"protocol version {version} is not supported;"
            f" this node speaks version {PROTOCOL_VERSION}"
        )
        self.version = version


class MessageTooLarge(ValueError):
    """
    A message to send does not fit the limits (a bug of the sender: split
    batches by L{MAX_BATCH_BYTES} and bucket files by L{MAX_CHUNK}).
    """


def _check_int(name: str, value: object, low: int, high: int) -> None:
    if type(value) is not int or not low <= value <= high:
        raise ValueError(
            f"{name} must be an integer from {low} to {high}, not {value!r:.40}"
        )


def _check_bool(name: str, value: object) -> None:
    if type(value) is not bool:
        raise ValueError(f"{name} must be a boolean, not {value!r:.40}")


def _check_bytes(name: str, value: object, size: int | None = None) -> None:
    if type(value) is not bytes or (size is not None and len(value) != size):
        want = "bytes" if size is None else f"{size} bytes"
        raise ValueError(f"{name} must be {want}, not {value!r:.40}")


def _check_text(name: str, value: object, max_chars: int) -> None:
    if (
        type(value) is not str
        or not 0 < len(value) <= max_chars
        or not value.isprintable()
    ):
        raise ValueError(
            f"{name} must be 1 to {max_chars} printable characters, not {value!r:.40}"
        )


def _check_choice(name: str, value: object, choices: tuple[str, ...]) -> None:
    if type(value) is not str or value not in choices:
        raise ValueError(
            f"{name} must be one of {', '.join(choices)}, not {value!r:.40}"
        )


def _check_header(header: dict[Any, Any], kind: str, names: tuple[str, ...]) -> None:
    missing = [n for n in names if n not in header]
    if missing:
        raise MalformedMessage(f"{kind}: missing field(s) {', '.join(missing)}")
    if len(header) != len(names) + 1:
        extra = sorted(repr(k)[:40] for k in header if k != "type" and k not in names)
        raise MalformedMessage(f"{kind}: unexpected field(s) {', '.join(extra)}")


def _deflate(data: bytes) -> bytes:
    return zlib.compress(data, COMPRESS_LEVEL)


def _inflate(payload: bytes, limit: int, kind: str) -> bytes:
    """
    Decompress C{payload}, producing at most C{limit} bytes.

    @raise MalformedMessage: if it is not one complete zlib stream, or would
        expand beyond C{limit} (a decompression bomb).
    """
    inflater = zlib.decompressobj()
    try:
        data = inflater.decompress(payload, limit + 1)
    except zlib.error as e:
        raise MalformedMessage(f"{kind}: corrupt compressed payload ({e})") from None
    if len(data) > limit or inflater.unconsumed_tail:
        raise MalformedMessage(
            f"{kind}: payload expands beyond {limit} bytes (decompression bomb)"
        )
    if not inflater.eof:
        raise MalformedMessage(f"{kind}: compressed payload is truncated")
    if inflater.unused_data:
        raise MalformedMessage(f"{kind}: bytes after the compressed payload")
    return data


def _no_payload(payload: bytes | None, kind: str) -> None:
    if payload is not None:
        raise MalformedMessage(f"{kind}: unexpected payload")


def _need_payload(payload: bytes | None, kind: str) -> bytes:
    if payload is None:
        raise MalformedMessage(f"{kind}: missing payload")
    return payload


@dataclass(frozen=True, slots=True)
class Hello:
    """
    The first message each side sends (in a handshake frame).

    @ivar version: the protocol version the sender speaks.
    @ivar role: what the sender is.
    @ivar node: the sender's name (1 to 255 printable characters), for logs
        and counters; not an authenticated identity beyond holding the key.
    @ivar nonce: 32 fresh random bytes; both hellos' values make the
        session keys.
    @ivar insecure: the sender runs without a key (lab mode).
    """

    TYPE: ClassVar[str] = "hello"

    version: int
    role: Role
    node: str
    nonce: bytes
    insecure: bool

    def __post_init__(self) -> None:
        _check_int("version", self.version, 0, _MAX_U32)
        _check_choice("role", self.role, ROLES)
        _check_text("node", self.node, MAX_NODE)
        _check_bytes("nonce", self.nonce, _RANDOM_SIZE)
        _check_bool("insecure", self.insecure)

    def _to_wire(self) -> tuple[dict[str, Any], bytes | None]:
        header = {
            "version": self.version,
            "role": self.role,
            "node": self.node,
            "nonce": self.nonce,
            "insecure": self.insecure,
        }
        return header, None

    @classmethod
    def _from_wire(cls, header: dict[Any, Any], payload: bytes | None) -> Hello:
        version = header.get("version")
        if type(version) is int and version != PROTOCOL_VERSION:
            raise UnsupportedVersion(version)
        _check_header(
            header, cls.TYPE, ("version", "role", "node", "nonce", "insecure")
        )
        _no_payload(payload, cls.TYPE)
        return cls(
            header["version"],
            header["role"],
            header["node"],
            header["nonce"],
            header["insecure"],
        )


@dataclass(frozen=True, slots=True)
class Greeting:
    """
    The first message each side sends in credential mode (in a handshake
    frame, in clear): an ephemeral X25519 public key for this connection.

    @ivar version: the protocol version the sender speaks.
    @ivar ephemeral: 32 bytes, the sender's ephemeral public key.
    """

    TYPE: ClassVar[str] = "greeting"

    version: int
    ephemeral: bytes

    def __post_init__(self) -> None:
        _check_int("version", self.version, 0, _MAX_U32)
        _check_bytes("ephemeral", self.ephemeral, _RANDOM_SIZE)

    def _to_wire(self) -> tuple[dict[str, Any], bytes | None]:
        return {"version": self.version, "ephemeral": self.ephemeral}, None

    @classmethod
    def _from_wire(cls, header: dict[Any, Any], payload: bytes | None) -> Greeting:
        version = header.get("version")
        if type(version) is int and version != PROTOCOL_VERSION:
            raise UnsupportedVersion(version)
        _check_header(header, cls.TYPE, ("version", "ephemeral"))
        _no_payload(payload, cls.TYPE)
        return cls(header["version"], header["ephemeral"])


@dataclass(frozen=True, slots=True)
class Identify:
    """
    In credential mode, each side's first session frame: its credential
    and its proof of holding the credential's node key (a signature over
    the handshake transcript, L{logship.wire.handshake}).

    @ivar credential: the credential's bytes (L{logship.core.credentials}).
    @ivar proof: the 64-byte signature.
    """

    TYPE: ClassVar[str] = "identify"

    credential: bytes
    proof: bytes

    def __post_init__(self) -> None:
        _check_bytes("credential", self.credential)
        if not 0 < len(self.credential) <= MAX_CREDENTIAL:
            raise ValueError(f"credential must be 1 to {MAX_CREDENTIAL} bytes")
        _check_bytes("proof", self.proof, SIGNATURE_SIZE)

    def _to_wire(self) -> tuple[dict[str, Any], bytes | None]:
        return {"credential": self.credential, "proof": self.proof}, None

    @classmethod
    def _from_wire(cls, header: dict[Any, Any], payload: bytes | None) -> Identify:
        _check_header(header, cls.TYPE, ("credential", "proof"))
        _no_payload(payload, cls.TYPE)
        return cls(header["credential"], header["proof"])


@dataclass(frozen=True, slots=True)
class Batch:
    """
    Events for a buck to write.

    @ivar batch_id: chosen by the sender, echoed in the L{Ack}.
    @ivar durability: C{"live"} (never acknowledged, not written),
        C{"ack1"}/C{"ack2"} (acknowledged once written), C{"ack2+fsync"}
        (acknowledged once written and fsynced).
    @ivar events: serialized events, each at most L{MAX_EVENT_SIZE} bytes,
        together at most L{MAX_BATCH_BYTES} with a 2-byte length each.
    """

    TYPE: ClassVar[str] = "batch"

    batch_id: int
    durability: Durability
    events: list[bytes]

    def __post_init__(self) -> None:
        _check_int("batch_id", self.batch_id, 0, _MAX_U64)
        _check_choice("durability", self.durability, DURABILITIES)
        if type(self.events) is not list:
            raise ValueError("events must be a list of bytes")

    def _to_wire(self) -> tuple[dict[str, Any], bytes | None]:
        pack = _LENGTH.pack
        parts: list[bytes] = []
        append = parts.append
        for event in self.events:
            # struct refuses lengths over 65535 for us.
            try:
                append(pack(len(event)))
            except struct.error:
                raise MessageTooLarge(
                    f"an event of {len(event)} bytes exceeds {MAX_EVENT_SIZE}"
                ) from None
            append(event)
        records = b"".join(parts)
        if len(records) > MAX_BATCH_BYTES:
            raise MessageTooLarge(
                f"a batch of {len(records)} bytes of records exceeds {MAX_BATCH_BYTES}"
            )
        header = {
            "batch_id": self.batch_id,
            "durability": self.durability,
            "events": len(self.events),
        }
        return header, _deflate(records)

    @classmethod
    def _from_wire(cls, header: dict[Any, Any], payload: bytes | None) -> Batch:
        _check_header(header, cls.TYPE, ("batch_id", "durability", "events"))
        count = header["events"]
        _check_int("events", count, 0, MAX_BATCH_BYTES // 2)
        records = _inflate(_need_payload(payload, cls.TYPE), MAX_BATCH_BYTES, cls.TYPE)
        events = parse_records(records)
        if len(events) != count:
            raise MalformedMessage(
                f"batch: header says {count} events, payload holds {len(events)}"
            )
        return cls(header["batch_id"], header["durability"], events)


def parse_records(records: bytes) -> list[bytes]:
    """
    Split concatenated records (2-byte big-endian length + event) exactly.

    @raise MalformedMessage: if the last record is torn.
    """
    events: list[bytes] = []
    append = events.append
    unpack = _LENGTH.unpack_from
    position = 0
    end = len(records)
    while position < end:
        if end - position < 2:
            raise MalformedMessage(f"batch: torn record length at byte {position}")
        (length,) = unpack(records, position)
        start = position + 2
        position = start + length
        if position > end:
            raise MalformedMessage(
                f"batch: torn record at byte {start - 2}:"
                f" {length} bytes announced, {end - start} left"
            )
        append(records[start:position])
    return events


@dataclass(frozen=True, slots=True)
class Ack:
    """
    A buck wrote a batch (and fsynced it if its durability asked).

    @ivar batch_id: the acknowledged batch.
    @ivar events: how many of its events were written.
    """

    TYPE: ClassVar[str] = "ack"

    batch_id: int
    events: int

    def __post_init__(self) -> None:
        _check_int("batch_id", self.batch_id, 0, _MAX_U64)
        _check_int("events", self.events, 0, _MAX_U32)

    def _to_wire(self) -> tuple[dict[str, Any], bytes | None]:
        return {"batch_id": self.batch_id, "events": self.events}, None

    @classmethod
    def _from_wire(cls, header: dict[Any, Any], payload: bytes | None) -> Ack:
        _check_header(header, cls.TYPE, ("batch_id", "events"))
        _no_payload(payload, cls.TYPE)
        return cls(header["batch_id"], header["events"])


@dataclass(frozen=True, slots=True)
class BatchRefused:
    """
    A buck refuses a batch it will never write, whoever sends it again:
    an event's host is not among those the sender's credential allows.
    The connection stays open; the sender logs the reason.

    @ivar batch_id: the refused batch.
    @ivar reason: why, 1 to L{MAX_REASON} printable characters.
    """

    TYPE: ClassVar[str] = "batch-refused"

    batch_id: int
    reason: str

    def __post_init__(self) -> None:
        _check_int("batch_id", self.batch_id, 0, _MAX_U64)
        _check_text("reason", self.reason, MAX_REASON)

    def _to_wire(self) -> tuple[dict[str, Any], bytes | None]:
        return {"batch_id": self.batch_id, "reason": self.reason}, None

    @classmethod
    def _from_wire(cls, header: dict[Any, Any], payload: bytes | None) -> BatchRefused:
        _check_header(header, cls.TYPE, ("batch_id", "reason"))
        _no_payload(payload, cls.TYPE)
        return cls(header["batch_id"], header["reason"])


@dataclass(frozen=True, slots=True)
class BucketPut:
    """
    One chunk of a closed bucket file, shipped whole in order.

    @ivar upload_id: chosen by the sender, the same for every chunk of one
        file, echoed in the L{BucketAck}.
    @ivar start: the bucket's start, seconds since the epoch.
    @ivar seconds: the bucket interval (divides 3600).
    @ivar offset: where C{data} starts in the file.
    @ivar data: at most L{MAX_CHUNK} bytes of the file.
    @ivar last: this chunk ends the file.
    @ivar sha256: on the last chunk only, the SHA-256 of the whole file.
    """

    TYPE: ClassVar[str] = "bucket-put"

    upload_id: int
    start: int
    seconds: int
    offset: int
    data: bytes
    last: bool
    sha256: bytes | None

    def __post_init__(self) -> None:
        _check_int("upload_id", self.upload_id, 0, _MAX_U64)
        _check_int("start", self.start, 0, _MAX_U64)
        _check_int("seconds", self.seconds, 1, 3600)
        if 3600 % self.seconds:
            raise ValueError(f"seconds must divide 3600, not {self.seconds}")
        _check_int("offset", self.offset, 0, _MAX_U64)
        _check_bytes("data", self.data)
        if len(self.data) > MAX_CHUNK:
            raise MessageTooLarge(
                f"a chunk of {len(self.data)} bytes exceeds {MAX_CHUNK}"
            )
        _check_bool("last", self.last)
        if self.last:
            _check_bytes("sha256", self.sha256, _SHA256_SIZE)
        elif self.sha256 is not None:
            raise ValueError("sha256 goes on the last chunk only")

    def _to_wire(self) -> tuple[dict[str, Any], bytes | None]:
        header = {
            "upload_id": self.upload_id,
            "start": self.start,
            "seconds": self.seconds,
            "offset": self.offset,
            "last": self.last,
            "sha256": self.sha256,
        }
        return header, _deflate(self.data)

    @classmethod
    def _from_wire(cls, header: dict[Any, Any], payload: bytes | None) -> BucketPut:
        _check_header(
            header,
            cls.TYPE,
            ("upload_id", "start", "seconds", "offset", "last", "sha256"),
        )
        data = _inflate(_need_payload(payload, cls.TYPE), MAX_CHUNK, cls.TYPE)
        return cls(
            header["upload_id"],
            header["start"],
            header["seconds"],
            header["offset"],
            data,
            header["last"],
            header["sha256"],
        )


@dataclass(frozen=True, slots=True)
class BucketAck:
    """
    A buck merged a whole uploaded bucket file (checksum verified).

    @ivar upload_id: the upload, as in its L{BucketPut} chunks.
    @ivar start: the bucket's start.
    @ivar events: how many events the file held.
    @ivar new: how many of them the buck did not have yet.
    """

    TYPE: ClassVar[str] = "bucket-ack"

    upload_id: int
    start: int
    events: int
    new: int

    def __post_init__(self) -> None:
        _check_int("upload_id", self.upload_id, 0, _MAX_U64)
        _check_int("start", self.start, 0, _MAX_U64)
        _check_int("events", self.events, 0, _MAX_U64)
        _check_int("new", self.new, 0, self.events)

    def _to_wire(self) -> tuple[dict[str, Any], bytes | None]:
        header = {
            "upload_id": self.upload_id,
            "start": self.start,
            "events": self.events,
            "new": self.new,
        }
        return header, None

    @classmethod
    def _from_wire(cls, header: dict[Any, Any], payload: bytes | None) -> BucketAck:
        _check_header(header, cls.TYPE, ("upload_id", "start", "events", "new"))
        _no_payload(payload, cls.TYPE)
        return cls(
            header["upload_id"], header["start"], header["events"], header["new"]
        )


#: The most entries of a list carried by one message (bucket listings,
#: archived starts).
MAX_LIST = 65536
_LISTED = struct.Struct(">QQ")


def _pack_ints(values: Sequence[tuple[Any, ...]], layout: struct.Struct) -> bytes:
    if len(values) > MAX_LIST:
        raise MessageTooLarge(f"a list of {len(values)} entries exceeds {MAX_LIST}")
    try:
        return _deflate(b"".join(layout.pack(*v) for v in values))
    except struct.error as e:
        raise ValueError(f"a list entry is out of range ({e})") from None


def _unpack_ints(
    payload: bytes | None, layout: struct.Struct, kind: str
) -> list[tuple[int, ...]]:
    data = _inflate(_need_payload(payload, kind), MAX_LIST * layout.size, kind)
    if len(data) % layout.size:
        raise MalformedMessage(f"{kind}: a torn list entry")
    return list(layout.iter_unpack(data))


@dataclass(frozen=True, slots=True)
class BucketList:
    """
    The porter asks a buck which buckets it holds.

    @ivar request_id: echoed in the L{BucketListing}.
    @ivar since: list the buckets that start at or after this second.
    @ivar limit: at most this many (1 to L{MAX_LIST}).
    """

    TYPE: ClassVar[str] = "bucket-list"

    request_id: int
    since: int
    limit: int

    def __post_init__(self) -> None:
        _check_int("request_id", self.request_id, 0, _MAX_U64)
        _check_int("since", self.since, 0, _MAX_U64)
        _check_int("limit", self.limit, 1, MAX_LIST)

    def _to_wire(self) -> tuple[dict[str, Any], bytes | None]:
        header = {"request_id": self.request_id, "since": self.since, "limit": self.limit}
        return header, None

    @classmethod
    def _from_wire(cls, header: dict[Any, Any], payload: bytes | None) -> BucketList:
        _check_header(header, cls.TYPE, ("request_id", "since", "limit"))
        _no_payload(payload, cls.TYPE)
        return cls(header["request_id"], header["since"], header["limit"])


@dataclass(frozen=True, slots=True)
class BucketListing:
    """
    A buck's answer to a L{BucketList}: its bucket files, by start.

    @ivar request_id: the request's.
    @ivar buckets: C{(start, size in bytes)} pairs, ascending by start.
    @ivar more: the limit cut the list; ask again after the last start.
    """

    TYPE: ClassVar[str] = "bucket-listing"

    request_id: int
    buckets: list[tuple[int, int]]
    more: bool

    def __post_init__(self) -> None:
        _check_int("request_id", self.request_id, 0, _MAX_U64)
        if type(self.buckets) is not list or len(self.buckets) > MAX_LIST:
            raise ValueError(f"buckets must be a list of at most {MAX_LIST} pairs")
        previous = -1
        for start, size in self.buckets:
            _check_int("start", start, 0, _MAX_U64)
            _check_int("size", size, 0, _MAX_U64)
            if start <= previous:
                raise ValueError("buckets must ascend by start")
            previous = start
        _check_bool("more", self.more)

    def _to_wire(self) -> tuple[dict[str, Any], bytes | None]:
        header = {"request_id": self.request_id, "more": self.more}
        return header, _pack_ints(self.buckets, _LISTED)

    @classmethod
    def _from_wire(cls, header: dict[Any, Any], payload: bytes | None) -> BucketListing:
        _check_header(header, cls.TYPE, ("request_id", "more"))
        pairs = [(s, n) for s, n in _unpack_ints(payload, _LISTED, cls.TYPE)]
        return cls(header["request_id"], pairs, header["more"])


@dataclass(frozen=True, slots=True)
class BucketGet:
    """
    The porter asks a buck for bytes of one bucket file.

    @ivar request_id: echoed in the L{BucketData}.
    @ivar start: the bucket's start.
    @ivar offset: the first byte wanted.
    @ivar length: how many bytes, at most (1 to L{MAX_CHUNK}).
    """

    TYPE: ClassVar[str] = "bucket-get"

    request_id: int
    start: int
    offset: int
    length: int

    def __post_init__(self) -> None:
        _check_int("request_id", self.request_id, 0, _MAX_U64)
        _check_int("start", self.start, 0, _MAX_U64)
        _check_int("offset", self.offset, 0, _MAX_U64)
        _check_int("length", self.length, 1, MAX_CHUNK)

    def _to_wire(self) -> tuple[dict[str, Any], bytes | None]:
        header = {
            "request_id": self.request_id,
            "start": self.start,
            "offset": self.offset,
            "length": self.length,
        }
        return header, None

    @classmethod
    def _from_wire(cls, header: dict[Any, Any], payload: bytes | None) -> BucketGet:
        _check_header(header, cls.TYPE, ("request_id", "start", "offset", "length"))
        _no_payload(payload, cls.TYPE)
        return cls(
            header["request_id"], header["start"], header["offset"], header["length"]
        )


@dataclass(frozen=True, slots=True)
class BucketData:
    """
    A buck's answer to a L{BucketGet}.

    @ivar request_id: the request's.
    @ivar start: the bucket's start.
    @ivar offset: where C{data} starts in the file.
    @ivar size: the file's size now (0 if the buck has no such file).
    @ivar data: the bytes from C{offset}, at most the length asked.
    """

    TYPE: ClassVar[str] = "bucket-data"

    request_id: int
    start: int
    offset: int
    size: int
    data: bytes

    def __post_init__(self) -> None:
        _check_int("request_id", self.request_id, 0, _MAX_U64)
        _check_int("start", self.start, 0, _MAX_U64)
        _check_int("offset", self.offset, 0, _MAX_U64)
        _check_int("size", self.size, 0, _MAX_U64)
        _check_bytes("data", self.data)
        if len(self.data) > MAX_CHUNK:
            raise MessageTooLarge(f"a chunk of {len(self.data)} bytes exceeds {MAX_CHUNK}")

    def _to_wire(self) -> tuple[dict[str, Any], bytes | None]:
        header = {
            "request_id": self.request_id,
            "start": self.start,
            "offset": self.offset,
            "size": self.size,
        }
        return header, _deflate(self.data)

    @classmethod
    def _from_wire(cls, header: dict[Any, Any], payload: bytes | None) -> BucketData:
        _check_header(header, cls.TYPE, ("request_id", "start", "offset", "size"))
        data = _inflate(_need_payload(payload, cls.TYPE), MAX_CHUNK, cls.TYPE)
        return cls(
            header["request_id"], header["start"], header["offset"], header["size"], data
        )


@dataclass(frozen=True, slots=True)
class Archived:
    """
    The porter tells a buck that its file of a bucket was archived, as it
    was when it had C{size} bytes, and proves it with a receipt
    (L{logship.core.receipts}): the buck deletes the file if it still has
    that size and the receipt's digest (a larger file got events since,
    for the next archive).

    @ivar request_id: echoed in the L{ArchivedAck}.
    @ivar start: the bucket's start.
    @ivar size: the size of the buck's file that the archive holds.
    @ivar receipt: the receipt's body (it repeats C{start} and C{size}).
    @ivar signature: the porter's signature of the receipt (64 bytes), or
        empty in lab mode.
    """

    TYPE: ClassVar[str] = "archived"

    request_id: int
    start: int
    size: int
    receipt: bytes
    signature: bytes

    def __post_init__(self) -> None:
        _check_int("request_id", self.request_id, 0, _MAX_U64)
        _check_int("start", self.start, 0, _MAX_U64)
        _check_int("size", self.size, 0, _MAX_U64)
        _check_bytes("receipt", self.receipt)
        if not 0 < len(self.receipt) <= MAX_RECEIPT:
            raise ValueError(f"receipt must be 1 to {MAX_RECEIPT} bytes")
        _check_signature("signature", self.signature)

    def _to_wire(self) -> tuple[dict[str, Any], bytes | None]:
        header = {
            "request_id": self.request_id,
            "start": self.start,
            "size": self.size,
            "receipt": self.receipt,
            "signature": self.signature,
        }
        return header, None

    @classmethod
    def _from_wire(cls, header: dict[Any, Any], payload: bytes | None) -> Archived:
        _check_header(header, cls.TYPE, ("request_id", "start", "size", "receipt", "signature"))
        _no_payload(payload, cls.TYPE)
        return cls(
            header["request_id"],
            header["start"],
            header["size"],
            header["receipt"],
            header["signature"],
        )


def _check_signature(name: str, value: object) -> None:
    if type(value) is not bytes or len(value) not in (0, SIGNATURE_SIZE):
        raise ValueError(f"{name} must be {SIGNATURE_SIZE} bytes, or empty (lab mode)")


@dataclass(frozen=True, slots=True)
class ArchivedAck:
    """
    A buck's answer to L{Archived}.

    @ivar request_id: the request's.
    @ivar start: the bucket's start.
    @ivar deleted: the buck no longer has the file (deleted now, or it had
        none); C{False} if the file grew since and was kept.
    """

    TYPE: ClassVar[str] = "archived-ack"

    request_id: int
    start: int
    deleted: bool

    def __post_init__(self) -> None:
        _check_int("request_id", self.request_id, 0, _MAX_U64)
        _check_int("start", self.start, 0, _MAX_U64)
        _check_bool("deleted", self.deleted)

    def _to_wire(self) -> tuple[dict[str, Any], bytes | None]:
        header = {"request_id": self.request_id, "start": self.start, "deleted": self.deleted}
        return header, None

    @classmethod
    def _from_wire(cls, header: dict[Any, Any], payload: bytes | None) -> ArchivedAck:
        _check_header(header, cls.TYPE, ("request_id", "start", "deleted"))
        _no_payload(payload, cls.TYPE)
        return cls(header["request_id"], header["start"], header["deleted"])


#: The most uploads one L{ArchivedQuery} asks about (and proofs one
#: L{ArchivedReply} carries).
MAX_PROOFS = 256
_UPLOAD = struct.Struct(">Q32s")
_PROOF_LIMITS: dict[str, Any] = dict(
    raw=False,
    strict_map_key=True,
    use_list=True,
    max_bin_len=MAX_CREDENTIAL,
    max_str_len=0,
    max_array_len=MAX_PROOFS,
    max_map_len=0,
    max_ext_len=0,
)


@dataclass(frozen=True, slots=True)
class ArchivedQuery:
    """
    A tailer asks the buck that took some of its uploads whether they were
    archived since (then the tailer may delete its copies).

    @ivar request_id: echoed in the L{ArchivedReply}.
    @ivar uploads: C{(bucket start, SHA-256 of the uploaded file)} pairs,
        at most L{MAX_PROOFS}.
    """

    TYPE: ClassVar[str] = "archived-query"

    request_id: int
    uploads: list[tuple[int, bytes]]

    def __post_init__(self) -> None:
        _check_int("request_id", self.request_id, 0, _MAX_U64)
        if type(self.uploads) is not list or len(self.uploads) > MAX_PROOFS:
            raise ValueError(f"uploads must be a list of at most {MAX_PROOFS} pairs")
        for start, digest in self.uploads:
            _check_int("start", start, 0, _MAX_U64)
            _check_bytes("sha256", digest, _SHA256_SIZE)

    def _to_wire(self) -> tuple[dict[str, Any], bytes | None]:
        return {"request_id": self.request_id}, _pack_ints(self.uploads, _UPLOAD)

    @classmethod
    def _from_wire(cls, header: dict[Any, Any], payload: bytes | None) -> ArchivedQuery:
        _check_header(header, cls.TYPE, ("request_id",))
        data = _inflate(_need_payload(payload, cls.TYPE), MAX_PROOFS * _UPLOAD.size, cls.TYPE)
        if len(data) % _UPLOAD.size:
            raise MalformedMessage(f"{cls.TYPE}: a torn list entry")
        return cls(header["request_id"], list(_UPLOAD.iter_unpack(data)))


@dataclass(frozen=True, slots=True)
class ArchiveProof:
    """
    A buck's evidence that a tailer's upload is archived: the porter's
    receipt for the buck's file that had merged the upload.

    @ivar start: the bucket's start.
    @ivar upload: the SHA-256 of the uploaded file (as asked).
    @ivar receipt: the receipt's body (L{logship.core.receipts}).
    @ivar signature: the porter's signature of it, empty in lab mode.
    @ivar credential: the porter's credential, empty in lab mode.
    """

    start: int
    upload: bytes
    receipt: bytes
    signature: bytes
    credential: bytes

    def __post_init__(self) -> None:
        _check_int("start", self.start, 0, _MAX_U64)
        _check_bytes("upload", self.upload, _SHA256_SIZE)
        _check_bytes("receipt", self.receipt)
        if not 0 < len(self.receipt) <= MAX_RECEIPT:
            raise ValueError(f"receipt must be 1 to {MAX_RECEIPT} bytes")
        _check_signature("signature", self.signature)
        _check_bytes("credential", self.credential)
        if len(self.credential) > MAX_CREDENTIAL:
            raise ValueError(f"credential must be at most {MAX_CREDENTIAL} bytes")


@dataclass(frozen=True, slots=True)
class ArchivedReply:
    """
    A buck's answer to L{ArchivedQuery}: a proof for each asked upload
    whose file the buck deleted on the porter's receipt, and the asked
    uploads it does not know at all (never merged here, or lost with its
    disk: the tailer ships those again).  The others are not archived yet.

    In the payload a proof is a 5-item row and a missing upload a 2-item
    row C{[start, upload sha256]}; a reply of a buck that predates
    C{missing} has only proofs.

    @ivar request_id: the request's.
    @ivar proofs: at most L{MAX_PROOFS}.
    @ivar missing: C{(bucket start, upload SHA-256)} pairs; with C{proofs},
        at most L{MAX_PROOFS}.
    """

    TYPE: ClassVar[str] = "archived-reply"

    request_id: int
    proofs: list[ArchiveProof]
    missing: list[tuple[int, bytes]] = field(default_factory=list)

    def __post_init__(self) -> None:
        _check_int("request_id", self.request_id, 0, _MAX_U64)
        if type(self.proofs) is not list or type(self.missing) is not list:
            raise ValueError("proofs and missing must be lists")
        if len(self.proofs) + len(self.missing) > MAX_PROOFS:
            raise ValueError(f"proofs and missing must be at most {MAX_PROOFS} together")
        for proof in self.proofs:
            if not isinstance(proof, ArchiveProof):
                raise ValueError("proofs must be ArchiveProof values")
        for start, digest in self.missing:
            _check_int("start", start, 0, _MAX_U64)
            _check_bytes("sha256", digest, _SHA256_SIZE)

    def _to_wire(self) -> tuple[dict[str, Any], bytes | None]:
        rows: list[list[Any]] = [
            [p.start, p.upload, p.receipt, p.signature, p.credential] for p in self.proofs
        ]
        rows += [[start, digest] for start, digest in self.missing]
        return {"request_id": self.request_id}, _deflate(msgpack.packb(rows, use_bin_type=True))

    @classmethod
    def _from_wire(cls, header: dict[Any, Any], payload: bytes | None) -> ArchivedReply:
        _check_header(header, cls.TYPE, ("request_id",))
        data = _inflate(_need_payload(payload, cls.TYPE), MAX_BATCH_BYTES, cls.TYPE)
        try:
            rows = msgpack.unpackb(data, **_PROOF_LIMITS)
        except (ValueError, msgpack.UnpackException) as e:
            raise MalformedMessage(f"{cls.TYPE}: bad proofs ({type(e).__name__})") from None
        if type(rows) is not list or not all(type(r) is list and len(r) in (2, 5) for r in rows):
            raise MalformedMessage(f"{cls.TYPE}: rows are 5-item (proof) or 2-item lists")
        return cls(
            header["request_id"],
            [ArchiveProof(*row) for row in rows if len(row) == 5],
            [(row[0], row[1]) for row in rows if len(row) == 2],
        )


@dataclass(frozen=True, slots=True)
class Ping:
    """
    Are you there?  Sent by a node that heard nothing from its peer for a
    while; the peer's wire answers L{Pong} (handlers never see either).
    """

    TYPE: ClassVar[str] = "ping"

    def _to_wire(self) -> tuple[dict[str, Any], bytes | None]:
        return {}, None

    @classmethod
    def _from_wire(cls, header: dict[Any, Any], payload: bytes | None) -> Ping:
        _check_header(header, cls.TYPE, ())
        _no_payload(payload, cls.TYPE)
        return cls()


@dataclass(frozen=True, slots=True)
class Pong:
    """
    The answer to a L{Ping}.
    """

    TYPE: ClassVar[str] = "pong"

    def _to_wire(self) -> tuple[dict[str, Any], bytes | None]:
        return {}, None

    @classmethod
    def _from_wire(cls, header: dict[Any, Any], payload: bytes | None) -> Pong:
        _check_header(header, cls.TYPE, ())
        _no_payload(payload, cls.TYPE)
        return cls()


@dataclass(frozen=True, slots=True)
class Error:
    """
    The sender is about to close the connection, and says why.

    @ivar reason: 1 to L{MAX_REASON} printable characters (see
        L{error_for} to build one from any text).
    @ivar batch_id: the batch that caused it, if one did.
    """

    TYPE: ClassVar[str] = "error"

    reason: str
    batch_id: int | None = None

    def __post_init__(self) -> None:
        _check_text("reason", self.reason, MAX_REASON)
        if self.batch_id is not None:
            _check_int("batch_id", self.batch_id, 0, _MAX_U64)

    def _to_wire(self) -> tuple[dict[str, Any], bytes | None]:
        return {"reason": self.reason, "batch_id": self.batch_id}, None

    @classmethod
    def _from_wire(cls, header: dict[Any, Any], payload: bytes | None) -> Error:
        _check_header(header, cls.TYPE, ("reason", "batch_id"))
        _no_payload(payload, cls.TYPE)
        return cls(header["reason"], header["batch_id"])


def reason_text(reason: str) -> str:
    """
    Any text as a reason (of an L{Error} or L{BatchRefused}): non-printable
    characters become spaces, and the text is cut to L{MAX_REASON}
    characters.
    """
    text = "".join(c if c.isprintable() else " " for c in reason[:MAX_REASON]).strip()
    return text or "error"


def error_for(reason: str, batch_id: int | None = None) -> Error:
    """
    An L{Error} for any text (see L{reason_text}).
    """
    return Error(reason_text(reason), batch_id)


Message: TypeAlias = (
    Hello
    | Greeting
    | Identify
    | Batch
    | Ack
    | BatchRefused
    | BucketPut
    | BucketAck
    | BucketList
    | BucketListing
    | BucketGet
    | BucketData
    | Archived
    | ArchivedAck
    | ArchivedQuery
    | ArchivedReply
    | Ping
    | Pong
    | Error
)

#: Message types by their C{"type"}.
_TYPES: dict[str, type[Message]] = {cls.TYPE: cls for cls in get_args(Message)}


def encode_message(message: Message) -> bytes:
    """
    Encode a message as a frame body (before sealing).

    @raise MessageTooLarge: if a batch or chunk exceeds its limit.
    """
    header, payload = message._to_wire()
    header["type"] = message.TYPE
    body: bytes = msgpack.packb([header, payload], use_bin_type=True)
    return body


@dataclass(frozen=True, slots=True)
class PreparedMessage:
    """
    A message encoded once, to be sent to several peers: a tailer sending a
    batch to R bucks compresses it once (sealing is per connection).

    @ivar message: the message.
    @ivar body: its encoding.
    """

    message: Message
    body: bytes


def prepare_message(message: Message) -> PreparedMessage:
    """
    Encode C{message} once for several L{send
    <logship.wire.protocol.IPeerConnection.send>} calls.

    @raise MessageTooLarge: if a batch or chunk exceeds its limit.
    """
    return PreparedMessage(message, encode_message(message))


def decode_message(body: bytes) -> Message:
    """
    Decode a frame body (after opening) into a message.

    @raise MalformedMessage: if C{body} is anything but one valid message
        (L{UnsupportedVersion} for a hello of another version).
    """
    try:
        obj = msgpack.unpackb(body, **_UNPACK_LIMITS)
    except (ValueError, msgpack.UnpackException) as e:
        raise MalformedMessage(f"not a msgpack message ({type(e).__name__})") from None
    if type(obj) is not list or len(obj) != 2:
        raise MalformedMessage("a message is a [header, payload] array")
    header, payload = obj
    if type(header) is not dict:
        raise MalformedMessage("the header is not a map")
    if payload is not None and type(payload) is not bytes:
        raise MalformedMessage("the payload is neither binary nor nil")
    kind = header.get("type")
    cls = _TYPES.get(kind) if type(kind) is str else None
    if cls is None:
        raise MalformedMessage(f"unknown message type {kind!r:.40}")
    try:
        return cls._from_wire(header, payload)
    except ValueError as e:  # a field the constructor refuses
        raise MalformedMessage(f"{kind}: {e}") from None
