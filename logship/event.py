"""The Event and its serialized form (DESIGN.md "Event", normative).

Pure code, no I/O.  See C{docs/format.md} for the byte layout.
"""

from __future__ import annotations

from dataclasses import dataclass

#: Flags kept in the high bits of the version byte (see docs/format.md).
FLAG_CONTINUED = 0x80  # this event's message continues in the next event
FLAG_PID = 0x40  # the first token is the pid and is not placed in the line
FLAG_STRUCTURED = 0x20  # the message begins with RFC 5424 MSGID and SD
FORMAT_VERSION = 1

#: A serialized event is at most this long (it follows a 2-byte length).
MAX_EVENT_SIZE = 0xFFFF


@dataclass(frozen=True, slots=True)
class Event:
    """
    One log event.

    @ivar point: ticks (10^-8 s) since the epoch, unique per host and source.
    @ivar pri: syslog priority, or 255 when the source had none.
    @ivar shn: host name (at most 255 bytes).
    @ivar app: app name, else process name, else pid (at most 255 bytes).
    @ivar pid: process id or C{None}.
    @ivar message: the message as shown; its crc32 is the event's C{crc}.
    @ivar continued: the message goes on in the next event of this source.
    @ivar structured: the message begins with RFC 5424 MSGID and SD.
    """

    point: int
    pri: int
    shn: bytes
    app: bytes
    pid: bytes | None
    message: bytes
    continued: bool = False
    structured: bool = False


def encode(event: Event) -> bytes:
    """
    Serialize C{event} (without the 2-byte record length).

    @raise ValueError: if it would exceed L{MAX_EVENT_SIZE}; callers split
        long messages first with L{split_message}.
    """
    raise NotImplementedError


def decode(data: bytes) -> Event:
    """
    Deserialize one event and verify its crc.

    @raise CorruptEvent: on any malformed input or a crc mismatch.
    """
    raise NotImplementedError
