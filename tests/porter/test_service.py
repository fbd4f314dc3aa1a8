"""Tests for L{logship.porter.service} on a L{Clock}: its time source, when
its rounds run, and how it tells a buck's new file of a bucket from the
one it loaded (real bucks over an in-memory wire; the service with real
bucks, index and archive on the real reactor is in
C{tests/integration/porter})."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterable
from pathlib import Path

from twisted.internet.defer import Deferred, succeed
from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase

from logship.archive.dirstore import DirArchive, inline
from logship.buck.pubsub import Channel
from logship.buck.service import BuckService
from logship.buck.store import BucketStore
from logship.core.event import Event, decode_all
from logship.core.parse import TICKS_PER_SECOND
from logship.index import Loaded
from logship.porter.bucks import BuckLink
from logship.porter.service import PorterService
from logship.porter.state import PorterState
from tests.buck import T0, make_event
from tests.wire.common import KEY, Pair, client_factory, connect_pair

NOW = 1795685820.0


class RecordingIndex:
    """
    An index that records what the rounds drop, and keeps the events loaded
    by identity (as the real ones do).
    """

    def __init__(self) -> None:
        self.dropped: list[int] = []
        self.events: dict[bytes, Event] = {}

    def load_serialized(self, records: Iterable[bytes]) -> Deferred[Loaded]:
        decoded = decode_all(records)
        new = 0
        for event in decoded.events:
            if event.identity not in self.events:
                self.events[event.identity] = event
                new += 1
        return succeed(Loaded(new, decoded.corrupt, decoded.first_error))

    def messages(self) -> set[bytes]:
        return {event.message for event in self.events.values()}

    def drop_before(self, point: int) -> Deferred[int]:
        self.dropped.append(point)
        return succeed(0)

    def close(self) -> Deferred[None]:
        return succeed(None)


class RoundTimingTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.tmp = Path(tempfile.mkdtemp())
        self.addCleanup(shutil.rmtree, self.tmp)
        self.clock = Clock()
        self.clock.advance(NOW)
        self.index = RecordingIndex()

    def porter(self, **options: float) -> PorterService:
        porter = PorterService(
            bucks={}, key=None, node="porter", index=self.index,  # type: ignore[arg-type]
            archive=DirArchive(self.tmp / "archive", run=inline),
            open_index=lambda name: self.index,  # type: ignore[arg-type, return-value]
            state_dir=self.tmp / "state", clock=self.clock, interval=10,
            recent_days=1, **options,  # type: ignore[arg-type]
        )
        porter.startService()
        return porter

    def stop(self, porter: PorterService) -> None:
        self.successResultOf(porter.stopService())
        self.assertEqual(self.clock.getDelayedCalls(), [])

    def test_first_round_at_start(self) -> None:
        """
        By default the first round runs at the start; its time is the
        clock's (the recent index keeps C{recent_days} back from it).
        """
        porter = self.porter()
        self.assertEqual(porter.stats.rounds, 1)
        self.assertEqual(self.index.dropped, [int((NOW - 86400) * TICKS_PER_SECOND)])
        self.clock.advance(10)
        self.assertEqual(self.index.dropped[-1], int((NOW + 10 - 86400) * TICKS_PER_SECOND))
        self.stop(porter)

    def test_first_round_delayed(self) -> None:
        """
        With C{first_round}, no round runs before it (so a test's own
        rounds do not race one); then one every interval.
        """
        porter = self.porter(first_round=30)
        self.clock.advance(29)
        self.assertEqual((porter.stats.rounds, self.index.dropped), (0, []))
        self.clock.advance(1)
        self.assertEqual(porter.stats.rounds, 1)
        self.clock.advance(10)
        self.assertEqual(porter.stats.rounds, 2)
        self.stop(porter)

    def test_history_times_from_the_clock(self) -> None:
        """
        A history job is created at the clock's time and expires C{hours}
        after it.
        """
        porter = self.porter(first_round=3600)
        job = porter.request_history(1, 2, hours=2)
        self.assertEqual((job.created, job.expires), (NOW, NOW + 7200))
        self.stop(porter)


def batch(numbers: Iterable[int]) -> list[bytes]:
    """
    Serialized events of bucket L{T0}, numbered C{numbers} (numbers of the
    same count of digits make records of the same size).
    """
    return [make_event(i, second=i % 60) for i in numbers]


def messages(numbers: Iterable[int]) -> set[bytes]:
    return {b"event %d " % i + b"x" * 20 for i in numbers}


class ReplacedFileTests(SynchronousTestCase):
    """
    A buck's file of a bucket that is replaced by another file of the same
    bucket (deleted after an archive, lost with the buck's disk, its last
    record cut) is loaded from its start, never from the offset loaded in
    the old one (docs/reliability.md, finding 3).
    """

    def setUp(self) -> None:
        self.tmp = Path(tempfile.mkdtemp())
        self.addCleanup(shutil.rmtree, self.tmp)
        self.clock = Clock()
        self.clock.advance(T0 + 600)  # bucket T0 is closed
        self.index = RecordingIndex()
        self.pair: Pair | None = None
        self.start_buck()
        self.porter = self.start_porter()

    def tearDown(self) -> None:
        self.stop_porter()
        self.stop_buck()
        self.assertEqual(self.clock.getDelayedCalls(), [])

    def start_buck(self) -> None:
        self.store = BucketStore(self.tmp / "b1", 60, self.clock)
        self.buck = BuckService(
            store=self.store, channel=Channel(self.clock), clock=self.clock,
            key=KEY, node="b1",
        )

    def stop_buck(self) -> None:
        """
        The buck goes away (its connection with it).
        """
        self.disconnect()
        self.store.close()

    def restart_buck(self) -> None:
        self.stop_buck()
        self.start_buck()
        self.connect()

    def start_porter(self, quiet: float = 86400) -> PorterService:
        porter = PorterService(
            bucks={}, key=None, node="porter", index=self.index,  # type: ignore[arg-type]
            archive=DirArchive(self.tmp / "archive", run=inline),
            open_index=lambda name: self.index,  # type: ignore[arg-type, return-value]
            state_dir=self.tmp / "state", clock=self.clock, interval=10,
            quiet=quiet, first_round=3600,
        )
        porter.links["b1"] = self.link = BuckLink("b1", self.clock, timeout=5.0)
        porter.startService()
        self.connect()
        return porter

    def stop_porter(self) -> None:
        self.disconnect()
        self.successResultOf(self.porter.stopService())

    def restart_porter(self) -> None:
        """
        The porter killed and started again (its state as it was).
        """
        self.stop_porter()
        self.porter = self.start_porter()

    def connect(self) -> None:
        factory = client_factory(self.clock, self.link, key=KEY, node="porter", role="porter")  # type: ignore[arg-type]
        self.pair = connect_pair(self.buck.factory, factory, self.clock)
        self.assertTrue(self.link.connected_now)

    def disconnect(self) -> None:
        if self.pair is not None:
            self.pair.client_transport.loseConnection()
            self.pair.flush()
            self.pair = None

    def round(self) -> None:
        """
        Run one round of the porter to its end.
        """
        running = self.porter.round()
        assert running is not None
        for _ in range(1000):
            if running.called:
                break
            assert self.pair is not None
            self.pair.flush()
        self.successResultOf(running)

    def file(self) -> Path:
        return self.store.path_of(T0)

    def assert_loaded_cleanly(self, numbers: Iterable[int]) -> None:
        """
        The index holds the events C{numbers}, and the porter found no
        corrupt record on the way (it never read from inside a record).
        """
        self.assertEqual(self.index.messages(), messages(numbers))
        self.assertEqual(self.porter.stats.corrupt_events, 0)

    def test_recreated_after_porter_killed(self) -> None:
        """
        The buck deleted its file (archived) and the porter was killed
        before recording it; a larger file of the same bucket made since is
        loaded from its start.
        """
        self.store.write_batch(batch(range(10, 20)), sync=False)
        self.round()
        self.assert_loaded_cleanly(range(10, 20))
        self.stop_porter()
        self.file().unlink()  # as on an archived message: nothing recorded
        self.store.close()
        self.start_buck()
        self.store.write_batch(batch(range(100, 130)), sync=False)
        self.porter = self.start_porter()
        self.round()
        self.assert_loaded_cleanly([*range(10, 20), *range(100, 130)])
        self.assertEqual(self.porter.stats.reloaded_copies, 1)

    def test_replaced_by_a_file_of_the_same_size(self) -> None:
        """
        The buck lost its disk and, restarted, got as many bytes of other
        events of that bucket as the porter had loaded: its file is checked
        on the new connection, and loaded again.
        """
        self.store.write_batch(batch(range(10, 20)), sync=False)
        self.round()
        size = self.file().stat().st_size
        self.stop_buck()
        shutil.rmtree(self.tmp / "b1")
        self.start_buck()
        self.store.write_batch(batch(range(20, 30)), sync=False)
        self.assertEqual(self.file().stat().st_size, size)
        self.connect()
        self.round()
        self.assert_loaded_cleanly(range(10, 30))
        self.assertEqual(self.porter.stats.reloaded_copies, 1)

    def test_last_record_cut_then_appended(self) -> None:
        """
        The buck's file lost the middle of its last record (loaded by the
        porter); restarted, the buck cut the torn record off and appended
        other events: the file is loaded again from its start.
        """
        self.store.write_batch(batch(range(10, 20)), sync=False)
        self.round()
        self.stop_buck()
        os.truncate(self.file(), self.file().stat().st_size - 5)
        self.start_buck()
        self.store.write_batch(batch(range(100, 130)), sync=False)
        self.connect()
        self.round()
        self.assert_loaded_cleanly([*range(10, 20), *range(100, 130)])
        self.assertEqual(self.porter.stats.reloaded_copies, 1)

    def test_same_file_continues(self) -> None:
        """
        A file that grew is loaded from where the last load stopped, after
        a restart of the buck or of the porter too: only its new bytes are
        read into the index.
        """
        self.store.write_batch(batch(range(10, 20)), sync=False)
        self.round()
        first = self.file().stat().st_size
        self.restart_buck()
        self.round()  # checked on the new connection, nothing new
        self.restart_porter()
        self.store.write_batch(batch(range(20, 25)), sync=False)
        self.round()
        self.assert_loaded_cleanly(range(10, 25))
        self.assertEqual(self.porter.stats.reloaded_copies, 0)
        self.assertEqual(self.porter.stats.loaded_bytes, self.file().stat().st_size - first)

    def test_state_of_an_earlier_porter(self) -> None:
        """
        A loaded offset without the record that ends it (recorded by a
        porter of an earlier version) cannot be checked: the file is loaded
        again from its start, and then continued.
        """
        self.store.write_batch(batch(range(10, 20)), sync=False)
        self.stop_porter()
        state = PorterState(self.tmp / "state")
        state.set_loaded(T0, "b1", self.file().stat().st_size)
        state.close()
        self.porter = self.start_porter()
        self.round()
        self.assert_loaded_cleanly(range(10, 20))
        self.assertEqual(self.porter.stats.reloaded_copies, 1)
        self.assertIn("b1", self.porter.state.tails(T0))

    def test_absent_copies_forgotten(self) -> None:
        """
        A file the buck's listing no longer shows is forgotten from the
        state at once.
        """
        self.store.write_batch(batch(range(10, 20)), sync=False)
        self.round()
        self.assertEqual(list(self.porter.state.copies(T0)), ["b1"])
        self.file().unlink()
        self.round()
        self.assertEqual(self.porter.state.copies(T0), {})

    def test_archived_copy_forgotten_when_its_buck_confirms(self) -> None:
        """
        Each buck's copy is forgotten as soon as that buck says it deleted
        its file, even when a later buck of the round does not answer.
        """
        self.stop_porter()
        self.porter = self.start_porter(quiet=60)
        silent = BuckLink("b2", self.clock, timeout=5.0)
        self.porter.links["b2"] = silent
        other = BucketStore(self.tmp / "b2", 60, self.clock)
        self.addCleanup(other.close)
        other_buck = BuckService(
            store=other, channel=Channel(self.clock), clock=self.clock, key=KEY, node="b2"
        )
        factory = client_factory(self.clock, silent, key=KEY, node="porter", role="porter")  # type: ignore[arg-type]
        other_pair = connect_pair(other_buck.factory, factory, self.clock)
        self.store.write_batch(batch(range(10, 20)), sync=False)
        other.write_batch(batch(range(10, 20)), sync=False)
        running = self.porter.round()
        assert running is not None
        archived = False
        for _ in range(1000):
            assert self.pair is not None
            self.pair.flush()
            if not self.file().exists():
                archived = True
                break
            other_pair.flush()
        self.assertTrue(archived)
        self.clock.advance(5)  # b2 never answers "archived"
        self.successResultOf(running)
        self.assertEqual(list(self.porter.state.copies(T0)), ["b2"])
        other_pair.client_transport.loseConnection()
        other_pair.flush()
