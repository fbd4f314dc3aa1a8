"""Tests of the threaded sqlite index wrapper (L{open_index}) on the real
reactor (pytest-twisted): the store runs on its worker threads."""

from __future__ import annotations

from pathlib import Path

import pytest
import pytest_twisted
from twisted.internet import reactor

from logship.core.event import Event, encode
from logship.core.query import Query
from logship.index import IIndex, IndexUnavailable, index_names, open_index
from logship.index.sqlite import SqliteIndex
from tests.index.common import BASE, corpus_events, unique


@pytest_twisted.ensureDeferred
async def test_threaded_index(tmp_path: Path) -> None:
    """
    The sqlite IIndex runs the store on its worker thread: load (twice),
    search, count, names, retention, destroy, on corpus events.
    """
    url = f"sqlite:{tmp_path}"
    index = open_index(url, "history-1", reactor)
    assert IIndex.providedBy(index) and isinstance(index, SqliteIndex)
    events = corpus_events("OpenSSH_2k.log")
    assert await index.load(events) == len(unique(events))
    assert await index.load(events[:100]) == 0
    result = await index.search(Query(terms=("Failed",), limit=3))
    assert [e.point for e in result.events] == sorted(
        (e.point for e in events if b"Failed" in e.message), reverse=True
    )[:3]
    assert result.total == await index.count(Query(terms=("failed",)))
    assert await index_names(url, reactor) == ["history-1"]
    middle = sorted(e.point for e in events)[1000]
    assert await index.drop_before(middle) == 1000
    assert await index.count(Query()) == len(events) - 1000
    await index.destroy()
    assert await index_names(url, reactor) == []


@pytest_twisted.ensureDeferred
async def test_threaded_load_serialized(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """
    The serialized entry point of the threaded index loads in chunks
    (prepared on the second thread), skips corrupt records and gives the
    same index as load.
    """
    from logship.index import sqlite

    monkeypatch.setattr(sqlite, "LOAD_CHUNK", 300)
    events = corpus_events("OpenSSH_2k.log")
    records = [encode(e) for e in events]
    records.insert(700, b"garbage")
    index = open_index(f"sqlite:{tmp_path}", "recent", reactor)
    other = open_index(f"sqlite:{tmp_path}", "other", reactor)
    try:
        loaded = await index.load_serialized(records)
        assert (loaded.new, loaded.corrupt) == (len(unique(events)), 1)
        assert loaded.first_error is not None
        assert (await index.load_serialized(records[:500])).new == 0
        assert await other.load(events) == len(unique(events))
        for query in [Query(terms=("Failed", "password")), Query(substrings=("Invalid user",)),
                      Query(hosts=(events[0].shn,), apps=(b"sshd",), limit=1000)]:
            mine, theirs = await index.search(query), await other.search(query)
            assert (mine.events, mine.total) == (theirs.events, theirs.total)
    finally:
        await index.close()
        await other.close()


@pytest_twisted.ensureDeferred
async def test_threaded_load_is_one_transaction(tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """
    A load of several chunks is one transaction: when a later chunk fails,
    none of the load stays, and the next load works.
    """
    from logship.index import sqlite

    monkeypatch.setattr(sqlite, "LOAD_CHUNK", 100)
    real, calls = sqlite.prepare, []

    def failing(chunk: list[Event]) -> list[tuple]:
        calls.append(len(chunk))
        if len(calls) == 3:
            raise RuntimeError("disk on fire")
        return real(chunk)

    monkeypatch.setattr(sqlite, "prepare", failing)
    events = corpus_events("OpenSSH_2k.log")[:500]
    index = open_index(f"sqlite:{tmp_path}", "recent", reactor)
    try:
        with pytest.raises(RuntimeError, match="disk on fire"):
            await index.load(events)
        assert await index.count(Query()) == 0
        assert await index.load(events) == len(unique(events))
        assert await index.count(Query()) == len(unique(events))
    finally:
        await index.close()


@pytest_twisted.ensureDeferred
async def test_threaded_errors(tmp_path: Path) -> None:
    """
    Errors of the store arrive as failed Deferreds; close leaves the
    database readable by the next opener.
    """
    index = open_index(f"sqlite:{tmp_path}", "recent", reactor)
    with pytest.raises(ValueError, match="bad cursor"):
        await index.search(Query(cursor="nope"))
    assert await index.load([Event(BASE, 1, b"h", b"a", None, b"m")]) == 1
    await index.close()
    again = open_index(f"sqlite:{tmp_path}", "recent", reactor, create=False)
    assert await again.count(Query()) == 1
    await again.close()
    (tmp_path / "bad.sqlite").write_bytes(b"garbage" * 1000)
    bad = open_index(f"sqlite:{tmp_path}", "bad", reactor)
    with pytest.raises(IndexUnavailable):
        await bad.count(Query())
    await bad.close()


@pytest_twisted.ensureDeferred
async def test_index_names_unreadable(tmp_path: Path) -> None:
    """
    Listing a directory that does not exist fails the Deferred.
    """
    with pytest.raises(IndexUnavailable):
        await index_names(f"sqlite:{tmp_path}/none", reactor)
