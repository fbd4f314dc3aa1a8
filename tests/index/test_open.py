"""Tests of L{open_index}, index names and URLs, and the threaded sqlite
wrapper on the real reactor (pytest-twisted)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import pytest_twisted
from twisted.internet import reactor

from logship.core.event import Event, encode
from logship.index import (
    IIndex,
    IndexUnavailable,
    check_name,
    index_names,
    open_index,
)
from logship.index.sqlite import SqliteIndex
from logship.core.query import Query
from tests.index.common import BASE, corpus_events, unique


@pytest.mark.parametrize(
    "url",
    ["", "sqlite:", "sqlite", "dir:/tmp", "elasticsearch:", "elasticsearch:ftp://x",
     "elasticsearch:http://", "elasticsearch:http://h:9200/path", "Sqlite:/tmp"],
)  # fmt: skip
def test_bad_url(url: str) -> None:
    """
    Anything but sqlite:DIR and elasticsearch:http(s)://HOST[:PORT] is a
    ValueError naming the URL.
    """
    with pytest.raises(ValueError, match="bad index URL"):
        open_index(url, "recent")


@pytest.mark.parametrize("name", ["", "Recent", "-x", "a_b", "a/b", "x" * 64, "é", "a.b"])
def test_bad_name(name: str, tmp_path: Path) -> None:
    """
    Names are lowercase letters, digits and dashes.
    """
    with pytest.raises(ValueError, match="bad index name"):
        open_index(f"sqlite:{tmp_path}", name)


def test_good_names() -> None:
    """
    The porter's names pass.
    """
    for name in ["recent", "history-0f3a", "h", "9" * 63]:
        assert check_name(name) == name


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads every directory")
def test_unreadable_dir(tmp_path: Path) -> None:
    """
    A directory that cannot be written, or created, is refused at once.
    """
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o500)
    with pytest.raises(IndexUnavailable, match="readable and writable"):
        open_index(f"sqlite:{locked}", "recent")
    with pytest.raises(IndexUnavailable, match="cannot create"):
        open_index(f"sqlite:{locked}/sub", "recent")


def test_missing_without_create(tmp_path: Path) -> None:
    """
    A reader (create=False) is told the index does not exist.
    """
    with pytest.raises(IndexUnavailable, match="no such directory"):
        open_index(f"sqlite:{tmp_path}/none", "recent", create=False)
    with pytest.raises(IndexUnavailable, match="no such index"):
        open_index(f"sqlite:{tmp_path}", "recent", create=False)


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


def test_dir_is_a_file(tmp_path: Path) -> None:
    """
    A file where the directory should be is refused (also as root).
    """
    plain = tmp_path / "plain"
    plain.write_bytes(b"x")
    with pytest.raises(IndexUnavailable, match="plain"):
        open_index(f"sqlite:{plain}", "recent")
    with pytest.raises(IndexUnavailable, match="cannot create"):
        open_index(f"sqlite:{plain}/sub", "recent")
