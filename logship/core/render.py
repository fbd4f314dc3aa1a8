"""Showing events to people: text lines, JSON objects, long lines joined again.

Used by C{logship parse}, C{logship cat} and later by the web API, so that an
event looks the same everywhere.
"""

from __future__ import annotations

import base64
import hashlib
import time
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import replace
from typing import Any

from logship.core.event import Event, join_parts, tokens_of, unpack_origin
from logship.core.parse import PRI_NONE, TICKS_PER_SECOND, structured_parts


def iso_time(point: int) -> str:
    """
    The ISO 8601 UTC time of a point, to the microsecond.

    >>> iso_time(179568582012345678)
    '2026-11-26T09:37:00.123456Z'
    """
    seconds, ticks = divmod(point, TICKS_PER_SECOND)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + (
        f".{ticks // 100:06d}Z"
    )


def whole_lines(events: Iterable[Event]) -> Iterator[Event]:
    """
    Join the parts of long lines (events flagged C{continued}) again.

    Parts of one line follow each other in point order from the same host
    and app; a part whose successor never comes is shown as it is.

    @param events: events in point order.
    @return: the events, each long line as one event (not continued).
    """
    pending: list[Event] = []
    for event in events:
        if pending and (event.shn, event.app) != (pending[0].shn, pending[0].app):
            yield from pending
            pending = []
        if event.continued:
            pending.append(event)
        elif pending:
            pending.append(event)
            yield replace(pending[0], message=join_parts(pending))
            pending = []
        else:
            yield event
    yield from pending


def _text(data: bytes) -> str:
    return data.decode("utf-8", "replace")


def _shown(event: Event) -> dict[str, Any]:
    """
    The fields every JSON form of an event has: point, time, host, app,
    pid, severity, facility, message (UTF-8, invalid bytes replaced), and
    for a structured event (RFC 5424, or SD after an RFC 3164 header)
    C{msgid} and C{sd} (C{{SD-ID: {PARAM: value}}}, escapes undone; each
    C{None} when absent), with C{message} then the MSG alone: the text after
    them, as other syslog parsers give it.
    """
    pri = None if event.pri == PRI_NONE else event.pri
    obj = {
        "point": event.point,
        "time": iso_time(event.point),
        "host": _text(event.shn),
        "app": _text(event.app),
        "pid": None if event.pid is None else _text(event.pid),
        "severity": None if pri is None else pri & 7,
        "facility": None if pri is None else pri >> 3,
        "message": _text(event.message),
    }
    if event.structured:
        msgid, sd, msg = structured_parts(event.message, True)
        if (msgid, sd, msg) != (None, None, event.message):  # else not readable
            obj["message"] = _text(msg)
            obj["msgid"] = None if msgid is None else _text(msgid)
            obj["sd"] = sd
    return obj


def event_json(event: Event) -> dict[str, Any]:
    """
    The JSON object of an event, as C{logship parse} and C{logship cat --json}
    print it: its identity (C{id}, L{event_id}; C{origin}, L{origin_json})
    and its fields (L{_shown}).  Byte fields are shown as UTF-8.  The
    message as stored (for a structured event C{MSGID SD MSG}, which
    C{crc} and substring searches cover) is C{stored_message} when it is
    not C{message}; one that is not valid UTF-8 also comes whole in
    C{message_b64}, so nothing is lost.
    """
    message = event.message
    obj = _shown(event)
    obj["id"] = event_id(event)
    obj["origin"] = origin_json(event)
    obj["tokens"] = [_text(t) for t in tokens_of(event)]
    obj["crc"] = zlib.crc32(message)
    if "sd" in obj:
        obj["stored_message"] = _text(message)
    try:
        message.decode("utf-8")
    except UnicodeDecodeError:
        obj["message_b64"] = base64.b64encode(message).decode("ascii")
    if event.continued:
        obj["continued"] = True
    return obj


def event_id(event: Event) -> str:
    """
    A short string naming an event's identity (L{Event.identity}): the same
    for the same occurrence on every buck, different for different ones (a
    96-bit BLAKE2b digest, base64url, 16 characters).
    """
    digest = hashlib.blake2b(event.identity, digest_size=12).digest()
    return base64.urlsafe_b64encode(digest).decode("ascii")


def origin_json(event: Event) -> dict[str, Any] | None:
    """
    The origin of an event as JSON: C{source} (8 hex digits), C{file} and
    C{offset}; C{None} for an event of format version 1, which has none.
    """
    if not event.origin:
        return None
    source, file, offset = unpack_origin(event.origin)
    return {"source": f"{source:08x}", "file": file, "offset": offset}


def live_json(event: Event) -> dict[str, Any]:
    """
    The lean JSON object of an event for the live tail and archie's API
    (C{docs/live.md}): C{id} (L{event_id}), C{point}, C{time}, C{host},
    C{app}, C{pid}, C{severity}, C{facility}, C{message} (UTF-8, invalid
    bytes replaced), C{msgid} and C{sd} for a structured event (see
    L{_shown}) and C{continued} when set; no tokens, no C{crc}, no
    C{message_b64}, no C{stored_message} (what L{event_json} adds).
    """
    obj: dict[str, Any] = {"id": event_id(event), **_shown(event)}
    if event.continued:
        obj["continued"] = True
    return obj


def event_text(event: Event) -> bytes:
    """
    The text line of an event: C{time host app[pid]: message}, bytes as stored.
    """
    pid = b"" if event.pid is None else b"[" + event.pid + b"]"
    return b"%s %s %s%s: %s" % (
        iso_time(event.point).encode(),
        event.shn,
        event.app,
        pid,
        event.message,
    )
