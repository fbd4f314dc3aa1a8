"""Tests of the Elasticsearch backend's pure parts: documents, bulk bodies,
ids and the query DSL (its requests to a fake cluster on the real reactor
are in C{tests/integration/index})."""

from __future__ import annotations

import json

import pytest
from hypothesis import given

from logship.core.event import Event
from logship.core.query import Query
from logship.index.elasticsearch import (
    bulk_body,
    decode_cursor,
    document,
    document_id,
    encode_cursor,
    event_of,
    search_body,
)
from tests.strategies import events as any_events

DAY = 1_780_000_000 * 10**8  # 2026-05-28T20:26:40Z


def sample_events() -> list[Event]:
    return [
        Event(DAY, 13, b"web1", b"sshd", b"4242", b"Failed password for root"),
        Event(DAY + 1, 255, b"db\xff", b"cron", None, b"bad \xff bytes"),
        Event(DAY + 86400 * 10**8, 3, b"web1", b"kernel", b"x y", b"oom"),
        Event(DAY + 2, 13, b"web1", b"sshd", None, b"refused"),
    ]


@given(any_events())
def test_document_round_trip(event: Event) -> None:
    """
    A document (through JSON) gives the event back exactly.
    """
    assert event_of(json.loads(json.dumps(document(event)))) == event


def test_bulk_body_format() -> None:
    """
    NDJSON as documented: an action line and a source line per document,
    each ending in a newline; daily index names; ECS fields.
    """
    events = sample_events()[:3]
    body = bulk_body("recent", events)
    assert body.endswith(b"\n") and not body.endswith(b"\n\n")
    lines = body.decode().split("\n")[:-1]
    assert len(lines) == 6
    actions = [json.loads(line) for line in lines[0::2]]
    assert actions[0] == {"create": {"_index": "logship-recent-2026.05.28", "_id": document_id(events[0])}}
    assert actions[2]["create"]["_index"] == "logship-recent-2026.05.29"
    source = json.loads(lines[1])
    assert source["@timestamp"] == "2026-05-28T20:26:40.000000Z"
    assert source["host"] == {"name": "web1"}
    assert source["process"] == {"name": "sshd", "pid": 4242}
    assert source["log"]["syslog"] == {"priority": 13, "severity": {"code": 5}, "facility": {"code": 1}}
    assert source["tokens"] == ["4242", "failed", "password", "for", "root"]
    assert source["logship"]["point"] == DAY
    second = json.loads(lines[3])
    assert "log" not in second and second["logship"]["host_b64"] == "ZGL/"


def test_ids_stable_and_distinct() -> None:
    """
    The same identity gives the same _id; another identity another one.
    """
    a = Event(DAY, 1, b"h", b"a", None, b"m")
    assert document_id(a) == document_id(Event(DAY, 7, b"h", b"a", b"9", b"m"))
    others = [Event(DAY + 1, 1, b"h", b"a", None, b"m"), Event(DAY, 1, b"ha", b"", None, b"m"),
              Event(DAY, 1, b"h", b"a", None, b"n")]
    assert len({document_id(e) for e in [a, *others]}) == 4
    assert len(document_id(Event(DAY, 1, b"h" * 255, b"a" * 255, None, b""))) < 512


def test_search_body() -> None:
    """
    The query DSL: range on the point, terms on names, term per token,
    wildcard for substrings (escaped), sorted newest first, search_after.
    """
    cursor = encode_cursor([DAY, "abc"])
    body = search_body(Query(start=1, end=DAY, hosts=(b"web1",), apps=(b"sshd", b"cron"),
                             terms=("Key=Value",), substrings=("a*b?c\\",), limit=5, cursor=cursor))
    assert body == {
        "size": 5,
        "query": {"bool": {"filter": [
            {"range": {"logship.point": {"gte": 1, "lt": DAY}}},
            {"terms": {"host.name": ["web1"]}},
            {"terms": {"process.name": ["sshd", "cron"]}},
            {"term": {"tokens": "key"}},
            {"term": {"tokens": "value"}},
            {"wildcard": {"message.wildcard": {"value": "*a\\*b\\?c\\\\*"}}},
        ]}},
        "sort": [{"logship.point": "desc"}, {"logship.id": "desc"}],
        "track_total_hits": True,
        "search_after": [DAY, "abc"],
    }  # fmt: skip
    with pytest.raises(ValueError):
        decode_cursor("xx")


def test_severity_filter() -> None:
    """
    A severity term is a range on the ECS severity code (events without a
    priority have none, so they never match), not a token.
    """
    body = search_body(Query(terms=("sev:warning", "disk", "severity:err")))
    assert body["query"]["bool"]["filter"] == [
        {"term": {"tokens": "disk"}},
        {"range": {"log.syslog.severity.code": {"lte": 3}}},
    ]


def test_structured_data_fields() -> None:
    """
    A structured event's document has ECS C{log.syslog.msgid} and
    C{log.syslog.structured_data} (escapes undone); the message stays whole
    (the event comes back exactly); an SD term is a C{term} query on the
    flattened field, beside the token terms.
    """
    message = b'ID47 [exampleSDID@32473 iut="3" eventSource="App\\]"][origin x="1"] An event'
    event = Event(DAY, 165, b"web1", b"evntslog", None, message, structured=True)
    source = json.loads(bulk_body("recent", [event]).decode().split("\n")[1])
    assert source["log"]["syslog"]["msgid"] == "ID47"
    assert source["log"]["syslog"]["structured_data"] == {
        "exampleSDID@32473": {"iut": "3", "eventSource": "App]"}, "origin": {"x": "1"}}
    assert source["message"] == message.decode()
    assert event_of(source) == event
    rsyslog = Event(DAY, 255, b"h", b"rsyslogd", None, b'[origin software="rsyslogd"] start',
                    structured=True)
    assert document(rsyslog)["log"] == {"syslog": {"structured_data": {
        "origin": {"software": "rsyslogd"}}}}
    plain = document(Event(DAY, 13, b"h", b"a", None, b"ID47 [a] x"))
    assert "msgid" not in plain["log"]["syslog"]
    body = search_body(Query(terms=("sd.origin.software:rsyslogd", "start")))
    assert body["query"]["bool"]["filter"] == [
        {"term": {"tokens": "start"}},
        {"term": {"log.syslog.structured_data.origin.software": "rsyslogd"}},
    ]
