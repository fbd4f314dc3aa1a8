"""The porter's JSON API (twisted.web), for `logship history` and archie.

    POST /api/history        {"from": T, "to": T, "env": NAME, "expire_hours": E}
                             -> 202 {"id", "index", "state", "status": "/api/history/ID", ...}
    GET  /api/history        -> {"jobs": [job, ...]} newest first
    GET  /api/history/ID     -> job: {"id", "index", "state", "from", "to",
                                "buckets_done", "buckets_total", "events",
                                "created", "expires", "error"}
    GET  /api/status         -> {"env", "stats": {...}, "archived_buckets", "bucks": {...}}

Times (C{from}, C{to}) are ISO 8601 or relative (C{-15m}, C{now}), as
L{logship.core.query.parse_time} reads them.  A bad request gets HTTP 400 with
C{{"error": WHY, "parameter": NAME}}; an unknown job 404.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from twisted.internet.interfaces import IReactorTime
from twisted.web.resource import Resource
from twisted.web.server import Request

from logship.plumbing.jsonapi import BadParameter, error_answer, json_answer, read_json_body
from logship.porter.service import DEFAULT_HISTORY_HOURS, PorterService
from logship.porter.state import HistoryJob
from logship.core.query import parse_time
from logship.core.render import iso_time

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

    def __init__(self, porter: PorterService, env: str, clock: IReactorTime) -> None:
        super().__init__()
        self._porter = porter
        self._env = env
        self._clock = clock

    def getChild(self, path: bytes, request: Request) -> Resource:
        return HistoryJobResource(self._porter, path.decode("utf-8", "replace"))

    def render_GET(self, request: Request) -> bytes:
        jobs = [job_document(job) for job in self._porter.state.histories()]
        return json_answer(request, 200, {"jobs": jobs})

    def render_POST(self, request: Request) -> bytes:
        try:
            first, end, hours = self._parse(read_json_body(request))
            job = self._porter.request_history(first, end, hours)
        except BadParameter as e:
            return error_answer(request, 400, str(e), e.parameter)
        return json_answer(request, 202, job_document(job))

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
                points.append(parse_time(text, now))
            except ValueError as e:
                raise BadParameter(name, str(e)) from None
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


def api_root(porter: PorterService, env: str, clock: IReactorTime) -> Resource:
    """
    The resource tree to serve: C{/api/history}, C{/api/status}.

    @param clock: the reactor's time (now, for relative times in requests).
    """
    api = Resource()
    api.putChild(b"history", HistoryJobs(porter, env, clock))
    api.putChild(b"status", Status(porter, env))
    root = Resource()
    root.putChild(b"api", api)
    return root
