"""Tests for L{logship.buck}, and the few helpers they share."""

from __future__ import annotations

from pathlib import Path

from logship.core.bucket import iter_records
from logship.core.event import Event, decode, encode_fields
from logship.core.parse import TICKS_PER_SECOND

#: 2026-11-26T09:37:00Z, the start of a 60 s bucket.
T0 = 1795685820


def make_event(
    i: int, second: int = 0, host: bytes = b"web-1", app: bytes = b"nginx", size: int = 20
) -> bytes:
    """
    A serialized event, C{second} seconds after L{T0}, whose message says
    which one it is (C{i}) and whose point is unique for each C{i}.
    """
    message = b"event %d " % i + b"x" * size
    point = (T0 + second) * TICKS_PER_SECOND + i
    return encode_fields(point, 13, host, app, None, message)


def corrupt(data: bytes) -> bytes:
    """
    C{data} with its last byte changed (the crc no longer matches).
    """
    return data[:-1] + bytes([data[-1] ^ 0x01])


def read_bucket(path: Path) -> list[Event]:
    """
    The events of a bucket file, in file order.
    """
    with open(path, "rb") as f:
        return [decode(data) for _, data in iter_records(f)]


def messages(events: list[Event]) -> list[bytes]:
    """
    The messages of C{events}.
    """
    return [e.message for e in events]
