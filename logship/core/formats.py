"""Non-syslog header shapes (cluster, logcat, log4j, proxy, CBS ...): one raw line in, a L{Parsed} out.

Pure functions, no I/O.  L{logship.core.parse} calls L{guess} where its own
shapes (RFC 5424, RFC 3164, the ISO, HDFS and Apache time prefixes) left a
line headerless or without an app, and L{hinted} first when a source names
its format.  Each recognizer below returns a L{Parsed} or C{None}; none
raises on input.  The shapes (C{docs/parsing.md} has examples and the table
of what goes where):

 - C{cluster}: C{ALERT EPOCH yyyy.MM.dd NODE rest} (supercomputer logs):
   the time is the epoch, the host the node; the rest is a syslog-like
   C{Mmm dd hh:mm:ss HOST TAG: msg} (its HOST dropped, the node wins) or a
   BGL-like C{yyyy-MM-dd-hh.mm.ss.ffffff NODE TYPE COMPONENT LEVEL msg}.
 - C{hpc}: C{ID NODE COMPONENT STATE EPOCH FLAG msg}, only when hinted:
   nothing in it tells it from words.
 - C{pipe}: C{yyyyMMdd-HH:mm:ss:SSS|app|pid|msg}.
 - C{logcat}: C{MM-dd HH:mm:ss.SSS PID TID L tag: msg} (also with a year).
 - C{log4j}: C{yyyy-MM-dd} or C{yy/MM/dd} C{HH:mm:ss[,.]SSS}, then C{[PID]
   LEVEL [[thread]] [logger: | logger ]msg} (Spark, Hadoop, OpenStack).
 - C{proxy}: C{[MM.dd HH:mm:ss] prog - msg} (Proxifier).
 - C{cbs}: C{yyyy-MM-dd HH:mm:ss, Level  COMPONENT  msg} (Windows CBS).
 - C{prefixed}: C{name.log... } then a line of a shape above or of parse.py.
 - C{macos}: RFC 3164 with a second bracketed part, C{app[pid] (x): msg}.

A stated level becomes the severity of C{pri}, with facility 1 (user-level,
what RFC 3164 relays give a message without PRI); a line stating none keeps
L{PRI_NONE}.  A host is only ever taken from the fixed position of a shape
that names one (C{cluster}, the RFC 3164 host of C{macos}, and C{hpc}
when hinted): guessing never takes a message word for a host.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import tzinfo

from logship.core.parse import (
    _RFC3164_TIME,
    PRI_NONE,
    TICKS_PER_SECOND,
    Parsed,
    _fraction,
    _host_and_tag,
    _iso,
    _local_minute,
    _MAX_SECONDS,
    _TAG,
    _point,
    _rfc3164,
    infer_year,
)

#: The names a format hint may take; C{"auto"} means guess.
FORMAT_NAMES = (
    "auto", "cluster", "hpc", "pipe", "logcat", "log4j", "proxy", "cbs",
    "prefixed", "macos",
)  # fmt: skip

#: The facility given to a line that states a level but no PRI (user-level).
FACILITY = 1

#: Syslog severity of level words, upper-cased (Java, Python, BGL, CBS).
_LEVELS: dict[bytes, int] = {
    b"EMERG": 0, b"EMERGENCY": 0, b"PANIC": 0,
    b"ALERT": 1,
    b"CRIT": 2, b"CRITICAL": 2, b"FATAL": 2, b"FAILURE": 2,
    b"ERR": 3, b"ERROR": 3, b"SEVERE": 3,
    b"WARN": 4, b"WARNING": 4,
    b"NOTICE": 5,
    b"INFO": 6, b"INFORMATION": 6,
    b"DEBUG": 7, b"TRACE": 7, b"FINE": 7, b"FINER": 7, b"FINEST": 7, b"VERBOSE": 7,
}  # fmt: skip

#: Syslog severity of Android's one-letter priorities.
_LETTERS: dict[bytes, int] = {b"V": 7, b"D": 7, b"I": 6, b"W": 4, b"E": 3, b"F": 2, b"A": 1}

#: Severity 1 (alert) for a cluster line whose alert tag is not C{-}.
_ALERT = 1

Recognizer = Callable[[bytes, float, tzinfo, "int | None"], "Parsed | None"]


def check_format(name: str | None) -> str | None:
    """
    Check a format hint.

    @param name: one of L{FORMAT_NAMES}, or C{None}.
    @return: the name, or C{None} for C{None} and C{"auto"} (guess).
    @raise ValueError: an unknown name, with the known ones listed.
    """
    if name is None or name == "auto":
        return None
    if name not in FORMAT_NAMES:
        raise ValueError(f"unknown format {name!r}; known: {', '.join(FORMAT_NAMES)}")
    return name


def _pri(severity: int | None) -> int:
    return PRI_NONE if severity is None else FACILITY * 8 + severity


def _level(word: bytes | None) -> int | None:
    return None if word is None else _LEVELS.get(word.upper())


def _local_point(
    tz: tzinfo, y: int, mo: bytes, d: bytes, h: bytes, mi: bytes, s: bytes, ticks: int
) -> int | None:
    """
    The point of a local time in C{tz} given as in the line, or C{None}.
    """
    return _point(_local_minute(tz, y, int(mo), int(d), int(h), int(mi)), s, ticks)


def _epoch_point(epoch: bytes) -> int | None:
    seconds = int(epoch)
    return seconds * TICKS_PER_SECOND if seconds <= _MAX_SECONDS else None


def _year(month: bytes, now: float, tz: tzinfo, year: int | None) -> int:
    return infer_year(int(month), now, tz) if year is None else year


# --- log4j-like tails: what follows a time ---------------------------------

_LONGEST_FIRST: list[bytes] = sorted(_LEVELS, key=len, reverse=True)
_LEVEL_WORDS = rb"(" + rb"|".join(_LONGEST_FIRST) + rb")"
_THREAD = rb"\[([^\]\x00-\x1f]{1,255})\]"
# A logger: any word before ":", or a dotted name before " - " or a space.
_LOGGER_COLON = rb"([^\x00-\x20:\[\]]{1,255}):(?: |\Z)"
_DOTTED = rb"[A-Za-z_$][\w$]*(?:\.[\w$]+)+"
_LOG4J_TAIL = re.compile(
    rb"(?:" + _THREAD + rb" +)?(?:([0-9]{1,10}) +)?" + _LEVEL_WORDS + rb"(?: +|\Z)"
    rb"(?:" + _THREAD + rb"(?: +|\Z))?"
    rb"(?:" + _LOGGER_COLON + rb"|(" + _DOTTED + rb")(?: - | +|\Z))?"
)
# With the hint, any word before " - " is a logger too.
_LOG4J_HINTED_LOGGER = re.compile(rb"([^\x00-\x20:\[\]]{1,255}) - ")
_LOGCAT_TAIL = re.compile(
    rb"([0-9]{1,10}) +[0-9]{1,10} ([VDIWEFA]) ([^\x00-\x20:][^\x00-\x1f:]{0,254}?) *:(?: |\Z)"
)


def _tail(
    raw: bytes, pos: int, point: int, resolution: int, hinted: bool
) -> Parsed | None:
    """
    The fields after a time that ended at C{pos}: logcat's C{PID TID L tag:}
    or log4j's C{[[thread]] [PID] LEVEL [[thread]] [logger]}; C{None} if
    neither follows.
    """
    m = _LOGCAT_TAIL.match(raw, pos)
    if m is not None:
        pid, letter, tag = m.groups()
        return Parsed(
            point, resolution, _pri(_LETTERS[letter]), None, tag, pid, raw[m.end() :]
        )
    m = _LOG4J_TAIL.match(raw, pos)
    if m is None:
        return None
    before, pid, level, after, logger, dotted = m.groups()
    thread = after or before
    if pid is None and thread is not None and b" " not in thread:
        pid = thread
    app = logger or dotted or b""
    end = m.end()
    if hinted and not app:
        h = _LOG4J_HINTED_LOGGER.match(raw, end)
        if h is not None:
            app, end = h.group(1), h.end()
    return Parsed(point, resolution, _pri(_level(level)), None, app, pid, raw[end:])


# --- the shapes -------------------------------------------------------------

_ISO_SPACE = re.compile(
    rb"([0-9]{4})-([0-9]{2})-([0-9]{2}) ([0-9]{2}):([0-9]{2}):([0-9]{2})"
    rb"(?:[.,]([0-9]{1,12}))? +"
)
_YY_SLASH = re.compile(
    rb"([0-9]{2})/([0-9]{2})/([0-9]{2}) ([0-9]{2}):([0-9]{2}):([0-9]{2})"
    rb"(?:[.,]([0-9]{1,12}))?(?: +|\Z)"
)


def _log4j_at(
    raw: bytes, pos: int, now: float, tz: tzinfo, year: int | None, hinted: bool = False
) -> Parsed | None:
    """
    C{yyyy-MM-dd HH:mm:ss[,f]} followed by a tail (else it is parse.py's
    ISO prefix), or C{yy/MM/dd HH:mm:ss[,f]} with or without one.
    """
    m = _ISO_SPACE.match(raw, pos)
    if m is not None:
        y, mo, d, h, mi, s, frac = m.groups()
        ticks, resolution = _fraction(frac)
        point = _local_point(tz, int(y), mo, d, h, mi, s, ticks)
        return None if point is None else _tail(raw, m.end(), point, resolution, hinted)
    m = _YY_SLASH.match(raw, pos)
    if m is None:
        return None
    y, mo, d, h, mi, s, frac = m.groups()
    ticks, resolution = _fraction(frac)
    point = _local_point(tz, 2000 + int(y), mo, d, h, mi, s, ticks)
    if point is None:
        return None
    found = _tail(raw, m.end(), point, resolution, hinted)
    if found is None:
        return Parsed(point, resolution, PRI_NONE, None, b"", None, raw[m.end() :])
    return found


def _log4j(raw: bytes, now: float, tz: tzinfo, year: int | None) -> Parsed | None:
    return _log4j_at(raw, 0, now, tz, year)


def _log4j_hinted(raw: bytes, now: float, tz: tzinfo, year: int | None) -> Parsed | None:
    return _log4j_at(raw, 0, now, tz, year, hinted=True)


_LOGCAT = re.compile(
    rb"([0-9]{2})-([0-9]{2}) ([0-9]{2}):([0-9]{2}):([0-9]{2})(?:\.([0-9]{1,9}))? +"
)


def _logcat(raw: bytes, now: float, tz: tzinfo, year: int | None) -> Parsed | None:
    """
    Android logcat's C{MM-dd HH:mm:ss.SSS PID TID L tag: msg} (threadtime).
    """
    m = _LOGCAT.match(raw)
    if m is None:
        return None
    mo, d, h, mi, s, frac = m.groups()
    ticks, resolution = _fraction(frac)
    point = _local_point(tz, _year(mo, now, tz, year), mo, d, h, mi, s, ticks)
    if point is None:
        return None
    t = _LOGCAT_TAIL.match(raw, m.end())
    if t is None:
        return None
    pid, letter, tag = t.groups()
    return Parsed(point, resolution, _pri(_LETTERS[letter]), None, tag, pid, raw[t.end() :])


_PIPE = re.compile(
    rb"([0-9]{4})([0-9]{2})([0-9]{2})-([0-9]{1,2}):([0-9]{1,2}):([0-9]{1,2})"
    rb"(?:[:.]([0-9]{1,3}))?\|([^|\x00-\x1f]{1,255})\|([^|\x00-\x20]{1,255})\|"
)


def _pipe(raw: bytes, now: float, tz: tzinfo, year: int | None) -> Parsed | None:
    """
    C{yyyyMMdd-HH:mm:ss:SSS|app|pid|msg} (the milliseconds padded or not).
    """
    m = _PIPE.match(raw)
    if m is None:
        return None
    y, mo, d, h, mi, s, ms, app, pid = m.groups()
    ticks, resolution = (0, TICKS_PER_SECOND) if ms is None else (int(ms) * 10**5, 10**5)
    point = _local_point(tz, int(y), mo, d, h, mi, s.rjust(2, b"0"), ticks)
    if point is None:
        return None
    return Parsed(point, resolution, PRI_NONE, None, app, pid, raw[m.end() :])


_PROXY = re.compile(
    rb"\[(?:([0-9]{4})\.)?([0-9]{2})\.([0-9]{2}) ([0-9]{2}):([0-9]{2}):([0-9]{2})"
    rb"(?:\.([0-9]{1,9}))?\](?: |\Z)(?:([^\x00-\x20\[\]]{1,250}(?: \*64)?) - )?"
)


def _proxy(raw: bytes, now: float, tz: tzinfo, year: int | None) -> Parsed | None:
    """
    Proxifier's C{[MM.dd HH:mm:ss] prog - msg} (C{prog} may end in C{ *64}).
    """
    m = _PROXY.match(raw)
    if m is None:
        return None
    y, mo, d, h, mi, s, frac, app = m.groups()
    ticks, resolution = _fraction(frac)
    the_year = int(y) if y is not None else _year(mo, now, tz, year)
    point = _local_point(tz, the_year, mo, d, h, mi, s, ticks)
    if point is None:
        return None
    return Parsed(point, resolution, PRI_NONE, None, app or b"", None, raw[m.end() :])


_CBS = re.compile(
    rb"([0-9]{4})-([0-9]{2})-([0-9]{2}) ([0-9]{2}):([0-9]{2}):([0-9]{2}), "
    rb"([A-Za-z]{1,16})(?: +|\Z)(?:([A-Z][A-Za-z0-9_]{0,31})(?: +|\Z))?"
)


def _cbs(raw: bytes, now: float, tz: tzinfo, year: int | None) -> Parsed | None:
    """
    Windows CBS's C{yyyy-MM-dd HH:mm:ss, Level  COMPONENT  msg}.
    """
    m = _CBS.match(raw)
    if m is None:
        return None
    y, mo, d, h, mi, s, level, app = m.groups()
    severity = _level(level)
    if severity is None:
        return None
    point = _local_point(tz, int(y), mo, d, h, mi, s, 0)
    if point is None:
        return None
    return Parsed(
        point, TICKS_PER_SECOND, _pri(severity), None, app or b"", None, raw[m.end() :]
    )


_CLUSTER = re.compile(
    rb"(-|[A-Z][A-Z0-9_]{0,31}) ([0-9]{9,10}) ([0-9]{4})\.([0-9]{2})\.([0-9]{2})"
    rb" ([!-~]{1,255})(?: |\Z)"
)
_BGL = re.compile(
    rb"([0-9]{4})-([0-9]{2})-([0-9]{2})-([0-9]{2})\.([0-9]{2})\.([0-9]{2})"
    rb"(?:\.([0-9]{1,12}))? [!-~]{1,255} [A-Z]{1,16} ([A-Z_]{1,48}) ([A-Z]{1,16})(?: |\Z)"
)
_SECONDS_A_DAY = 86400
_WORD = re.compile(rb"[!-~]{1,255} ")


def _cluster(raw: bytes, now: float, tz: tzinfo, year: int | None) -> Parsed | None:
    """
    C{ALERT EPOCH yyyy.MM.dd NODE rest}: the date must be within a day of
    the epoch; the rest is read as RFC 3164 (its host dropped: the node is
    the host), as BGL's RAS part, or kept whole.
    """
    m = _CLUSTER.match(raw)
    if m is None:
        return None
    alert, epoch, y, mo, d, node = m.groups()
    point = _epoch_point(epoch)
    day = _local_minute(tz, int(y), int(mo), int(d), 0, 0)
    if point is None or day is None or abs(int(epoch) - day) > 2 * _SECONDS_A_DAY:
        return None
    severity = None if alert == b"-" else _ALERT
    pos = m.end()
    t = _RFC3164_TIME.match(raw, pos)
    if t is not None:
        # its host word ("node/node", "src@node") is dropped when a TAG follows
        w = _WORD.match(raw, t.end())
        at = w.end() if w is not None and _TAG.match(raw, w.end()) is not None else t.end()
        found = _host_and_tag(raw, at, point, TICKS_PER_SECOND, _pri(severity))
        found.host = node
        return found
    b = _BGL.match(raw, pos)
    if b is not None:
        *_, seconds, frac, component, level = b.groups()
        stated = _level(level)
        if stated is not None:
            severity = stated
        ticks, resolution = _fraction(frac)
        if int(seconds) != int(epoch) % 60:
            ticks, resolution = 0, TICKS_PER_SECOND
        return Parsed(
            point + ticks, resolution, _pri(severity), node, component, None, raw[b.end() :]
        )
    return Parsed(point, TICKS_PER_SECOND, _pri(severity), node, b"", None, raw[pos:])


_HPC = re.compile(
    rb"[0-9]{1,20} ([!-~]{1,255}) ([!-~]{1,255}) [!-~]{1,255} ([0-9]{9,10}) [01](?: |\Z)"
)


def _hpc(raw: bytes, now: float, tz: tzinfo, year: int | None) -> Parsed | None:
    """
    C{ID NODE COMPONENT STATE EPOCH FLAG msg} (LANL HPC logs).
    """
    m = _HPC.match(raw)
    if m is None:
        return None
    node, component, epoch = m.groups()
    point = _epoch_point(epoch)
    if point is None:
        return None
    return Parsed(point, TICKS_PER_SECOND, PRI_NONE, node, component, None, raw[m.end() :])


_PREFIX = re.compile(rb"[^\x00-\x20]{0,250}\.log(?:[.\-_][^\x00-\x20]{0,250})? ")


def _prefixed(raw: bytes, now: float, tz: tzinfo, year: int | None) -> Parsed | None:
    """
    A file name with C{.log} in it, a space, then a line with a time.
    """
    m = _PREFIX.match(raw)
    if m is None:
        return None
    pos = m.end()
    found = _log4j_at(raw, pos, now, tz, year)
    if found is None:
        found = _iso(raw, pos, PRI_NONE, tz)
    if found is None:
        found = _rfc3164(raw, pos, PRI_NONE, now, tz, year)
    return found


def _macos(raw: bytes, now: float, tz: tzinfo, year: int | None) -> Parsed | None:
    """
    RFC 3164 (parse.py reads macOS's C{app[pid] (detail):} tag itself).
    """
    return _rfc3164(raw, 0, PRI_NONE, now, tz, year)


_HINTED: dict[str, Recognizer] = {
    "cluster": _cluster,
    "hpc": _hpc,
    "pipe": _pipe,
    "logcat": _logcat,
    "log4j": _log4j_hinted,
    "proxy": _proxy,
    "cbs": _cbs,
    "prefixed": _prefixed,
    "macos": _macos,
}

# What to try by the first byte, in order (digits: the most specific first).
# Not hpc: its header is only generic words (a number, three words, an
# epoch, a flag), so a guess could take a message word for a host.
_BY_DIGIT: tuple[Recognizer, ...] = (_cbs, _log4j, _pipe, _logcat, _prefixed)
_BY_LETTER: tuple[Recognizer, ...] = (_cluster, _prefixed)
_GUESSES: dict[int, tuple[Recognizer, ...]] = {
    **{c: _BY_DIGIT for c in b"0123456789"},
    **{c: _BY_LETTER for c in b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"},
    ord("-"): (_cluster, _prefixed),
    ord("["): (_proxy,),
}


def hinted(
    raw: bytes, hint: str, now: float, tz: tzinfo, year: int | None
) -> Parsed | None:
    """
    Parse C{raw} as the format named C{hint}.

    @param hint: one of L{FORMAT_NAMES} (C{"auto"} and unknown names give
        C{None}).
    @return: the fields, or C{None} when the line is not of that shape.
    """
    recognize = _HINTED.get(hint)
    return None if recognize is None else recognize(raw, now, tz, year)


def guess(
    raw: bytes, now: float, tz: tzinfo, year: int | None, found: Parsed | None
) -> Parsed | None:
    """
    The fields of a line of one of the shapes here, or C{None}.

    @param found: what parse.py's own shapes gave, C{None} for nothing.  A
        result is only ever refined where parse.py's fast path leaves the
        line to Python (C{docs/speedups.md}): an ISO time with a space is
        tried as C{log4j}.
    """
    if found is not None:
        return _log4j(raw, now, tz, year) if found.host is None else None
    for recognize in _GUESSES.get(raw[0], ()) if raw else ():
        parsed = recognize(raw, now, tz, year)
        if parsed is not None:
            return parsed
    return None
