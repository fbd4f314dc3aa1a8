"""Tests for L{logship.porter.service}: real bucks (in this process, on
127.0.0.1), the real sqlite index and dir archive, the real reactor.

Bucket ages come from the porter's clock, a L{SetTime} the tests set
(its timers run on the reactor); rounds are run by the tests only (the
porter's own first round is an hour away).
"""

from __future__ import annotations

import json
import random
import shutil
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest_twisted
from twisted.internet import reactor
from twisted.internet.endpoints import TCP4ClientEndpoint
from twisted.internet.threads import deferToThread

from logship.archive import open_archive
from logship.buck.pubsub import Channel
from logship.buck.service import BuckService
from logship.buck.store import BucketStore
from logship.core.event import Event, decode
from logship.index import open_index
from logship.core.pack import unpack
from logship.core.parse import TICKS_PER_SECOND
from logship.porter.service import PorterService, archive_key, manifest_key
from logship.core.query import Query
from tests.buck import T0, make_event
from tests.integration.waiting import wait_until
from tests.integration.walltime import SetTime
from tests.wire.common import KEY

QUIET = 3600


@dataclass
class Buck:
    """
    A buck service listening on 127.0.0.1.
    """

    service: BuckService
    port: Any

    @property
    def store(self) -> BucketStore:
        return self.service.store

    def write(self, events: list[bytes]) -> None:
        self.store.write_batch(events, sync=False)


@dataclass
class Setup:
    tmp: Path
    bucks: dict[str, Buck] = field(default_factory=dict)
    clock: SetTime = field(default_factory=lambda: SetTime(reactor, T0 + 600))
    porter: PorterService | None = None

    async def start_buck(self, name: str, port_number: int = 0) -> Buck:
        store = BucketStore(self.tmp / name, 60, reactor)
        service = BuckService(
            store=store, channel=Channel(reactor), clock=reactor, key=KEY, node=name
        )
        service.startService()
        port = reactor.listenTCP(port_number, service.factory, interface="127.0.0.1")
        buck = self.bucks[name] = Buck(service, port)
        return buck

    async def stop_buck(self, name: str) -> None:
        buck = self.bucks.pop(name)
        await buck.port.stopListening()
        for peer in list(buck.service._connected):
            peer.close("stopping")
        await buck.service.stopService()
        buck.store.close()

    def index_url(self) -> str:
        return f"sqlite:{self.tmp / 'index'}"

    async def start_porter(
        self, ports: dict[str, int] | None = None, wait_for: tuple[str, ...] | None = None
    ) -> PorterService:
        ports = ports or {name: b.port.getHost().port for name, b in self.bucks.items()}
        wait_for = tuple(ports) if wait_for is None else wait_for
        porter = PorterService(
            bucks={n: TCP4ClientEndpoint(reactor, "127.0.0.1", p) for n, p in ports.items()},
            key=KEY,
            node="porter",
            index=open_index(self.index_url(), "recent", reactor),
            archive=open_archive(f"dir:{self.tmp / 'archive'}", reactor),
            open_index=lambda name: open_index(self.index_url(), name, reactor),
            state_dir=self.tmp / "state",
            clock=self.clock,
            quiet=QUIET,
            interval=3600,
            first_round=3600,
            blocking=lambda f, *args: deferToThread(f, *args),
        )
        porter.startService()
        self.porter = porter
        await wait_until(
            lambda: all(porter.links[n].connected_now for n in wait_for), 10, "buck connections"
        )
        return porter

    async def stop_porter(self) -> None:
        if self.porter is not None:
            await self.porter.stopService()
            self.porter = None

    async def round(self) -> None:
        assert self.porter is not None
        running = self.porter.round()
        assert running is not None, "a round was running already"
        await running
        assert self.porter.stats.round_errors == 0

    async def recent(self) -> list[Event]:
        index = open_index(self.index_url(), "recent", reactor)
        try:
            return await all_events(index)
        finally:
            await index.close()


async def all_events(index: Any) -> list[Event]:
    """
    Every event of an index, oldest first, paging through all of it.
    """
    found: list[Event] = []
    cursor = None
    while True:
        page = await index.search(Query(limit=1000, cursor=cursor))
        found.extend(page.events)
        cursor = page.next
        if cursor is None:
            return sorted(found, key=lambda e: e.point)


@pytest_twisted.async_yield_fixture
async def setup(tmp_path: Path) -> AsyncIterator[Setup]:
    s = Setup(tmp_path)
    for name in ("b1", "b2", "b3"):
        await s.start_buck(name)
    try:
        yield s
    finally:
        await s.stop_porter()
        for name in list(s.bucks):
            await s.stop_buck(name)


def replicate(setup: Setup, events: list[bytes], rng: random.Random) -> None:
    """
    Write each event to 2 random bucks of 3, as tailers do.
    """
    names = sorted(setup.bucks)
    per_buck: dict[str, list[bytes]] = {n: [] for n in names}
    for event in events:
        for name in rng.sample(names, 2):
            per_buck[name].append(event)
    for name, batch in per_buck.items():
        setup.bucks[name].write(batch)


def sample(count: int, seconds: int = 120) -> list[bytes]:
    return [make_event(i, i * seconds // count) for i in range(count)]


@pytest_twisted.ensureDeferred
async def test_load_exactly_once(setup: Setup) -> None:
    """
    Events replicated on 2 of 3 bucks end up once each in the recent index,
    once their bucket closed; a second round loads nothing more.
    """
    events = sample(500)
    replicate(setup, events, random.Random(1))
    porter = await setup.start_porter()
    setup.clock.now = T0 + 150  # the first bucket closed one interval ago
    await setup.round()
    loaded = await setup.recent()
    assert [e.message for e in loaded] == [decode(e).message for e in events[:250]]
    setup.clock.now = T0 + 600
    await setup.round()
    loaded = await setup.recent()
    assert [e.message for e in loaded] == [decode(e).message for e in events]
    assert porter.stats.loaded_events == 1000  # each replica read once
    before = porter.stats.loaded_bytes
    await setup.round()
    assert porter.stats.loaded_bytes == before
    assert len(await setup.recent()) == 500


@pytest_twisted.ensureDeferred
async def test_archive_then_delete_then_history(setup: Setup) -> None:
    """
    Past the quiet period each bucket is archived once, sorted, without
    duplicates, recorded in the manifest, and the bucks' files deleted;
    a history index of the range then gives back every event.
    """
    events = sample(400)
    replicate(setup, events, random.Random(2))
    porter = await setup.start_porter()
    setup.clock.now = T0 + 120 + QUIET
    await setup.round()
    archive = porter._archive
    for start in (T0, T0 + 60):
        archived = unpack(await archive.get(archive_key(start, 60)))
        assert [e.point for e in archived] == sorted(e.point for e in archived)
        assert len({e.identity for e in archived}) == len(archived) == 200
        manifest = json.loads(await archive.get(manifest_key(start)))
        assert [b["start"] for b in manifest["buckets"]] == [T0, T0 + 60]
    for buck in setup.bucks.values():
        assert buck.store.listing(0, 10) == ([], False)
    assert porter.stats.deleted_copies == 6
    assert porter.state.archived_count() == 2

    job = porter.request_history(T0 * TICKS_PER_SECOND, (T0 + 120) * TICKS_PER_SECOND)
    ready = await wait_until(
        lambda: (j := porter.state.history(job.id)) is not None and j.state == "ready" and j, 20
    )
    assert (ready.done, ready.total, ready.events) == (2, 2, 400)
    index = open_index(setup.index_url(), job.index, reactor)
    try:
        history = await all_events(index)
    finally:
        await index.close()
    assert [e.message for e in history] == [decode(e).message for e in events]


@pytest_twisted.ensureDeferred
async def test_lost_state_recovered_from_manifest(setup: Setup) -> None:
    """
    A porter whose state is lost takes the archived buckets from the
    archive's manifest objects: a history of the range gives back every
    archived event.
    """
    events = sample(100)
    replicate(setup, events, random.Random(5))
    await setup.start_porter()
    setup.clock.now = T0 + 120 + QUIET
    await setup.round()
    await setup.stop_porter()
    shutil.rmtree(setup.tmp / "state")
    porter = await setup.start_porter()
    await setup.round()
    assert porter.state.archived_count() == 2
    job = porter.request_history(T0 * TICKS_PER_SECOND, (T0 + 120) * TICKS_PER_SECOND)
    ready = await wait_until(
        lambda: (j := porter.state.history(job.id)) is not None and j.state == "ready" and j, 20
    )
    assert ready.events == 100


@pytest_twisted.ensureDeferred
async def test_late_events_archived_again(setup: Setup) -> None:
    """
    Events that arrive for an archived bucket (a tailer back after a long
    time), with duplicates of archived ones, are merged into the archive
    exactly once, and the bucks delete the file again.
    """
    events = sample(100, seconds=60)
    replicate(setup, events, random.Random(3))
    porter = await setup.start_porter()
    setup.clock.now = T0 + 120 + QUIET
    await setup.round()
    late = [make_event(1000 + i, 30) for i in range(10)]
    setup.bucks["b1"].write(late + events[:5])
    setup.bucks["b2"].write(late)
    await setup.round()
    archived = unpack(await porter._archive.get(archive_key(T0, 60)))
    assert len(archived) == 110
    assert len({e.identity for e in archived}) == 110
    assert all(b.store.listing(0, 10) == ([], False) for b in setup.bucks.values())
    assert porter.stats.archived_buckets == 2


@pytest_twisted.ensureDeferred
async def test_restart_resumes(setup: Setup) -> None:
    """
    A porter restarted with the same state loads nothing twice, and picks
    up what is new.
    """
    events = sample(200)
    replicate(setup, events, random.Random(4))
    await setup.start_porter()
    await setup.round()
    await setup.stop_porter()
    setup.bucks["b3"].write([make_event(5000, 10)])
    porter = await setup.start_porter()
    await setup.round()
    assert porter.stats.loaded_events == 1
    assert len(await setup.recent()) == 201


@pytest_twisted.ensureDeferred
async def test_buck_down_then_back(setup: Setup) -> None:
    """
    With a buck down, the porter loads and archives what the others have;
    the events only that buck had are loaded and archived when it is back,
    and its file is deleted then.
    """
    shared = sample(50, seconds=60)
    only_b3 = [make_event(9000 + i, 20) for i in range(7)]
    for name in ("b1", "b2"):
        setup.bucks[name].write(shared)
    setup.bucks["b3"].write(only_b3)
    ports = {name: b.port.getHost().port for name, b in setup.bucks.items()}
    await setup.stop_buck("b3")
    porter = await setup.start_porter(ports, wait_for=("b1", "b2"))
    setup.clock.now = T0 + 120 + QUIET
    await setup.round()
    assert len(unpack(await porter._archive.get(archive_key(T0, 60)))) == 50
    assert len(await setup.recent()) == 50
    b3 = await setup.start_buck("b3", ports["b3"])
    await wait_until(lambda: porter.links["b3"].connected_now, 30)
    await setup.round()
    assert len(unpack(await porter._archive.get(archive_key(T0, 60)))) == 57
    assert len(await setup.recent()) == 57
    assert b3.store.listing(0, 10) == ([], False)
