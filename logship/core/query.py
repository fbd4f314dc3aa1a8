"""What people ask an index: the L{Query}, its L{SearchResult}, and the parsing
of the query text and times that the CLI and archie's API take.

Pure code, no I/O.  The matching rules (the same for every backend, see
C{docs/index.md}):

  - A B{term} is cut into tokens by L{logship.core.tokenize}, exactly as messages
    are; an event matches a term when every one of the term's tokens is one
    of the event's tokens (its message's and its pid's), ASCII case ignored.
    So C{--term key=value} asks for the tokens C{key} and C{value}.
  - A B{substring} matches when its bytes occur in the message, case and
    bytes exact (like grep).
  - Text is turned into bytes with UTF-8 and C{surrogateescape}, so that
    bytes which are not UTF-8 (as a shell passes them in C{sys.argv}) can be
    searched for too.
  - A term C{sd.ID.PARAM:VALUE} (e.g. C{sd.origin.software:rsyslogd}) is
    not cut into tokens: it matches an event whose RFC 5424 (or rsyslog
    RFC 3164) STRUCTURED-DATA has the element C{ID} with the parameter
    C{PARAM} equal to C{VALUE} (exactly, case included; escapes undone).
    The name ends at the first C{:}, the C{ID} at the last C{.} of the
    name.  In L{parse_q}, C{sd.ID.PARAM:"a value"} takes a quoted value.
  - A term C{severity:LEVEL} (or C{sev:LEVEL}) matches an event whose
    priority states a severity at least as grave as C{LEVEL}: a name of
    RFC 5424 (C{emerg alert crit err warning notice info debug}, and the
    usual long forms C{error warn critical ...}) or its number 0 to 7.
    Events without a priority never match it.
  - Everything in a query must match (AND); several hosts (or apps) are
    alternatives (OR).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime, timezone
from decimal import Decimal, InvalidOperation

from logship.core import tokenize
from logship.core.event import Event
from logship.core.parse import PRI_NONE, structured_parts

#: Ticks (10^-8 s) per second.
TICKS = 100_000_000

#: The largest page a query may ask for.
MAX_LIMIT = 10_000

#: Points are unsigned 64-bit integers.
MAX_POINT = 2**64 - 1

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
_RELATIVE = re.compile(r"-(\d{1,9})([smhdw])")
_EPOCH = re.compile(r"\d+(\.\d+)?")


def to_bytes(text: str) -> bytes:
    """
    The bytes a query string stands for: UTF-8, with C{surrogateescape} so
    that undecodable bytes given on a command line come back as themselves.
    """
    return text.encode("utf-8", "surrogateescape")


#: Severity names (RFC 5424's, and the long forms people type) and numbers.
SEVERITIES = {
    "emerg": 0, "emergency": 0, "panic": 0, "alert": 1, "crit": 2, "critical": 2,
    "fatal": 2, "err": 3, "error": 3, "warning": 4, "warn": 4, "notice": 5,
    "info": 6, "informational": 6, "debug": 7, "trace": 7,
}  # fmt: skip

#: A term that asks for a severity: C{severity:LEVEL} or C{sev:LEVEL}.
_SEVERITY_TERM = re.compile(r"(?:severity|sev):([A-Za-z]+|[0-7])\Z", re.IGNORECASE)

def severity_condition(term: str) -> int | None:
    """
    The severity a term C{severity:LEVEL} asks for at least (0 the gravest,
    7 the least), or C{None} if the term is not one.

    >>> severity_condition("sev:warning")
    4

    @raise ValueError: an unknown level name.
    """
    m = _SEVERITY_TERM.match(term)
    if m is None:
        return None
    level = m.group(1).lower()
    if level.isdigit():
        return int(level)
    if level not in SEVERITIES:
        raise ValueError(f"unknown severity {m.group(1)!r}; known: {', '.join(SEVERITIES)}, 0-7")
    return SEVERITIES[level]


def is_condition(term: str) -> bool:
    """
    Whether a term is a condition (SD or severity) rather than words.
    """
    return sd_condition(term) is not None or severity_condition(term) is not None


#: A term that asks for an SD parameter: C{sd.ID.PARAM:VALUE}.
_SD_TERM = re.compile(r"sd\.([^:]+)\.([^.:]+):(.*)\Z", re.DOTALL)


def sd_condition(term: str) -> tuple[str, str, str] | None:
    """
    The C{(SD-ID, PARAM-NAME, value)} a term C{sd.ID.PARAM:VALUE} asks
    for, or C{None} if the term is not one (then it is cut into tokens).

    >>> sd_condition("sd.origin.software:rsyslogd")
    ('origin', 'software', 'rsyslogd')
    """
    m = _SD_TERM.match(term)
    return None if m is None else (m.group(1), m.group(2), m.group(3))


def event_sd(event: Event) -> dict[str, dict[str, str]]:
    """
    The STRUCTURED-DATA of an event (L{structured_parts}), C{{}} if none.
    """
    return structured_parts(event.message, event.structured)[1] or {}


def sd_triples(sd: dict[str, dict[str, str]]) -> list[tuple[str, str, str]]:
    """
    The C{(SD-ID, PARAM-NAME, value)} triples of parsed SD, as the indexes
    store them for L{sd_condition} terms.
    """
    return [(sd_id, name, value) for sd_id, params in sd.items() for name, value in params.items()]


def term_tokens(term: str) -> list[bytes]:
    """
    The tokens of one term, lowercased (ASCII only), as an index stores them.

    @raise ValueError: the term has no token (only punctuation or spaces).
    """
    found = tokenize.tokens(to_bytes(term))
    if not found:
        raise ValueError(f"term {term!r} has no word characters to search for")
    return [t.lower() for t in found]


def event_tokens(event: Event) -> list[bytes]:
    """
    The searchable tokens of an event, lowercased: its pid's and its
    message's, each once, in order of first appearance.
    """
    pid = tokenize.tokens(event.pid) if event.pid else []
    return list(dict.fromkeys(t.lower() for t in pid + tokenize.tokens(event.message)))


def _check_point(name: str, value: int | None) -> None:
    if value is not None and not (isinstance(value, int) and 0 <= value <= MAX_POINT):
        raise ValueError(f"{name} must be a point (0 to 2**64-1), not {value!r}")


@dataclass(frozen=True)
class Query:
    """
    A search: all conditions must hold; results come newest first.

    @ivar start: the first point included, or C{None} for no lower bound.
    @ivar end: the first point excluded, or C{None} for no upper bound.
    @ivar hosts: accepted host names (any of them); empty: every host.
    @ivar apps: accepted app names (any of them); empty: every app.
    @ivar terms: words, each matched token by token, or C{sd.ID.PARAM:VALUE}
        conditions (see the module doc).
    @ivar substrings: texts that must each occur in the message.
    @ivar limit: the page size, 1 to L{MAX_LIMIT}.
    @ivar cursor: the C{next} of the previous page, or C{None} for the first.
    """

    start: int | None = None
    end: int | None = None
    hosts: tuple[bytes, ...] = ()
    apps: tuple[bytes, ...] = ()
    terms: tuple[str, ...] = ()
    substrings: tuple[str, ...] = ()
    limit: int = 100
    cursor: str | None = None

    def __post_init__(self) -> None:
        _check_point("start", self.start)
        _check_point("end", self.end)
        if not (isinstance(self.limit, int) and 1 <= self.limit <= MAX_LIMIT):
            raise ValueError(f"limit must be 1 to {MAX_LIMIT}, not {self.limit!r}")
        for name, value in (
            ("hosts", self.hosts),
            ("apps", self.apps),
            ("terms", self.terms),
            ("substrings", self.substrings),
        ):
            if not isinstance(value, tuple):
                raise ValueError(f"{name} must be a tuple")
        for term in self.terms:
            if not is_condition(term):
                term_tokens(term)

    def tokens(self) -> list[bytes]:
        """
        The lowercased tokens of all terms (not SD conditions), each once.
        """
        return list(dict.fromkeys(
            t for term in self.terms if not is_condition(term) for t in term_tokens(term)
        ))  # fmt: skip

    def sd(self) -> list[tuple[str, str, str]]:
        """
        The SD conditions among the terms (L{sd_condition}), each once.
        """
        return list(dict.fromkeys(c for c in map(sd_condition, self.terms) if c is not None))

    def severity(self) -> int | None:
        """
        The gravest severity asked for by C{severity:} terms (the
        condition they all make together), C{None} if none.
        """
        levels = [v for v in map(severity_condition, self.terms) if v is not None]
        return min(levels) if levels else None

    def substring_bytes(self) -> list[bytes]:
        """
        The substrings as bytes, each once.
        """
        return list(dict.fromkeys(to_bytes(s) for s in self.substrings))

    def matches(self, event: Event) -> bool:
        """
        Whether C{event} matches (ignoring the limit and the cursor): the
        reference that every backend must agree with.
        """
        if self.start is not None and event.point < self.start:
            return False
        if self.end is not None and event.point >= self.end:
            return False
        if self.hosts and event.shn not in self.hosts:
            return False
        if self.apps and event.app not in self.apps:
            return False
        if not all(s in event.message for s in self.substring_bytes()):
            return False
        severity = self.severity()
        if severity is not None and (event.pri == PRI_NONE or event.pri & 7 > severity):
            return False
        wanted = self.tokens()
        if wanted and not set(wanted) <= set(event_tokens(event)):
            return False
        conditions = self.sd()
        return not conditions or set(conditions) <= set(sd_triples(event_sd(event)))


@dataclass
class SearchResult:
    """
    One page of results.

    @ivar events: the matching events of this page, newest first (by
        point; ties in a backend-defined but stable order).
    @ivar total: how many events match the query in all.
    @ivar next: an opaque cursor for the next page (put it in
        L{Query.cursor}), or C{None} when this page is the last.
    @ivar total_exact: C{False} when C{total} is only a lower bound (a
        backend may stop counting expensive matches, see C{docs/index.md}).
    """

    events: list[Event] = field(default_factory=list)
    total: int = 0
    next: str | None = None
    total_exact: bool = True


def parse_q(text: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """
    Split a search box's text into terms and substrings.

    Words separated by white space are terms; C{"quoted text"} is a
    substring (inside it, C{\\"} is a quote and C{\\\\} a backslash).  A
    quote also ends the word before it, except after C{sd.ID.PARAM:}, where
    it is the value of that SD condition.

    >>> parse_q('error "disk full" sda1')
    (('error', 'sda1'), ('disk full',))

    @return: C{(terms, substrings)}.
    @raise ValueError: a quote is not closed, or a term has no word
        characters.
    """
    terms: list[str] = []
    substrings: list[str] = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if c.isspace():
            i += 1
        elif c == '"':
            i = _quoted(text, i, substrings)
        else:
            j = i
            while j < n and not text[j].isspace() and text[j] != '"':
                j += 1
            word = text[i:j]
            if j < n and text[j] == '"' and word.endswith(":") and sd_condition(word + "x"):
                value: list[str] = []
                j = _quoted(text, j, value)
                word += value[0]
            terms.append(word)
            i = j
    for term in terms:
        if not is_condition(term):
            term_tokens(term)
    return tuple(terms), tuple(s for s in substrings if s)


def _quoted(text: str, start: int, into: list[str]) -> int:
    """
    Read the quoted text beginning at C{text[start] == '"'} into C{into}.

    @return: the index after the closing quote.
    """
    out: list[str] = []
    i = start + 1
    while i < len(text):
        c = text[i]
        if c == "\\" and i + 1 < len(text) and text[i + 1] in '"\\':
            out.append(text[i + 1])
            i += 2
        elif c == '"':
            into.append("".join(out))
            return i + 1
        else:
            out.append(c)
            i += 1
    raise ValueError(f"unclosed quote at position {start} in {text!r}")


def parse_time(text: str, now: float) -> int:
    """
    The point of a time given by a person.

    Accepted: C{now}; C{-15m}, C{-2h}, C{-7d} (also C{s} and C{w}) before
    C{now}; epoch seconds (C{1700000000}, C{1700000000.25}; but eight
    digits are a date, C{20261126}); ISO 8601
    (C{2026-11-26T09:37:00.5+01:00}, C{...Z}, with a space for the C{T}, or
    a date alone, C{2026-11-26}); without an offset, a time is UTC (as
    logship shows times).

    @param now: the current time, in seconds since the epoch.
    @return: the point (10^-8 s ticks since the epoch).
    @raise ValueError: naming the text and why it is not a time.
    """
    s = text.strip()
    if s == "now":
        return _checked(text, int(Decimal(repr(now)) * TICKS))
    m = _RELATIVE.fullmatch(s)
    if m:
        seconds = int(m.group(1)) * _UNITS[m.group(2)]
        return _checked(text, int(Decimal(repr(now)) * TICKS) - seconds * TICKS)
    if _EPOCH.fullmatch(s) and len(s.split(".")[0]) != 8:
        try:
            return _checked(text, int(Decimal(s) * TICKS))
        except InvalidOperation:
            pass
    return _checked(text, _iso_point(text, s))


def _iso_point(text: str, s: str) -> int:
    """
    The point of an ISO 8601 time (UTC when it has no offset).
    """
    if s.endswith(("z", "Z")):
        s = s[:-1] + "+00:00"
    try:
        when = datetime.fromisoformat(s)
    except ValueError:
        raise ValueError(
            f"{text!r} is not a time: use ISO 8601 (2026-11-26T09:37:00Z, 2026-11-26),"
            " epoch seconds, now, or -15m/-2h/-7d"
        ) from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    delta = when - datetime(1970, 1, 1, tzinfo=timezone.utc)
    return ((delta.days * 86400 + delta.seconds) * 1_000_000 + delta.microseconds) * 100


def _checked(text: str, point: int) -> int:
    if point < 0:
        raise ValueError(f"{text!r} is before 1970-01-01, where logship's times begin")
    if point > MAX_POINT:
        raise ValueError(f"{text!r} is too far in the future for a point")
    return point
