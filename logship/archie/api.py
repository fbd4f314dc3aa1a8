"""archie's JSON API (twisted.web resources under C{/api/}).

    GET  /api/search     q, from, to, host*, app*, index, limit, cursor
                         -> {"events": [...], "total": N, "total_exact": BOOL,
                             "next": CURSOR|null}
    GET  /api/histogram  q, from (required), to, host*, app*, index, slots
                         -> {"from", "to", "first", "slot_seconds", "counts", "total"}
    GET  /api/facets     from, to, index -> {"hosts": [{"name", "count"}],
                                             "apps": [...], "complete": BOOL}
    GET  /api/bucks      -> {"bucks": [{"name", "url"}], "dedup_seconds", "rate"}
    POST /api/history    {"from", "to", "env", "expire_hours"} -> the porter's 202 job,
                         with "stream": the URL of its status stream
    GET  /api/history    -> the porter's job list
    GET  /api/history/ID -> the porter's job
    GET  /api/history/ID/events -> server-sent events: "status" (the job, at
                         each change), "error", "end"

Times are ISO 8601, epoch seconds or relative (C{-15m}, C{now}).  Events
have the shape of the bucks' live events (L{logship.core.render.live_json}).
Results come newest first; C{total} may be a lower bound for expensive
substring searches (then C{total_exact} is false); C{next} is the C{cursor} of the next page.  A bad
parameter gets 400 C{{"error": WHY, "parameter": NAME}}; an index that does
not exist 404 with C{"parameter": "index"}; an unreachable porter 502.
See C{docs/archie.md}.
"""

from __future__ import annotations

import json
from collections.abc import Coroutine
from dataclasses import replace
from typing import Any

from twisted.internet.defer import ensureDeferred
from twisted.internet.interfaces import IReactorTime
from twisted.logger import Logger
from twisted.python.failure import Failure
from twisted.web.resource import Resource
from twisted.web.server import NOT_DONE_YET, Request

from logship.archie.history import HistoryWatches, PorterClient, PorterUnavailable, WatchEvent
from logship.archie.indexes import Indexes, NoSuchIndex
from logship.archie.params import (
    facets_request,
    histogram_request,
    job_id,
    search_request,
)
from logship.index import IndexUnavailable
from logship.plumbing.jsonapi import BadParameter, error_answer, json_answer, read_json_body
from logship.core.query import Query, SearchResult
from logship.core.render import iso_time, live_json

#: Time slices the facets sample, and events per slice.
FACET_SLICES = 8
FACET_SAMPLE = 250
#: Names per facet whose events are counted exactly.
FACET_NAMES = 50

_log = Logger(namespace="logship.archie.api")


def _answer(request: Request, work: Coroutine[Any, Any, tuple[int, Any]]) -> Any:
    """
    Run C{work} (which returns a status and a JSON document) and write its
    answer; map the usual failures to their HTTP answers.
    """
    finished: list[None | Failure] = []
    request.notifyFinish().addBoth(finished.append)

    def write(result: tuple[int, Any] | Failure) -> None:
        if finished:  # the client went away
            return
        if isinstance(result, Failure):
            error = result.value
            if isinstance(error, BadParameter):
                body = error_answer(request, 400, str(error), error.parameter)
            elif isinstance(error, NoSuchIndex):
                body = error_answer(request, 404, f"no index {error.args[0]!r} (not loaded yet, or expired)", "index")
            elif isinstance(error, IndexUnavailable):
                body = error_answer(request, 503, f"the index cannot be read: {error}")
            elif isinstance(error, PorterUnavailable):
                body = error_answer(request, 502, str(error))
            else:
                _log.failure("archie API request {uri} failed", result, uri=request.uri)
                body = error_answer(request, 500, "internal error (see archie's log)")
        else:
            body = json_answer(request, *result)
        request.write(body)
        request.finish()

    ensureDeferred(work).addBoth(write)
    return NOT_DONE_YET


class _Api(Resource):
    """
    What every API resource shares.
    """

    isLeaf = True

    def __init__(self, api: Api) -> None:
        super().__init__()
        self._api = api


class SearchResource(_Api):
    """
    C{/api/search}.
    """

    def render_GET(self, request: Request) -> Any:
        try:
            search = search_request(request.args, self._api.clock.seconds())
        except BadParameter as e:
            return error_answer(request, 400, str(e), e.parameter)
        return _answer(request, self._search(search.index, search.query))

    async def _search(self, name: str, query: Query) -> tuple[int, Any]:
        index = await self._api.indexes.get(name)
        if index is None:
            result = SearchResult()
        else:
            try:
                result = await index.search(query)
            except ValueError as e:
                if query.cursor is None:
                    raise
                raise BadParameter("cursor", str(e)) from None
        return 200, {
            "events": [live_json(e) for e in result.events],
            "total": result.total,
            "total_exact": result.total_exact,
            "next": result.next,
        }


class HistogramResource(_Api):
    """
    C{/api/histogram}: matches per time slot, one index count per slot.
    """

    def render_GET(self, request: Request) -> Any:
        try:
            histogram = histogram_request(request.args, self._api.clock.seconds())
        except BadParameter as e:
            return error_answer(request, 400, str(e), e.parameter)
        return _answer(request, self._histogram(histogram))

    async def _histogram(self, h: Any) -> tuple[int, Any]:
        query: Query = h.query
        assert query.start is not None and query.end is not None
        index = await self._api.indexes.get(h.index)
        counts = [0] * h.slots
        if index is not None:
            pending = []
            for i in range(h.slots):
                start = max(query.start, h.first + i * h.slot)
                end = min(query.end, h.first + (i + 1) * h.slot)
                pending.append(index.count(replace(query, start=start, end=end)))
            for i, d in enumerate(pending):
                counts[i] = await d
        return 200, {
            "from": iso_time(query.start),
            "to": iso_time(query.end),
            "first": iso_time(h.first),
            "first_point": h.first,
            "slot_seconds": h.slot / 100_000_000,
            "counts": counts,
            "total": sum(counts),
        }


class FacetsResource(_Api):
    """
    C{/api/facets}: the hosts and apps of a time range, with their counts.

    The names come from a sample (the newest L{FACET_SAMPLE} events of
    each of L{FACET_SLICES} slices of the range); each name found is then
    counted exactly.  C{complete} says whether the sample held every event
    of the range (then no name can be missing).
    """

    def render_GET(self, request: Request) -> Any:
        try:
            search = facets_request(request.args, self._api.clock.seconds())
        except BadParameter as e:
            return error_answer(request, 400, str(e), e.parameter)
        return _answer(request, self._facets(search.index, search.query))

    async def _facets(self, name: str, query: Query) -> tuple[int, Any]:
        index = await self._api.indexes.get(name)
        if index is None:
            return 200, {"hosts": [], "apps": [], "complete": True}
        slices: list[tuple[int | None, int | None]]
        if query.start is not None and query.end is not None:
            step = -(-(query.end - query.start) // FACET_SLICES)
            slices = [
                (s, min(s + step, query.end)) for s in range(query.start, query.end, step)
            ]
        else:
            slices = [(query.start, query.end)]
        hosts: dict[bytes, int] = {}
        apps: dict[bytes, int] = {}
        complete = True
        for start, end in slices:
            page = await index.search(replace(query, start=start, end=end, limit=FACET_SAMPLE))
            complete = complete and page.next is None
            for event in page.events:
                hosts[event.shn] = hosts.get(event.shn, 0) + 1
                apps[event.app] = apps.get(event.app, 0) + 1
        out: dict[str, Any] = {"complete": complete}
        for key, found in (("hosts", hosts), ("apps", apps)):
            names = sorted(found, key=lambda n: -found[n])[:FACET_NAMES]
            if not complete:
                for n in names:
                    found[n] = await index.count(_only(query, key, n))
            out[key] = sorted(
                ({"name": n.decode("utf-8", "replace"), "count": found[n]} for n in names),
                key=lambda d: (-d["count"], d["name"]),
            )
        return 200, out


def _only(query: Query, facet: str, name: bytes) -> Query:
    """
    C{query} narrowed to one host (C{facet} C{"hosts"}) or app (C{"apps"}).
    """
    return replace(query, hosts=(name,)) if facet == "hosts" else replace(query, apps=(name,))


class BucksResource(_Api):
    """
    C{/api/bucks}: the live WebSocket URLs the page connects to.
    """

    def render_GET(self, request: Request) -> bytes:
        return json_answer(request, 200, {
            "bucks": [{"name": name, "url": url} for name, url in self._api.live],
            "dedup_seconds": self._api.dedup_seconds,
            "rate": self._api.live_rate,
        })


def _with_stream(document: Any) -> Any:
    if isinstance(document, dict) and isinstance(document.get("id"), str):
        document = dict(document, stream=f"/api/history/{document['id']}/events")
    return document


class HistoryResource(Resource):
    """
    C{/api/history}: history requests and their jobs, from the porter.
    """

    def __init__(self, api: Api) -> None:
        super().__init__()
        self._api = api

    def getChild(self, path: bytes, request: Request) -> Resource:
        return HistoryJobResource(self._api, path.decode("utf-8", "replace"))

    def render_GET(self, request: Request) -> Any:
        return _answer(request, self._list())

    async def _list(self) -> tuple[int, Any]:
        code, document = await self._api.porter.request("GET", "/api/history")
        if isinstance(document, dict) and isinstance(document.get("jobs"), list):
            document = dict(document, jobs=[_with_stream(j) for j in document["jobs"]])
        return code, document

    def render_POST(self, request: Request) -> Any:
        try:
            body = read_json_body(request)
        except BadParameter as e:
            return error_answer(request, 400, str(e), e.parameter)
        return _answer(request, self._post(body))

    async def _post(self, body: dict[str, Any]) -> tuple[int, Any]:
        code, document = await self._api.porter.request("POST", "/api/history", body)
        return code, _with_stream(document)


class HistoryJobResource(Resource):
    """
    C{/api/history/ID} and C{/api/history/ID/events}.
    """

    def __init__(self, api: Api, job: str) -> None:
        super().__init__()
        self._api = api
        self._job = job

    def getChild(self, path: bytes, request: Request) -> Resource:
        if path == b"events" and not request.postpath:
            return HistoryEventsResource(self._api, self._job)
        return _NotFound()

    def render_GET(self, request: Request) -> Any:
        try:
            checked = job_id(self._job)
        except BadParameter as e:
            return error_answer(request, 400, str(e), e.parameter)
        return _answer(request, self._get(checked))

    async def _get(self, checked: str) -> tuple[int, Any]:
        code, document = await self._api.porter.request("GET", f"/api/history/{checked}")
        return code, _with_stream(document)


class _NotFound(Resource):
    isLeaf = True

    def render(self, request: Request) -> bytes:
        return error_answer(request, 404, "no such resource")


class HistoryEventsResource(_Api):
    """
    C{/api/history/ID/events}: the job's status as server-sent events
    (C{text/event-stream}): C{event: status} with the job as JSON at each
    change, C{event: error} when the porter cannot tell, C{event: end}
    when nothing more will come (the stream then ends).
    """

    def __init__(self, api: Api, job: str) -> None:
        super().__init__(api)
        self._job = job

    def render_GET(self, request: Request) -> Any:
        try:
            checked = job_id(self._job)
        except BadParameter as e:
            return error_answer(request, 400, str(e), e.parameter)
        request.setHeader(b"content-type", b"text/event-stream; charset=utf-8")
        request.setHeader(b"cache-control", b"no-store")
        request.setHeader(b"x-accel-buffering", b"no")
        request.write(b"retry: 2000\n\n")
        done: list[bool] = []

        def watcher(kind: WatchEvent, document: dict[str, Any]) -> None:
            if done:
                return
            if kind is WatchEvent.KEEPALIVE:
                request.write(b": keepalive\n\n")
                return
            if kind is WatchEvent.STATUS:
                document = _with_stream(document)
            data = json.dumps(document, ensure_ascii=False)
            request.write(f"event: {kind}\ndata: {data}\n\n".encode("utf-8"))
            if kind is WatchEvent.END:
                done.append(True)
                request.finish()

        unwatch = self._api.watches.watch(checked, watcher)

        def gone(_: object) -> None:
            done.append(True)
            unwatch()

        request.notifyFinish().addBoth(gone)
        return NOT_DONE_YET


class Api:
    """
    What the API resources use: the indexes, the porter, the live URLs.

    @ivar indexes: the L{Indexes} searched.
    @ivar porter: the L{PorterClient}.
    @ivar watches: the L{HistoryWatches} of the status streams.
    @ivar live: C{(name, url)} of each buck's live WebSocket.
    @ivar dedup_seconds: the page's de-duplication window.
    @ivar live_rate: the rate cap the page asks each buck for (events/s).
    @ivar clock: the reactor's time (now, for relative times).
    """

    def __init__(
        self,
        indexes: Indexes,
        porter: PorterClient,
        watches: HistoryWatches,
        live: list[tuple[str, str]],
        clock: IReactorTime,
        dedup_seconds: float = 10.0,
        live_rate: int = 2000,
    ) -> None:
        self.indexes = indexes
        self.porter = porter
        self.watches = watches
        self.live = live
        self.clock = clock
        self.dedup_seconds = dedup_seconds
        self.live_rate = live_rate

    def resource(self) -> Resource:
        """
        The C{/api} resource tree.
        """
        root = Resource()
        root.putChild(b"search", SearchResource(self))
        root.putChild(b"histogram", HistogramResource(self))
        root.putChild(b"facets", FacetsResource(self))
        root.putChild(b"bucks", BucksResource(self))
        root.putChild(b"history", HistoryResource(self))
        return root
