"""Tests for L{logship.tailer.delivery}: R-of-N replicated delivery."""

from __future__ import annotations

import random

from twisted.internet.task import Clock
from twisted.internet.testing import EventLoggingObserver
from twisted.logger import globalLogPublisher
from twisted.trial.unittest import SynchronousTestCase

from logship.tailer.delivery import Delivery, acks_needed
from logship.wire.messages import Batch, PreparedMessage


class FakeBuck:
    """
    A connected buck that records what it was sent.
    """

    def __init__(self, open: bool = True) -> None:
        self.sent: list[Batch] = []
        self.open = open

    def send(self, message: PreparedMessage) -> bool:
        if self.open:
            assert isinstance(message.message, Batch)
            self.sent.append(message.message)
        return self.open


class DeliveryTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.clock = Clock()
        self.delivery = Delivery(
            replicas=2, clock=self.clock, ack_timeout=30, rng=random.Random(7)
        )
        self.bucks = {name: FakeBuck() for name in ("a", "b", "c")}

    def connect(self, *names: str) -> None:
        for name in names:
            self.delivery.connected(name, self.bucks[name])  # type: ignore[arg-type]

    def holders(self, batch_id: int) -> list[str]:
        return sorted(
            n for n, b in self.bucks.items() if any(x.batch_id == batch_id for x in b.sent)
        )

    def test_acks_needed(self) -> None:
        self.assertEqual(
            [acks_needed(d, 2) for d in ("live", "ack1", "ack2", "ack2+fsync")], [0, 1, 2, 2]
        )

    def test_ack2_goes_to_two_bucks_and_waits_for_both(self) -> None:
        self.connect("a", "b", "c")
        done = self.delivery.send([b"e1", b"e2"], "ack2")
        [first, second] = self.holders(1)
        self.delivery.acked(first, 1)
        self.assertNoResult(done)
        self.delivery.acked(first, 1)  # a repeated ack counts once
        self.assertNoResult(done)
        self.delivery.acked(second, 1)
        self.successResultOf(done)
        self.assertEqual(self.clock.getDelayedCalls(), [])
        self.assertEqual(self.delivery.in_flight, 0)
        self.assertEqual(self.bucks[first].sent[0].events, [b"e1", b"e2"])

    def test_ack1_goes_to_one_buck(self) -> None:
        self.connect("a", "b", "c")
        done = self.delivery.send([b"e"], "ack1")
        [only] = self.holders(1)
        self.delivery.acked(only, 1)
        self.successResultOf(done)

    def test_live_needs_no_ack(self) -> None:
        self.connect("a", "b", "c")
        self.successResultOf(self.delivery.send([b"e"], "live"))
        self.assertEqual(len(self.holders(1)), 2)
        self.assertEqual(self.clock.getDelayedCalls(), [])

    def test_waits_for_enough_bucks(self) -> None:
        self.connect("a")
        done = self.delivery.send([b"e"], "ack2")
        self.assertEqual(self.holders(1), ["a"])
        self.delivery.acked("a", 1)
        self.assertNoResult(done)
        self.connect("b")
        self.assertEqual(self.holders(1), ["a", "b"])
        self.delivery.acked("b", 1)
        self.successResultOf(done)

    def test_no_buck_at_all(self) -> None:
        done = self.delivery.send([b"e"], "ack2")
        self.clock.advance(1000)
        self.assertNoResult(done)
        self.connect("c", "b")
        self.delivery.acked("b", 1)
        self.delivery.acked("c", 1)
        self.successResultOf(done)

    def test_timeout_sends_elsewhere(self) -> None:
        self.connect("a", "b", "c")
        done = self.delivery.send([b"e"], "ack2")
        [first, second] = self.holders(1)
        [third] = {"a", "b", "c"} - {first, second}
        self.delivery.acked(first, 1)
        self.clock.advance(30)
        self.assertEqual(self.delivery.stats.timeouts, 1)
        self.assertEqual(self.holders(1), ["a", "b", "c"])
        self.delivery.acked(second, 1)  # too late: that copy was given up on
        self.assertNoResult(done)
        self.delivery.acked(third, 1)
        self.successResultOf(done)

    def test_timeout_with_no_other_buck_resends_to_the_same(self) -> None:
        self.connect("a", "b")
        done = self.delivery.send([b"e"], "ack2")
        self.delivery.acked("a", 1)
        self.clock.advance(30)
        self.assertEqual(len(self.bucks["b"].sent), 2)
        self.delivery.acked("b", 1)
        self.successResultOf(done)

    def test_disconnect_sends_elsewhere(self) -> None:
        self.connect("a", "b")
        done = self.delivery.send([b"e"], "ack2")
        self.delivery.disconnected("a")
        self.assertEqual(len(self.clock.getDelayedCalls()), 1)
        self.connect("c")
        self.assertEqual(self.holders(1), ["a", "b", "c"])
        self.delivery.acked("b", 1)
        self.delivery.acked("c", 1)
        self.successResultOf(done)
        self.assertEqual(self.delivery.stats.resends, 1)

    def test_closing_buck_is_skipped(self) -> None:
        self.bucks["a"].open = False
        self.connect("a", "b", "c")
        self.delivery.send([b"e"], "ack2")
        self.assertEqual(self.holders(1), ["b", "c"])

    def test_only_closing_bucks(self) -> None:
        self.bucks["a"].open = False
        self.connect("a")
        done = self.delivery.send([b"e"], "ack1")
        self.assertNoResult(done)
        self.assertEqual(self.clock.getDelayedCalls(), [])

    def test_ack_for_unknown_batch_ignored(self) -> None:
        self.connect("a")
        self.delivery.acked("a", 99)
        self.assertEqual(self.delivery.stats.acks, 1)

    def test_spreads_over_bucks(self) -> None:
        self.connect("a", "b", "c")
        for batch_id in range(1, 301):
            self.delivery.send([b"e"], "ack2")
            for name in self.holders(batch_id):
                self.delivery.acked(name, batch_id)
        counts = [len(b.sent) for b in self.bucks.values()]
        self.assertEqual(sum(counts), 600)
        self.assertTrue(all(150 < c < 250 for c in counts), counts)

    def test_stop_cancels_timers(self) -> None:
        self.connect("a", "b")
        self.delivery.send([b"e"], "ack2")
        self.delivery.stop()
        self.assertEqual(self.clock.getDelayedCalls(), [])

    def test_refused_waits_for_the_timeout(self) -> None:
        """
        A refused batch is logged and counted; its copy is offered again
        only after the ack timeout, not in a loop; it stays undelivered.
        """
        log = EventLoggingObserver.createWithCleanup(self, globalLogPublisher)
        self.connect("a", "b")
        done = self.delivery.send([b"e"], "ack2")
        for name in ("a", "b"):
            self.delivery.refused(name, 1, "host 'db-1' is not allowed")
        self.assertEqual(self.delivery.stats.refused, 2)
        self.assertEqual([len(b.sent) for b in self.bucks.values()], [1, 1, 0])
        (event,) = [e for e in log if e.get("buck") == "a" and "refused" in e["log_format"]]
        self.assertEqual(event["reason"], "host 'db-1' is not allowed")
        self.clock.advance(30)
        self.assertEqual([len(b.sent) for b in self.bucks.values()], [2, 2, 0])
        self.assertNoResult(done)
        self.delivery.stop()
