"""Tests for L{logship.buck.live.stream}: batching, the rate cap, flow control and stalls."""

from __future__ import annotations

from logship.buck.live.messages import CLOSE_STALLED
from logship.buck.live.stream import MAX_PENDING_BYTES, MIN_PENDING
from tests.buck.live.common import LiveTestCase, PausingTransport, events


class FlowTests(LiveTestCase):
    def test_batches_every_interval(self) -> None:
        """
        The first events after a quiet spell go out at once; events
        published within the next 100 ms go out together.
        """
        client, pump = self.open()
        self.channel.publish(events(0, 2))
        self.clock.advance(0)
        pump.flush()
        self.assertEqual(len(client.of_type("events")), 1)
        for i in range(2, 10):
            self.channel.publish(events(i, 1))
            self.clock.advance(0.01)
            pump.flush()
        self.assertEqual(len(client.of_type("events")), 1)
        self.clock.advance(0.1)
        pump.flush()
        batches = client.of_type("events")
        self.assertEqual([len(b["events"]) for b in batches], [2, 8])
        self.assertEqual(client.of_type("skipped"), [])

    def test_rate_cap(self) -> None:
        """
        A client gets at most its rate (plus a 1 s burst); the rest is
        skipped, announced before the next batch, and every event is either
        sent or counted as skipped.
        """
        client, pump = self.open(rate=20)
        published = 0
        for i in range(30):  # 3 s at 100 events/s
            self.publish(events(published, 10), pump)
            published += 10
        self.clock.advance(1)
        pump.flush()
        received = client.events()
        skipped = sum(m["count"] for m in client.of_type("skipped"))
        self.assertEqual(len(received) + skipped, published)
        self.assertLessEqual(len(received), 20 * 3 + 4 + 20)
        self.assertGreaterEqual(len(received), 20 * 3)
        # a skipped notice is followed by a batch, and the newest events are kept
        for before, after in zip(client.messages, client.messages[1:]):
            if before["type"] == "skipped":
                self.assertEqual(after["type"], "events")
        self.assertEqual(received[-1]["message"].split()[1], str(published - 1))
        numbers = [int(e["message"].split()[1]) for e in received]
        self.assertEqual(numbers, sorted(numbers))
        [stream] = [c.stream for c in self.factory.clients]
        assert stream is not None
        self.assertEqual(stream.rate_skipped, skipped)

    def test_burst_within_the_rate(self) -> None:
        """
        A burst of up to a second's worth of the rate (a tailer sends what
        it read in one poll at once) is not skipped; it goes out in
        messages of about 256 KiB.
        """
        client, pump = self.open(rate=5000)
        self.publish(events(0, 4000, size=300), pump)
        self.assertEqual(client.of_type("skipped"), [])
        self.assertEqual(len(client.events()), 4000)
        sizes = [n for n, m in zip(client.sizes, client.messages) if m["type"] == "events"]
        self.assertGreater(len(sizes), 4)
        self.assertLess(max(sizes), 256 * 1024 + 2000)

    def test_rate_one(self) -> None:
        client, pump = self.open(rate=1)
        for i in range(20):
            self.publish(events(i, 1), pump)
        self.clock.advance(1)
        pump.flush()
        self.assertLessEqual(len(client.events()), 3)
        self.assertEqual(
            len(client.events()) + sum(m["count"] for m in client.of_type("skipped")), 20
        )

    def test_stalled_client(self) -> None:
        """
        A client that does not read: its transport fills and pauses the
        stream; the buck keeps publishing (the subscription drops the
        oldest, within its bounds, and nothing else grows); when the client
        reads again it hears how many were skipped, then the newest events.
        """
        client, pump = self.connect(transport=PausingTransport)
        client.send_json({"type": "filter", "rate": 5000})
        pump.flush()
        server_io = pump.serverIO
        [sub] = self.channel.subscriptions
        [stream] = [c.stream for c in self.factory.clients]
        assert stream is not None
        published = 0
        for _ in range(50):  # 5 s at 20,000 events/s; nothing is pumped
            self.channel.publish(events(published, 2000, size=200))
            published += 2000
            self.clock.advance(0)
            self.clock.advance(0.1)
            self.assertLessEqual(sub.pending, MIN_PENDING * 10)
            self.assertLessEqual(sub.pending_bytes, MAX_PENDING_BYTES)
            self.assertLessEqual(server_io.buffered(), PausingTransport.limit + 300 * 1024)
        self.assertTrue(stream.paused)
        self.assertGreater(sub.dropped, 80_000)
        self.assertEqual(self.channel.published, published)
        sent_while_stalled = stream.sent
        # the client reads again
        for _ in range(20):
            pump.flush()
            self.clock.advance(0.1)
        pump.flush()
        self.assertEqual(sub.pending, 0)
        self.assertFalse(stream.paused)
        received = client.events()
        skipped = sum(m["count"] for m in client.of_type("skipped"))
        self.assertEqual(len(received) + skipped, published)
        self.assertGreater(len(received), sent_while_stalled)
        self.assertEqual(received[-1]["message"].split()[1], str(published - 1))
        self.assertEqual(stream.skipped, skipped)

    def test_stall_timeout(self) -> None:
        """
        A client whose transport stays full for the stall timeout is
        closed (4008) and its subscription freed.
        """
        self.factory = self.make_factory(stall_timeout=5)
        client, pump = self.connect(transport=PausingTransport)
        client.send_json({"type": "filter"})
        pump.flush()
        for i in range(60):
            self.channel.publish(events(i * 100, 100, size=200))
            self.clock.advance(0.1)
        self.assertEqual(len(self.channel.subscriptions), 0)
        self.clock.advance(2)  # the close handshake's timeout
        pump.flush()
        self.assertTrue(client.closed)
        self.assertEqual(self.factory.clients, set())
        closing = [e for e in self.log if e.get("code") == CLOSE_STALLED]
        self.assertEqual(len(closing), 1)
