"""Syslog header parsing: one raw line in, a L{Parsed} record out.

Pure functions, no I/O.  L{parse_line} never raises on input: the worst case is
a L{Parsed} whose C{message} is the raw line, timed at the reading time.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import tzinfo

#: Points are counted in 10^-8 s ticks since the Unix epoch.
TICKS_PER_SECOND = 100_000_000

#: C{pri} value for a source line that carried no syslog priority.
PRI_NONE = 255


@dataclass(frozen=True, slots=True)
class Parsed:
    """
    The header fields of one log line, as far as the line gave them.

    @ivar point: time of the line in ticks (10^-8 s) since the epoch, UTC,
        with the sub-second digits the source did not give set to zero.
    @ivar resolution: ticks per unit of the last digit the source gave:
        C{TICKS_PER_SECOND} for whole seconds, C{10**5} for milliseconds,
        C{100} for microseconds, C{1} for 8 or more fraction digits.  The
        point sequencer fills C{[point, point + resolution)} with a sequence.
    @ivar pri: syslog priority (facility * 8 + severity), or L{PRI_NONE}.
    @ivar host: the host name the line gave, or C{None} (then the configured
        host is used).
    @ivar app: app name, else process name, else pid; C{b""} if none.
    @ivar pid: the process id as given (bytes, not always digits), or C{None}.
    @ivar message: the line with time, host and app (and pid) removed: what
        is stored, shown and crc-checked.  For RFC 5424 see C{structured}.
    @ivar structured: C{True} when C{message} begins with the RFC 5424
        C{MSGID SP STRUCTURED-DATA} part (kept because at least one of them
        is not NILVALUE); C{False} when it is the free text only.
    """

    point: int
    resolution: int
    pri: int
    host: bytes | None
    app: bytes
    pid: bytes | None
    message: bytes
    structured: bool = False


def parse_line(
    raw: bytes, *, now: float, tz: tzinfo, year: int | None = None
) -> Parsed:
    """
    Parse one log line (without its line terminator).

    @param raw: the line's bytes, any content (invalid UTF-8, NUL, empty).
    @param now: the reading time, seconds since the epoch; the time of a
        headerless line, and the reference for inferring a missing year.
    @param tz: time zone of timestamps that carry no offset.
    @param year: the year of timestamps that carry none, instead of
        inferring it from C{now}.
    @return: the parsed fields; never raises.
    """
    raise NotImplementedError
