"""History requests: the porter's JSON API behind archie, and live status.

L{PorterClient} forwards C{POST /api/history}, C{GET /api/history} and
C{GET /api/history/ID} to the porter (treq) and gives back its status code
and JSON.  L{HistoryWatches} follows jobs for the page: one poll of the
porter per job, however many browsers watch it, every C{interval} seconds
while anyone does; each change of the job is handed to every watcher,
until the job reaches a final state (C{ready}, C{failed}, C{expired}) or
the porter says there is no such job.
"""

from __future__ import annotations

import enum
import json
from collections.abc import Callable
from typing import Any

import treq
from treq.client import HTTPClient
from twisted.internet.defer import Deferred, ensureDeferred
from twisted.internet.task import LoopingCall
from twisted.logger import Logger
from twisted.web.client import Agent, HTTPConnectionPool

from logship.porter.state import FINAL_STATES

#: The headers of every request to the porter.
_HEADERS: dict[bytes | str, list[bytes | str]] = {"accept": ["application/json"]}
#: The largest answer read from the porter, in bytes.
MAX_ANSWER = 4 << 20


class PorterUnavailable(Exception):
    """
    The porter did not answer, or not with JSON; the message says why.
    """


class PorterClient:
    """
    Requests to the porter's JSON API.
    """

    def __init__(
        self, base_url: str, reactor: Any, timeout: float = 10.0, token: str | None = None
    ) -> None:
        """
        @param base_url: the porter's API, C{http://HOST:PORT}.
        @param reactor: the reactor.
        @param timeout: seconds a request may take.
        @param token: the token of the porter's API (its C{--api-token}),
            sent as C{Authorization: Bearer}, or C{None}.
        """
        self.base_url = base_url.rstrip("/")
        self._headers = dict(_HEADERS)
        if token is not None:
            self._headers["authorization"] = [f"Bearer {token}"]
        self._pool = HTTPConnectionPool(reactor, persistent=True)
        self._pool.maxPersistentPerHost = 4
        self._http = HTTPClient(Agent(reactor, pool=self._pool))
        self._timeout = timeout

    async def request(
        self, method: str, path: str, body: dict[str, Any] | None = None
    ) -> tuple[int, Any]:
        """
        One request.

        @param path: the path under the API, e.g. C{/api/history/ID}.
        @param body: a JSON body to send.
        @return: the status code and the parsed JSON answer.
        @raise PorterUnavailable: no answer, or one that is not JSON.
        """
        url = self.base_url + path
        try:
            response = await self._http.request(
                method, url, json=body, timeout=self._timeout,
                headers=self._headers,
            )
            content = await treq.content(response)
        except Exception as e:
            raise PorterUnavailable(f"the porter at {self.base_url} did not answer: {e}") from None
        if len(content) > MAX_ANSWER:
            raise PorterUnavailable(f"the porter at {self.base_url} answered too much")
        try:
            return response.code, json.loads(content)
        except ValueError:
            raise PorterUnavailable(
                f"the porter at {self.base_url} answered {response.code} without JSON"
            ) from None

    def close(self) -> Deferred[None]:
        """
        Close the kept-alive connections.
        """
        closed: Deferred[None] = self._pool.closeCachedConnections()
        return closed


class WatchEvent(enum.StrEnum):
    """
    What a watcher is told (the value names the server-sent event).
    """

    #: The job, now or after a change.
    STATUS = "status"
    #: The porter cannot be asked (it is asked again), or knows no such job.
    ERROR = "error"
    #: Nothing changed for a while.
    KEEPALIVE = "keepalive"
    #: Nothing more will come.
    END = "end"


Watcher = Callable[[WatchEvent, dict[str, Any]], None]


class _Watch:
    """
    The polling of one job, for its watchers.
    """

    def __init__(self, owner: HistoryWatches, job_id: str) -> None:
        self._owner = owner
        self.job_id = job_id
        self.watchers: list[Watcher] = []
        self.last: dict[str, Any] | None = None
        self._error: str | None = None
        self._busy = False
        self._ticks = 0
        self._loop = LoopingCall(self._tick)
        self._loop.clock = owner.reactor

    def start(self) -> None:
        self._loop.start(self._owner.interval, now=True)

    def stop(self) -> None:
        if self._loop.running:
            self._loop.stop()

    def tell(self, kind: WatchEvent, document: dict[str, Any]) -> None:
        for watcher in list(self.watchers):
            try:
                watcher(kind, document)
            except Exception:
                self._owner._log.failure("A history watcher failed")

    def _tick(self) -> None:
        self._ticks += 1
        if self._busy:
            return
        self._busy = True
        d = ensureDeferred(self._poll())
        d.addErrback(lambda f: self._owner._log.failure("Polling history {id}", f, id=self.job_id))
        d.addBoth(self._idle)

    def _idle(self, _: object) -> None:
        self._busy = False

    async def _poll(self) -> None:
        try:
            code, document = await self._owner.porter.request(
                "GET", f"/api/history/{self.job_id}"
            )
        except PorterUnavailable as e:
            if str(e) != self._error:  # once per outage, not once per poll
                self._error = str(e)
                self.tell(WatchEvent.ERROR, {"error": str(e)})
            return
        self._error = None
        if code == 404:
            self.tell(WatchEvent.ERROR, document if isinstance(document, dict) else {"error": "no such job"})
            self._owner._finish(self)
            return
        if code != 200 or not isinstance(document, dict):
            self.tell(WatchEvent.ERROR, {"error": f"the porter answered {code}"})
            return
        if document != self.last:
            self.last = document
            self.tell(WatchEvent.STATUS, document)
        elif self._ticks * self._owner.interval >= self._owner.keepalive:
            self._ticks = 0
            self.tell(WatchEvent.KEEPALIVE, {})
        if document.get("state") in FINAL_STATES:
            self._owner._finish(self)


class HistoryWatches:
    """
    Every job some browser is watching.
    """

    _log = Logger()

    def __init__(
        self, porter: PorterClient, reactor: Any, interval: float = 0.5,
        keepalive: float = 15.0,
    ) -> None:
        """
        @param porter: the porter to poll.
        @param interval: seconds between two polls of one job.
        @param keepalive: seconds without change after which watchers are
            told C{keepalive} (so that idle connections stay open).
        """
        self.porter = porter
        self.reactor = reactor
        self.interval = interval
        self.keepalive = keepalive
        self._watches: dict[str, _Watch] = {}

    def watch(self, job_id: str, watcher: Watcher) -> Callable[[], None]:
        """
        Tell C{watcher(kind, document)} about job C{job_id}: C{("status",
        job)} now (if known) and at each change, C{("error", {"error":
        WHY})} when the porter cannot be asked (it is asked again) or does
        not know the job, C{("keepalive", {})} now and then, and
        C{("end", {})} once nothing more will come.

        @return: a function that stops watching.
        """
        watch = self._watches.get(job_id)
        if watch is None:
            watch = self._watches[job_id] = _Watch(self, job_id)
            watch.watchers.append(watcher)
            watch.start()
        else:
            watch.watchers.append(watcher)
            if watch.last is not None:
                watcher(WatchEvent.STATUS, watch.last)

        def unwatch() -> None:
            if watcher in watch.watchers:
                watch.watchers.remove(watcher)
            if not watch.watchers and self._watches.get(job_id) is watch:
                watch.stop()
                del self._watches[job_id]

        return unwatch

    def _finish(self, watch: _Watch) -> None:
        watch.stop()
        if self._watches.get(watch.job_id) is watch:
            del self._watches[watch.job_id]
        watch.tell(WatchEvent.END, {})
        watch.watchers.clear()

    def stop(self) -> None:
        """
        Stop every watch, telling each watcher C{end}.
        """
        for watch in list(self._watches.values()):
            self._finish(watch)
