"""Tests for L{logship.tailer.shipper}: whole-bucket shipping and pruning."""

from __future__ import annotations

import hashlib
import random
import shutil
import tempfile
from pathlib import Path

from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase

from logship.core.event import Event
from logship.core.parse import TICKS_PER_SECOND
from logship.tailer.shipper import Shipper
from logship.tailer.spool import Spool
from logship.wire.messages import ArchivedQuery, ArchivedReply, BucketAck, BucketPut, Message

T0 = 1795685820  # 2026-11-26T09:37:00Z, a bucket start


class FakeBuck:
    def __init__(self) -> None:
        self.messages: list[Message] = []

    def send(self, message: Message) -> bool:
        self.messages.append(message)
        return True

    @property
    def sent(self) -> list[BucketPut]:
        return [m for m in self.messages if isinstance(m, BucketPut)]

    @property
    def queries(self) -> list[ArchivedQuery]:
        return [m for m in self.messages if isinstance(m, ArchivedQuery)]

    def uploads(self) -> dict[int, bytes]:
        data: dict[int, bytes] = {}
        for put in self.sent:
            data[put.upload_id] = data.get(put.upload_id, b"") + put.data
        return data


class ShipperTestCase(SynchronousTestCase):
    def setUp(self) -> None:
        self.tmp = Path(tempfile.mkdtemp())
        self.addCleanup(shutil.rmtree, self.tmp)
        self.spool = Spool(self.tmp / "spool" / "ack2", 60)
        self.spool.restore(None)
        self.addCleanup(self.spool.close)
        self.clock = Clock()
        self.clock.advance(T0)
        self.shipper = Shipper(
            spools=[self.spool], bucket_seconds=60, clock=self.clock,
            keep_seconds=3600, keep_bytes=1 << 30,
            rng=random.Random(1),
        )
        self.bucks = {"a": FakeBuck(), "b": FakeBuck()}
        for name, buck in self.bucks.items():
            self.shipper.connected(name, buck)  # type: ignore[arg-type]

    def at(self, when: float) -> None:
        """
        Move the clock on to C{when} (running what falls due on the way).
        """
        self.clock.advance(when - self.clock.seconds())

    def store(self, count: int, size: int = 100, at: int = T0) -> None:
        self.spool.append(
            Event((at + i % 60) * TICKS_PER_SECOND + i, 13, b"h", b"a", None, b"x" * size + b"%d" % i)
            for i in range(count)
        )
        self.spool.flush()

    def deliver_all(self) -> None:
        while (chunk := self.spool.next_chunk()) is not None:
            self.spool.delivered(chunk)

    def tick_past_delay(self) -> None:
        """
        Tick, then tick again once any random shipping delay has passed.
        """
        self.shipper.tick()
        self.clock.advance(60)
        self.shipper.tick()

    def sent(self) -> list[BucketPut]:
        return [put for buck in self.bucks.values() for put in buck.sent]

    def ack(self) -> None:
        last = max((p for p in self.sent() if p.last), key=lambda p: p.upload_id)
        name = next(n for n, b in self.bucks.items() if last in b.sent)
        self.shipper.bucket_acked(name, BucketAck(last.upload_id, last.start, 1, 1))


class ShipperTests(ShipperTestCase):
    def test_ships_a_closed_delivered_bucket_whole(self) -> None:
        self.store(30_000)  # several MiB: several chunks
        self.deliver_all()
        [(start, path, size, _)] = self.spool.files()
        self.at(T0 + 119)
        self.shipper.tick()
        self.assertEqual(self.sent(), [], "not closed yet")
        self.at(T0 + 120)  # closed
        self.tick_past_delay()
        puts = self.sent()
        self.assertGreater(len(puts), 2)
        self.assertEqual({p.upload_id for p in puts}, {1})
        data = b"".join(p.data for p in puts)
        self.assertEqual(data, path.read_bytes())
        self.assertEqual(puts[-1].sha256, hashlib.sha256(data).digest())
        self.assertEqual([p.offset for p in puts], [sum(len(q.data) for q in puts[:i]) for i in range(len(puts))])
        self.assertEqual((puts[0].start, puts[0].seconds), (T0, 60))
        self.ack()
        name = next(n for n, b in self.bucks.items() if b.sent)
        self.assertEqual(self.shipper.state(), {"ack2/2026/11/26/09/37.b": [size, name]})
        self.clock.advance(600)
        self.shipper.tick()
        self.assertEqual(len(self.sent()), len(puts), "shipped once")

    def test_undelivered_is_not_shipped(self) -> None:
        self.store(10)
        self.at(T0 + 1000)
        self.shipper.tick()
        self.assertEqual(self.sent(), [])

    def test_late_events_ship_again(self) -> None:
        self.store(10)
        self.deliver_all()
        self.at(T0 + 1000)
        self.tick_past_delay()
        self.ack()
        self.store(5, at=T0)
        self.deliver_all()
        self.tick_past_delay()
        uploads = [p for p in self.sent() if p.last]
        self.assertEqual(len(uploads), 2)

    def test_timeout_and_disconnect_retry(self) -> None:
        self.store(10)
        self.deliver_all()
        self.at(T0 + 1000)
        self.tick_past_delay()
        self.clock.advance(120)
        self.assertEqual(self.shipper.stats.failed, 1)
        self.shipper.tick()
        self.assertEqual(self.shipper.stats.uploads, 2)
        first = next(n for n, b in self.bucks.items() if b.sent and b.sent[-1].upload_id == 2)
        self.shipper.disconnected(first)
        self.assertEqual(self.shipper.stats.failed, 2)
        self.shipper.tick()
        self.assertEqual(self.shipper.stats.uploads, 3)
        self.ack()
        self.assertEqual(self.shipper.stats.acked, 1)
        self.assertEqual(self.clock.getDelayedCalls(), [])

    def test_prunes_only_shipped_old_buckets(self) -> None:
        self.store(10, at=T0)
        self.store(10, at=T0 + 60)
        self.deliver_all()
        self.at(T0 + 150)
        self.tick_past_delay()  # ships the first bucket only (the second is not closed)
        self.ack()
        self.at(T0 + 7200)
        self.shipper.tick()
        [(start, path, _, _)] = self.spool.files()
        self.assertEqual(start, T0 + 60, "the shipped one is pruned, the other kept")
        self.assertFalse((self.tmp / "spool/ack2/2026/11/26/09/37.b").exists())
        self.assertTrue(path.exists())
        self.assertEqual(self.shipper.stats.pruned, 1)

    def test_prunes_beyond_size_limit(self) -> None:
        self.shipper._keep_bytes = 1  # everything shipped is over the limit
        self.store(10)
        self.deliver_all()
        self.at(T0 + 1000)
        self.tick_past_delay()
        self.ack()
        self.shipper.tick()
        self.assertEqual(self.spool.files(), [])

    def test_state_round_trip(self) -> None:
        self.store(1, at=T0)
        self.store(1, at=T0 + 60)
        self.shipper.restore({"ack2/2026/11/26/09/37.b": 5, "ack2/2026/11/26/09/38.b": [7, "a"]})
        self.assertEqual(
            self.shipper.state(),
            {"ack2/2026/11/26/09/37.b": [5, None], "ack2/2026/11/26/09/38.b": [7, "a"]},
        )

    def test_restore_forgets_gone_files(self) -> None:
        """
        The shipped size of a file that is gone (deleted once archived by a
        tailer killed before its checkpoint) is forgotten: a smaller file
        of that bucket made since is shipped whole, and then pruned.
        """
        self.shipper.restore({"ack2/2026/11/26/09/37.b": [161_521, "a"]})
        self.assertEqual(self.shipper.state(), {})
        self.store(10)
        self.deliver_all()
        self.at(T0 + 1000)
        self.tick_past_delay()
        [(_, path, size, _)] = self.spool.files()
        self.assertEqual(b"".join(p.data for p in self.sent()), path.read_bytes())
        self.ack()
        self.at(T0 + 7200)
        self.shipper.tick()
        self.assertEqual(self.spool.files(), [])
        self.assertEqual(self.shipper.stats.pruned, 1)

    def test_restore_forgets_sizes_past_the_file(self) -> None:
        """
        A shipped size larger than the file is of another file: forgotten;
        one the file reaches is kept.
        """
        self.store(10, at=T0)
        self.store(10, at=T0 + 60)
        [(_, _, first, _), (_, _, second, _)] = self.spool.files()
        self.shipper.restore(
            {"ack2/2026/11/26/09/37.b": [first + 1, "a"], "ack2/2026/11/26/09/38.b": [second, "b"]}
        )
        self.assertEqual(self.shipper.state(), {"ack2/2026/11/26/09/38.b": [second, "b"]})


class ArchivedTests(ShipperTestCase):
    """
    Files shipped to a buck are deleted once that buck says their bucket
    was archived.
    """

    def ship_two(self) -> tuple[str, list[tuple[int, Path, int, int]]]:
        """
        Ship two buckets (to the same buck: one upload at a time, and the
        rng picks), acknowledged; return the buck's name and the files.
        """
        self.store(10, at=T0)
        self.store(10, at=T0 + 60)
        self.deliver_all()
        self.at(T0 + 180)
        for _ in range(2):
            self.tick_past_delay()
            self.ack()
        self.assertEqual(self.shipper.stats.acked, 2)
        state = self.shipper.state()
        (name,) = {buck for _, buck in state.values()}
        return name, self.spool.files()

    def test_query_to_the_buck_that_took_them(self) -> None:
        """
        Every query interval, the buck that acknowledged the uploads is
        asked about their buckets; the other buck is not.
        """
        name, _ = self.ship_two()
        self.clock.advance(60)
        self.shipper.tick()
        (query,) = self.bucks[name].queries[-1:]
        self.assertEqual(query.starts, [T0, T0 + 60])
        other = next(n for n in self.bucks if n != name)
        self.assertEqual(self.bucks[other].queries, [])
        asked = len(self.bucks[name].queries)
        self.clock.advance(1)
        self.shipper.tick()
        self.assertEqual(len(self.bucks[name].queries), asked, "not before the interval")

    def test_reply_deletes_archived_files(self) -> None:
        """
        A reply from the buck that took the upload deletes the archived
        bucket's file; the same reply from another buck deletes nothing.
        """
        name, files = self.ship_two()
        other = next(n for n in self.bucks if n != name)
        self.shipper.archived_reply(other, ArchivedReply(1, [T0, T0 + 60]))
        self.assertEqual(len(self.spool.files()), 2)
        self.shipper.archived_reply(name, ArchivedReply(2, [T0]))
        [(start, _, _, _)] = self.spool.files()
        self.assertEqual(start, T0 + 60)
        self.assertFalse(files[0][1].exists())
        self.assertEqual(self.shipper.stats.archived, 1)
        self.assertEqual(len(self.shipper.state()), 1)

    def test_grown_file_is_kept(self) -> None:
        """
        A file that got events after its upload is not deleted: the
        archive does not hold those.
        """
        name, _ = self.ship_two()
        self.store(1, at=T0)
        self.deliver_all()
        self.shipper.archived_reply(name, ArchivedReply(1, [T0]))
        self.assertEqual(len(self.spool.files()), 2)
