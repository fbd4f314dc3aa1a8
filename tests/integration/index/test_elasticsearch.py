"""Tests of the Elasticsearch backend against a small real twisted.web
server on 127.0.0.1 that records requests and answers with bodies in the
documented formats (bulk, search, count, cat indices, delete by query).
Retry pauses run on a L{Clock} the tests advance."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
import pytest_twisted
from twisted.internet import reactor
from twisted.internet.defer import Deferred
from twisted.internet.task import Clock
from twisted.web.resource import Resource
from twisted.web.server import Site

from logship.core.event import encode
from logship.core.query import Query
from logship.index import IndexUnavailable, index_names, open_index
from logship.index.elasticsearch import (
    ElasticsearchIndex,
    bulk_body,
    daily_index,
    decode_cursor,
    document,
    document_id,
)
from tests.index.test_elasticsearch import DAY, sample_events

Answer = tuple[int, Any]


class FakeCluster(Resource):
    """
    Records every request and answers with the next scripted answer, or
    with C{default(method, path, body)}.
    """

    isLeaf = True

    def __init__(self) -> None:
        super().__init__()
        self.requests: list[tuple[str, str, bytes, str]] = []
        self.script: list[Answer] = []
        self.default: Callable[[str, str, bytes], Answer] = lambda m, p, b: (200, {})
        self._waiting: list[tuple[int, Deferred]] = []

    def render(self, request: Any) -> bytes:
        body = request.content.read()
        method, path = request.method.decode(), request.uri.decode()
        ctype = (request.getHeader("content-type") or "")
        self.requests.append((method, path, body, ctype))
        code, answer = self.script.pop(0) if self.script else self.default(method, path, body)
        request.setResponseCode(code)
        request.setHeader("content-type", "application/json")
        for n, d in list(self._waiting):
            if len(self.requests) >= n:
                self._waiting.remove((n, d))
                reactor.callLater(0, d.callback, None)
        return json.dumps(answer).encode()

    def seen(self, n: int) -> Deferred:
        """
        A Deferred firing once C{n} requests have come.
        """
        d: Deferred = Deferred()
        if len(self.requests) >= n:
            d.callback(None)
        else:
            self._waiting.append((n, d))
        return d


class SignalClock(Clock):
    """
    A Clock that tells when something is scheduled on it.
    """

    def __init__(self) -> None:
        super().__init__()
        self._next: Deferred | None = None

    def callLater(self, *args: Any, **kw: Any) -> Any:
        call = super().callLater(*args, **kw)
        if self._next is not None:
            d, self._next = self._next, None
            d.callback(call)
        return call

    def scheduled(self) -> Deferred:
        """
        A Deferred firing with the next delayed call scheduled.
        """
        self._next = Deferred()
        return self._next


@pytest.fixture
def cluster() -> Any:
    """
    A fake cluster listening on 127.0.0.1, and its base URL.
    """
    fake = FakeCluster()
    port = reactor.listenTCP(0, Site(fake), interface="127.0.0.1")
    yield fake, f"http://127.0.0.1:{port.getHost().port}"
    port.stopListening()


def make_index(base: str, clock: Clock, **options: Any) -> ElasticsearchIndex:
    return ElasticsearchIndex(base, "recent", reactor, clock=clock, rng=lambda: 0.5, **options)


def bulk_items(*statuses: int) -> dict[str, Any]:
    items = []
    for status in statuses:
        result: dict[str, Any] = {"_index": "logship-recent-2026.05.28", "_id": "x", "status": status}
        if status == 409:
            result["error"] = {"type": "version_conflict_engine_exception", "reason": "exists"}
        elif status == 429:
            result["error"] = {"type": "es_rejected_execution_exception", "reason": "queue full"}
        elif status >= 400:
            result["error"] = {"type": "mapper_parsing_exception", "reason": "failed to parse"}
        else:
            result["result"] = "created"
        items.append({"create": result})
    return {"took": 3, "errors": any(s >= 300 for s in statuses), "items": items}


@pytest_twisted.ensureDeferred
async def test_load_retries_failed_items_only(cluster: Any) -> None:
    """
    The template is installed first; of a bulk answer, created items
    count, 409 (already there) does not, 429 is sent again after a pause,
    other 4xx are counted as rejected and not sent again.
    """
    fake, base = cluster
    clock = SignalClock()
    index = make_index(base, clock)
    events = sample_events()
    fake.script = [(200, {"acknowledged": True}), (200, bulk_items(201, 409, 429, 400)),
                   (200, bulk_items(201))]
    scheduled = clock.scheduled()
    loading = index.load(events)
    call = await scheduled
    assert call.getTime() == pytest.approx(0.5)
    clock.advance(0.5)
    assert await loading == 2
    assert index.rejected == 1
    (m1, p1, b1, c1), (m2, p2, b2, c2), (m3, p3, b3, c3) = fake.requests
    assert (m1, p1) == ("PUT", "/_index_template/logship-recent")
    assert json.loads(b1)["index_patterns"] == ["logship-recent-*"]
    assert (m2, p2, c2) == ("POST", "/_bulk", "application/x-ndjson")
    assert b2 == bulk_body("recent", events)
    assert b3 == bulk_body("recent", [events[2]])
    await index.close()


@pytest_twisted.ensureDeferred
async def test_load_serialized(cluster: Any) -> None:
    """
    Serialized events are decoded (a corrupt one skipped and counted) and
    sent as the same bulk body as their decoded form.
    """
    fake, base = cluster
    index = make_index(base, SignalClock())
    events = [e for e in sample_events() if e.pid is None or b" " not in e.pid]  # encodable
    records = [encode(e) for e in events]
    records[1] = records[1][:-1] + bytes([records[1][-1] ^ 1])
    fake.script = [(200, {"acknowledged": True}), (200, bulk_items(201, 201))]
    loaded = await index.load_serialized(records)
    assert (loaded.new, loaded.corrupt) == (2, 1)
    assert "crc" in (loaded.first_error or "")
    assert fake.requests[1][2] == bulk_body("recent", [events[0], events[2]])
    await index.close()


@pytest_twisted.ensureDeferred
async def test_whole_request_retried(cluster: Any) -> None:
    """
    A 503 answer is tried again after a pause; a 400 answer is not.
    """
    fake, base = cluster
    clock = SignalClock()
    index = make_index(base, clock, create=False)
    fake.script = [(503, {"error": "unavailable"}), (200, {"count": 7}), (400, {"error": "bad"})]
    scheduled = clock.scheduled()
    counting = index.count(Query())
    await scheduled
    clock.advance(1)
    assert await counting == 7
    with pytest.raises(IndexUnavailable, match="HTTP 400"):
        await index.count(Query())
    assert len(fake.requests) == 3
    await index.close()


@pytest_twisted.ensureDeferred
async def test_unreachable(cluster: Any) -> None:
    """
    Connection errors are retried, then reported as IndexUnavailable.
    """
    fake, base = cluster
    clock = SignalClock()
    port = reactor.listenTCP(0, Site(Resource()), interface="127.0.0.1")
    dead = f"http://127.0.0.1:{port.getHost().port}"
    await port.stopListening()
    index = make_index(dead, clock, attempts=2, create=False)
    scheduled = clock.scheduled()
    counting = index.count(Query())
    await scheduled
    clock.advance(10)
    with pytest.raises(IndexUnavailable, match="no success after 2 tries"):
        await counting
    await index.close()


@pytest_twisted.ensureDeferred
async def test_search_count_retention_destroy(cluster: Any) -> None:
    """
    Search answers become events and a cursor; drop_before deletes old
    daily indices and the rest by query; destroy deletes by name; names
    are listed.
    """
    fake, base = cluster
    index = open_index(f"elasticsearch:{base}", "recent", reactor, create=False)
    events = sample_events()
    hits = [{"_index": daily_index("recent", e.point), "_id": document_id(e),
             "_source": document(e), "sort": [e.point, document_id(e)]} for e in events[:2]]
    fake.script = [
        (200, {"took": 1, "timed_out": False, "hits": {"total": {"value": 9, "relation": "eq"},
                                                        "max_score": None, "hits": hits}}),
        (200, [{"index": "logship-recent-2026.05.27", "docs.count": "10"},
               {"index": "logship-recent-2026.05.28", "docs.count": "5"}]),
        (200, {"acknowledged": True}),
        (200, {"took": 5, "deleted": 3, "failures": []}),
        (200, [{"index": "logship-recent-2026.05.28", "docs.count": "2"}]),
        (200, {"acknowledged": True}),
        (404, {"error": "no template"}),
        (200, [{"index": "logship-recent-2026.05.28"}, {"index": "logship-history-7-2026.05.28"},
               {"index": "other"}]),
    ]  # fmt: skip
    result = await index.search(Query(limit=2))
    assert result.events == events[:2] and result.total == 9
    assert decode_cursor(result.next) == [events[1].point, document_id(events[1])]
    assert await index.drop_before(DAY) == 13
    await index.destroy()
    assert await index_names(f"elasticsearch:{base}", reactor) == ["history-7", "recent"]
    paths = [(m, p) for m, p, _, _ in fake.requests]
    assert paths == [
        ("POST", "/logship-recent-*/_search"),
        ("GET", "/_cat/indices/logship-recent-*?format=json&h=index,docs.count"),
        ("DELETE", "/logship-recent-2026.05.27"),
        ("POST", "/logship-recent-*/_delete_by_query?conflicts=proceed"),
        ("GET", "/_cat/indices/logship-recent-*?format=json&h=index,docs.count"),
        ("DELETE", "/logship-recent-2026.05.28"),
        ("DELETE", "/_index_template/logship-recent"),
        ("GET", "/_cat/indices/logship-*?format=json&h=index"),
    ]
    assert json.loads(fake.requests[3][2]) == {"query": {"range": {"logship.point": {"lt": DAY}}}}
