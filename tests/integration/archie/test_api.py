"""Tests of archie's JSON API over HTTP on the real reactor: a real site on
127.0.0.1, a sqlite index holding the corpus of L{tests.archie.common}, and
a real porter (L{PorterService} and its JSON API, in process) behind the
history proxy.

Search answers are compared with a brute-force filter of the corpus
(L{logship.core.query.Query.matches}, the reference every backend agrees with).
"""

from __future__ import annotations

import json
import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
import pytest_twisted
import treq
from twisted.internet import reactor
from twisted.internet.defer import maybeDeferred
from twisted.internet.task import Clock
from twisted.web.server import Site

from logship.archie.api import Api
from logship.archie.history import HistoryWatches, PorterClient
from logship.archie.indexes import Indexes
from logship.archie.tap import DEFAULT_WEB, build_site
from logship.archive import open_archive
from logship.index import open_index
from logship.core.parse import TICKS_PER_SECOND
from logship.porter.api import api_root
from logship.porter.service import PorterService
from logship.core.query import Query, parse_time
from logship.core.render import event_id
from tests.archie.common import APPS, COUNT, HOSTS, NOW, corpus, expected, write_index
from tests.index.common import sd_events
from tests.integration.waiting import wait_until

TOKEN = "t0ken-for-the-tests-0123456789"


class Setup:
    """
    A porter (in process, without bucks, its rounds out of reach) and an
    archie site, both on 127.0.0.1; both read the time from a L{Clock}
    set to C{NOW}.
    """

    def __init__(self, tmp: Path, token: str | None = None) -> None:
        self.tmp = tmp
        self.token = token
        self.index_dir = tmp / "index"
        write_index(self.index_dir)
        url = f"sqlite:{self.index_dir}"
        self.clock = Clock()
        self.clock.advance(NOW)
        self.porter = PorterService(
            bucks={}, key=None, node="porter",
            index=open_index(url, "recent", reactor),
            archive=open_archive(f"dir:{tmp}/archive", reactor),
            open_index=lambda name: open_index(url, name, reactor),
            state_dir=tmp / "state", clock=self.clock, interval=3600, first_round=3600,
        )
        self.porter.startService()
        self.porter_port = reactor.listenTCP(
            0, Site(api_root(self.porter, "prod", self.clock)), interface="127.0.0.1"
        )
        porter_url = f"http://127.0.0.1:{self.porter_port.getHost().port}"
        self.client = PorterClient(porter_url, reactor)
        self.api = Api(
            indexes=Indexes(url, reactor), porter=self.client,
            watches=HistoryWatches(self.client, reactor, interval=0.05),
            live=[("127.0.0.1:4481", "ws://127.0.0.1:4481/live")],
            clock=self.clock, dedup_seconds=7,
        )
        self.port = reactor.listenTCP(
            0, build_site(self.api, DEFAULT_WEB, token), interface="127.0.0.1"
        )
        self.base = f"http://127.0.0.1:{self.port.getHost().port}"

    async def stop(self) -> None:
        self.api.watches.stop()
        await maybeDeferred(self.port.stopListening)
        await maybeDeferred(self.porter_port.stopListening)
        await self.api.indexes.close()
        await self.client.close()
        await self.porter.stopService()

    async def get(self, path: str, params: Any = (), headers: dict[str, Any] | None = None,
                  ) -> tuple[int, Any]:
        """
        GET C{path} with C{params} (a list of pairs: repeated names), as a
        client with the token (if any).
        """
        query = urlencode(list(params.items()) if isinstance(params, dict) else list(params))
        response = await treq.get(
            self.base + path + ("?" + query if query else ""),
            headers=self._headers(headers), reactor=reactor,
        )
        body = await treq.content(response)
        return response.code, json.loads(body) if body.startswith((b"{", b"[")) else body

    async def post(self, path: str, body: Any, headers: dict[str, Any] | None = None,
                   ) -> tuple[int, Any]:
        """
        POST C{body} (JSON, or bytes as they are) to C{path}, as a script
        would (C{Content-Type: application/json}, no C{Origin}), with the
        token (if any), unless C{headers} says otherwise.
        """
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        if headers is None:
            headers = {"content-type": ["application/json"], **self._headers(None)}
        response = await treq.post(self.base + path, data=data, headers=headers,
                                   reactor=reactor)
        return response.code, json.loads(await treq.content(response))

    def _headers(self, headers: dict[str, Any] | None) -> dict[str, Any]:
        if headers is not None:
            return headers
        return {"authorization": [f"Bearer {self.token}"]} if self.token else {}


@pytest_twisted.async_yield_fixture
async def archie(tmp_path: Path) -> AsyncIterator[Setup]:
    setup = Setup(tmp_path)
    try:
        yield setup
    finally:
        await setup.stop()


@pytest_twisted.async_yield_fixture
async def guarded(tmp_path: Path) -> AsyncIterator[Setup]:
    setup = Setup(tmp_path, token=TOKEN)
    try:
        yield setup
    finally:
        await setup.stop()


def ticks(seconds_before_now: float) -> int:
    return int((NOW - seconds_before_now) * TICKS_PER_SECOND)


def ids(events: list[Any]) -> list[str]:
    return [event_id(e) for e in events]


async def search_all(archie: Setup, params: dict[str, Any], limit: int) -> tuple[list[str], set[int]]:
    """
    Page through a search; the ids of every event, and every total seen.
    """
    found: list[str] = []
    totals = set()
    cursor = None
    for _ in range(COUNT + 2):
        pairs = [(k, v) for k, vs in params.items() for v in (vs if isinstance(vs, list) else [vs])]
        pairs.append(("limit", str(limit)))
        if cursor:
            pairs.append(("cursor", cursor))
        code, page = await archie.get("/api/search", pairs)
        assert code == 200, page
        assert len(page["events"]) <= limit
        found.extend(e["id"] for e in page["events"])
        totals.add(page["total"])
        cursor = page["next"]
        if cursor is None:
            return found, totals
    raise AssertionError("paging did not end")


# -- search -------------------------------------------------------------------

SEARCHES = [
    ({}, Query()),
    ({"q": "status=500"}, Query(terms=("status=500",))),
    ({"q": "checkpoint BUFFERS"}, Query(terms=("checkpoint", "BUFFERS"))),
    ({"q": '"disk full? yes"'}, Query(substrings=("disk full? yes",))),
    ({"q": 'get "item/1"'}, Query(terms=("get",), substrings=("item/1",))),
    ({"from": "-30m"}, Query(start=ticks(1800))),
    ({"from": "-1h", "to": "-30m"}, Query(start=ticks(3600), end=ticks(1800))),
    ({"from": "2026-11-26T08:37:00Z", "to": "2026-11-26T09:07:00+00:00"},
     Query(start=ticks(3600), end=ticks(1800))),
    ({"host": "db-1"}, Query(hosts=(b"db-1",))),
    ({"host": ["db-1", "web-2"]}, Query(hosts=(b"db-1", b"web-2"))),
    ({"app": "cron"}, Query(apps=(b"cron",))),
    ({"app": ["cron", "nginx"], "host": "web-1", "q": "job3"},
     Query(apps=(b"cron", b"nginx"), hosts=(b"web-1",), terms=("job3",))),
    ({"q": "nothing-matches-this"}, Query(terms=("nothing-matches-this",))),
]


@pytest.mark.parametrize(("params", "query"), SEARCHES, ids=[json.dumps(p) for p, _ in SEARCHES])
@pytest_twisted.ensureDeferred
async def test_search(archie: Setup, params: dict[str, Any], query: Query) -> None:
    """
    Every page of a search (by term, substring, time range, host, app,
    and together), walked with the cursor, gives exactly the brute-force
    answer, newest first, with the right total on every page.
    """
    want = expected(query)
    found, totals = await search_all(archie, params, limit=37)
    assert found == ids(want)
    assert totals == {len(want)}


@pytest_twisted.ensureDeferred
async def test_search_document(archie: Setup) -> None:
    """
    An event looks like the bucks' live events: id, point, time, host,
    app, pid, severity, facility, message.
    """
    code, page = await archie.get("/api/search", {"limit": "1"})
    assert code == 200
    newest = expected(Query())[0]
    assert page["events"] == [{
        "id": event_id(newest), "point": newest.point, "time": "2026-11-26T09:36:55.000000Z",
        "host": "web-1", "app": "nginx", "pid": "100", "severity": 0, "facility": 3,
        "message": "GET /item/0 status=500 user=u0",
    }]
    assert page["total"] == COUNT and page["total_exact"] and page["next"]


@pytest_twisted.ensureDeferred
async def test_paging_default_limit(archie: Setup) -> None:
    """
    Without a limit, pages of 100.
    """
    code, page = await archie.get("/api/search")
    assert (code, len(page["events"]), page["total"]) == (200, 100, COUNT)


# -- parameter errors ------------------------------------------------------------

SEARCH_ERRORS = [
    ([("q", '"unclosed')], "q"),
    ([("q", "...")], "q"),
    ([("q", "a"), ("q", "b")], "q"),
    ([("from", "yesterday-ish")], "from"),
    ([("to", "2026-13-45")], "to"),
    ([("from", "-1h"), ("to", "-2h")], "to"),
    ([("from", "-5m"), ("to", "-5m")], "to"),
    ([("host", "")], "host"),
    ([("host", "h" * 256)], "host"),
    ([("app", "")], "app"),
    ([("index", "Recent")], "index"),
    ([("index", "other")], "index"),
    ([("index", "a"), ("index", "b")], "index"),
    ([("limit", "0")], "limit"),
    ([("limit", "1001")], "limit"),
    ([("limit", "ten")], "limit"),
    ([("limit", "-1")], "limit"),
    ([("cursor", "not a cursor!")], "cursor"),
    ([("cursor", "AAAA")], "cursor"),
    ([("hosts", "web-1")], "hosts"),
    ([("slots", "5")], "slots"),
]


@pytest.mark.parametrize(("params", "parameter"), SEARCH_ERRORS,
                         ids=[urlencode(p) for p, _ in SEARCH_ERRORS])
@pytest_twisted.ensureDeferred
async def test_search_errors(archie: Setup, params: list[tuple[str, str]], parameter: str) -> None:
    """
    Each bad parameter of a search is a 400 naming it and saying why.
    """
    code, body = await archie.get("/api/search", params)
    assert code == 400, body
    assert body["parameter"] == parameter
    assert isinstance(body["error"], str) and body["error"]


HISTOGRAM_ERRORS = [
    ([], "from"),
    ([("to", "now")], "from"),
    ([("from", "-1h"), ("slots", "0")], "slots"),
    ([("from", "-1h"), ("slots", "201")], "slots"),
    ([("from", "-1h"), ("slots", "many")], "slots"),
    ([("from", "-1h"), ("limit", "5")], "limit"),
    ([("from", "-1h"), ("cursor", "x")], "cursor"),
    ([("from", "-1h"), ("q", '"')], "q"),
    ([("from", "later")], "from"),
    ([("from", "-1h"), ("to", "-2h")], "to"),
    ([("from", "-1h"), ("index", "x_y")], "index"),
]


@pytest.mark.parametrize(("params", "parameter"), HISTOGRAM_ERRORS,
                         ids=[urlencode(p) for p, _ in HISTOGRAM_ERRORS])
@pytest_twisted.ensureDeferred
async def test_histogram_errors(archie: Setup, params: list[tuple[str, str]], parameter: str) -> None:
    """
    Each bad parameter of a histogram is a 400 naming it.
    """
    code, body = await archie.get("/api/histogram", params)
    assert (code, body["parameter"]) == (400, parameter), body


FACET_ERRORS = [
    ([("from", "soon")], "from"),
    ([("q", "x")], "q"),
    ([("host", "web-1")], "host"),
    ([("index", "-x")], "index"),
]


@pytest.mark.parametrize(("params", "parameter"), FACET_ERRORS,
                         ids=[urlencode(p) for p, _ in FACET_ERRORS])
@pytest_twisted.ensureDeferred
async def test_facet_errors(archie: Setup, params: list[tuple[str, str]], parameter: str) -> None:
    code, body = await archie.get("/api/facets", params)
    assert (code, body["parameter"]) == (400, parameter), body


@pytest_twisted.ensureDeferred
async def test_unknown_index(archie: Setup) -> None:
    """
    A history index that does not exist is a 404 naming the index; the
    same index, once it exists, is searched.
    """
    for path in ("/api/search", "/api/facets"):
        code, body = await archie.get(path, {"index": "history-abc"})
        assert (code, body["parameter"]) == (404, "index"), body
    code, body = await archie.get("/api/histogram", {"index": "history-abc", "from": "-1h"})
    assert (code, body["parameter"]) == (404, "index")
    few = corpus()[:10]
    write_index(archie.index_dir, "history-abc", few)

    async def found() -> Any:
        code, body = await archie.get("/api/search", {"index": "history-abc"})
        return body if code == 200 else None

    body = await wait_until(found, 5, "the new index searched")
    assert [e["id"] for e in body["events"]] == ids(expected(Query(), few))


@pytest_twisted.ensureDeferred
async def test_structured_data(archie: Setup) -> None:
    """
    Events with SD come with C{msgid}, C{sd} and the MSG as C{message};
    C{q} takes C{sd.ID.PARAM:VALUE} terms.
    """
    events = sd_events()
    write_index(archie.index_dir, "history-sd", events)

    async def found() -> Any:
        code, body = await archie.get("/api/search", {
            "index": "history-sd", "q": 'sd.origin.software:rsyslogd stop', "from": "0"})
        return body if code == 200 else None

    body = await wait_until(found, 5, "the new index searched")
    [event] = body["events"]
    assert (event["msgid"], event["sd"], event["message"]) == (
        None, {"origin": {"software": "rsyslogd"}}, "stop")
    code, body = await archie.get("/api/search", {
        "index": "history-sd", "q": "sd.exampleSDID@32473.iut:3", "from": "0"})
    [event] = body["events"]
    assert (event["msgid"], event["message"]) == ("ID47", "An application event")
    assert event["sd"]["exampleSDID@32473"]["eventSource"] == "Application"


@pytest_twisted.ensureDeferred
async def test_recent_missing_is_empty(archie: Setup) -> None:
    """
    Before the porter made the recent index, searches find nothing (not
    an error).
    """
    await archie.api.indexes.close()
    os.rename(archie.index_dir / "recent.sqlite", archie.index_dir / "gone.sqlite")
    code, body = await archie.get("/api/search")
    assert (code, body) == (200, {"events": [], "total": 0, "total_exact": True, "next": None})
    code, body = await archie.get("/api/histogram", {"from": "-1h", "slots": "4"})
    assert code == 200 and body["total"] == 0 and set(body["counts"]) == {0}


# -- histogram and facets ---------------------------------------------------------


@pytest_twisted.ensureDeferred
async def test_histogram(archie: Setup) -> None:
    """
    Counts per slot of a nice length, aligned to it, equal to brute-force
    counts, also with a term and a host.
    """
    for params, query in [
        ({"from": "-2h", "to": "now", "slots": "12"}, Query()),
        ({"from": "-45m", "q": "status=200", "host": "web-1"},
         Query(terms=("status=200",), hosts=(b"web-1",))),
    ]:
        code, body = await archie.get("/api/histogram", params)
        assert code == 200, body
        start = parse_time(params["from"], NOW)
        end = int(NOW * TICKS_PER_SECOND)
        slot = int(body["slot_seconds"] * TICKS_PER_SECOND)
        assert body["first_point"] % slot == 0 and body["first_point"] <= start
        assert len(body["counts"]) * slot >= end - body["first_point"]
        want = []
        for i in range(len(body["counts"])):
            lo = max(start, body["first_point"] + i * slot)
            hi = min(end, body["first_point"] + (i + 1) * slot)
            want.append(sum(1 for e in corpus() if lo <= e.point < hi and Query(
                terms=query.terms, hosts=query.hosts).matches(e)))
        assert body["counts"] == want
        assert body["total"] == sum(want) > 0
    code, body = await archie.get("/api/histogram", {"from": "-2h", "slots": "12"})
    assert body["slot_seconds"] == 600 and len(body["counts"]) in (12, 13)


@pytest_twisted.ensureDeferred
async def test_facets(archie: Setup) -> None:
    """
    Every host and app of a range, with exact counts, most first.
    """
    code, body = await archie.get("/api/facets", {"from": "-50m"})
    assert code == 200
    in_range = expected(Query(start=ticks(3000)))
    for key, names, field in (("hosts", HOSTS, "shn"), ("apps", APPS, "app")):
        want = {n.decode(): sum(1 for e in in_range if getattr(e, field) == n) for n in names}
        assert {d["name"]: d["count"] for d in body[key]} == want
        counts = [d["count"] for d in body[key]]
        assert counts == sorted(counts, reverse=True)


@pytest_twisted.ensureDeferred
async def test_bucks(archie: Setup) -> None:
    code, body = await archie.get("/api/bucks")
    assert (code, body) == (200, {
        "bucks": [{"name": "127.0.0.1:4481", "url": "ws://127.0.0.1:4481/live"}],
        "dedup_seconds": 7, "rate": 2000,
    })


# -- history, through a real porter ---------------------------------------------


async def read_events(url: str, headers: dict[str, Any], timeout: float = 10) -> list[tuple[str, Any]]:
    """
    Read a server-sent event stream to its end.

    @return: C{(event, data)} pairs.
    """
    response = await treq.get(url, headers=headers, reactor=reactor, timeout=timeout)
    assert response.code == 200
    assert response.headers.getRawHeaders("content-type") == ["text/event-stream; charset=utf-8"]
    text = (await treq.content(response)).decode()
    events = []
    for block in text.split("\n\n"):
        fields = dict(
            line.split(": ", 1) for line in block.splitlines() if ": " in line and not line.startswith(":")
        )
        if "event" in fields:
            events.append((fields["event"], json.loads(fields["data"])))
    return events


@pytest_twisted.ensureDeferred
async def test_history(archie: Setup) -> None:
    """
    A history request goes to the porter (which answers 202 with the job),
    its status is proxied, its status stream ends with the job ready, and
    the list shows it.
    """
    code, job = await archie.post("/api/history", {"from": "-2h", "to": "-1h", "env": "prod"})
    assert code == 202, job
    assert job["state"] == "queued" and job["index"] == f"history-{job['id']}"
    assert job["status"] == f"/api/history/{job['id']}"
    assert job["stream"] == f"/api/history/{job['id']}/events"
    stored = archie.porter.state.history(job["id"])
    assert stored is not None and (stored.start, stored.end) == (ticks(7200), ticks(3600))
    stream = await read_events(archie.base + job["stream"], {})
    kinds = [kind for kind, _ in stream]
    assert kinds[-1] == "end" and kinds[-2] == "status", stream
    assert stream[-2][1]["state"] == "ready" and stream[-2][1]["id"] == job["id"]
    code, same = await archie.get(job["status"])
    assert (code, same["state"], same["stream"]) == (200, "ready", job["stream"])
    code, listing = await archie.get("/api/history")
    assert code == 200 and [j["id"] for j in listing["jobs"]] == [job["id"]]


@pytest_twisted.ensureDeferred
async def test_history_errors(archie: Setup) -> None:
    """
    The porter's 400s come through naming the parameter; archie's own
    checks (body, job id) too; an unknown job is a 404, and its status
    stream says so and ends.
    """
    for body, parameter in [
        ({"from": "-2h"}, "to"),
        ({"from": "nope", "to": "now"}, "from"),
        ({"from": "-1h", "to": "-2h"}, "to"),
        ({"from": "-2h", "to": "now", "env": "test"}, "env"),
        ({"from": "-2h", "to": "now", "expire_hours": -1}, "expire_hours"),
        ({"from": "-2h", "to": "now", "extra": 1}, "extra"),
        (b"{not json", "body"),
        (b"[1, 2]", "body"),
        (b"x" * 70000, "body"),
        (b"[" * 30000, "body"),
    ]:
        code, answer = await archie.post("/api/history", body)
        assert (code, answer.get("parameter")) == (400, parameter), (body, answer)
    code, answer = await archie.get("/api/history/bad%20id!")
    assert (code, answer["parameter"]) == (400, "id")
    code, answer = await archie.get("/api/history/abcdef")
    assert code == 404 and "abcdef" in answer["error"]
    stream = await read_events(archie.base + "/api/history/abcdef/events", {})
    assert [kind for kind, _ in stream] == ["error", "end"]


@pytest_twisted.ensureDeferred
async def test_porter_down(archie: Setup) -> None:
    """
    Without a porter, history calls are a 502 saying so.
    """
    await archie.porter_port.stopListening()
    code, answer = await archie.post("/api/history", {"from": "-2h", "to": "now"})
    assert code == 502 and "porter" in answer["error"]
    code, answer = await archie.get("/api/history")
    assert code == 502


# -- access -------------------------------------------------------------------------


@pytest_twisted.ensureDeferred
async def test_token(guarded: Setup) -> None:
    """
    With a token, the API wants it as a bearer token or the cookie, the
    page wants the cookie, which C{/?token=} sets (and redirects without
    it); anything else is a 401.
    """
    code, _ = await guarded.get("/api/search", {"limit": "1"})
    assert code == 200
    for headers in [{}, {"authorization": ["Bearer wrong-token-0123456789"]},
                    {"authorization": [f"Basic {TOKEN}"]},
                    {"cookie": ["archie_token=nope"]}]:
        code, body = await guarded.get("/api/search", headers=headers)
        assert code == 401 and body["parameter"] == "token", headers
        code, _ = await guarded.get("/", headers=headers)
        assert code == 401, headers
    code, body = await guarded.get("/api/search", {"token": TOKEN}, headers={})
    assert code == 401
    code, _ = await guarded.get("/api/bucks", headers={"cookie": [f"archie_token={TOKEN}"]})
    assert code == 200
    response = await treq.get(guarded.base + f"/?token={TOKEN}#live", reactor=reactor,
                               allow_redirects=False)
    assert response.code == 303
    assert response.headers.getRawHeaders("location") == ["/"]
    cookie = response.headers.getRawHeaders("set-cookie")[0]
    assert cookie.startswith(f"archie_token={TOKEN}")
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie.replace("Strict", "strict")
    await treq.content(response)
    response = await treq.get(guarded.base + f"//evil.example/x?a=1&token={TOKEN}",
                              reactor=reactor, allow_redirects=False)
    assert response.code == 303
    assert response.headers.getRawHeaders("location") == ["/evil.example/x?a=1"]
    await treq.content(response)
    response = await treq.get(guarded.base + "/?token=wrong", reactor=reactor,
                              allow_redirects=False)
    assert response.code == 401 and not response.headers.getRawHeaders("set-cookie")
    await treq.content(response)
    code, page = await guarded.get("/", headers={"cookie": [f"archie_token={TOKEN}"]})
    assert code == 200 and b"<title>logship</title>" in page


@pytest_twisted.ensureDeferred
async def test_page_and_headers(archie: Setup) -> None:
    """
    The page and its scripts are served, with security headers; no
    directory listings.
    """
    response = await treq.get(archie.base + "/", reactor=reactor)
    assert response.code == 200
    assert b"live.js" in await treq.content(response)
    csp = response.headers.getRawHeaders("content-security-policy")[0]
    assert "default-src 'self'" in csp
    assert response.headers.getRawHeaders("x-content-type-options") == ["nosniff"]
    for name in ("live.js", "search.js", "history.js", "style.css"):
        response = await treq.get(archie.base + "/" + name, reactor=reactor)
        assert response.code == 200, name
        await treq.content(response)
    response = await treq.get(archie.base + "/screenshots/", reactor=reactor)
    assert response.code == 404
    await treq.content(response)


# -- attacks of issue 11: refused, while a good client keeps working ---------------


@pytest_twisted.ensureDeferred
async def test_cross_site_post_refused(archie: Setup) -> None:
    """
    A page of another site cannot create a history job: its no-cors
    C{text/plain} POST (the only cross-site POST a browser sends without
    asking) is a 415, a JSON one with its C{Origin} a 403 (it would need
    a preflight archie never grants, but even so); archie's own page
    (its C{Origin}) and scripts (none) still can.
    """
    body = json.dumps({"from": "1970-01-01", "to": "now"}).encode()
    code, answer = await archie.post("/api/history", body, headers={
        "content-type": ["text/plain;charset=UTF-8"], "origin": ["http://evil.example"]})
    assert (code, answer["parameter"]) == (415, "content-type")
    code, answer = await archie.post("/api/history", body, headers={
        "content-type": ["application/json"], "origin": ["http://evil.example"]})
    assert (code, answer["parameter"]) == (403, "origin")
    assert archie.porter.state.histories() == []
    code, job = await archie.post("/api/history", {"from": "-2h", "to": "-1h"}, headers={
        "content-type": ["application/json"], "origin": [archie.base]})
    assert code == 202, job
    code, job = await archie.post("/api/history", {"from": "-3h", "to": "-2h"})
    assert code == 202, job
    assert len(archie.porter.state.histories()) == 2


@pytest_twisted.ensureDeferred
async def test_foreign_host_refused(archie: Setup) -> None:
    """
    DNS rebinding: a request whose Host is another name of this address
    reads nothing (403), neither the API nor the page; the address and
    localhost still work.
    """
    port = archie.port.getHost().port
    for path in ("/api/search", "/api/bucks", "/"):
        code, answer = await archie.get(path, headers={"host": [f"rebound.evil.example:{port}"]})
        assert (code, answer["parameter"]) == (403, "host"), path
    code, answer = await archie.get("/api/search", {"limit": "1"},
                                    headers={"host": [f"localhost:{port}"]})
    assert code == 200 and len(answer["events"]) == 1
    code, answer = await archie.get("/api/search", {"limit": "1"})
    assert code == 200 and len(answer["events"]) == 1


@pytest_twisted.ensureDeferred
async def test_bad_paths_and_times(archie: Setup) -> None:
    """
    A NUL byte in a page's path is a 404, not a 500; a history end past
    2^63 ticks is the porter's 400 naming it, not a 502.
    """
    for path in ("/%00", "/live%00.js", "/screenshots/%00x"):
        response = await treq.get(archie.base + path, reactor=reactor)
        assert response.code == 404, path
        await treq.content(response)
    code, answer = await archie.post("/api/history", {"from": "4900-01-01", "to": "4900-01-02"})
    assert (code, answer["parameter"]) == (400, "from"), answer
    code, answer = await archie.post("/api/history", {"from": "-1h", "to": "92233720400"})
    assert (code, answer["parameter"]) == (400, "to"), answer
    assert archie.porter.state.histories() == []


@pytest_twisted.ensureDeferred
async def test_history_limits_come_through(archie: Setup) -> None:
    """
    The porter's history limits reach archie's clients as they are: a
    range from 1970 to now is a 400 naming the limit (the porter's tests
    check each limit).
    """
    code, answer = await archie.post("/api/history", {"from": "1970-01-01", "to": "now"})
    assert (code, answer["limit"], answer["parameter"]) == (400, "max-history-days", "to")
    assert archie.porter.state.histories() == []
