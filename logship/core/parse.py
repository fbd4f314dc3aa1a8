"""Syslog header parsing: one raw line in, a L{Parsed} record out.

Pure functions, no I/O.  L{parse_line} never raises on input: the worst case is
a L{Parsed} whose C{message} is the raw line, timed at the reading time.

Formats recognised (the first byte of the line picks the candidates):

 1. RFC 5424: C{<PRI>VERSION SP TIMESTAMP SP HOSTNAME SP APP-NAME SP PROCID
    SP MSGID SP STRUCTURED-DATA [SP MSG]}, with the RFC's field lengths and
    character sets, NILVALUE C{-} in any field, fractional seconds and
    C{Z}/C{+hh:mm} offsets.  A malformed line (bad timestamp, impossible
    date, over-long field) is not RFC 5424 and falls through to the formats
    below; malformed STRUCTURED-DATA that begins with C{[} is read as no SD
    (the header is taken, the bracket stays in the message).
 2. RFC 3164 C{<PRI>Mmm dd hh:mm:ss HOST TAG: msg} and the syslog file
    layout without PRI (C{Jun 14 15:16:01 combo sshd(pam_unix)[19939]: msg});
    the day may be padded with a space or not, the month in any case; a year
    between day and time (C{Mar 7 2008 19:06:53}), fractional seconds and a
    colon after the time are accepted; one space after C{<PRI>} is skipped.
 3. Time prefixes: ISO 8601 as rsyslog writes it (C{2026-11-26T09:37:01.1234
    +01:00 host app[pid]: msg}, with or without C{<PRI>}, with or without an
    offset), log4j (C{2015-07-29 17:41:44,747 ...}), Apache error logs
    (C{[Sun Dec 04 04:47:44 2005] ...}, the weekday must match the date) and
    HDFS (C{081109 203615 ...}, years 2000-2099).  The last three carry no
    host or tag: only the time and the one SP after it are taken.
 4. The shapes of L{logship.core.formats} (cluster, logcat, log4j levels,
    proxy, CBS ...) where the above gave nothing or no app, or first when
    a format C{hint} names one.
 5. Anything else is headerless.  C{<PRI>} alone (valid: 0-191, no leading
    zero) is still taken, and so is C{<PRI>TAG: msg} (no time, no host).
    An out-of-range C{<PRI>} (192-999) is not a priority (L{PRI_NONE}) but
    the header after it is read; without a time after it the line is
    headerless, C{<PRI>} included.

What goes where:

 - time -> C{point} (ticks of 10^-8 s, UTC) and C{resolution}.  A timestamp
   without an offset is local time in C{tz}; an ambiguous local time (the
   repeated hour when DST ends) is read as its first occurrence.  A line
   without a usable time gets C{now} floored to the second, resolution
   L{TICKS_PER_SECOND}.  Times before 1970 or past 2^64 ticks are unusable.
 - RFC 3164 has no year: C{year} if given, else the year that puts the
   month in the window "from 10 months before the month of C{now} (in C{tz})
   to 1 month after it": read on 2 Jan 2027, C{Dec 31} is 2026; read on
   31 Dec 2026, C{Jan 1} is 2027; read in June, C{Jul} is this year and
   C{Aug} last year (see L{infer_year}).  A year written in the line wins.
 - An impossible date (C{Feb 29} in a common year, C{Sep 31}, hour 24,
   second 60) makes the time unusable: the line is headerless, with its
   PRI still taken if valid.
 - PRI -> C{pri}; no PRI -> L{PRI_NONE} (not rsyslog's default 13: we do not
   invent a priority the source did not give).
 - HOSTNAME -> C{host} (C{None} for NILVALUE or when there is none).
 - RFC 3164 TAG C{name[pid]:} or C{name:} -> C{app} = name (kept whole, e.g.
   C{sshd(pam_unix)}), C{pid} = what is between the brackets.  The tag's
   colon and B{one} space after it are dropped (a second space stays in the
   message).  C{name[pid]:} may be followed directly by text; C{name:} must
   be followed by a space or the end of the line.  Without such a tag the
   first word (C{name} or C{name[pid]}, then a space or the end) is the tag,
   as rsyslog, syslog-loose and jeromer/syslogparser read it; a word that
   cannot be a tag name stays in the message and C{app} is C{b""}.  A word
   ending in a tag right after the time (no host) is read as the tag.  A
   host is letters, digits, C{._-:} and UTF-8 (rsyslog's rule): another
   word there is no host, and is read as the tag.  Valid SD (each element
   with a PARAM) after the tag or host, as rsyslog writes C{[origin ...]},
   flags the message C{structured}.
 - RFC 5424 APP-NAME -> C{app}, PROCID -> C{pid}; C{app} falls back to the
   PROCID when APP-NAME is NILVALUE ("app name, else process name, else
   pid").  The codec stores C{pid} as a token of the event.
 - RFC 5424 MSGID and STRUCTURED-DATA stay in the message: when both are
   NILVALUE the message is the MSG only (C{b""} if absent, a BOM kept as
   is); otherwise the message is the verbatim remainder C{MSGID SP SD [SP
   MSG]} and C{structured} is C{True} (see L{split_structured},
   L{parse_structured_data} and L{structured_parts}, which give what
   people are shown: C{msgid}, C{sd} and the MSG as the message).
 - RFC 5424 VERSION is not stored.  1 is the only version the RFC defines;
   like go-syslog we read VERSION 2-999 with the version-1 grammar, and then
   the number itself is the one header datum that is dropped.
 - Everything else is kept: C{message} is always a suffix of C{raw}, and
   what was cut off is the header whose fields are listed above (plus the
   separators between them).  When a field cannot be represented (a host
   over 255 bytes or with control bytes, a tag name over 255 bytes, an
   impossible date), it is not taken and its text stays in the message.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone, tzinfo
from functools import lru_cache
from itertools import product

from logship.core import speedups

#: Points are counted in 10^-8 s ticks since the Unix epoch.
TICKS_PER_SECOND = 100_000_000

#: C{pri} value for a source line that carried no syslog priority.
PRI_NONE = 255


@dataclass(slots=True)
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
        is not NILVALUE), or with SD after an RFC 3164 header (see
        L{split_structured}); C{False} when it is the free text only.
    """

    point: int
    resolution: int
    pri: int
    host: bytes | None
    app: bytes
    pid: bytes | None
    message: bytes
    structured: bool = False


# --- time -----------------------------------------------------------------

_MAX_POINT = 1 << 64
_MAX_SECONDS = (_MAX_POINT - 1) // TICKS_PER_SECOND
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_EPOCH_ORDINAL = date(1970, 1, 1).toordinal()
_ONE_SECOND = timedelta(seconds=1)

#: Resolution by number of fraction digits given (0 to 8 and more).
_RESOLUTION = tuple(10 ** (8 - n) for n in range(9))

_MONTH_NAMES = (
    b"jan", b"feb", b"mar", b"apr", b"may", b"jun",
    b"jul", b"aug", b"sep", b"oct", b"nov", b"dec",
)  # fmt: skip

#: Month number by three-letter name, in every mix of upper and lower case.
_MONTHS: dict[bytes, int] = {
    bytes(spelling): number
    for number, name in enumerate(_MONTH_NAMES, 1)
    for spelling in product(*((c, c - 32) for c in name))
}

_WEEKDAYS = (b"Mon", b"Tue", b"Wed", b"Thu", b"Fri", b"Sat", b"Sun")


@lru_cache(maxsize=4096)
def _epoch_day(year: int, month: int, day: int) -> int | None:
    """
    Days from 1970-01-01 to a date, or C{None} if there is no such date.
    """
    try:
        return date(year, month, day).toordinal() - _EPOCH_ORDINAL
    except ValueError:
        return None


@lru_cache(maxsize=8192)
def _local_minute(
    tz: tzinfo, year: int, month: int, day: int, hour: int, minute: int
) -> int | None:
    """
    Seconds since the epoch at the start of a local minute in C{tz}, or
    C{None} if there is no such minute.  Cached: consecutive lines share it.
    """
    try:
        local = datetime(year, month, day, hour, minute, tzinfo=tz)
        return (local - _EPOCH) // _ONE_SECOND
    except (ValueError, OverflowError):
        return None


@lru_cache(maxsize=8192)
def _syslog_minute(
    tz: tzinfo,
    month_name: bytes,
    day: bytes,
    hour: bytes,
    minute: bytes,
    year: int | None,
    now_second: int,
) -> int | None:
    """
    L{_local_minute} for an RFC 3164 C{Mmm dd hh:mm} as found in the line,
    with the year given or inferred (C{now_second} matters only then).
    """
    month = _MONTHS.get(month_name)
    if month is None:
        return None
    if year is None:
        year = infer_year(month, now_second, tz)
    return _local_minute(tz, year, month, int(day), int(hour), int(minute))


@lru_cache(maxsize=8192)
def _iso_minute(
    tz: tzinfo,
    year: bytes,
    month: bytes,
    day: bytes,
    hour: bytes,
    minute: bytes,
    offset: bytes | None,
) -> int | None:
    """
    Seconds since the epoch at the start of a minute given as in the line,
    with its offset (C{Z}, C{+hh:mm}, C{-hhmm}) or else local in C{tz}; or
    C{None} if there is no such minute.
    """
    y, mo, d, h, mi = int(year), int(month), int(day), int(hour), int(minute)
    if offset is None:
        return _local_minute(tz, y, mo, d, h, mi)
    if h > 23 or mi > 59:
        return None
    days = _epoch_day(y, mo, d)
    if days is None:
        return None
    seconds = days * 86400 + h * 3600 + mi * 60
    if offset != b"Z":
        off_hours = int(offset[1:3])
        off_minutes = int(offset[-2:])
        if off_hours > 23 or off_minutes > 59:
            return None
        shift = off_hours * 3600 + off_minutes * 60
        seconds = seconds - shift if offset[:1] == b"+" else seconds + shift
    return seconds


@lru_cache(maxsize=64)
def _year_month_at(tz: tzinfo, seconds: int) -> tuple[int, int]:
    """
    The year and month, in C{tz}, of a moment given in whole seconds.
    """
    moment = datetime.fromtimestamp(seconds, tz)
    return moment.year, moment.month


def infer_year(month: int, now: float, tz: tzinfo) -> int:
    """
    The year of a timestamp that gives only its month (RFC 3164).

    The window is 12 calendar months: from 10 months before the month of
    C{now} to 1 month after it, so a line up to a month "in the future"
    (clock skew, or December read just after New Year the other way round)
    keeps the current year, and anything further ahead is last year's.

    @param month: the month of the timestamp, 1 to 12.
    @param now: the reading time, seconds since the epoch.
    @param tz: the time zone in which C{now}'s month is taken.
    @return: the year.
    """
    year, now_month = _year_month_at(tz, int(now // 1))
    delta = month - now_month
    if delta > 1:
        return year - 1
    if delta < -10:
        return year + 1
    return year


def _fraction(digits: bytes | None) -> tuple[int, int]:
    """
    Ticks and resolution of fraction-of-second digits (beyond 8 truncated).
    """
    if not digits:
        return 0, TICKS_PER_SECOND
    n = len(digits)
    if n >= 8:
        return int(digits[:8]), 1
    return int(digits) * _RESOLUTION[n], _RESOLUTION[n]


def _point(start: int | None, second: bytes, ticks: int) -> int | None:
    """
    The point of a second within a minute that starts at C{start} (seconds
    since the epoch), or C{None} if it is unusable.
    """
    if start is None:
        return None
    s = int(second)
    if s > 59:
        return None
    seconds = start + s
    if seconds < 0 or seconds > _MAX_SECONDS:
        return None
    return seconds * TICKS_PER_SECOND + ticks


# --- RFC 5424 structured data --------------------------------------------

# One SD-ELEMENT, loosely: enough to find where it ends; checked afterwards.
_SD_ELEMENT = rb'\[[^\]"]*(?:"(?:[^"\\]|\\.)*"[^\]"]*)*\]'

# SD-NAME: 1 to 32 printable US-ASCII, not '=', SP, ']' or '"'.
_SD_NAME = rb'[!#-<>-\\^-~]{1,32}'
_SD_ID = re.compile(rb"\[(" + _SD_NAME + rb")")
# A PARAM-VALUE may hold anything (UTF-8) but '"', '\' and ']' unescaped.  One
# SP after '=' is tolerated: RFC 5424's own example 3 has one.
_SD_PARAM = re.compile(
    rb" (" + _SD_NAME + rb')= ?"((?:[^"\\\]]|\\.)*)"', re.DOTALL
)
_SD_UNESCAPE = re.compile(rb'\\(["\\\]])')

# A whole valid STRUCTURED-DATA, for checking without building dicts (the
# same grammar as parse_structured_data; the tests hold the two together).
_SD_VALID_ELEMENT = (
    rb"\[(" + _SD_NAME + rb")(?: " + _SD_NAME + rb'= ?"(?:[^"\\\]]|\\.)*")*\]'
)
_SD_VALID = re.compile(rb"(?:" + _SD_VALID_ELEMENT + rb")+\Z", re.DOTALL)
_SD_VALID_IDS = re.compile(_SD_VALID_ELEMENT, re.DOTALL)

# The loose shape of STRUCTURED-DATA elements, to find where they end.
_SD_ELEMENTS = re.compile(rb"(?:" + _SD_ELEMENT + rb")+", re.DOTALL)

# SD after an RFC 3164 header (rsyslog's "[origin software=...]"): each
# element has at least one PARAM, so "[12345.678]" or "[error]" stay text.
_SD_3164 = re.compile(
    rb"(?:\[" + _SD_NAME + rb"(?: " + _SD_NAME + rb'= ?"(?:[^"\\\]]|\\.)*")+\])+(?: |\Z)',
    re.DOTALL,
)

# "MSGID SP" at the start of a structured RFC 5424 message.
_MSGID = re.compile(rb"([!-~]{1,32}) ")

# What a structured message of the RFC 5424 kind begins with: a text that
# begins so is never read as RFC 3164 SD (see split_structured).
_MSGID_THEN_SD = re.compile(rb"[!-~]{1,32} [-\[]")

def parse_structured_data(sd: bytes) -> dict[str, dict[str, str]]:
    """
    Parse RFC 5424 STRUCTURED-DATA (one or more SD-ELEMENTs, not NILVALUE).

    Escapes C{\\"}, C{\\\\} and C{\\]} in values are removed; a backslash
    before any other character is kept, as the RFC says.  A repeated
    PARAM-NAME keeps its last value.

    @param sd: the raw bytes, e.g. C{b'[ex@1 a="1"][b]'}.
    @return: C{{SD-ID: {PARAM-NAME: value}}}.
    @raise ValueError: on malformed SD: bad names, an unescaped C{"}, C{\\}
        or C{]} in a value, a repeated SD-ID, values that are not UTF-8, or
        anything outside the elements.
    """
    result: dict[str, dict[str, str]] = {}
    pos = 0
    end = len(sd)
    if end == 0:
        raise ValueError("empty structured data")
    while pos < end:
        m = _SD_ID.match(sd, pos)
        if m is None:
            raise ValueError(f"expected an SD-ELEMENT at byte {pos}")
        sd_id = m.group(1).decode("ascii")
        if sd_id in result:
            raise ValueError(f"repeated SD-ID {sd_id!r}")
        params: dict[str, str] = {}
        pos = m.end()
        while True:
            p = _SD_PARAM.match(sd, pos)
            if p is None:
                break
            value = _SD_UNESCAPE.sub(rb"\1", p.group(2))
            params[p.group(1).decode("ascii")] = value.decode("utf-8")
            pos = p.end()
        if sd[pos : pos + 1] != b"]":
            raise ValueError(f"malformed SD-ELEMENT {sd_id!r} at byte {pos}")
        pos += 1
        result[sd_id] = params
    return result


def _valid_sd(sd: bytes) -> bool:
    """
    Whether L{parse_structured_data} would accept C{sd}, faster.
    """
    if _SD_VALID.match(sd) is None:
        return False
    try:
        sd.decode("utf-8")
    except UnicodeDecodeError:
        return False
    if sd.count(b"[") > 1:
        ids = _SD_VALID_IDS.findall(sd)
        return len(set(ids)) == len(ids)
    return True


def _sd_end(data: bytes, pos: int) -> int | None:
    """
    Where valid STRUCTURED-DATA that begins at C{pos} and is followed by a
    SP or the end ends, or C{None} if there is none.
    """
    m = _SD_ELEMENTS.match(data, pos)
    if m is None:
        return None
    end = m.end()
    if end < len(data) and data[end] != 32:
        return None
    return end if _valid_sd(data[pos:end]) else None


def _sd_3164_at(data: bytes, pos: int) -> tuple[int, int] | None:
    """
    The span of SD after an RFC 3164 header (spaces first allowed) in a
    message that begins at C{pos}, or C{None}: elements each with a PARAM,
    valid, followed by a SP or the end, and not readable as the RFC 5424
    C{MSGID SP SD} form (see L{split_structured}).
    """
    start = pos
    while data[start : start + 1] == b" ":
        start += 1
    m = _SD_3164.match(data, start)
    if m is None or (start == pos and _MSGID_THEN_SD.match(data, pos) is not None):
        return None
    end = m.end() - 1 if data[m.end() - 1 : m.end()] == b" " else m.end()
    return (start, end) if _valid_sd(data[start:end]) else None


def split_structured(message: bytes) -> tuple[bytes | None, bytes | None, bytes]:
    """
    Split a structured message (C{Parsed.structured} is C{True}) into its
    parts.

    The forms, tried in this order:

     1. RFC 5424 C{MSGID SP - [SP MSG]} (NILVALUE SD);
     2. RFC 5424 C{MSGID SP SD [SP MSG]}, SD valid;
     3. RFC 5424 C{MSGID SP [MSG]} where MSG begins with C{[} (a bracket
        that is not valid SD: the line had no SD, the text stays MSG);
     4. RFC 3164 C{[SP...] SD [SP MSG]}, each element with a PARAM (no
        MSGID).  L{parse_line} flags such a message only when forms 1-3
        cannot read it.

    @param message: the message as L{parse_line} gives it.
    @return: C{(msgid, sd, msg)}: the MSGID or C{None} for NILVALUE or
        none, the raw STRUCTURED-DATA bytes or C{None} for NILVALUE or
        none, and the MSG (C{b""} when absent).
    @raise ValueError: if C{message} has none of these forms.
    """
    m = _MSGID.match(message)
    if m is not None:
        msgid = None if m.group(1) == b"-" else m.group(1)
        pos = m.end()
        if message[pos : pos + 1] == b"-" and message[pos + 1 : pos + 2] in (b"", b" "):
            return msgid, None, message[pos + 2 :]
        end = _sd_end(message, pos)
        if end is not None:
            return msgid, message[pos:end], message[end + 1 :]
        if message[pos : pos + 1] == b"[":
            return msgid, None, message[pos:]
    span = _sd_3164_at(message, 0)
    if span is None:
        raise ValueError("not a structured message")
    start, end = span
    return None, message[start:end], message[end + 1 :]


def structured_parts(
    message: bytes, structured: bool
) -> tuple[bytes | None, dict[str, dict[str, str]] | None, bytes]:
    """
    The RFC 5424 parts of a stored message, as shown to people and indexed:
    C{(msgid, sd, msg)}.  Never raises: a message that is not structured
    (or, written by something else, not readable as such) is all MSG.

    @param message: the message as stored (L{Parsed.message}).
    @param structured: its L{Parsed.structured} flag.
    @return: the MSGID (C{None} for NILVALUE or none), the SD as
        L{parse_structured_data} gives it (C{None} for NILVALUE or none),
        and the MSG.
    """
    if structured:
        try:
            msgid, sd, msg = split_structured(message)
            return msgid, None if sd is None else parse_structured_data(sd), msg
        except (ValueError, UnicodeDecodeError):
            pass
    return None, None, message


# --- header grammars -----------------------------------------------------

_PRI = re.compile(rb"<(0|[1-9][0-9]{0,2})>")

# After <PRI>.  Field lengths as in RFC 5424 section 6.
_RFC5424 = re.compile(
    rb"[1-9][0-9]{0,2} "
    rb"(?:-|([0-9]{4})-([0-9]{2})-([0-9]{2})T([0-9]{2}):([0-9]{2}):([0-9]{2})"
    rb"(?:\.([0-9]{1,12}))?(Z|[+-][0-9]{2}:[0-9]{2})) "
    rb"([!-~]{1,255}) ([!-~]{1,48}) ([!-~]{1,128}) ([!-~]{1,32}) (?=[-\[])"
)

# RFC 3164 time: "Mmm dd hh:mm:ss", day padded by a space or not, with an
# optional year before the time, fraction, and colon after it.
_RFC3164_TIME = re.compile(
    rb"([A-Za-z]{3}) {1,2}([0-9]{1,2}) (?:([0-9]{4}) )?"
    rb"([0-9]{2}):([0-9]{2}):([0-9]{2})(?:\.([0-9]{1,12}))?:?(?: |\Z)"
)

# A HOSTNAME: letters, digits, ".", "_", "-", ":" (IPv6), or any byte >= 0x80
# (UTF-8 host names), as rsyslog reads one by default: a word with other
# characters ("#001", "--", "a/b") is not a host.
_HOST_CHARS = rb"[0-9A-Za-z._:\-\x80-\xff]{1,255}"
_HOST = re.compile(rb"(" + _HOST_CHARS + rb")(?: |\Z)")

# A TAG: "name[pid]:" (then one optional SP) or "name:" (then SP or the end).
_TAG_CHARS = (
    rb"([^\x00-\x20\x7f\[\]:]{1,255})"
    rb"(?:\[([^\x00-\x20\x7f\]]{1,255})\]: ?|:(?: |\Z))"
)
_TAG = re.compile(_TAG_CHARS)
# A TAG with a second bracketed part after the pid, as macOS writes them:
# "name[pid] (detail): " (the detail is dropped, as peers do).
_TAG_DETAIL = re.compile(
    rb"([^\x00-\x20\x7f\[\]:]{1,255})\[([^\x00-\x20\x7f\]]{1,255})\] "
    rb"\([^()\x00-\x1f]{1,255}\): ?"
)
# A TAG without a colon, as rsyslog, syslog-loose and jeromer/syslogparser
# read one: the first word ("name" or "name[pid]"), then a SP or the end.
_WORD_TAG = re.compile(
    rb"([^\x00-\x20\x7f\[\]:]{1,255})(?:\[([^\x00-\x20\x7f\]]{1,255})\])?(?: |\Z)"
)

# The common case in one match: "Mmm dd hh:mm:ss HOST TAG".
_RFC3164_FAST_TEXT = (
    rb"([A-Za-z]{3}) {1,2}([0-9]{1,2}) ([0-9]{2}):([0-9]{2}):([0-9]{2}) "
    rb"(" + _HOST_CHARS + rb") " + _TAG_CHARS
)
# Both fast forms leave a message that begins with a SP or "[" (which may
# be SD) to the general path.
_RFC3164_FAST = re.compile(_RFC3164_FAST_TEXT + rb"(?![ \[])")
# The same with an optional PRI, for parse_line's inlined fast path.
_SYSLOG_FAST = re.compile(
    rb"(?:<(0|[1-9][0-9]{0,2})>)?" + _RFC3164_FAST_TEXT + rb"(?![ \[])"
)

_ISO_TIME = re.compile(
    rb"([0-9]{4})-([0-9]{2})-([0-9]{2})([T ])([0-9]{2}):([0-9]{2}):([0-9]{2})"
    rb"(?:[.,]([0-9]{1,12}))?(Z|[+-][0-9]{2}:?[0-9]{2})?(?: |\Z)"
)

_HDFS_TIME = re.compile(
    rb"([0-9]{2})([0-9]{2})([0-9]{2}) ([0-9]{2})([0-9]{2})([0-9]{2})(?: |\Z)"
)

_APACHE_TIME = re.compile(
    rb"\[([A-Z][a-z]{2}) ([A-Za-z]{3}) ([ 0-9]?[0-9]) "
    rb"([0-9]{2}):([0-9]{2}):([0-9]{2})(?:\.([0-9]{1,12}))? ([0-9]{4})\](?: |\Z)"
)

_LETTER, _DIGIT, _LT, _BRACKET = 1, 2, 3, 4
_KIND = bytearray(256)
for _c in b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz":
    _KIND[_c] = _LETTER
for _c in b"0123456789":
    _KIND[_c] = _DIGIT
_KIND[ord("<")] = _LT
_KIND[ord("[")] = _BRACKET
del _c


def _headerless(raw: bytes, now: float, pri: int = PRI_NONE) -> Parsed:
    """
    A line without a usable time: C{now} floored to the second.
    """
    return Parsed(
        int(now // 1) * TICKS_PER_SECOND, TICKS_PER_SECOND, pri, None, b"", None, raw
    )


def _after_tag(
    raw: bytes,
    pos: int,
    point: int,
    resolution: int,
    pri: int,
    host: bytes | None,
    app: bytes,
    pid: bytes | None,
) -> Parsed:
    """
    Finish an RFC 3164 line whose message begins at C{pos}: flagged
    C{structured} when it begins with SD (L{split_structured}'s form 4).
    """
    structured = raw[pos : pos + 1] in (b"[", b" ") and _sd_3164_at(raw, pos) is not None
    return Parsed(point, resolution, pri, host, app, pid, raw[pos:], structured)


def _host_and_tag(
    raw: bytes, pos: int, point: int, resolution: int, pri: int
) -> Parsed:
    """
    Finish a syslog line whose time ended at C{pos}: C{[HOST SP] [TAG] msg}.
    """
    host = None
    h = _HOST.match(raw, pos)
    if h is not None:
        if raw[h.end(1) - 1] == 58 and _TAG.match(raw, pos) is not None:
            pass  # "Oct 11 22:14:15 su: msg": a tag, no host
        else:
            host = h.group(1)
            pos = h.end()
    t = _TAG.match(raw, pos) or _TAG_DETAIL.match(raw, pos) or _WORD_TAG.match(raw, pos)
    if t is None:
        return _after_tag(raw, pos, point, resolution, pri, host, b"", None)
    return _after_tag(raw, t.end(), point, resolution, pri, host, t.group(1), t.group(2))


def _rfc3164(
    raw: bytes, pos: int, pri: int, now: float, tz: tzinfo, year: int | None
) -> Parsed | None:
    """
    Parse C{Mmm dd [yyyy] hh:mm:ss[.f][:] [HOST] [TAG] msg} at C{pos}, or
    C{None}.
    """
    m = _RFC3164_FAST.match(raw, pos)
    if m is not None and raw[m.end(6) - 1] != 58:
        mon, day, hour, minute, second, host, app, pid = m.groups()
        point = _point(
            _syslog_minute(
                tz, mon, day, hour, minute, year,
                0 if year is not None else int(now // 1),
            ),
            second,
            0,
        )  # fmt: skip
        if point is None:
            return None
        return Parsed(point, TICKS_PER_SECOND, pri, host, app, pid, raw[m.end() :])
    m = _RFC3164_TIME.match(raw, pos)
    if m is None:
        return None
    mon, day, given_year, hour, minute, second, frac = m.groups()
    if given_year is not None:
        year = int(given_year)
    ticks, resolution = _fraction(frac)
    point = _point(
        _syslog_minute(
            tz, mon, day, hour, minute, year,
            0 if year is not None else int(now // 1),
        ),
        second,
        ticks,
    )  # fmt: skip
    if point is None:
        return None
    return _host_and_tag(raw, m.end(), point, resolution, pri)


def _iso(raw: bytes, pos: int, pri: int, tz: tzinfo) -> Parsed | None:
    """
    Parse an ISO 8601 time prefix at C{pos} (rsyslog's C{T} form is followed
    by HOST and TAG; the log4j form with a space only by text), or C{None}.
    """
    m = _ISO_TIME.match(raw, pos)
    if m is None:
        return None
    y, mo, d, sep, h, mi, s, frac, offset = m.groups()
    ticks, resolution = _fraction(frac)
    point = _point(_iso_minute(tz, y, mo, d, h, mi, offset), s, ticks)
    if point is None:
        return None
    if sep == b"T":
        return _host_and_tag(raw, m.end(), point, resolution, pri)
    return Parsed(point, resolution, pri, None, b"", None, raw[m.end() :])


def _hdfs(raw: bytes, tz: tzinfo) -> Parsed | None:
    """
    Parse an HDFS C{yyMMdd HHmmss} time prefix (years 2000-2099), or C{None}.
    """
    m = _HDFS_TIME.match(raw)
    if m is None:
        return None
    y, mo, d, h, mi, s = m.groups()
    point = _point(_iso_minute(tz, b"20" + y, mo, d, h, mi, None), s, 0)
    if point is None:
        return None
    return Parsed(point, TICKS_PER_SECOND, PRI_NONE, None, b"", None, raw[m.end() :])


@lru_cache(maxsize=4096)
def _apache_minute(
    tz: tzinfo,
    weekday: bytes,
    month_name: bytes,
    day: bytes,
    hour: bytes,
    minute: bytes,
    year: bytes,
) -> int | None:
    """
    L{_local_minute} for an Apache C{Www Mmm dd hh:mm ... yyyy} as found in
    the line, or C{None} if the date does not exist or is not that weekday.
    """
    month = _MONTHS.get(month_name)
    if month is None:
        return None
    y, d = int(year), int(day)
    days = _epoch_day(y, month, d)
    # 1970-01-01 was a Thursday.
    if days is None or _WEEKDAYS[(days + 3) % 7] != weekday:
        return None
    return _local_minute(tz, y, month, d, int(hour), int(minute))


def _apache(raw: bytes, tz: tzinfo) -> Parsed | None:
    """
    Parse an Apache error-log C{[Www Mmm dd hh:mm:ss[.f] yyyy]} prefix, or
    C{None} (also when the weekday does not match the date).
    """
    m = _APACHE_TIME.match(raw)
    if m is None:
        return None
    wday, mon, d, h, mi, s, frac, y = m.groups()
    ticks, resolution = _fraction(frac)
    point = _point(_apache_minute(tz, wday, mon, d, h, mi, y), s, ticks)
    if point is None:
        return None
    return Parsed(point, resolution, PRI_NONE, None, b"", None, raw[m.end() :])


def _rfc5424(raw: bytes, pos: int, pri: int, now: float, tz: tzinfo) -> Parsed | None:
    """
    Parse the RFC 5424 header after C{<PRI>} (at C{pos}), or C{None}.

    STRUCTURED-DATA that is not valid but begins with C{[} is read as no SD:
    the header is taken and the bracket stays in the message.
    """
    m = _RFC5424.match(raw, pos)
    if m is None:
        return None
    y, mo, d, h, mi, s, frac, offset, host, app, procid, msgid = m.groups()
    if y is None:
        point = int(now // 1) * TICKS_PER_SECOND
        resolution = TICKS_PER_SECOND
    else:
        ticks, resolution = _fraction(frac)
        found = _point(_iso_minute(tz, y, mo, d, h, mi, offset), s, ticks)
        if found is None:
            return None
        point = found
    at = m.end()
    if raw[at] == 45:  # "-": NILVALUE
        if at + 1 < len(raw) and raw[at + 1] != 32:
            return None
        sd = False
        text = at + 2
    else:
        end = _sd_end(raw, at)
        sd = end is not None
        text = at if end is None else end + 1
    pid = None if procid == b"-" else procid
    if app == b"-":
        app = pid or b""
    if msgid == b"-" and not sd:
        message = raw[text:]
        structured = False
    else:
        message = raw[m.start(12) :]
        structured = True
    return Parsed(
        point,
        resolution,
        pri,
        None if host == b"-" else host,
        app,
        pid,
        message,
        structured,
    )


def _with_pri(raw: bytes, now: float, tz: tzinfo, year: int | None) -> Parsed | None:
    """
    Parse a line that begins with C{<}: RFC 5424, else RFC 3164 or an ISO
    time after the PRI, else C{<PRI>TAG: msg}, else C{<PRI>} and the rest.
    """
    m = _PRI.match(raw)
    if m is None:
        return None
    pri = int(m.group(1))
    if pri > 191:
        pri = PRI_NONE  # out of range: the header after it is still read
    pos = m.end()
    kind = _KIND[raw[pos]] if pos < len(raw) else 0
    if kind == _DIGIT:
        found = _rfc5424(raw, pos, pri, now, tz)
        if found is None:
            found = _iso(raw, pos, pri, tz)
        if found is not None:
            return found
    else:
        start = pos + 1 if raw[pos : pos + 1] == b" " else pos
        found = _rfc3164(raw, start, pri, now, tz, year)
        if found is None and start != pos:
            found = _iso(raw, start, pri, tz)
        if found is not None:
            return found
    if pri == PRI_NONE:
        return None  # an out-of-range PRI and no time after it
    t = _TAG.match(raw, pos)
    if t is not None:
        return _after_tag(
            raw, t.end(), int(now // 1) * TICKS_PER_SECOND, TICKS_PER_SECOND, pri, None,
            t.group(1), t.group(2),
        )  # fmt: skip
    return _headerless(raw[pos:], now, pri)


def _parse(raw: bytes, now: float, tz: tzinfo, year: int | None) -> Parsed:
    """
    L{parse_line} without its safety net (the tests run this one).
    """
    found = None
    if raw:
        kind = _KIND[raw[0]]
        if kind == _LETTER:
            found = _rfc3164(raw, 0, PRI_NONE, now, tz, year)
        elif kind == _LT:
            found = _with_pri(raw, now, tz, year)
        elif kind == _DIGIT:
            if raw[4:5] == b"-":
                found = _iso(raw, 0, PRI_NONE, tz)
            else:
                found = _hdfs(raw, tz)
        elif kind == _BRACKET:
            found = _apache(raw, tz)
    if found is None or not found.app:
        found = formats.guess(raw, now, tz, year, found) or found
    if found is None:
        return _headerless(raw, now)
    return found


def parse_line(
    raw: bytes,
    *,
    now: float,
    tz: tzinfo,
    year: int | None = None,
    hint: str | None = None,
) -> Parsed:
    """
    Parse one log line (without its line terminator).

    See the module docstring for the formats and for what goes where.  The
    message is always a suffix of C{raw}: for RFC 3164 the text after
    C{TAG:} and one space; for RFC 5424 the MSG, or C{MSGID SP SD [SP MSG]}
    when C{structured}; for a headerless line C{raw} itself (after C{<PRI>}
    when only that was recognised).

    @param raw: the line's bytes, any content (invalid UTF-8, NUL, empty).
    @param now: the reading time, seconds since the epoch; the time of a
        headerless line, and the reference for inferring a missing year.
    @param tz: time zone of timestamps that carry no offset.
    @param year: the year of timestamps that carry none, instead of
        inferring it from C{now}.
    @param hint: the name of a shape of L{logship.core.formats} to try
        first (L{formats.FORMAT_NAMES}); a line not of that shape, or
        C{None}, C{"auto"} or an unknown name, is guessed as usual.
    @return: the parsed fields; never raises.  (Should an internal error
        ever occur, the line is returned as headerless.)
    """
    try:
        if hint is not None:
            hinted = formats.hinted(raw, hint, now, tz, year)
            if hinted is not None:
                return hinted
        # Fast path, the common "[<PRI>]Mmm dd hh:mm:ss HOST TAG msg" line
        # inlined (the steps of _with_pri and _rfc3164, without the calls).
        kind = _KIND[raw[0]] if raw else 0
        if kind == _LETTER or kind == _LT:
            m = _SYSLOG_FAST.match(raw)
            if m is not None and raw[m.end(7) - 1] != 58:
                pri, mon, day, hour, minute, second, host, app, pid = m.groups()
                priority = PRI_NONE if pri is None else int(pri)
                start = _syslog_minute(
                    tz, mon, day, hour, minute, year,
                    0 if year is not None else int(now // 1),
                )  # fmt: skip
                if start is not None and (pri is None or priority <= 191):
                    seconds = start + int(second)
                    if second < b"60" and 0 <= seconds <= _MAX_SECONDS:
                        return Parsed(
                            seconds * TICKS_PER_SECOND,
                            TICKS_PER_SECOND,
                            priority,
                            host,
                            app,
                            pid,
                            raw[m.end() :],
                        )
        return _parse(raw, now, tz, year)
    except Exception:
        return _headerless(raw, now)


# Last: the other shapes use this module's time functions.
from logship.core import formats  # noqa: E402

speedups.install(
    globals(),
    ("parse_line",),
    lambda compiled: compiled.configure_parse(
        Parsed, parse_line, _syslog_minute, _iso_minute, _apache_minute
    ),
)
