"""Tests for L{logship.buck.pubsub}: bounded, lossy, never blocking fan-out."""

from __future__ import annotations

from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase

from logship.buck.pubsub import (
    Channel,
    Subscription,
    TooManySubscribers,
    event_cost,
)
from logship.core.event import Event, decode
from tests.buck import make_event


def events(start: int, count: int, size: int = 20) -> list[Event]:
    return [decode(make_event(i, size=size)) for i in range(start, start + count)]


def numbers(events: list[Event]) -> list[int]:
    return [int(e.message.split()[1]) for e in events]


class ChannelTestCase(SynchronousTestCase):
    def setUp(self) -> None:
        self.clock = Clock()
        self.channel = Channel(self.clock)

    def tearDown(self) -> None:
        for subscription in self.channel.subscriptions:
            subscription.close()
        self.assertEqual(self.clock.getDelayedCalls(), [])


class PublishTests(ChannelTestCase):
    def test_fan_out(self) -> None:
        """
        Every subscription gets every event published after it subscribed,
        in order.
        """
        self.channel.publish(events(0, 2))
        a = self.channel.subscribe("a")
        b = self.channel.subscribe("b")
        batch = events(2, 3)
        self.channel.publish(batch)
        for subscription in (a, b):
            pulled = subscription.pull()
            self.assertEqual(pulled.events, batch)
            self.assertEqual(pulled.skipped, 0)
            self.assertEqual(subscription.pull().events, [])
        self.assertEqual(self.channel.published, 5)
        self.assertEqual(a.delivered, 3)

    def test_no_subscribers(self) -> None:
        self.channel.publish(events(0, 100))
        self.channel.publish([])
        self.assertEqual(self.channel.published, 100)

    def test_serialized_decoded_only_for_subscribers(self) -> None:
        """
        Serialized events are counted without being decoded while nobody
        subscribed (bytes that would not decode pass), and decoded for
        subscribers.
        """
        self.channel.publish_serialized([b"not decoded", b"at all"])
        self.assertEqual(self.channel.published, 2)
        subscription = self.channel.subscribe("a")
        self.channel.publish_serialized([make_event(1), make_event(2)])
        self.assertEqual(
            subscription.pull().events, [decode(make_event(1)), decode(make_event(2))]
        )
        self.assertEqual(self.channel.published, 4)

    def test_pull_some(self) -> None:
        subscription = self.channel.subscribe("a")
        self.channel.publish(events(0, 5))
        self.assertEqual(numbers(subscription.pull(2).events), [0, 1])
        self.assertEqual(subscription.pending, 3)
        self.assertEqual(numbers(subscription.pull(10).events), [2, 3, 4])
        self.assertEqual(subscription.pending_bytes, 0)

    def test_filter(self) -> None:
        """
        A subscription's C{accept} filter keeps what it returns true for.
        """
        subscription = self.channel.subscribe("odd", accept=lambda e: e.point % 2 == 1)
        self.channel.publish(events(0, 6))
        self.assertEqual(numbers(subscription.pull().events), [1, 3, 5])
        self.assertEqual(subscription.received, 3)


class StalledSubscriberTests(ChannelTestCase):
    def test_bounded_and_counted(self) -> None:
        """
        A subscriber that never pulls holds at most C{max_pending} events;
        the oldest are dropped and counted; a subscriber that keeps up
        loses nothing; the publisher is never held up.
        """
        stalled = self.channel.subscribe("stalled", max_pending=100)
        fast = self.channel.subscribe("fast")
        seen: list[int] = []
        for n in range(0, 20_000, 1_000):
            self.channel.publish(events(n, 1_000))
            self.assertLessEqual(stalled.pending, 100)
            seen.extend(numbers(fast.pull().events))
        self.assertEqual(seen, list(range(20_000)))
        self.assertEqual(stalled.dropped, 19_900)
        self.assertEqual(self.channel.dropped, 19_900)
        pulled = stalled.pull()
        self.assertEqual(pulled.skipped, 19_900)
        self.assertEqual(numbers(pulled.events), list(range(19_900, 20_000)))
        self.assertEqual(stalled.pull().skipped, 0)
        self.assertEqual(fast.dropped, 0)

    def test_byte_bound(self) -> None:
        """
        The pending events' estimated bytes stay under C{max_pending_bytes}
        (a few large events count like many small ones).
        """
        big = events(0, 50, size=10_000)
        limit = sum(map(event_cost, big[-5:]))
        subscription = self.channel.subscribe("s", max_pending_bytes=limit)
        self.channel.publish(big)
        self.assertEqual(subscription.pending, 5)
        self.assertLessEqual(subscription.pending_bytes, limit)
        self.assertEqual(subscription.dropped, 45)
        self.assertEqual(numbers(subscription.pull().events), list(range(45, 50)))

    def test_one_event_always_fits(self) -> None:
        subscription = self.channel.subscribe("s", max_pending_bytes=1)
        self.channel.publish(events(0, 3, size=1000))
        self.assertEqual(numbers(subscription.pull().events), [2])

    def test_skipped_since_last_pull(self) -> None:
        subscription = self.channel.subscribe("s", max_pending=2)
        self.channel.publish(events(0, 5))
        pulled = subscription.pull(1)
        self.assertEqual((numbers(pulled.events), pulled.skipped), ([3], 3))
        self.channel.publish(events(5, 3))
        pulled = subscription.pull()
        self.assertEqual((numbers(pulled.events), pulled.skipped), ([6, 7], 2))


class WakeupTests(ChannelTestCase):
    def test_eventual_once_per_pull(self) -> None:
        """
        C{on_ready} is never called inside C{publish}; it comes from the
        clock, once, and again only after the subscriber pulled.
        """
        woken: list[Subscription] = []
        subscription = self.channel.subscribe("s", on_ready=woken.append)
        self.channel.publish(events(0, 2))
        self.assertEqual(woken, [])
        self.clock.advance(0)
        self.assertEqual(woken, [subscription])
        self.channel.publish(events(2, 2))
        self.clock.advance(0)
        self.assertEqual(len(woken), 1)
        subscription.pull(3)
        self.clock.advance(0)
        self.assertEqual(len(woken), 2, "events remain after the pull")
        subscription.pull()
        self.clock.advance(0)
        self.assertEqual(len(woken), 2)
        self.channel.publish(events(4, 1))
        self.clock.advance(0)
        self.assertEqual(len(woken), 3)

    def test_close_cancels_wakeup(self) -> None:
        subscription = self.channel.subscribe("s", on_ready=lambda s: None)
        self.channel.publish(events(0, 1))
        subscription.close()
        self.assertEqual(self.clock.getDelayedCalls(), [])
        self.assertEqual(self.channel.subscriptions, [])
        self.assertTrue(subscription.closed)
        self.channel.publish(events(1, 1))
        self.assertEqual(subscription.pending, 0)

    def test_failing_wakeup_unsubscribes(self) -> None:
        def boom(subscription: Subscription) -> None:
            raise RuntimeError("boom")

        subscription = self.channel.subscribe("s", on_ready=boom)
        self.channel.publish(events(0, 1))
        self.clock.advance(0)
        self.assertTrue(subscription.closed)
        self.assertEqual(len(self.flushLoggedErrors(RuntimeError)), 1)


class RobustnessTests(ChannelTestCase):
    def test_failing_filter(self) -> None:
        """
        A filter that raises unsubscribes its subscription; publish does not
        raise and the other subscriptions still get the events.
        """

        def bad(event: Event) -> bool:
            raise ValueError("bad filter")

        broken = self.channel.subscribe("broken", accept=bad)
        good = self.channel.subscribe("good")
        self.channel.publish(events(0, 3))
        self.assertTrue(broken.closed)
        self.assertEqual(len(good.pull().events), 3)
        self.assertEqual(self.channel.filter_errors, 1)
        self.assertEqual(len(self.flushLoggedErrors(ValueError)), 1)

    def test_too_many(self) -> None:
        channel = Channel(self.clock, max_subscribers=2)
        channel.subscribe("a")
        b = channel.subscribe("b")
        self.assertRaises(TooManySubscribers, channel.subscribe, "c")
        b.close()
        channel.subscribe("c")

    def test_bad_bounds(self) -> None:
        self.assertRaises(ValueError, self.channel.subscribe, "s", max_pending=0)

    def test_stats(self) -> None:
        subscription = self.channel.subscribe("s", max_pending=1)
        self.channel.publish(events(0, 3))
        subscription.pull()
        self.assertEqual(
            self.channel.stats(),
            {
                "published": 3,
                "dropped": 2,
                "filter_errors": 0,
                "subscribers": [
                    {"name": "s", "pending": 0, "received": 3, "delivered": 1, "dropped": 2}
                ],
            },
        )


