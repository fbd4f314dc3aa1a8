"""The scale-out index: Elasticsearch over its HTTP API, with treq.

Documents follow ECS names so that Kibana works unchanged (C{@timestamp},
C{host.name}, C{process.name}, C{process.pid}, C{message},
C{log.syslog.priority}, and for RFC 5424 C{log.syslog.msgid} and
C{log.syslog.structured_data}, a C{flattened} object C{{SD-ID: {PARAM:
value}}} that an C{sd.ID.PARAM:VALUE} term asks with a C{term} query on
C{log.syslog.structured_data.ID.PARAM}), plus C{tokens} (the lowercased tokens, for terms)
and C{logship.*} (the exact point, the identity, and base64 copies of the
byte fields that are not UTF-8, so that an event comes back exactly).
Events go to daily indices C{logship-<name>-YYYY.MM.DD} (UTC), with
C{_id} a stable string of the identity and the bulk action C{create}, so a
reload creates nothing (HTTP 409 per item) and tells what was new.

Only documented request and response formats are used; none of this has
been run against a real cluster (see C{docs/index.md}).
"""

from __future__ import annotations

import base64
import hashlib
import json
import random
import time
import zlib
from collections.abc import Callable, Sequence
from typing import Any, TypeAlias

from treq.client import HTTPClient
from twisted.internet.defer import Deferred, ensureDeferred
from twisted.internet.task import deferLater
from twisted.logger import Logger
from twisted.web.client import Agent, HTTPConnectionPool
from zope.interface import implementer

from logship.core.event import Event, decode_all
from logship.index import IIndex, IndexUnavailable, Loaded, check_name
from logship.core.parse import structured_parts
from logship.core.query import Query, SearchResult, event_tokens
from logship.core.render import iso_time

#: Statuses worth trying again (whole requests and bulk items).
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})

#: Documents per bulk request.
BULK_DOCS = 2000

#: Request headers, in a form treq takes.
_Headers: TypeAlias = dict[bytes | str, list[bytes | str]]
_NDJSON: _Headers = {b"Content-Type": [b"application/x-ndjson"]}
_JSON: _Headers = {b"Content-Type": [b"application/json"]}


def index_prefix(name: str) -> str:
    """
    The prefix of the daily indices of the index C{name}.
    """
    return f"logship-{check_name(name)}-"


def daily_index(name: str, point: int) -> str:
    """
    The daily index of an event: C{logship-<name>-YYYY.MM.DD} (UTC).
    """
    return index_prefix(name) + time.strftime("%Y.%m.%d", time.gmtime(point // 10**8))


def document_id(event: Event) -> str:
    """
    A stable C{_id} for the event's identity (L{Event.identity}): a 128-bit
    BLAKE2b digest of it, in hex.  A version-1 event (no origin) keeps the
    C{_id} it had before origins existed, the point in hex then a digest
    of host, app and crc, so that loading old events again is idempotent.
    """
    if event.origin:
        return hashlib.blake2b(event.identity, digest_size=16).hexdigest()
    shn, app, crc = event.shn, event.app, zlib.crc32(event.message)
    h = hashlib.blake2b(digest_size=16)
    h.update(len(shn).to_bytes(2, "big") + shn + len(app).to_bytes(2, "big") + app)
    h.update(crc.to_bytes(4, "big"))
    return f"{event.point:016x}-{h.hexdigest()}"


def _text(data: bytes) -> str:
    return data.decode("utf-8", "replace")


def _is_utf8(data: bytes) -> bool:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def token_text(token: bytes) -> str:
    """
    A token as stored in C{tokens}: lowercased (ASCII), invalid UTF-8
    bytes as C{\\xNN} (tokens never hold a backslash, so this is exact).
    """
    return token.lower().decode("utf-8", "backslashreplace")


def document(event: Event) -> dict[str, Any]:
    """
    The source document of an event.
    """
    ship: dict[str, Any] = {
        "point": event.point,
        "id": document_id(event),
        "crc": zlib.crc32(event.message),
        "continued": event.continued,
        "structured": event.structured,
    }
    if event.origin:
        ship["origin"] = base64.b64encode(event.origin).decode("ascii")
    doc: dict[str, Any] = {
        "@timestamp": iso_time(event.point),
        "host": {"name": _text(event.shn)},
        "process": {"name": _text(event.app)},
        "message": _text(event.message),
        "tokens": [token_text(t) for t in event_tokens(event)],
        "logship": ship,
    }
    if event.pid is not None:
        ship["pid"] = _text(event.pid)
        if event.pid.isdigit() and len(event.pid) < 19:
            doc["process"]["pid"] = int(event.pid)
    syslog: dict[str, Any] = {}
    if event.pri != 255:
        syslog.update({
            "priority": event.pri,
            "severity": {"code": event.pri & 7},
            "facility": {"code": event.pri >> 3},
        })  # fmt: skip
    if event.structured:
        msgid, sd, _ = structured_parts(event.message, True)
        if msgid is not None:
            syslog["msgid"] = _text(msgid)
        if sd:
            syslog["structured_data"] = sd
    if syslog:
        doc["log"] = {"syslog": syslog}
    for field, value in (("message", event.message), ("host", event.shn),
                         ("app", event.app), ("pid", event.pid)):
        if value is not None and not _is_utf8(value):
            ship[f"{field}_b64"] = base64.b64encode(value).decode("ascii")
    return doc


def event_of(source: dict[str, Any]) -> Event:
    """
    The event of a source document (the inverse of L{document}).
    """
    ship = source["logship"]

    def exact(field: str, text: str | None) -> bytes | None:
        if f"{field}_b64" in ship:
            return base64.b64decode(ship[f"{field}_b64"])
        return None if text is None else text.encode("utf-8")

    syslog = source.get("log", {}).get("syslog", {})
    return Event(
        int(ship["point"]),
        syslog.get("priority", 255),
        exact("host", source["host"]["name"]) or b"",
        exact("app", source["process"]["name"]) or b"",
        exact("pid", ship.get("pid")),
        exact("message", source["message"]) or b"",
        bool(ship.get("continued")),
        bool(ship.get("structured")),
        base64.b64decode(ship["origin"]) if "origin" in ship else b"",
    )


def bulk_body(name: str, events: Sequence[Event]) -> bytes:
    """
    The NDJSON body of a bulk request creating C{events}: per event an
    action line and a source line, each ending in a newline.
    """
    return b"".join(bulk_lines(name, e) for e in events)


def bulk_lines(name: str, event: Event) -> bytes:
    """
    The action and source lines of one event.
    """
    action = {"create": {"_index": daily_index(name, event.point), "_id": document_id(event)}}
    return (json.dumps(action) + "\n" + json.dumps(document(event), ensure_ascii=False)
            + "\n").encode("utf-8")


def index_template(name: str) -> dict[str, Any]:
    """
    The index template (mappings and settings) of the daily indices.
    """
    keyword = {"type": "keyword"}
    integer = {"type": "integer"}
    return {
        "index_patterns": [index_prefix(name) + "*"],
        "priority": 200,
        "template": {
            "settings": {"index": {"number_of_shards": 1, "codec": "best_compression"}},
            "mappings": {
                "dynamic": "false",
                "properties": {
                    "@timestamp": {"type": "date_nanos"},
                    "message": {"type": "text", "fields": {"wildcard": {"type": "wildcard"}}},
                    "tokens": keyword,
                    "host": {"properties": {"name": keyword}},
                    "process": {"properties": {"name": keyword, "pid": {"type": "long"}}},
                    "log": {"properties": {"syslog": {"properties": {
                        "priority": integer,
                        "severity": {"properties": {"code": integer}},
                        "facility": {"properties": {"code": integer}},
                        "msgid": keyword,
                        "structured_data": {"type": "flattened"},
                    }}}},
                    "logship": {"properties": {
                        "point": {"type": "unsigned_long"},
                        "id": keyword,
                        "crc": {"type": "long"},
                        "pid": keyword,
                        "continued": {"type": "boolean"},
                        "structured": {"type": "boolean"},
                        "origin": {"type": "binary"},
                        "message_b64": {"type": "binary"},
                        "host_b64": {"type": "binary"},
                        "app_b64": {"type": "binary"},
                        "pid_b64": {"type": "binary"},
                    }},
                },
            },
        },
    }  # fmt: skip


def _wildcard_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("*", "\\*").replace("?", "\\?")


def query_dsl(query: Query) -> dict[str, Any]:
    """
    The bool query of C{query} (filters only: results are sorted by time).
    """
    filters: list[dict[str, Any]] = []
    point: dict[str, int] = {}
    if query.start is not None:
        point["gte"] = query.start
    if query.end is not None:
        point["lt"] = query.end
    if point:
        filters.append({"range": {"logship.point": point}})
    if query.hosts:
        filters.append({"terms": {"host.name": [_text(h) for h in query.hosts]}})
    if query.apps:
        filters.append({"terms": {"process.name": [_text(a) for a in query.apps]}})
    for token in query.tokens():
        filters.append({"term": {"tokens": token_text(token)}})
    for sd_id, name, value in query.sd():
        filters.append({"term": {f"log.syslog.structured_data.{sd_id}.{name}": value}})
    severity = query.severity()
    if severity is not None:  # events without a priority have no severity field
        filters.append({"range": {"log.syslog.severity.code": {"lte": severity}}})
    for s in query.substring_bytes():
        value = "*" + _wildcard_escape(_text(s)) + "*"
        filters.append({"wildcard": {"message.wildcard": {"value": value}}})
    return {"bool": {"filter": filters}}


def search_body(query: Query) -> dict[str, Any]:
    """
    The body of the C{_search} request of one page.
    """
    body: dict[str, Any] = {
        "size": query.limit,
        "query": query_dsl(query),
        "sort": [{"logship.point": "desc"}, {"logship.id": "desc"}],
        "track_total_hits": True,
    }
    if query.cursor is not None:
        body["search_after"] = decode_cursor(query.cursor)
    return body


def encode_cursor(sort: list[Any]) -> str:
    """
    The opaque cursor of a hit's sort values.
    """
    return base64.urlsafe_b64encode(json.dumps(sort).encode()).decode()


def decode_cursor(cursor: str) -> list[Any]:
    """
    The sort values of a cursor.

    @raise ValueError: not a cursor of this backend.
    """
    try:
        sort = json.loads(base64.urlsafe_b64decode(cursor))
    except (ValueError, TypeError):
        raise ValueError(f"bad cursor {cursor!r}") from None
    if not (isinstance(sort, list) and len(sort) == 2 and isinstance(sort[0], int)
            and isinstance(sort[1], str)):
        raise ValueError(f"bad cursor {cursor!r}")
    return sort


class _Http:
    """
    JSON requests to one cluster, retried with backoff on connection
    errors and on 429 and 5xx answers.
    """

    _log = Logger()

    def __init__(self, base: str, reactor: Any, clock: Any, *, attempts: int = 8,
                 base_delay: float = 0.5, max_delay: float = 30.0,
                 timeout: float = 60.0, rng: Callable[[], float] = random.random) -> None:
        self.base = base
        self._clock = clock
        self._pool = HTTPConnectionPool(reactor)
        self._client = HTTPClient(Agent(reactor, pool=self._pool))
        self._reactor = reactor
        self.attempts = attempts
        self._base_delay = base_delay
        self._max_delay = max_delay
        self._timeout = timeout
        self._rng = rng

    def delay(self, attempt: int) -> float:
        """
        The pause before try C{attempt + 1}: exponential, with jitter.
        """
        return min(self._max_delay, self._base_delay * 2.0**attempt) * (0.5 + self._rng())

    def sleep(self, attempt: int) -> Deferred[None]:
        """
        Wait L{delay} on the injected clock.
        """
        return deferLater(self._clock, self.delay(attempt), lambda: None)

    async def request(self, method: str, path: str, body: bytes | None = None,
                      headers: _Headers | None = None,
                      ok: tuple[int, ...] = (200, 201)) -> Any:
        """
        One request, tried again on failure; the decoded JSON answer.

        @param ok: statuses that are answers (others, not retried, raise).
        @raise IndexUnavailable: no answer after all tries, or a refusal.
        """
        url = self.base + path
        problem = ""
        for attempt in range(self.attempts):
            if attempt:
                await self.sleep(attempt - 1)
            try:
                response = await self._client.request(
                    method, url, data=body, headers=headers or _JSON, timeout=self._timeout
                )
                content = await response.content()
            except Exception as e:
                problem = f"{type(e).__name__}: {e}"
                self._log.warn("{method} {url} failed ({problem}), try {attempt}",
                               method=method, url=url, problem=problem, attempt=attempt + 1)
                continue
            if response.code in ok:
                return json.loads(content) if content else None
            problem = f"HTTP {response.code}: {content[:300]!r}"
            if response.code not in RETRY_STATUSES:
                raise IndexUnavailable(f"{method} {url}: {problem}")
            self._log.warn("{method} {url} answered {code}, try {attempt}",
                           method=method, url=url, code=response.code, attempt=attempt + 1)
        raise IndexUnavailable(f"{method} {url}: no success after {self.attempts} tries: {problem}")

    def close(self) -> Deferred[None]:
        """
        Close the pooled connections.
        """
        closed: Deferred[None] = self._pool.closeCachedConnections()
        return closed


@implementer(IIndex)
class ElasticsearchIndex:
    """
    L{IIndex} over the daily indices C{logship-<name>-*} of one cluster.

    @ivar rejected: documents the cluster refused for good (a 4xx other
        than 409 and 429 on their bulk item), counted and logged.
    """

    _log = Logger()

    def __init__(self, base: str, name: str, reactor: Any, *, create: bool = True,
                 clock: Any = None, **http_options: Any) -> None:
        """
        @param base: C{http://HOST:PORT}.
        @param name: the index name.
        @param reactor: the reactor for HTTP.
        @param create: install the index template before the first load.
        @param clock: the clock of the retry pauses (the reactor by default).
        @param http_options: retry and timeout settings of L{_Http}.
        """
        self.name = check_name(name)
        self._http = _Http(base.rstrip("/"), reactor, clock or reactor, **http_options)
        self._create = create
        self._template: Deferred[None] | None = None
        self.rejected = 0

    @property
    def pattern(self) -> str:
        """
        The index pattern of this index's daily indices.
        """
        return index_prefix(self.name) + "*"

    def install_template(self) -> Deferred[None]:
        """
        Install (PUT) the index template; once per object.
        """
        if self._template is None:
            body = json.dumps(index_template(self.name)).encode()
            self._template = ensureDeferred(self._http.request(
                "PUT", f"/_index_template/logship-{self.name}", body))  # fmt: skip
            self._template.addErrback(self._forget_template)
        return self._template

    def _forget_template(self, failure: Any) -> Any:
        self._template = None
        return failure

    def load(self, events: Sequence[Event]) -> Deferred[int]:
        """
        See L{IIndex.load}: bulk C{create}s, L{BULK_DOCS} per request.
        """
        return ensureDeferred(self._load(list(events)))

    def load_serialized(self, records: Sequence[bytes]) -> Deferred[Loaded]:
        """
        See L{IIndex.load_serialized}: decoded here (crc checked, corrupt
        ones counted), then loaded as L{load} does.
        """
        decoded = decode_all(records)

        def loaded(new: int) -> Loaded:
            return Loaded(new, decoded.corrupt, decoded.first_error)

        return self.load(decoded.events).addCallback(loaded)

    async def _load(self, events: list[Event]) -> int:
        if self._create:
            await self.install_template()
        created = 0
        for i in range(0, len(events), BULK_DOCS):
            created += await self._bulk([bulk_lines(self.name, e) for e in events[i : i + BULK_DOCS]])
        return created

    async def _bulk(self, lines: list[bytes]) -> int:
        """
        Send documents (action and source lines each) until every one is
        created, exists already, or was refused for good; only the items
        that failed with 429 or 5xx are sent again.

        @return: how many were created.
        """
        pending = list(range(len(lines)))
        created = 0
        for attempt in range(self._http.attempts):
            if attempt:
                await self._http.sleep(attempt - 1)
            answer = await self._http.request(
                "POST", "/_bulk", b"".join(lines[i] for i in pending), _NDJSON)
            items = answer.get("items", [])
            if len(items) != len(pending):
                raise IndexUnavailable(f"bulk answer has {len(items)} items for {len(pending)}")
            again = []
            for i, item in zip(pending, items):
                (result,) = item.values()
                status = result.get("status", 0)
                if 200 <= status < 300:
                    created += 1
                elif status == 409:
                    pass
                elif status in RETRY_STATUSES:
                    again.append(i)
                else:
                    self.rejected += 1
                    self._log.error("Document {id} refused: {status} {error}",
                                    id=result.get("_id"), status=status, error=result.get("error"))
            if not again:
                return created
            pending = again
        raise IndexUnavailable(f"{len(pending)} documents still refused after"
                               f" {self._http.attempts} tries")

    def search(self, query: Query) -> Deferred[SearchResult]:
        """
        See L{IIndex.search}: sorted by point (then id), C{search_after}.
        """
        return ensureDeferred(self._search(query))

    async def _search(self, query: Query) -> SearchResult:
        body = json.dumps(search_body(query)).encode()
        answer = await self._http.request("POST", f"/{self.pattern}/_search", body)
        hits = answer["hits"]["hits"]
        total = answer["hits"]["total"]
        nxt = encode_cursor(hits[-1]["sort"]) if len(hits) == query.limit and hits else None
        return SearchResult(
            events=[event_of(h["_source"]) for h in hits],
            total=total["value"] if isinstance(total, dict) else int(total),
            next=nxt,
        )

    def count(self, query: Query) -> Deferred[int]:
        """
        See L{IIndex.count}: the C{_count} API.
        """
        return ensureDeferred(self._count(query_dsl(query)))

    async def _count(self, dsl: dict[str, Any]) -> int:
        body = json.dumps({"query": dsl}).encode()
        answer = await self._http.request("POST", f"/{self.pattern}/_count", body)
        return int(answer["count"])

    async def _indices(self) -> list[tuple[str, int]]:
        answer = await self._http.request(
            "GET", f"/_cat/indices/{self.pattern}?format=json&h=index,docs.count")
        return sorted((row["index"], int(row.get("docs.count") or 0)) for row in answer)

    def drop_before(self, point: int) -> Deferred[int]:
        """
        See L{IIndex.drop_before}: whole daily indices before the day of
        C{point} are deleted, the rest by C{_delete_by_query}.
        """
        return ensureDeferred(self._drop_before(point))

    async def _drop_before(self, point: int) -> int:
        today = daily_index(self.name, point)
        old = [(index, n) for index, n in await self._indices() if index < today]
        removed = sum(n for _, n in old)
        if old:
            await self._http.request("DELETE", "/" + ",".join(index for index, _ in old))
        body = json.dumps({"query": {"range": {"logship.point": {"lt": point}}}}).encode()
        answer = await self._http.request(
            "POST", f"/{self.pattern}/_delete_by_query?conflicts=proceed", body)
        return removed + int(answer.get("deleted", 0))

    def destroy(self) -> Deferred[None]:
        """
        See L{IIndex.destroy}: deletes the daily indices (by name: clusters
        refuse wildcard deletes by default) and the template.
        """
        return ensureDeferred(self._destroy())

    async def _destroy(self) -> None:
        indices = [index for index, _ in await self._indices()]
        if indices:
            await self._http.request("DELETE", "/" + ",".join(indices))
        await self._http.request("DELETE", f"/_index_template/logship-{self.name}",
                                 ok=(200, 404))
        await self._http.close()

    def close(self) -> Deferred[None]:
        """
        See L{IIndex.close}.
        """
        return self._http.close()


async def _names(base: str, reactor: Any) -> list[str]:
    http = _Http(base.rstrip("/"), reactor, reactor, attempts=3)
    try:
        answer = await http.request("GET", "/_cat/indices/logship-*?format=json&h=index")
    finally:
        await http.close()
    names = set()
    for row in answer:
        stem, _, day = row["index"][len("logship-"):].rpartition("-")
        if stem and len(day) == 10:
            names.add(stem)
    return sorted(names)


def elasticsearch_index_names(base: str, reactor: Any) -> Deferred[list[str]]:
    """
    The logship index names that have daily indices in the cluster.
    """
    return ensureDeferred(_names(base, reactor))


__all__ = ["ElasticsearchIndex", "bulk_body", "document", "event_of", "index_template",
           "search_body"]
