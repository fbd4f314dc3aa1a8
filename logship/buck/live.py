"""The buck's live tail: an Autobahn WebSocket fed by the buck's pub/sub channel.

A browser page (or any WebSocket client) connects to C{ws://HOST:PORT/live}
on every buck, sends a filter, and receives the matching events the buck
writes from then on, as JSON.  Lossy by design (docs/design.md "live"): the disk
path never waits for a client.  The protocol, in steps (C{docs/live.md}
is the reference):

  1. HTTP upgrade on path C{/live}.  Another path is refused (404); when the
     buck has a token (C{--live-token}), a request without the right one in
     C{?token=} or C{Authorization: Bearer} is refused (401); a browser's
     C{Origin} must match the allowed patterns (403); beyond
     L{DEFAULT_MAX_CLIENTS} clients, 503.
  2. On open the buck sends C{{"type": "hello", "node": NODE}}.
  3. The client sends C{{"type": "filter", "hosts": [..], "apps": [..],
     "substring": TEXT|null, "rate": N}} (every key optional).  Until its
     first filter a client receives nothing.  A new filter replaces the
     previous one (events pending under the old one are discarded).  A bad
     filter is answered C{{"type": "error", "error": WHY}}; the connection
     and the previous filter stay.
  4. The buck sends C{{"type": "events", "events": [EVENT, ...]}} batches,
     at most one every L{FLUSH_INTERVAL} seconds, each at most the client's
     rate allows; events it had to drop (slow client, rate) are announced
     by C{{"type": "skipped", "count": N}} before the next batch.
  5. A binary message, a text message that is not JSON, or a message over
     64 KiB closes the connection (codes 4003, 4007, 4009); a client whose
     transport has not drained for L{DEFAULT_STALL_TIMEOUT} seconds is
     closed (4008).

Flow control: each client has its own L{Subscription} (bounded: it drops
the oldest events).  The protocol registers a L{LiveStream} as the push
producer of its TCP transport; the stream pulls from the subscription only
while the transport takes more, so a slow client costs at most its
subscription's bound plus one batch in the transport's buffer.
"""

from __future__ import annotations

import hmac
import ipaddress
import json
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from itertools import islice
from typing import Any, cast

from autobahn.twisted.websocket import WebSocketServerFactory, WebSocketServerProtocol
from autobahn.websocket.types import ConnectionDeny, ConnectionRequest
from twisted.internet import endpoints
from twisted.internet.interfaces import IConsumer, IDelayedCall, IPushProducer, IReactorTime
from twisted.logger import Logger
from zope.interface import implementer

from logship.buck.pubsub import Channel, Subscription, TooManySubscribers
from logship.core.event import Event
from logship.core.render import live_json

#: The URL path of the live WebSocket.
LIVE_PATH = "/live"
#: Events per second a client gets unless its filter says otherwise.
DEFAULT_RATE = 500
#: The highest rate a filter may ask for.
MAX_RATE = 5000
#: Bytes a client's message may have at most.
MAX_MESSAGE = 64 * 1024
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
#: Clients a buck serves at once, at most.
DEFAULT_MAX_CLIENTS = 256
#: Seconds a client's transport may stay full before it is closed.
DEFAULT_STALL_TIMEOUT = 30.0
#: Seconds between two pings, and to wait for the pong.
AUTO_PING_INTERVAL = 30.0
AUTO_PING_TIMEOUT = 30.0
#: Entries of the shared per-event JSON cache.
ENCODE_CACHE = 20_000
#: Host and app names a filter may list, at most (each).
MAX_NAMES = 1000
#: Bytes of a filter's substring, at most.
MAX_SUBSTRING = 1024

#: Origins allowed by default: pages served from this machine.
DEFAULT_ORIGINS = (
    "http://127.0.0.1:*",
    "http://localhost:*",
    "http://::1:*",
    "https://127.0.0.1:*",
    "https://localhost:*",
    "https://::1:*",
)

#: Close codes (WebSocket private range 4000-4999: the standard code + 3000).
CLOSE_BINARY = 4003
CLOSE_NOT_JSON = 4007
CLOSE_STALLED = 4008
CLOSE_TOO_BIG = 4009
CLOSE_OVERLOADED = 4013

_FILTER_KEYS = frozenset({"type", "hosts", "apps", "substring", "rate"})


class BadFilter(ValueError):
    """
    A filter message that cannot be used; the message says why.
    """


@dataclass(frozen=True)
class LiveFilter:
    """
    What one client wants to see.

    @ivar hosts: host names (C{shn}) to show; empty for any.
    @ivar apps: app names to show; empty for any.
    @ivar substring: bytes the message must contain (case-sensitive), or
        C{None}.
    @ivar rate: events per second, at most.
    """

    hosts: frozenset[bytes] = frozenset()
    apps: frozenset[bytes] = frozenset()
    substring: bytes | None = None
    rate: int = DEFAULT_RATE

    def accept_function(self) -> Callable[[Event], bool] | None:
        """
        The cheap test the channel runs on each published event for this
        filter (set membership and one C{bytes.__contains__}), or C{None}
        when every event matches.
        """
        hosts, apps, needle = self.hosts, self.apps, self.substring
        if not hosts and not apps and needle is None:
            return None
        if not apps and needle is None:
            return lambda e: e.shn in hosts
        if not hosts and needle is None:
            return lambda e: e.app in apps
        if not hosts and not apps and needle is not None:
            return lambda e: needle in e.message

        def accept(e: Event) -> bool:
            return (
                (not hosts or e.shn in hosts)
                and (not apps or e.app in apps)
                and (needle is None or needle in e.message)
            )

        return accept


def _names(message: dict[str, Any], key: str) -> frozenset[bytes]:
    value = message.get(key)
    if value is None:
        return frozenset()
    if not isinstance(value, list):
        raise BadFilter(f"{key}: expected a list of strings, not {type(value).__name__}")
    if len(value) > MAX_NAMES:
        raise BadFilter(f"{key}: at most {MAX_NAMES} names, not {len(value)}")
    names = set()
    for name in value:
        if not isinstance(name, str):
            raise BadFilter(f"{key}: expected strings, not {json.dumps(name)[:40]}")
        data = name.encode("utf-8", "surrogateescape")
        if not 1 <= len(data) <= 255:
            raise BadFilter(f"{key}: a name has 1 to 255 bytes, not {len(data)}")
        names.add(data)
    return frozenset(names)


def parse_filter(message: dict[str, Any]) -> LiveFilter:
    """
    Read a client's filter message.

    @param message: the decoded JSON object (its C{type} is C{"filter"}).
    @return: the filter.
    @raise BadFilter: if a key is unknown or a value is not allowed.
    """
    unknown = sorted(set(message) - _FILTER_KEYS)
    if unknown:
        raise BadFilter(
            f"unknown key {unknown[0]!r} (a filter has hosts, apps, substring, rate)"
        )
    substring = message.get("substring")
    needle: bytes | None = None
    if substring is not None:
        if not isinstance(substring, str):
            raise BadFilter(
                f"substring: expected a string or null, not {type(substring).__name__}"
            )
        needle = substring.encode("utf-8", "surrogateescape") or None
        if needle is not None and len(needle) > MAX_SUBSTRING:
            raise BadFilter(f"substring: at most {MAX_SUBSTRING} bytes, not {len(needle)}")
    rate = message.get("rate", DEFAULT_RATE)
    if rate is None:
        rate = DEFAULT_RATE
    if not isinstance(rate, int) or isinstance(rate, bool):
        raise BadFilter(f"rate: expected a whole number, not {json.dumps(rate)[:40]}")
    if not 1 <= rate <= MAX_RATE:
        raise BadFilter(f"rate: 1 to {MAX_RATE} events per second, not {rate}")
    return LiveFilter(_names(message, "hosts"), _names(message, "apps"), needle, rate)


class EventEncoder:
    """
    The JSON bytes of events, encoded once for all the clients that receive
    the same L{Event} object (a bounded cache keyed by the object).
    """

    def __init__(self, size: int = ENCODE_CACHE) -> None:
        """
        @param size: events remembered at most (the oldest go first).
        """
        self._size = size
        self._cache: dict[int, tuple[Event, bytes]] = {}
        self.encoded = 0

    def encode(self, event: Event) -> bytes:
        """
        The JSON object of L{live_json}, as compact UTF-8 bytes.
        """
        cache = self._cache
        hit = cache.get(id(event))
        if hit is not None and hit[0] is event:
            return hit[1]
        data = json.dumps(live_json(event), ensure_ascii=False, separators=(",", ":")).encode(
            "utf-8"
        )
        self.encoded += 1
        if len(cache) >= self._size:
            for key in list(islice(cache, len(cache) - self._size + 1 + self._size // 10)):
                del cache[key]
        # The entry keeps the event alive, so its id is not reused meanwhile.
        cache[id(event)] = (event, data)
        return data


def events_message(encoded: Sequence[bytes]) -> bytes:
    """
    The C{events} message holding already encoded events.
    """
    return b'{"type":"events","events":[' + b",".join(encoded) + b"]}"


def skipped_message(count: int) -> bytes:
    """
    The C{skipped} notice.
    """
    return b'{"type":"skipped","count":%d}' % count


def error_message(why: str) -> bytes:
    """
    The C{error} answer to a bad client message.
    """
    return json.dumps({"type": "error", "error": why}).encode("utf-8")


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


class LiveProtocol(WebSocketServerProtocol):
    """
    One live client: checks the upgrade request, says hello, reads
    filters, and writes what its L{LiveStream} produces.
    """

    _log = Logger()  # Autobahn owns .log
    factory: LiveFactory
    stream: LiveStream | None = None
    client: str = "?"

    def onConnect(self, request: ConnectionRequest) -> None:
        """
        Check the path, the token and the number of clients (Autobahn
        checked the origin already).
        """
        self.client = request.peer
        try:
            self.factory.check_request(request)
        except ConnectionDeny as e:
            self._log.info(
                "Live client {client} refused: {code} {reason}",
                client=self.client, code=e.code, reason=e.reason,
            )
            raise
        except Exception:
            self._log.failure("Live client {client}: cannot check its request", client=self.client)
            raise ConnectionDeny(500, "internal error") from None

    def onOpen(self) -> None:
        """
        Register the stream as the transport's producer and say hello.
        """
        factory = self.factory
        self.stream = LiveStream(
            factory.channel,
            f"live {self.client}",
            factory.clock,
            self._send_text,
            self._close_with,
            factory.encoder,
            stall_timeout=factory.stall_timeout,
            flush_interval=factory.flush_interval,
        )
        factory.opened(self)
        cast(IConsumer, self.transport).registerProducer(self.stream, True)
        self._send_text(
            json.dumps({"type": "hello", "node": factory.node}).encode("utf-8")
        )

    def onMessageFrameBegin(self, length: int) -> None:
        """
        Refuse a message that would exceed L{MAX_MESSAGE} before reading
        its payload: close (4009) and stop reading.
        """
        super().onMessageFrameBegin(length)
        if self.message_data_total_length > MAX_MESSAGE:
            self._close_with(
                CLOSE_TOO_BIG, f"a message may have at most {MAX_MESSAGE} bytes"
            )
            self.dropConnection(abort=False)

    def onMessage(self, payload: bytes, isBinary: bool) -> None:
        """
        Dispatch a client's message (see the module docstring, step 3).
        """
        if self.stream is None:
            return
        if isBinary:
            self._close_with(CLOSE_BINARY, "binary messages are not accepted")
            return
        try:
            message = json.loads(payload)
        except ValueError as e:
            self._close_with(CLOSE_NOT_JSON, f"not a JSON message: {e}"[:120])
            return
        if not isinstance(message, dict):
            self._error(f"expected a JSON object, not {type(message).__name__}")
            return
        kind = message.get("type")
        if kind == "filter":
            self._filter(message)
        else:
            self._error(f"unknown message type {json.dumps(kind)[:40]} (expected filter)")

    def onClose(self, wasClean: bool, code: int | None, reason: str | None) -> None:
        """
        Stop the stream and unsubscribe.
        """
        stream = self.stream
        if stream is None:
            return
        stream.close()
        self.factory.closed(self)
        self._log.info(
            "Live client {client} gone ({code}): {sent} events sent, {skipped} skipped",
            client=self.client, code=code, sent=stream.sent, skipped=stream.skipped,
        )

    # -- internals

    def _filter(self, message: dict[str, Any]) -> None:
        assert self.stream is not None
        try:
            live_filter = parse_filter(message)
        except BadFilter as e:
            self._error(str(e))
            return
        try:
            self.stream.set_filter(live_filter)
        except TooManySubscribers:
            self._close_with(CLOSE_OVERLOADED, "the buck has too many subscribers")

    def _error(self, why: str) -> None:
        self._send_text(error_message(why))

    def _send_text(self, data: bytes) -> None:
        if self.state == WebSocketServerProtocol.STATE_OPEN:
            self.sendMessage(data, isBinary=False)

    def _close_with(self, code: int, reason: str) -> None:
        self._log.info(
            "Closing live client {client}: {code} {reason}",
            client=self.client, code=code, reason=reason,
        )
        if self.stream is not None:
            self.stream.close()
        self.sendClose(code, reason)


class _ClockTimer:
    """
    Autobahn's batched timer (C{factory._batched_timer}, used for its
    handshake, ping and close timeouts) on an injected clock instead of
    txaio's global reactor.
    """

    def __init__(self, clock: IReactorTime) -> None:
        self._clock = clock

    def call_later(self, delay: float, function: Callable[..., object], *args: Any,
                   **kwargs: Any) -> IDelayedCall:
        return self._clock.callLater(delay, function, *args, **kwargs)


class LiveFactory(WebSocketServerFactory):
    """
    The live WebSocket server of one buck.

    @ivar channel: the buck's channel.
    @ivar node: the buck's node name (in the hello).
    @ivar clients: the open L{LiveProtocol}s.
    @ivar encoder: the JSON encoder shared by the clients.
    """

    protocol: type[WebSocketServerProtocol] = LiveProtocol
    _log = Logger()

    def __init__(
        self,
        channel: Channel,
        *,
        node: str,
        clock: IReactorTime,
        token: str | None = None,
        origins: Sequence[str] = DEFAULT_ORIGINS,
        max_clients: int = DEFAULT_MAX_CLIENTS,
        stall_timeout: float = DEFAULT_STALL_TIMEOUT,
        flush_interval: float = FLUSH_INTERVAL,
        auto_ping_interval: float = AUTO_PING_INTERVAL,
    ) -> None:
        """
        @param channel: where the buck publishes.
        @param node: the buck's node name.
        @param clock: the reactor (or a L{twisted.internet.task.Clock}).
        @param token: the token clients must present, or C{None}.
        @param origins: Autobahn wildcard patterns of allowed C{Origin}s
            (C{"*"} for any); clients without an C{Origin} (not browsers)
            are always allowed.
        @param max_clients: clients at once, at most.
        @param stall_timeout: seconds a client's transport may stay full.
        @param flush_interval: seconds between two batches to a client.
        @param auto_ping_interval: seconds between pings (0: none).
        """
        super().__init__(reactor=clock)
        # Autobahn's timers would otherwise run on txaio's global reactor.
        self._batched_timer = _ClockTimer(clock)
        self.channel = channel
        self.node = node
        self.clock = clock
        self.encoder = EventEncoder()
        self.stall_timeout = stall_timeout
        self.flush_interval = flush_interval
        self.max_clients = max_clients
        self.clients: set[LiveProtocol] = set()
        self._token = token
        # No maxMessagePayloadSize: Autobahn applies it to what we send too
        # (LiveProtocol.onMessageFrameBegin bounds what clients send).
        self.setProtocolOptions(
            allowedOrigins=list(origins),
            openHandshakeTimeout=10,
            closeHandshakeTimeout=1,
            autoPingInterval=auto_ping_interval,
            autoPingTimeout=AUTO_PING_TIMEOUT,
        )

    def check_request(self, request: ConnectionRequest) -> None:
        """
        Refuse a request for another path, without the token, or beyond
        the number of clients.

        @raise ConnectionDeny: with the HTTP status.
        """
        if request.path != LIVE_PATH:
            raise ConnectionDeny(404, f"no WebSocket here; try {LIVE_PATH}")
        if self._token is not None and not self._token_ok(request):
            raise ConnectionDeny(401, "a valid token is required (?token=...)")
        if len(self.clients) >= self.max_clients:
            raise ConnectionDeny(503, f"{self.max_clients} live clients already")

    def _token_ok(self, request: ConnectionRequest) -> bool:
        assert self._token is not None
        expected = self._token.encode("utf-8")
        given = request.params.get("token") or []
        header = request.headers.get("authorization", "")
        scheme, _, value = header.partition(" ")
        if scheme.lower() == "bearer":
            given = [*given, value.strip()]
        return any(
            hmac.compare_digest(candidate.encode("utf-8", "replace"), expected)
            for candidate in given
        )

    def opened(self, protocol: LiveProtocol) -> None:
        """
        A client is open.
        """
        self.clients.add(protocol)
        self._log.info(
            "Live client {client} connected ({count} now)",
            client=protocol.client, count=len(self.clients),
        )

    def closed(self, protocol: LiveProtocol) -> None:
        """
        A client is gone.
        """
        self.clients.discard(protocol)

    def stats(self) -> dict[str, Any]:
        """
        The live clients now and their counters.
        """
        streams = [c.stream for c in self.clients if c.stream is not None]
        return {
            "clients": len(self.clients),
            "sent": sum(s.sent for s in streams),
            "skipped": sum(s.skipped for s in streams),
            "encoded": self.encoder.encoded,
        }


def normalize_live(description: str) -> str:
    """
    A C{--live} value as an endpoint string: a bare port number means
    C{tcp:PORT:interface=127.0.0.1}.
    """
    if description.isdigit():
        return f"tcp:{description}:interface=127.0.0.1"
    return description


def is_loopback(description: str) -> bool:
    """
    Whether an endpoint string listens only where this machine alone can
    connect: a TCP endpoint bound to a loopback address, or a UNIX socket.
    Any other (no C{interface}: every interface) is not.
    """
    endpoint = endpoints.serverFromString(object(), description)
    if isinstance(endpoint, endpoints.UNIXServerEndpoint):
        return True
    interface = getattr(endpoint, "_interface", None)
    if not interface:
        return False
    if interface == "localhost":
        return True
    try:
        return ipaddress.ip_address(interface).is_loopback
    except ValueError:
        return False
