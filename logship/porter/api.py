"""The porter's JSON API (twisted.web), for `logship history` and archie.

    POST /api/history        {"from": T, "to": T, "env": NAME, "expire_hours": E}
                             -> 202 {"id", "index", "state", "status": "/api/history/ID", ...}
    GET  /api/history        -> {"jobs": [job, ...]} newest first
    GET  /api/history/ID     -> job: {"id", "index", "state", "from", "to",
                                "buckets_done", "buckets_total", "events",
                                "created", "expires", "error"}
    GET  /api/status         -> {"env", "stats": {...}, "archived_buckets", "bucks": {...}}

Times (C{from}, C{to}) are ISO 8601 or relative (C{-15m}, C{now}), as
L{logship.core.query.parse_time} reads them, before L{MAX_HISTORY_POINT}.
A bad request gets HTTP 400 with C{{"error": WHY, "parameter": NAME}}; an
unknown job 404.  History requests are capped (L{HistoryLimits}): a range
longer than C{days} is 400, more than C{jobs} jobs queued or loading, or
history indexes that would hold more than C{events} events, 429; each
answer names the limit (C{"limit": OPTION}).

L{api_site} serves it behind a L{Guard} (Host, token, Origin, Content-Type:
L{logship.plumbing.webaccess}).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

from twisted.internet.interfaces import IReactorTime
from twisted.web.resource import Resource
from twisted.web.server import Request, Site

from logship.core.parse import TICKS_PER_SECOND
from logship.core.query import parse_time
from logship.core.render import iso_time
from logship.plumbing.jsonapi import BadParameter, error_answer, json_answer, read_json_body
from logship.plumbing.webaccess import Guard, PublicName
from logship.porter.service import DEFAULT_HISTORY_HOURS, PorterService
from logship.porter.state import HistoryJob, JobState

#: The latest point a history range may reach: the porter's state keeps
#: points as SQLite integers (signed 64 bits).
MAX_HISTORY_POINT = 2**63 - 1
#: Jobs that count against the limit of jobs at once.
_BUSY = frozenset({JobState.QUEUED, JobState.LOADING})
#: Jobs whose index holds (or will hold) events.
_HOLDING = _BUSY | {JobState.READY}


@dataclass(frozen=True)
class HistoryLimits:
    """
    What history requests may ask of the porter, at most.

    @ivar jobs: jobs queued or loading at once (more: 429).
    @ivar days: days one range may span (more: 400).
    @ivar events: events all history indexes may hold together: those
        loaded, plus for each job not loaded yet the events of its
        archived buckets (the manifest's counts).  A range alone above it
        is 400; one that would take the total above it, 429.
    """

    jobs: int = 4
    days: float = 31.0
    events: int = 50_000_000


class LimitExceeded(Exception):
    """
    A history request over one of the L{HistoryLimits}.

    @ivar status: the HTTP status (400 or 429).
    @ivar limit: the option that sets the limit.
    @ivar parameter: the request's parameter to change, if any.
    """

    def __init__(self, status: int, limit: str, why: str, parameter: str | None = None) -> None:
        super().__init__(why)
        self.status = status
        self.limit = limit
        self.parameter = parameter


def job_document(job: HistoryJob) -> dict[str, Any]:
    """
    A history job as the API shows it.
    """
    return {
        "id": job.id,
        "index": job.index,
        "state": job.state,
        "from": iso_time(job.start),
        "to": iso_time(job.end),
        "buckets_done": job.done,
        "buckets_total": job.total,
        "events": job.events,
        "created": job.created,
        "expires": job.expires,
        "error": job.error,
        "status": f"/api/history/{job.id}",
    }


class HistoryJobs(Resource):
    """
    C{/api/history}: request a history index, list them, show one.
    """

    def __init__(self, porter: PorterService, env: str, clock: IReactorTime,
                 limits: HistoryLimits) -> None:
        super().__init__()
        self._porter = porter
        self._env = env
        self._clock = clock
        self._limits = limits

    def getChild(self, path: bytes, request: Request) -> Resource:
        return HistoryJobResource(self._porter, path.decode("utf-8", "replace"))

    def render_GET(self, request: Request) -> bytes:
        jobs = [job_document(job) for job in self._porter.state.histories()]
        return json_answer(request, 200, {"jobs": jobs})

    def render_POST(self, request: Request) -> bytes:
        try:
            first, end, hours = self._parse(read_json_body(request))
            self._admit(first, end)
            job = self._porter.request_history(first, end, hours)
        except BadParameter as e:
            return error_answer(request, 400, str(e), e.parameter)
        except LimitExceeded as e:
            document: dict[str, Any] = {"error": str(e), "limit": e.limit}
            if e.parameter is not None:
                document["parameter"] = e.parameter
            return json_answer(request, e.status, document)
        return json_answer(request, 202, job_document(job))

    def _admit(self, first: int, end: int) -> None:
        """
        Check a request against the L{HistoryLimits}.

        @raise LimitExceeded: it is over one.
        """
        limits = self._limits
        if end - first > limits.days * 86400 * TICKS_PER_SECOND:
            raise LimitExceeded(
                400, "max-history-days",
                f"a history range may span {limits.days:g} days at most", "to",
            )
        live = [job for job in self._porter.state.histories() if job.state in _HOLDING]
        busy = sum(1 for job in live if job.state in _BUSY)
        if busy >= limits.jobs:
            raise LimitExceeded(
                429, "max-history-jobs",
                f"{busy} history jobs are queued or loading, the most there may be:"
                " try again when one is ready",
            )
        wanted = self._archived_events(first, end)
        if wanted > limits.events:
            raise LimitExceeded(
                400, "max-history-events",
                f"the range holds about {wanted} events, more than all history"
                f" indexes may hold ({limits.events}): ask for a shorter one", "from",
            )
        held = sum(
            job.events if job.state is JobState.READY
            else max(job.events, self._archived_events(job.start, job.end))
            for job in live
        )
        if held + wanted > limits.events:
            raise LimitExceeded(
                429, "max-history-events",
                f"history indexes hold about {held} events and this range about"
                f" {wanted}, above the {limits.events} they may hold together:"
                " try again when some expire",
            )

    def _archived_events(self, first: int, end: int) -> int:
        """
        About the events of the range C{[first, end)} (points): those of
        the archived buckets that start in it (not of one that begins
        before C{first}, nor of those not archived yet).
        """
        start, stop = first // TICKS_PER_SECOND, -(-end // TICKS_PER_SECOND)
        return sum(entry.events for entry in self._porter.state.manifest_range(start, stop))

    def _parse(self, document: dict[str, Any]) -> tuple[int, int, float]:
        known = {"from", "to", "env", "expire_hours"}
        for name in document:
            if name not in known:
                raise BadParameter(name, f"unknown parameter (known: {', '.join(sorted(known))})")
        env = document.get("env", self._env)
        if env != self._env:
            raise BadParameter("env", f"this porter serves environment {self._env!r}, not {env!r}")
        now = self._clock.seconds()
        points = []
        for name in ("from", "to"):
            text = document.get(name)
            if not isinstance(text, str):
                raise BadParameter(name, "required: an ISO 8601 time or a relative one like -2h")
            try:
                point = parse_time(text, now)
            except ValueError as e:
                raise BadParameter(name, str(e)) from None
            if point > MAX_HISTORY_POINT:
                raise BadParameter(name, f"{text!r} is too far in the future")
            points.append(point)
        first, end = points
        if end <= first:
            raise BadParameter("to", "must be after from")
        hours = document.get("expire_hours", DEFAULT_HISTORY_HOURS)
        if type(hours) not in (int, float) or not 0 < hours <= 24 * 365:
            raise BadParameter("expire_hours", "must be a number of hours above 0")
        return first, end, float(hours)


class HistoryJobResource(Resource):
    """
    C{/api/history/ID}: one history job's status.
    """

    isLeaf = True

    def __init__(self, porter: PorterService, job_id: str) -> None:
        super().__init__()
        self._porter = porter
        self._job_id = job_id

    def render_GET(self, request: Request) -> bytes:
        job = self._porter.state.history(self._job_id)
        if job is None:
            return error_answer(request, 404, f"no history job {self._job_id!r}", "id")
        return json_answer(request, 200, job_document(job))


class Status(Resource):
    """
    C{/api/status}: the porter's counters.
    """

    isLeaf = True

    def __init__(self, porter: PorterService, env: str) -> None:
        super().__init__()
        self._porter = porter
        self._env = env

    def render_GET(self, request: Request) -> bytes:
        porter = self._porter
        document = {
            "env": self._env,
            "stats": asdict(porter.stats),
            "archived_buckets": porter.state.archived_count(),
            "bucks": {
                name: {"connected": link.connected_now, "node": link.node}
                for name, link in porter.links.items()
            },
        }
        return json_answer(request, 200, document)


def api_root(
    porter: PorterService, env: str, clock: IReactorTime,
    limits: HistoryLimits = HistoryLimits(),
) -> Resource:
    """
    The resource tree to serve: C{/api/history}, C{/api/status}.

    @param clock: the reactor's time (now, for relative times in requests).
    @param limits: what history requests may ask for.
    """
    api = Resource()
    api.putChild(b"history", HistoryJobs(porter, env, clock, limits))
    api.putChild(b"status", Status(porter, env))
    root = Resource()
    root.putChild(b"api", api)
    return root


def api_site(
    porter: PorterService,
    env: str,
    clock: IReactorTime,
    *,
    limits: HistoryLimits = HistoryLimits(),
    token: str | None = None,
    names: Sequence[PublicName] = (),
) -> Site:
    """
    The API's site: L{api_root} behind the access L{Guard}.

    @param token: the token requests must present (C{--api-token}), or
        C{None}.
    @param names: the names the API is reached under besides its address
        (C{--api-public-name}).
    """
    guard = Guard(api_root(porter, env, clock, limits), token, names,
                  realm="porter", name_option="--api-public-name")
    site = Site(guard)
    site.noisy = False
    site.displayTracebacks = False
    return site
