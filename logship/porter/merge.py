"""Merge, de-duplicate and sort the copies of one bucket.  Pure code.

The porter reads a bucket's file from every buck that has one (and the
archived object, if the bucket was archived before).  Each copy holds the
events that reached that buck, in arrival order, some of them on other bucks
too.  L{merge} keeps one event per identity (L{Event.identity}: where the
line was read, not what it says) and sorts them by point.  Two genuine
identical lines were read at different places, so both stay.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable
from dataclasses import dataclass

from logship.core.bucket import MIN_EVENT_SIZE
from logship.core.event import Event

_LENGTH = struct.Struct(">H")


@dataclass
class Records:
    """
    The whole records at the start of some bucket file bytes.

    @ivar events: the serialized events, in file order.
    @ivar consumed: the bytes they take (records and lengths); anything after
        is a torn record (a crash of the writer) or not read yet.
    """

    events: list[bytes]
    consumed: int


def split_records(data: bytes) -> Records:
    """
    Split bucket file bytes into records, stopping before a torn one.

    A record whose length is below the smallest event is damage, not a
    record: the split stops there as well.
    """
    events: list[bytes] = []
    append = events.append
    unpack = _LENGTH.unpack_from
    position = 0
    end = len(data)
    while end - position >= 2:
        (length,) = unpack(data, position)
        if length < MIN_EVENT_SIZE or end - position - 2 < length:
            break
        append(data[position + 2 : position + 2 + length])
        position += 2 + length
    return Records(events, position)


def merge(copies: Iterable[Iterable[Event]]) -> list[Event]:
    """
    One event per identity from all copies, sorted by point, then by
    identity (so that the order does not depend on the copies' order, and
    lines of one source in the same tick keep their file order).
    """
    unique: dict[bytes, Event] = {}
    for copy in copies:
        for event in copy:
            unique.setdefault(event.identity, event)
    return [event for _, event in sorted(unique.items(), key=_sort_key)]


def _sort_key(item: tuple[bytes, Event]) -> tuple[int, bytes]:
    identity, event = item
    return event.point, identity
