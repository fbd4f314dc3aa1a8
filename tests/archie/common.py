"""A small corpus of events for archie's tests, and its brute-force answers."""

from __future__ import annotations

from pathlib import Path

from logship.core.event import Event
from logship.index.sqlite import SqliteStore
from logship.core.parse import TICKS_PER_SECOND
from logship.core.query import Query

#: The tests' "now" (2026-11-26T09:37:00Z).
NOW = 1795685820.0
#: Events in the corpus.
COUNT = 300
#: Seconds between two events, the newest at NOW - 5 s.
STEP = 20

HOSTS = (b"web-1", b"web-2", b"db-1")
APPS = (b"nginx", b"postgres", b"cron")


def corpus() -> list[Event]:
    """
    C{COUNT} events, one every C{STEP} seconds back from C{NOW - 5}, over
    three hosts and three apps, with words to search for.
    """
    events = []
    for i in range(COUNT):
        point = int((NOW - 5 - i * STEP) * TICKS_PER_SECOND)
        host = HOSTS[i % 3]
        app = APPS[(i // 3) % 3]
        if app == b"nginx":
            status = 500 if i % 10 == 0 else 200
            message = b"GET /item/%d status=%d user=u%d" % (i, status, i % 7)
        elif app == b"postgres":
            message = b"checkpoint complete: wrote %d buffers (disk full? %s)" % (
                i, b"yes" if i % 4 == 0 else b"no")
        else:
            message = b"(root) CMD (run-parts /etc/cron.hourly) job%d" % i
        events.append(Event(point=point, pri=3 * 8 + (i % 8), shn=host, app=app,
                            pid=b"%d" % (100 + i % 5), message=message))
    return events


def write_index(directory: Path, name: str = "recent", events: list[Event] | None = None) -> None:
    """
    Make the sqlite index C{name} in C{directory} holding C{events} (by
    default the corpus).
    """
    directory.mkdir(parents=True, exist_ok=True)
    store = SqliteStore(directory / f"{name}.sqlite", synchronous="OFF")
    try:
        store.load(corpus() if events is None else events)
    finally:
        store.close()


def expected(query: Query, events: list[Event] | None = None) -> list[Event]:
    """
    The events of the corpus matching C{query}, newest first (brute force,
    with the reference L{Query.matches}).
    """
    found = [e for e in (corpus() if events is None else events) if query.matches(e)]
    return sorted(found, key=lambda e: e.point, reverse=True)
