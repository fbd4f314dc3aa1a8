"""The buck's internal pub/sub channel: written events, fanned out, lossy.

The buck publishes every batch it wrote (and every C{live} batch) to a
L{Channel}; the live-tail WebSocket and the metrics subscribe to it.  The
disk path must never wait for a subscriber, so:

  1. L{Channel.publish} only appends to each subscription's queue and
     returns.  It never calls subscriber code other than the optional
     C{accept} filter, never blocks, never raises.
  2. Each L{Subscription} queue is bounded by a number of events and an
     estimate of their bytes.  When a publish would exceed either bound, the
     oldest pending events are dropped (a live view wants the newest ones)
     and counted in C{dropped} and in the C{skipped} of the next pull.
  3. Subscribers pull: L{Subscription.pull} returns up to N events plus
     how many were skipped since the previous pull.  A consumer such as an
     Autobahn protocol pulls when its transport is writable (its
     C{IPushProducer.resumeProducing}) and tells its client "N events
     skipped".
  4. Optionally a subscriber is woken up: C{on_ready(subscription)} is
     called through the clock (C{callLater(0)}: never inside C{publish})
     once events are pending, then not again until the subscriber pulled.
     A paused consumer just notes it and pulls when resumed.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from twisted.internet.interfaces import IDelayedCall, IReactorTime
from twisted.logger import Logger

from logship.core.event import Event, decode

#: Pending events a subscription holds at most, by default.
DEFAULT_MAX_PENDING = 10_000
#: Estimated bytes of pending events a subscription holds at most, by default.
DEFAULT_MAX_PENDING_BYTES = 8 << 20
#: Subscriptions a channel accepts at most, by default.
DEFAULT_MAX_SUBSCRIBERS = 1_000

#: Bytes counted per event on top of its message (object overheads).
EVENT_OVERHEAD = 128


def event_cost(event: Event) -> int:
    """
    The bytes an event is counted for in a subscription's byte bound.
    """
    return len(event.message) + len(event.shn) + len(event.app) + EVENT_OVERHEAD


class TooManySubscribers(Exception):
    """
    The channel has as many subscriptions as it accepts.
    """


@dataclass(frozen=True, slots=True)
class Pulled:
    """
    What a L{Subscription.pull} returns.

    @ivar events: the events, oldest first.
    @ivar skipped: events dropped for this subscription since its previous
        pull (it was too slow), before these.
    """

    events: list[Event]
    skipped: int


class Subscription:
    """
    One subscriber's bounded queue on a L{Channel}.

    @ivar name: for logs and stats (e.g. C{"live 127.0.0.1:5123"}).
    @ivar max_pending: bound on pending events.
    @ivar max_pending_bytes: bound on the estimated bytes of pending events.
    @ivar received: events accepted into the queue (kept or later dropped).
    @ivar delivered: events returned by L{pull}.
    @ivar dropped: events dropped because the queue was full.
    @ivar closed: C{True} once unsubscribed.
    """

    def __init__(
        self,
        channel: Channel,
        name: str,
        max_pending: int,
        max_pending_bytes: int,
        accept: Callable[[Event], bool] | None,
        on_ready: Callable[[Subscription], object] | None,
    ) -> None:
        if max_pending < 1 or max_pending_bytes < 1:
            raise ValueError("a subscription must hold at least one event")
        self.name = name
        self.max_pending = max_pending
        self.max_pending_bytes = max_pending_bytes
        self.received = 0
        self.delivered = 0
        self.dropped = 0
        self.closed = False
        self._channel = channel
        self._accept = accept
        self._on_ready = on_ready
        self._queue: deque[Event] = deque()
        self._bytes = 0
        self._skipped = 0
        self._wanted = True
        self._wakeup: IDelayedCall | None = None

    @property
    def pending(self) -> int:
        """
        How many events wait to be pulled.
        """
        return len(self._queue)

    @property
    def pending_bytes(self) -> int:
        """
        The estimated bytes of the pending events.
        """
        return self._bytes

    def pull(self, max_events: int | None = None) -> Pulled:
        """
        Take pending events, oldest first.

        @param max_events: at most this many (all if C{None}).
        @return: the events, and how many were skipped before them.
        """
        queue = self._queue
        if max_events is None or max_events >= len(queue):
            events = list(queue)
            queue.clear()
            self._bytes = 0
        else:
            popleft = queue.popleft
            events = [popleft() for _ in range(max(0, max_events))]
            self._bytes -= sum(map(event_cost, events))
        skipped, self._skipped = self._skipped, 0
        self.delivered += len(events)
        self._wanted = True
        if queue:
            self._schedule()
        return Pulled(events, skipped)

    def close(self) -> None:
        """
        Unsubscribe; pending events are discarded.
        """
        if self.closed:
            return
        self.closed = True
        self._queue.clear()
        self._bytes = 0
        if self._wakeup is not None and self._wakeup.active():
            self._wakeup.cancel()
        self._wakeup = None
        self._channel._remove(self)

    # -- the channel's side

    def _offer(self, events: Sequence[Event], costs: Sequence[int]) -> None:
        accept = self._accept
        queue = self._queue
        if accept is None:
            queue.extend(events)
            self._bytes += sum(costs)
            count = len(events)
        else:
            count = 0
            added = 0
            for event, cost in zip(events, costs):
                if accept(event):
                    queue.append(event)
                    added += cost
                    count += 1
            self._bytes += added
        if not count:
            return
        self.received += count
        if len(queue) > self.max_pending or self._bytes > self.max_pending_bytes:
            self._trim()
        if self._wanted:
            self._schedule()

    def _trim(self) -> None:
        queue = self._queue
        popleft = queue.popleft
        dropped = 0
        excess = len(queue) - self.max_pending
        if excess > 0:
            for _ in range(excess):
                self._bytes -= event_cost(popleft())
            dropped = excess
        limit = self.max_pending_bytes
        while self._bytes > limit and len(queue) > 1:
            self._bytes -= event_cost(popleft())
            dropped += 1
        self.dropped += dropped
        self._skipped += dropped
        self._channel.dropped += dropped

    def _schedule(self) -> None:
        if self._on_ready is None or self._wakeup is not None:
            return
        self._wanted = False
        self._wakeup = self._channel._clock.callLater(0, self._wake)

    def _wake(self) -> None:
        self._wakeup = None
        if self.closed or self._on_ready is None:
            return
        try:
            self._on_ready(self)
        except Exception:
            self._channel._log.failure(
                "Subscriber {name} failed on wakeup; unsubscribing it", name=self.name
            )
            self.close()

    def __repr__(self) -> str:
        return (
            f"<Subscription {self.name!r} pending={self.pending}"
            f" dropped={self.dropped}>"
        )


class Channel:
    """
    Fans published events out to bounded subscriptions (see the module
    docstring for the guarantees).

    @ivar published: events published.
    @ivar dropped: events dropped, over all subscriptions, ever.
    """

    _log = Logger()

    def __init__(
        self, clock: IReactorTime, *, max_subscribers: int = DEFAULT_MAX_SUBSCRIBERS
    ) -> None:
        """
        @param clock: schedules the wakeups (C{callLater(0)}).
        @param max_subscribers: how many subscriptions to accept at most.
        """
        self._clock = clock
        self._max_subscribers = max_subscribers
        self._subscriptions: list[Subscription] = []
        self.published = 0
        self.dropped = 0
        self.filter_errors = 0

    @property
    def subscriptions(self) -> list[Subscription]:
        """
        The current subscriptions (a copy).
        """
        return list(self._subscriptions)

    def subscribe(
        self,
        name: str,
        *,
        max_pending: int = DEFAULT_MAX_PENDING,
        max_pending_bytes: int = DEFAULT_MAX_PENDING_BYTES,
        accept: Callable[[Event], bool] | None = None,
        on_ready: Callable[[Subscription], object] | None = None,
    ) -> Subscription:
        """
        Add a subscription; it receives the events published from now on.

        @param name: for logs and stats.
        @param max_pending: bound on pending events.
        @param max_pending_bytes: bound on their estimated bytes
            (L{event_cost}); at least one event is always kept.
        @param accept: a filter run in L{publish} for each event (keep it
            cheap: it runs on the disk path); an exception unsubscribes.
        @param on_ready: called through the clock when events are pending,
            once per L{Subscription.pull}.
        @raise TooManySubscribers: if the channel is full.
        """
        if len(self._subscriptions) >= self._max_subscribers:
            raise TooManySubscribers(
                f"{self._max_subscribers} subscriptions already; refusing {name}"
            )
        subscription = Subscription(
            self, name, max_pending, max_pending_bytes, accept, on_ready
        )
        self._subscriptions.append(subscription)
        self._log.debug("Subscribed {name}", name=name)
        return subscription

    def _remove(self, subscription: Subscription) -> None:
        if subscription in self._subscriptions:
            self._subscriptions.remove(subscription)
            self._log.debug("Unsubscribed {name}", name=subscription.name)

    def publish(self, events: Sequence[Event]) -> None:
        """
        Offer events to every subscription.  Never blocks and never raises:
        a full subscription drops its oldest events, a failing filter
        unsubscribes its subscription.

        @param events: events, in the order they were written.
        """
        if not events:
            return
        self.published += len(events)
        if not self._subscriptions:
            return
        costs = [event_cost(e) for e in events]
        for subscription in list(self._subscriptions):
            try:
                subscription._offer(events, costs)
            except Exception:
                self.filter_errors += 1
                self._log.failure(
                    "Subscriber {name} failed in its filter; unsubscribing it",
                    name=subscription.name,
                )
                subscription.close()

    def publish_serialized(self, events: Sequence[bytes]) -> None:
        """
        L{publish} events given serialized (checked already: a buck's
        batch), decoding them only when someone subscribed.

        @param events: serialized events that decode, in the order they
            were written.
        """
        if not self._subscriptions:
            self.published += len(events)
            return
        self.publish([decode(data) for data in events])

    def stats(self) -> dict[str, object]:
        """
        The channel's counters and each subscription's.
        """
        return {
            "published": self.published,
            "dropped": self.dropped,
            "filter_errors": self.filter_errors,
            "subscribers": [
                {
                    "name": s.name,
                    "pending": s.pending,
                    "received": s.received,
                    "delivered": s.delivered,
                    "dropped": s.dropped,
                }
                for s in self._subscriptions
            ],
        }
