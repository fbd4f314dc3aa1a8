"""Tests for L{logship.tailer.shipper}: whole-bucket shipping and pruning."""

from __future__ import annotations

import hashlib
import random
import shutil
import tempfile
from pathlib import Path

from twisted.internet.interfaces import IPullProducer
from twisted.internet.task import Clock
from twisted.logger import LogLevel, globalLogPublisher
from twisted.trial.unittest import SynchronousTestCase

from logship.core.credentials import NodeIdentity, Trust
from logship.core.event import Event
from logship.core.parse import TICKS_PER_SECOND
from logship.core.receipts import ArchiveReceipt, sign_receipt
from logship.tailer.shipper import Shipper
from logship.tailer.spool import Spool
from logship.wire.messages import (
    MAX_CHUNK,
    ArchivedQuery,
    ArchivedReply,
    ArchiveProof,
    BucketAck,
    BucketPut,
    Message,
)
from tests.credentials import OTHER_AUTHORITY, identity, trust

T0 = 1795685820  # 2026-11-26T09:37:00Z, a bucket start


class FakeBuck:
    """
    A connected buck whose write buffer empties at once (C{draining}): a
    registered producer is asked for more until it unregisters; else the
    test asks (L{more}).
    """

    def __init__(self, node: str, draining: bool = True) -> None:
        self.peer_node = node
        self.messages: list[Message] = []
        self.draining = draining
        self.producer: IPullProducer | None = None

    def send(self, message: Message) -> bool:
        self.messages.append(message)
        return True

    def register_producer(self, producer: IPullProducer) -> bool:
        if self.producer is not None:
            return False
        self.producer = producer
        producer.resumeProducing()
        while self.draining and self.producer is producer:
            producer.resumeProducing()
        return True

    def unregister_producer(self) -> None:
        self.producer = None

    def more(self) -> None:
        """
        The write buffer emptied: the producer is asked for more.
        """
        assert self.producer is not None
        self.producer.resumeProducing()

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
    trust: Trust | None = None

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
            rng=random.Random(1), trust=self.trust,
        )
        self.bucks = {"a": FakeBuck("buck-a"), "b": FakeBuck("buck-b")}
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
        self.assertEqual(
            self.shipper.state(),
            {"ack2/2026/11/26/09/37.b": [size, name, hashlib.sha256(data).hexdigest()]},
        )
        self.clock.advance(600)
        self.shipper.tick()
        self.assertEqual(len(self.sent()), len(puts), "shipped once")

    def test_one_chunk_each_time_the_connection_asks(self) -> None:
        """
        An upload sends one chunk when it starts and one more each time
        the connection's write buffer is empty, never the file at once;
        the chunks are the file, and its producer is gone at the end.
        """
        for buck in self.bucks.values():
            buck.draining = False
        self.store(30_000)  # several MiB: several chunks
        self.deliver_all()
        [(_, path, size, _)] = self.spool.files()
        self.at(T0 + 120)
        self.tick_past_delay()
        [buck] = [b for b in self.bucks.values() if b.producer is not None]
        self.assertEqual(len(buck.sent), 1)
        chunks = -(-size // MAX_CHUNK)
        self.assertGreater(chunks, 2)
        for sent in range(2, chunks + 1):
            buck.more()
            self.assertEqual(len(buck.sent), sent)
        self.assertIsNone(buck.producer)
        self.assertEqual(b"".join(p.data for p in buck.sent), path.read_bytes())
        self.assertEqual(buck.sent[-1].sha256, hashlib.sha256(path.read_bytes()).digest())

    def test_a_failed_upload_stops_its_producer(self) -> None:
        """
        An upload given up (no acknowledgement in time) unregisters its
        producer, and the file is shipped again whole.
        """
        for buck in self.bucks.values():
            buck.draining = False
        self.store(30_000)
        self.deliver_all()
        self.at(T0 + 120)
        self.tick_past_delay()
        [buck] = [b for b in self.bucks.values() if b.producer is not None]
        self.clock.advance(3600)
        self.assertIsNone(buck.producer)
        self.assertEqual(self.shipper.stats.failed, 1)

    def test_oldest_unshipped(self) -> None:
        """
        The oldest local bucket not shipped whole at its size: none at
        first, the first bucket until it is shipped and acknowledged, then
        the next; a late event makes the first one unshipped again.
        """
        self.assertIsNone(self.shipper.oldest_unshipped())
        self.store(10)
        self.store(10, at=T0 + 60)
        self.assertEqual(self.shipper.oldest_unshipped(), T0)
        self.deliver_all()
        self.at(T0 + 120)
        self.tick_past_delay()
        self.ack()
        self.assertEqual(self.shipper.oldest_unshipped(), T0 + 60)
        self.store(1)
        self.assertEqual(self.shipper.oldest_unshipped(), T0)

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

    def test_not_due_again_during_its_upload(self) -> None:
        """
        Ticks while an upload waits for its acknowledgement do not make its
        file due again (it would be shipped twice).
        """
        self.store(10)
        self.deliver_all()
        self.at(T0 + 1000)
        self.tick_past_delay()
        self.tick_past_delay()
        self.ack()
        self.tick_past_delay()
        self.assertEqual(self.shipper.stats.uploads, 1)

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

    def test_old_buckets_are_kept_and_counted(self) -> None:
        """
        Past the keeping period a bucket without a receipt is kept, shipped
        or not: it is counted as overdue and logged once.
        """
        self.store(10, at=T0)
        self.store(10, at=T0 + 60)
        self.deliver_all()
        self.at(T0 + 150)
        self.tick_past_delay()  # ships the first bucket only (the second is not closed)
        self.ack()
        logged: list[dict[str, object]] = []
        globalLogPublisher.addObserver(logged.append)
        self.addCleanup(globalLogPublisher.removeObserver, logged.append)
        self.at(T0 + 7200)
        self.shipper.tick()
        self.shipper.tick()
        self.assertEqual(len(self.spool.files()), 2)
        self.assertEqual(self.shipper.stats.pruned, 0)
        self.assertEqual(self.shipper.stats.overdue_files, 2)
        self.assertEqual(self.shipper.stats.overdue_bytes, sum(f[2] for f in self.spool.files()))
        overdue = [e for e in logged if "keeping period" in str(e.get("log_format"))]
        self.assertEqual(len(overdue), 2, "once per file")

    def test_prunes_beyond_size_limit(self) -> None:
        """
        The size limit deletes shipped buckets without a receipt, counted
        and logged as an error.
        """
        self.shipper._keep_bytes = 1  # everything shipped is over the limit
        self.store(10)
        self.deliver_all()
        self.at(T0 + 1000)
        self.tick_past_delay()
        self.ack()
        logged: list[dict[str, object]] = []
        globalLogPublisher.addObserver(logged.append)
        self.addCleanup(globalLogPublisher.removeObserver, logged.append)
        self.shipper.tick()
        self.assertEqual(self.spool.files(), [])
        self.assertEqual(self.shipper.stats.pruned, 1)
        [error] = [e for e in logged if e["log_level"] == LogLevel.error]
        self.assertIn("without a proof of archiving", str(error["log_format"]))

    def test_state_round_trip(self) -> None:
        """
        The state of earlier versions (a bare size, a size and a buck) is
        read, the digest then unknown.
        """
        for second in (0, 60, 120):
            self.store(1, at=T0 + second)
        self.shipper.restore({
            "ack2/2026/11/26/09/37.b": 5,
            "ack2/2026/11/26/09/38.b": [7, "a"],
            "ack2/2026/11/26/09/39.b": [9, "b", "ab" * 32],
        })
        self.assertEqual(
            self.shipper.state(),
            {
                "ack2/2026/11/26/09/37.b": [5, None, None],
                "ack2/2026/11/26/09/38.b": [7, "a", None],
                "ack2/2026/11/26/09/39.b": [9, "b", "ab" * 32],
            },
        )

    def test_restore_forgets_gone_files(self) -> None:
        """
        The shipped size of a file that is gone (deleted once archived by a
        tailer killed before its checkpoint) is forgotten: a smaller file
        of that bucket made since is shipped whole, and then asked about.
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
        name = next(n for n, b in self.bucks.items() if b.sent)
        self.assertEqual(
            self.bucks[name].queries[-1].uploads, [(T0, hashlib.sha256(path.read_bytes()).digest())]
        )

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
        self.assertEqual(self.shipper.state(), {"ack2/2026/11/26/09/38.b": [second, "b", None]})


class ArchivedTests(ShipperTestCase):
    """
    Files shipped to a buck are deleted once that buck shows the porter's
    receipt for its copy that had merged them (lab mode: the receipt's
    fields are checked, it is not signed).
    """

    porter: NodeIdentity | None = None

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
        (name,) = {buck for _, buck, _ in state.values()}
        return name, self.spool.files()

    def proof(
        self,
        start: int,
        path: Path,
        buck: str,
        *,
        porter: NodeIdentity | None = None,
        credential: bytes | None = None,
        receipt_start: int | None = None,
    ) -> ArchiveProof:
        """
        The proof a buck would relay for the upload of C{path}: a receipt
        for buck C{buck}'s copy, signed by C{porter} (this test's porter
        by default) if there is one.
        """
        porter = porter or self.porter
        upload = hashlib.sha256(path.read_bytes()).digest()
        receipt = ArchiveReceipt(
            "porter" if porter is None else porter.credential.node, buck,
            start if receipt_start is None else receipt_start, 60, 1000, bytes(32),
            "buckets/x.lsp", bytes(32), T0,
        )
        body, signature = sign_receipt(receipt, porter)
        if credential is None:
            credential = b"" if porter is None else porter.credential.blob
        return ArchiveProof(start, upload, body, signature, credential)

    def test_query_to_the_buck_that_took_them(self) -> None:
        """
        Every query interval, the buck that acknowledged the uploads is
        asked about them (bucket and digest); the other buck is not.
        """
        name, files = self.ship_two()
        self.clock.advance(60)
        self.shipper.tick()
        (query,) = self.bucks[name].queries[-1:]
        self.assertEqual(
            query.uploads,
            [(start, hashlib.sha256(path.read_bytes()).digest()) for start, path, _, _ in files],
        )
        other = next(n for n in self.bucks if n != name)
        self.assertEqual(self.bucks[other].queries, [])
        asked = len(self.bucks[name].queries)
        self.clock.advance(1)
        self.shipper.tick()
        self.assertEqual(len(self.bucks[name].queries), asked, "not before the interval")

    def test_reply_deletes_archived_files(self) -> None:
        """
        A proof from the buck that took the upload deletes the archived
        bucket's file; the same proof from another buck, a proof for
        another buck's copy, or for another upload, deletes nothing.
        """
        name, files = self.ship_two()
        node = self.bucks[name].peer_node
        other = next(n for n in self.bucks if n != name)
        (start, path, _, _), (start2, path2, _, _) = files
        self.shipper.archived_reply(other, ArchivedReply(1, [
            self.proof(start, path, self.bucks[other].peer_node),
            self.proof(start2, path2, node),
        ]))
        self.shipper.archived_reply(name, ArchivedReply(2, [
            self.proof(start2, path2, self.bucks[other].peer_node),
            self.proof(start2, path, node),
        ]))
        self.assertEqual(len(self.spool.files()), 2)
        self.assertEqual(self.shipper.stats.proofs_refused, 1)
        self.shipper.archived_reply(name, ArchivedReply(3, [self.proof(start, path, node)]))
        [(left, _, _, _)] = self.spool.files()
        self.assertEqual(left, T0 + 60)
        self.assertFalse(path.exists())
        self.assertEqual(self.shipper.stats.archived, 1)
        self.assertEqual(len(self.shipper.state()), 1)

    def test_grown_file_is_kept(self) -> None:
        """
        A file that got events after its upload is not deleted: the
        archive does not hold those.
        """
        name, files = self.ship_two()
        (start, path, _, _), _ = files
        proof = self.proof(start, path, self.bucks[name].peer_node)
        self.store(1, at=T0)
        self.deliver_all()
        self.shipper.archived_reply(name, ArchivedReply(1, [proof]))
        self.assertEqual(len(self.spool.files()), 2)

    def test_missing_upload_is_shipped_again(self) -> None:
        """
        A file whose buck says it does not have the upload (a lost disk) is
        shipped again, to the other buck, and then asked about there; the
        same answer from a buck that did not take it changes nothing.
        """
        name, files = self.ship_two()
        other = next(n for n in self.bucks if n != name)
        (start, path, _, _), _ = files
        upload = (start, hashlib.sha256(path.read_bytes()).digest())
        self.shipper.archived_reply(other, ArchivedReply(1, [], [upload]))
        self.assertEqual(self.shipper.stats.reshipped, 0)
        self.shipper.archived_reply(name, ArchivedReply(2, [], [upload]))
        self.assertEqual(self.shipper.stats.reshipped, 1)
        self.assertEqual(len(self.spool.files()), 2, "nothing deleted")
        self.assertEqual(self.shipper.oldest_unshipped(), T0)
        self.tick_past_delay()
        again = self.bucks[other].sent
        self.assertEqual(b"".join(p.data for p in again), path.read_bytes())
        self.ack()
        self.assertEqual(self.shipper.state()[self.shipper._key(path)][1], other)
        self.clock.advance(60)
        self.shipper.tick()
        self.assertEqual(self.bucks[other].queries[-1].uploads, [upload])

    def test_missing_upload_to_the_only_buck(self) -> None:
        """
        With only the buck that lost it connected, the file goes to it.
        """
        name, files = self.ship_two()
        other = next(n for n in self.bucks if n != name)
        self.shipper.disconnected(other)
        (start, path, _, _), _ = files
        upload = (start, hashlib.sha256(path.read_bytes()).digest())
        sent = len(self.bucks[name].sent)
        self.shipper.archived_reply(name, ArchivedReply(1, [], [upload]))
        self.tick_past_delay()
        self.assertEqual(
            b"".join(p.data for p in self.bucks[name].sent[sent:]), path.read_bytes()
        )

    def test_receipt_of_another_bucket(self) -> None:
        name, files = self.ship_two()
        (start, path, _, _), _ = files
        proof = self.proof(start, path, self.bucks[name].peer_node, receipt_start=T0 + 60)
        self.shipper.archived_reply(name, ArchivedReply(1, [proof]))
        self.assertEqual(len(self.spool.files()), 2)
        self.assertEqual(self.shipper.stats.proofs_refused, 1)


class SignedArchivedTests(ArchivedTests):
    """
    In credential mode the same, and the receipt must be signed by a porter
    credential of a trusted authority, valid now.
    """

    trust = trust()
    porter = identity("porter", "porter")

    def refused(self, **kwargs: object) -> None:
        name, files = self.ship_two()
        (start, path, _, _), _ = files
        proof = self.proof(start, path, self.bucks[name].peer_node, **kwargs)  # type: ignore[arg-type]
        self.shipper.archived_reply(name, ArchivedReply(1, [proof]))
        self.assertEqual(len(self.spool.files()), 2)
        self.assertEqual(self.shipper.stats.proofs_refused, 1)

    def test_unsigned(self) -> None:
        """
        A receipt without a signature (lab mode) proves nothing here.
        """
        self.refused(credential=b"")

    def test_forged_porter(self) -> None:
        self.refused(porter=identity("porter", "porter", authority=OTHER_AUTHORITY))

    def test_not_a_porter(self) -> None:
        """
        A receipt signed by a buck's (or a tailer's) credential is refused.
        """
        self.refused(porter=identity("buck-a", "buck"))

    def test_expired_porter(self) -> None:
        self.refused(porter=identity("porter", "porter", expires=T0 - 1))

    def test_signature_of_another_key(self) -> None:
        """
        The porter's credential with a signature made by another key.
        """
        self.refused(porter=identity("porter-2", "porter"),
                     credential=identity("porter", "porter").credential.blob)
