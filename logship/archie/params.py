"""The parameters of archie's API, checked: pure code, no I/O.

Every reader takes a request's C{args} (C{dict[bytes, list[bytes]]}, as
twisted.web gives them) and returns values or raises L{BadParameter}
naming the parameter and why, which the API answers with HTTP 400 and
C{{"error": WHY, "parameter": NAME}}.  Unknown parameters are errors too
(a typo like C{hosts=} would otherwise be silently ignored).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from logship.index import check_name
from logship.plumbing.jsonapi import BadParameter
from logship.core.parse import TICKS_PER_SECOND
from logship.core.query import Query, parse_q, parse_time

#: The page size when none is asked for.
DEFAULT_LIMIT = 100
#: The largest page archie serves.
MAX_LIMIT = 1000
#: Histogram slots asked for when none are.
DEFAULT_SLOTS = 60
#: The most histogram slots.
MAX_SLOTS = 200
#: The longest host or app name (a 1-byte length in the event format).
MAX_NAME = 255
#: The most hosts or apps in one query.
MAX_NAMES = 100
#: The longest C{q}.
MAX_Q = 4096
#: Slot lengths the histogram picks from, in seconds.
NICE_SLOTS = (
    1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800,
    21600, 43200, 86400, 2 * 86400, 7 * 86400, 14 * 86400, 30 * 86400,
    91 * 86400, 365 * 86400,
)

_JOB_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")

SEARCH_PARAMETERS = frozenset(
    {"q", "from", "to", "host", "app", "index", "limit", "cursor"}
)
HISTOGRAM_PARAMETERS = frozenset({"q", "from", "to", "host", "app", "index", "slots"})
FACET_PARAMETERS = frozenset({"from", "to", "index"})


@dataclass(frozen=True)
class Search:
    """
    A checked search request.

    @ivar index: the index name (C{recent} or C{history-<id>}).
    @ivar query: the query.
    """

    index: str
    query: Query


@dataclass(frozen=True)
class Histogram:
    """
    A checked histogram request: C{slots} slots of C{slot} ticks each, the
    first beginning at C{first} (at or before the query's start, aligned
    to the slot length), the query's range cut into them.
    """

    index: str
    query: Query
    first: int
    slot: int
    slots: int


def _decoded(args: dict[bytes, list[bytes]], allowed: frozenset[str]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for raw, values in args.items():
        name = raw.decode("utf-8", "replace")
        if name not in allowed:
            raise BadParameter(name, f"unknown parameter (known: {', '.join(sorted(allowed))})")
        try:
            out[name] = [v.decode("utf-8") for v in values]
        except UnicodeDecodeError:
            raise BadParameter(name, "not UTF-8") from None
    return out


def _single(params: dict[str, list[str]], name: str) -> str | None:
    values = params.get(name)
    if not values:
        return None
    if len(values) > 1:
        raise BadParameter(name, "given more than once")
    return values[0]


def _names(params: dict[str, list[str]], name: str) -> tuple[bytes, ...]:
    values = params.get(name, [])
    if len(values) > MAX_NAMES:
        raise BadParameter(name, f"at most {MAX_NAMES} values")
    out = []
    for value in values:
        data = value.encode("utf-8")
        if not 1 <= len(data) <= MAX_NAME:
            raise BadParameter(name, f"must be 1 to {MAX_NAME} bytes, not {len(data)}")
        out.append(data)
    return tuple(dict.fromkeys(out))


def _index(params: dict[str, list[str]]) -> str:
    name = _single(params, "index") or "recent"
    try:
        check_name(name)
    except ValueError as e:
        raise BadParameter("index", str(e)) from None
    if name != "recent" and not name.startswith("history-"):
        raise BadParameter("index", f"{name!r}: use recent or history-<id>")
    return name


def _times(params: dict[str, list[str]], now: float) -> tuple[int | None, int | None]:
    points: list[int | None] = []
    for name in ("from", "to"):
        text = _single(params, name)
        if text is None or not text.strip():
            points.append(None)
            continue
        try:
            points.append(parse_time(text, now))
        except ValueError as e:
            raise BadParameter(name, str(e)) from None
    start, end = points
    if start is not None and end is not None and end <= start:
        raise BadParameter("to", "must be after from")
    return start, end


def _int(params: dict[str, list[str]], name: str, default: int, low: int, high: int) -> int:
    text = _single(params, name)
    if text is None:
        return default
    if not re.fullmatch(r"\d{1,9}", text.strip()):
        raise BadParameter(name, f"must be a whole number from {low} to {high}, not {text!r}")
    value = int(text)
    if not low <= value <= high:
        raise BadParameter(name, f"must be from {low} to {high}, not {value}")
    return value


def _q(params: dict[str, list[str]]) -> tuple[tuple[str, ...], tuple[str, ...]]:
    text = _single(params, "q") or ""
    if len(text) > MAX_Q:
        raise BadParameter("q", f"longer than {MAX_Q} characters")
    try:
        return parse_q(text)
    except ValueError as e:
        raise BadParameter("q", str(e)) from None


def _query(params: dict[str, list[str]], now: float, limit: int = DEFAULT_LIMIT,
           cursor: str | None = None) -> Query:
    terms, substrings = _q(params)
    start, end = _times(params, now)
    return Query(
        start=start, end=end, hosts=_names(params, "host"), apps=_names(params, "app"),
        terms=terms, substrings=substrings, limit=limit, cursor=cursor,
    )


def search_request(args: dict[bytes, list[bytes]], now: float) -> Search:
    """
    Check the parameters of C{GET /api/search}: C{q}, C{from}, C{to},
    C{host} and C{app} (repeatable), C{index}, C{limit}, C{cursor}.

    @param now: the current time, for relative times.
    @raise BadParameter: on the first wrong parameter.
    """
    params = _decoded(args, SEARCH_PARAMETERS)
    limit = _int(params, "limit", DEFAULT_LIMIT, 1, MAX_LIMIT)
    cursor = _single(params, "cursor")
    if cursor is not None and not re.fullmatch(r"[A-Za-z0-9_=-]{1,200}", cursor):
        raise BadParameter("cursor", "not a cursor from a previous page's next")
    return Search(_index(params), _query(params, now, limit, cursor or None))


def slot_ticks(span: int, slots: int) -> int:
    """
    The slot length for cutting C{span} ticks into at most about C{slots}
    slots: the smallest of L{NICE_SLOTS} that does, in ticks.
    """
    for seconds in NICE_SLOTS:
        ticks = seconds * TICKS_PER_SECOND
        if -(-span // ticks) <= slots:
            return ticks
    return -(-span // slots)


def histogram_request(args: dict[bytes, list[bytes]], now: float) -> Histogram:
    """
    Check the parameters of C{GET /api/histogram}: those of a search
    (without C{limit} and C{cursor}), C{from} required, C{to} by default
    now, and C{slots}, about how many slots (1 to L{MAX_SLOTS}; the slot
    length is rounded up to one of L{NICE_SLOTS}).

    @raise BadParameter: on the first wrong parameter.
    """
    params = _decoded(args, HISTOGRAM_PARAMETERS)
    slots = _int(params, "slots", DEFAULT_SLOTS, 1, MAX_SLOTS)
    if not _single(params, "from"):
        raise BadParameter("from", "required: the histogram needs the start of its range")
    if not _single(params, "to"):
        params["to"] = ["now"]
    query = _query(params, now)
    assert query.start is not None and query.end is not None
    slot = slot_ticks(query.end - query.start, slots)
    first = query.start // slot * slot
    count = -(-(query.end - first) // slot)
    if count > MAX_SLOTS:  # only when NICE_SLOTS ran out
        raise BadParameter("from", "the range is too long for a histogram")
    return Histogram(_index(params), query, first, slot, count)


def facets_request(args: dict[bytes, list[bytes]], now: float) -> Search:
    """
    Check the parameters of C{GET /api/facets}: C{from}, C{to}, C{index}.

    @raise BadParameter: on the first wrong parameter.
    """
    params = _decoded(args, FACET_PARAMETERS)
    return Search(_index(params), _query(params, now))


def job_id(text: str) -> str:
    """
    Check a history job id from a path.

    @raise BadParameter: it cannot be one.
    """
    if not _JOB_ID.fullmatch(text):
        raise BadParameter("id", f"{text[:80]!r} is not a history job id")
    return text
