"""One live client's stream: its subscription, rate limit and flow control (the push producer of its transport).

A L{LiveStream} holds the client's L{LiveFilter} and its L{Subscription}
on the buck's channel (bounded: it drops the oldest events).  It is
registered as the push producer of the client's TCP transport and pulls
from the subscription only while the transport takes more, at most one
batch every L{FLUSH_INTERVAL} seconds and within the client's rate (a
token bucket holding L{BURST_SECONDS} of it); what it had to drop is
announced by a C{skipped} notice before the next batch.  A slow client
costs at most its subscription's bound plus one batch in the transport's
buffer; one that does not drain for the stall timeout is closed.
"""

from __future__ import annotations

import math
from collections.abc import Callable

from twisted.internet.interfaces import IDelayedCall, IPushProducer, IReactorTime
from zope.interface import implementer

from logship.buck.live.filter import LiveFilter
from logship.buck.live.messages import (
    CLOSE_STALLED,
    EventEncoder,
    events_message,
    skipped_message,
)
from logship.buck.pubsub import Channel, Subscription

#: Seconds between two batches to one client, at least.
FLUSH_INTERVAL = 0.1
#: A client may get this many seconds' worth of its rate at once (a burst:
#: a tailer polls its files every 0.25 s and sends what it read at once).
BURST_SECONDS = 1.0
#: Bytes of JSON in one C{events} message, about (one event may exceed it).
MAX_BATCH_BYTES = 256 * 1024
#: Events pulled from the subscription at a time while building batches.
PULL_CHUNK = 100
#: Bound of a client's subscription: events, at least, and per unit of rate.
MIN_PENDING = 1000
PENDING_PER_RATE = 2
#: Bound of a client's subscription: estimated bytes.
MAX_PENDING_BYTES = 2 << 20
#: Seconds a client's transport may stay full before it is closed.
DEFAULT_STALL_TIMEOUT = 30.0


@implementer(IPushProducer)
class LiveStream:
    """
    One client's stream of events: its filter, its subscription, its rate,
    and the flow control (it is the push producer of the client's
    transport, which pauses it when its buffer is full).

    @ivar sent: events sent.
    @ivar skipped: events dropped for this client (slow, or over its rate).
    @ivar rate_skipped: those of them dropped for its rate.
    @ivar paused: the transport is full.
    """

    def __init__(
        self,
        channel: Channel,
        name: str,
        clock: IReactorTime,
        send: Callable[[bytes], object],
        close: Callable[[int, str], object],
        encoder: EventEncoder,
        *,
        stall_timeout: float = DEFAULT_STALL_TIMEOUT,
        flush_interval: float = FLUSH_INTERVAL,
    ) -> None:
        """
        @param channel: the buck's channel.
        @param name: the subscription's name (C{"live HOST:PORT"}).
        @param clock: schedules batches and the stall timeout.
        @param send: sends one JSON text message to the client.
        @param close: closes the connection with a code and a reason.
        @param encoder: the shared event encoder.
        @param stall_timeout: seconds the transport may stay full.
        @param flush_interval: seconds between two batches, at least.
        """
        self._channel = channel
        self._name = name
        self._clock = clock
        self._send = send
        self._close = close
        self._encoder = encoder
        self._stall_timeout = stall_timeout
        self._flush_interval = flush_interval
        self.filter: LiveFilter | None = None
        self.subscription: Subscription | None = None
        self.paused = False
        self.sent = 0
        self.skipped = 0
        self.rate_skipped = 0
        self._tokens = 0.0
        self._tokens_at = 0.0
        self._last_flush = -math.inf
        self._flush_call: IDelayedCall | None = None
        self._stall_call: IDelayedCall | None = None
        self._closed = False

    def set_filter(self, live_filter: LiveFilter) -> None:
        """
        Start (or restart) the stream with this filter: a new subscription
        replaces the old one, whose pending events are discarded.

        @raise TooManySubscribers: if the channel is full.
        """
        if self._closed:
            return
        self._unsubscribe()
        self.subscription = self._channel.subscribe(
            self._name,
            max_pending=max(MIN_PENDING, PENDING_PER_RATE * live_filter.rate),
            max_pending_bytes=MAX_PENDING_BYTES,
            accept=live_filter.accept_function(),
            on_ready=self._ready,
        )
        now = self._clock.seconds()
        if self.filter is None:
            self._tokens = self._capacity(live_filter.rate)
        else:
            self._refill(now)
            self._tokens = min(self._tokens, self._capacity(live_filter.rate))
        self._tokens_at = now
        self.filter = live_filter

    def close(self) -> None:
        """
        Stop for good: unsubscribe, cancel the timers.
        """
        self._closed = True
        self._unsubscribe()
        for call in (self._flush_call, self._stall_call):
            if call is not None and call.active():
                call.cancel()
        self._flush_call = self._stall_call = None

    # -- IPushProducer: called by the transport

    def pauseProducing(self) -> None:
        """
        The transport's buffer is full: pull nothing until it resumes; close
        the client if it stays full for the stall timeout.
        """
        if self.paused or self._closed:
            return
        self.paused = True
        if self._flush_call is not None and self._flush_call.active():
            self._flush_call.cancel()
        self._flush_call = None
        self._stall_call = self._clock.callLater(self._stall_timeout, self._stalled)

    def resumeProducing(self) -> None:
        """
        The transport drained: pull again.
        """
        if not self.paused or self._closed:
            return
        self.paused = False
        if self._stall_call is not None and self._stall_call.active():
            self._stall_call.cancel()
        self._stall_call = None
        if self.subscription is not None and self.subscription.pending:
            self._schedule()

    def stopProducing(self) -> None:
        """
        The connection is gone.
        """
        self.close()

    # -- internals

    @staticmethod
    def _capacity(rate: int) -> float:
        return max(1.0, rate * BURST_SECONDS)

    def _refill(self, now: float) -> None:
        assert self.filter is not None
        rate = self.filter.rate
        self._tokens = min(
            self._capacity(rate), self._tokens + (now - self._tokens_at) * rate
        )
        self._tokens_at = now

    def _unsubscribe(self) -> None:
        if self.subscription is not None:
            self.subscription.close()
            self.subscription = None

    def _ready(self, subscription: Subscription) -> None:
        if subscription is self.subscription:
            self._schedule()

    def _schedule(self) -> None:
        if self.paused or self._closed or self._flush_call is not None:
            return
        assert self.filter is not None
        now = self._clock.seconds()
        delay = self._last_flush + self._flush_interval - now
        self._refill(now)
        if self._tokens < 1:
            delay = max(delay, (1 - self._tokens) / self.filter.rate)
        self._flush_call = self._clock.callLater(max(0.0, delay), self._flush)

    def _flush(self) -> None:
        self._flush_call = None
        subscription = self.subscription
        if self.paused or self._closed or subscription is None or self.filter is None:
            return
        now = self._clock.seconds()
        self._refill(now)
        allowance = int(self._tokens)
        if allowance < 1:
            self._schedule()
            return
        skipped = 0
        # Over the rate: the oldest pending events are skipped (a live view
        # wants the newest).
        excess = subscription.pending - allowance
        if excess > 0:
            dropped = subscription.pull(excess)
            skipped += dropped.skipped + len(dropped.events)
            self.rate_skipped += len(dropped.events)
        # Then batches of about MAX_BATCH_BYTES while the transport takes
        # them; what is left waits in the subscription (bounded).
        encode = self._encoder.encode
        sent = 0
        parts: list[bytes] = []
        size = 0
        while sent < allowance and not self.paused and not self._closed:
            pulled = subscription.pull(min(PULL_CHUNK, allowance - sent))
            skipped += pulled.skipped
            if not pulled.events:
                break
            for event in pulled.events:
                data = encode(event)
                parts.append(data)
                size += len(data) + 1
                if size >= MAX_BATCH_BYTES:
                    skipped = self._send_batch(skipped, parts)
                    parts = []
                    size = 0
            sent += len(pulled.events)
        if parts or skipped:
            self._send_batch(skipped, parts)
        self._tokens -= sent
        self._last_flush = now

    def _send_batch(self, skipped: int, parts: list[bytes]) -> int:
        if skipped:
            self.skipped += skipped
            self._send(skipped_message(skipped))
        if parts:
            self.sent += len(parts)
            self._send(events_message(parts))
        return 0

    def _stalled(self) -> None:
        self._stall_call = None
        if self._closed:
            return
        self.close()
        self._close(
            CLOSE_STALLED, f"the client did not read for {self._stall_timeout:g} s"
        )
