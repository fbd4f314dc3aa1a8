"""The live WebSocket server of one buck: who may connect (path, token, origin, counts), who is connected, their streams.

L{LiveFactory} is the Autobahn factory of L{LiveProtocol}s: it holds what
the protocols dispatch to (the buck's channel, the shared
L{EventEncoder}, the settings of each L{LiveStream}), checks each upgrade
request (C{docs/live.md}, step 1: the origin too, so that a refused one
is a 403, where Autobahn's own check answers 400), keeps the open clients
(at most C{max_clients}, and C{max_per_address} per client address) and
sums their counters.  Autobahn's own timers (handshake, ping, close) run
on the injected clock through L{ClockTimer}.
"""

from __future__ import annotations

import hmac
from collections import Counter
from collections.abc import Callable, Sequence
from typing import Any
from urllib.parse import urlsplit

from autobahn.twisted.websocket import WebSocketServerFactory
from autobahn.util import wildcards2patterns
from autobahn.websocket.types import ConnectionDeny, ConnectionRequest
from twisted.internet.interfaces import IDelayedCall, IReactorTime
from twisted.logger import Logger

from logship.buck.live.messages import EventEncoder
from logship.buck.live.protocol import LiveProtocol
from logship.buck.live.stream import DEFAULT_STALL_TIMEOUT, FLUSH_INTERVAL, LiveStream
from logship.buck.pubsub import Channel

#: The URL path of the live WebSocket.
LIVE_PATH = "/live"
#: Clients a buck serves at once, at most.
DEFAULT_MAX_CLIENTS = 256
#: Clients one address may have open at once, at most.
DEFAULT_MAX_PER_ADDRESS = 32
#: Seconds a client may stay open without sending a filter.
DEFAULT_FILTER_TIMEOUT = 10.0
#: Seconds between two pings, and to wait for the pong.
AUTO_PING_INTERVAL = 30.0
AUTO_PING_TIMEOUT = 30.0

#: Origins allowed by default: pages served from this machine.
DEFAULT_ORIGINS = (
    "http://127.0.0.1:*",
    "http://localhost:*",
    "http://::1:*",
    "https://127.0.0.1:*",
    "https://localhost:*",
    "https://::1:*",
)


class ClockTimer:
    """
    Autobahn's batched timer (C{factory._batched_timer}, used for its
    handshake, ping and close timeouts) on an injected clock instead of
    txaio's global reactor.
    """

    def __init__(self, clock: IReactorTime) -> None:
        """
        @param clock: the reactor (or a L{twisted.internet.task.Clock}).
        """
        self._clock = clock

    def call_later(self, delay: float, function: Callable[..., object], *args: Any,
                   **kwargs: Any) -> IDelayedCall:
        """
        Call C{function(*args, **kwargs)} in C{delay} seconds on the clock.
        """
        return self._clock.callLater(delay, function, *args, **kwargs)


class LiveFactory(WebSocketServerFactory):
    """
    The live WebSocket server of one buck.

    @ivar channel: the buck's channel.
    @ivar node: the buck's node name (in the hello).
    @ivar clients: the open L{LiveProtocol}s.
    @ivar encoder: the JSON encoder shared by the clients.
    """

    protocol = LiveProtocol  # type: ignore[assignment]  # its factory is a LiveFactory
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
        max_per_address: int = DEFAULT_MAX_PER_ADDRESS,
        filter_timeout: float = DEFAULT_FILTER_TIMEOUT,
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
        @param max_per_address: clients of one IP address at once, at
            most.
        @param filter_timeout: seconds a client may stay open without
            sending a filter (it is closed then).
        @param stall_timeout: seconds a client's transport may stay full.
        @param flush_interval: seconds between two batches to a client.
        @param auto_ping_interval: seconds between pings (0: none).
        """
        super().__init__(reactor=clock)
        # Autobahn's timers would otherwise run on txaio's global reactor.
        self._batched_timer = ClockTimer(clock)
        self.channel = channel
        self.node = node
        self.clock = clock
        self.encoder = EventEncoder()
        self.stall_timeout = stall_timeout
        self.flush_interval = flush_interval
        self.max_clients = max_clients
        self.max_per_address = max_per_address
        self.filter_timeout = filter_timeout
        self.clients: set[LiveProtocol] = set()
        self._per_address: Counter[str] = Counter()
        self._token = token
        self._origins = wildcards2patterns(list(origins))
        # No maxMessagePayloadSize: Autobahn applies it to what we send too
        # (LiveProtocol.onMessageFrameBegin bounds what clients send).  The
        # origin is checked in check_request: Autobahn lets every one
        # through (null too), so that a refusal is a 403.
        self.setProtocolOptions(
            allowedOrigins=["*"],
            allowNullOrigin=True,
            openHandshakeTimeout=10,
            closeHandshakeTimeout=1,
            autoPingInterval=auto_ping_interval,
            autoPingTimeout=AUTO_PING_TIMEOUT,
        )

    def check_request(self, request: ConnectionRequest, address: str) -> None:
        """
        Refuse a request for another path (404), without the token (401),
        from a browser page of an origin not allowed (403), beyond the
        clients of one address (429) or of the buck (503).

        @param address: the client's IP address.
        @raise ConnectionDeny: with the HTTP status.
        """
        if request.path != LIVE_PATH:
            raise ConnectionDeny(404, f"no WebSocket here; try {LIVE_PATH}")
        if self._token is not None and not token_given(request, self._token):
            raise ConnectionDeny(401, "a valid token is required (?token=...)")
        if request.origin and not self._origin_allowed(request.origin):
            raise ConnectionDeny(
                403, f"origin {request.origin[:100]!r} not allowed (see --live-origin)"
            )
        if self._per_address[address] >= self.max_per_address:
            raise ConnectionDeny(
                429, f"{self.max_per_address} live clients of {address} already"
            )
        if len(self.clients) >= self.max_clients:
            raise ConnectionDeny(503, f"{self.max_clients} live clients already")

    def _origin_allowed(self, origin: str) -> bool:
        """
        Whether a browser's C{Origin} matches an allowed pattern, written
        as C{scheme://host:port} (the port made explicit), as Autobahn
        matches them.  C{null} (a sandboxed frame, a file) never does.
        """
        try:
            parts = urlsplit(origin.strip())
            port = parts.port or {"http": 80, "https": 443}.get(parts.scheme)
        except ValueError:
            return False
        if not parts.hostname or port is None:
            return False
        written = f"{parts.scheme}://{parts.hostname}:{port}"
        return any(pattern.match(written) for pattern in self._origins)

    def new_stream(
        self, name: str, send: Callable[[bytes], object], close: Callable[[int, str], object]
    ) -> LiveStream:
        """
        The stream of a client that just opened, on the buck's channel with
        the shared encoder.

        @param name: the subscription's name (C{"live HOST:PORT"}).
        @param send: sends one JSON text message to the client.
        @param close: closes the connection with a code and a reason.
        """
        return LiveStream(
            self.channel,
            name,
            self.clock,
            send,
            close,
            self.encoder,
            stall_timeout=self.stall_timeout,
            flush_interval=self.flush_interval,
        )

    def opened(self, protocol: LiveProtocol) -> None:
        """
        A client is open.
        """
        self.clients.add(protocol)
        self._per_address[protocol.address] += 1
        self._log.info(
            "Live client {client} connected ({count} now)",
            client=protocol.client, count=len(self.clients),
        )

    def closed(self, protocol: LiveProtocol) -> None:
        """
        A client is gone.
        """
        if protocol in self.clients:
            self.clients.discard(protocol)
            self._per_address[protocol.address] -= 1
            if not self._per_address[protocol.address]:
                del self._per_address[protocol.address]

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


def token_given(request: ConnectionRequest, token: str) -> bool:
    """
    Whether an upgrade request presents the token, in C{?token=} or as an
    C{Authorization: Bearer} header (compared in constant time).

    @param request: the upgrade request.
    @param token: the token clients must present.
    """
    expected = token.encode("utf-8")
    given = request.params.get("token") or []
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer":
        given = [*given, value.strip()]
    return any(
        hmac.compare_digest(candidate.encode("utf-8", "replace"), expected)
        for candidate in given
    )
