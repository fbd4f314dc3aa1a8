"""The tailer's syslog network input: TCP and UDP listeners whose messages become events.

1. C{--syslog [DURABILITY:]ENDPOINT} (L{parse_syslog}) names a listener:
   C{tcp:6514} (a Twisted endpoint string), C{udp:514[:interface=ADDR]},
   C{relp:PORT} or C{relp:HOST:PORT} (RELP, L{logship.tailer.relp}), or a
   bare port (TCP on loopback).
2. Each listener is a source with its own source tag; each TCP connection
   (and each start of a UDP listener) is a stream with the next stream
   number of its listener (L{StreamNumbers}), saved in the checkpoint
   before the stream's first message is stored (L{ISyslogSink.open_stream}).
   An event's origin is (listener tag, stream number, byte offset in the
   stream), so no two messages ever share one.
3. The bytes go through the sans-IO framer (L{logship.core.syslogframe}),
   the pieces through a L{LineEncoder} (the same parse as a file's lines),
   and the events to the sink (L{ISyslogSink.store}: the spool of the
   listener's durability) before the next read.
4. Backpressure: while the sink is backlogged, a connection stops reading
   (C{pauseProducing}) and the sink resumes it when there is room; the
   sender's queue keeps what we could not take.  A bad octet count closes
   its connection with one log line; what came before it is stored.
"""

from __future__ import annotations

import random
import typing
from dataclasses import dataclass
from datetime import tzinfo
from typing import Any, Literal

from twisted.application.service import IServiceCollection, Service
from twisted.internet import endpoints
from twisted.internet.defer import Deferred
from twisted.internet.error import CannotListenError
from twisted.internet.interfaces import IAddress, IPushProducer, IReactorTime
from twisted.internet.protocol import DatagramProtocol, Factory, Protocol, connectionDone
from twisted.logger import Logger
from twisted.python.failure import Failure
from zope.interface import Interface

from logship.core.event import Event
from logship.core.ingest import LineEncoder
from logship.core.syslogframe import Piece, StreamFramer, datagram_pieces
from logship.plumbing.listeners import Listener, check_listen, loopback_shorthand
from logship.wire.messages import DURABILITIES, Durability

#: How many streams a listener's source tag numbers before a new tag is drawn
#: (the origin's file number is 16 bits).
STREAMS_PER_TAG = 1 << 16

#: A UDP stream moves on to the next stream number before its offsets
#: reach the origin's limit (48 bits).
_MAX_UDP_OFFSET = 1 << 47

_log = Logger(namespace="logship.tailer.syslog")


@dataclass(frozen=True)
class SyslogListen:
    """
    One C{--syslog} listener.

    @ivar transport: C{"tcp"} (RFC 6587), C{"udp"} (RFC 5426) or C{"relp"}.
    @ivar endpoint: the endpoint string (a TCP one for RELP); also the
        listener's key in the checkpoint.
    @ivar durability: the durability of its events.
    """

    transport: Literal["tcp", "udp", "relp"]
    endpoint: str
    durability: Durability


def parse_syslog(value: str) -> SyslogListen:
    """
    Read a C{--syslog} value: C{[DURABILITY:]ENDPOINT}, the durability
    C{ack2} by default; a bare port is C{tcp:PORT:interface=127.0.0.1};
    C{udp:PORT[:interface=ADDR]} listens for datagrams; C{relp:PORT}
    (every interface) or C{relp:HOST:PORT} for RELP; anything else is a
    Twisted stream endpoint string (C{tcp:6514}, C{tcp:6514:interface=::}).

    @raise ValueError: with a one-line reason.
    """
    durability: Durability = "ack2"
    head, sep, rest = value.partition(":")
    for known in DURABILITIES:
        if sep and head == known:
            durability, value = known, rest
    if value.startswith("relp:"):
        return SyslogListen("relp", _relp_endpoint(value), durability)
    description = loopback_shorthand(value)
    if description.startswith("udp:"):
        _udp_address(description)
        return SyslogListen("udp", description, durability)
    try:
        check_listen("--syslog", description)
    except Exception as e:  # usage.UsageError: the tap turns it back
        raise ValueError(str(e).removeprefix(f"--syslog {description}: ")) from None
    return SyslogListen("tcp", description, durability)


def _relp_endpoint(value: str) -> str:
    """
    The TCP endpoint string of C{relp:PORT} or C{relp:HOST:PORT} (C{HOST}
    an address, IPv6 in brackets or not).

    @raise ValueError: not of that form.
    """
    host, _, port = value.removeprefix("relp:").rpartition(":")
    host = host.removeprefix("[").removesuffix("]")
    if not port.isdigit() or int(port) > 65535 or "=" in host:
        raise ValueError(f"{value}: expected relp:PORT or relp:HOST:PORT")
    description = f"tcp:{int(port)}"
    if host:
        description += ":interface=" + host.replace(":", "\\:")
    return description


def _udp_address(description: str) -> tuple[int, str]:
    """
    The port and interface of C{udp:PORT[:interface=ADDR]} (all interfaces
    when none is given, as for C{tcp:PORT}).

    @raise ValueError: not of that form.
    """
    parts = description.split(":", 2)
    interface = ""
    if len(parts) == 3:
        if not parts[2].startswith("interface="):
            raise ValueError(f"{description}: expected udp:PORT[:interface=ADDR]")
        interface = parts[2].removeprefix("interface=")
    if not parts[1].isdigit() or int(parts[1]) > 65535:
        raise ValueError(f"{description}: expected udp:PORT[:interface=ADDR]")
    return int(parts[1]), interface


@dataclass
class StreamNumbers:
    """
    A listener's source tag and how many streams it numbered, as saved in
    the checkpoint.
    """

    source: int
    streams: int = 0

    def next(self, rng: random.Random) -> tuple[int, int]:
        """
        Number a new stream: the same tag with the next number, or a new
        tag from C{rng} once L{STREAMS_PER_TAG} were used.

        @return: C{(source tag, stream number)}.
        """
        if self.streams >= STREAMS_PER_TAG:
            self.source, self.streams = rng.getrandbits(32), 0
        self.streams += 1
        return self.source, self.streams - 1

    def to_json(self) -> dict[str, int]:
        """
        The checkpoint's form.
        """
        return {"source": self.source, "streams": self.streams}

    @classmethod
    def from_json(cls, saved: Any, rng: random.Random) -> StreamNumbers:
        """
        From the checkpoint's form; a new tag if it is missing or invalid.
        """
        if isinstance(saved, dict):
            source, streams = saved.get("source"), saved.get("streams")
            if (
                isinstance(source, int) and 0 <= source < 1 << 32
                and isinstance(streams, int) and 0 <= streams <= STREAMS_PER_TAG
            ):
                return cls(source, streams)
        return cls(rng.getrandbits(32))


class ISyslogSink(Interface):
    """
    Where the syslog listeners put their events: the tailer.
    """

    def open_stream(key: str) -> tuple[int, int]:
        """
        Number a new stream of listener C{key}, saved before this returns.

        @return: C{(source tag, stream number)}.
        """

    def store(events: list[Event], durability: Durability, lines: int) -> None:
        """
        Append the events to the spool of C{durability} (or send them, for
        C{live}) before returning.

        @param lines: how many messages they end.
        """

    def backlogged() -> bool:
        """
        Whether the listeners should stop reading now.
        """

    def wait_for_room(producer: IPushProducer) -> None:
        """
        Resume C{producer} (paused by its caller) once not backlogged.
        """

    def forget(producer: IPushProducer) -> None:
        """
        C{producer} went away: do not resume it.
        """


class _Stream:
    """
    One stream's messages → events: its encoder and stream number.
    """

    def __init__(self, sink: Any, key: str, host: bytes, tz: tzinfo) -> None:
        source, self.number = sink.open_stream(key)
        self.encoder = LineEncoder(host=host, tz=tz, source=source)

    def events(self, pieces: list[Piece], now: float) -> tuple[list[Event], int]:
        """
        @return: the events of C{pieces} and how many messages they end.
        """
        events: list[Event] = []
        lines = 0
        for data, offset, ended in pieces:
            if ended:
                lines += 1
                if data.endswith(b"\r"):
                    data = data[:-1]
            events += self.encoder.events(data, now, offset, file=self.number, ended=ended)
        return events, lines


class SyslogCounters:
    """
    What a listener did: connections accepted, bytes read, messages
    stored, connections closed on a bad frame, pauses for backpressure,
    messages acknowledged (RELP).
    """

    def __init__(self) -> None:
        self.connections = 0
        self.bytes = 0
        self.messages = 0
        self.rejected = 0
        self.paused = 0
        self.acks = 0


class SyslogTCPProtocol(Protocol):
    """
    One sender's connection: RFC 6587 frames → events, stored before the
    next read.
    """

    _stream: _Stream

    def __init__(self, factory: SyslogTCPFactory) -> None:
        self.factory = factory

    @property
    def _transport(self) -> Any:
        """
        The TCP transport (a producer: it can pause).
        """
        assert self.transport is not None
        return self.transport

    def connectionMade(self) -> None:
        factory = self.factory
        factory.counters.connections += 1
        factory.connected.add(self)
        self._framer = StreamFramer()
        self._stream = _Stream(factory.sink, factory.listen.endpoint, factory.host, factory.tz)
        self._peer = _peer(self._transport.getPeer())

    def dataReceived(self, data: bytes) -> None:
        self.factory.counters.bytes += len(data)
        pieces, error = self._framer.feed_until_error(data)
        self._store(pieces)
        if error is not None:
            self.factory.counters.rejected += 1
            _log.error(
                "Syslog {listener}: closing the connection of {peer}: {error}",
                listener=self.factory.listen.endpoint,
                peer=self._peer,
                error=str(error),
            )
            self._transport.loseConnection()
        elif self.factory.sink.backlogged():
            self.factory.counters.paused += 1
            self._transport.pauseProducing()
            self.factory.sink.wait_for_room(self._transport)

    def _store(self, pieces: list[Piece]) -> None:
        if not pieces:
            return
        factory = self.factory
        events, lines = self._stream.events(pieces, factory.clock.seconds())
        factory.counters.messages += lines
        factory.sink.store(events, factory.listen.durability, lines)

    def close(self) -> None:
        """
        The service stops: store the last, unended message now (the spools
        close before the connection is gone) and close the connection.
        """
        self._store(self._framer.close())
        self._transport.loseConnection()

    def connectionLost(self, reason: Failure = connectionDone) -> None:
        self.factory.connected.discard(self)
        self.factory.sink.forget(self._transport)
        self._store(self._framer.close())


def _peer(address: IAddress) -> str:
    host, port = getattr(address, "host", None), getattr(address, "port", None)
    return str(address) if host is None else f"{host}:{port}"


class SyslogTCPFactory(Factory):
    """
    The connections of one TCP listener.

    @ivar connected: the open connections' protocols.
    """

    noisy = False

    def __init__(
        self, listen: SyslogListen, sink: Any, clock: IReactorTime, host: bytes, tz: tzinfo
    ) -> None:
        self.listen = listen
        self.sink = sink
        self.clock = clock
        self.host = host
        self.tz = tz
        self.counters = SyslogCounters()
        self.connected: set[SyslogTCPProtocol] = set()

    def buildProtocol(self, addr: IAddress | None) -> SyslogTCPProtocol:
        return SyslogTCPProtocol(self)

    def disconnect_all(self) -> None:
        """
        Stop reading from every connection and close it (the service stops).
        """
        for protocol in list(self.connected):
            protocol.close()


class _TCPListener(Listener):
    """
    A TCP syslog listener; stopping it closes its connections too.
    """

    def __init__(self, description: str, endpoint: Any, factory: SyslogTCPFactory) -> None:
        super().__init__("logship-tailer syslog", description, endpoint, factory)
        self.syslog_factory = factory
        self.listen = factory.listen
        self.counters = factory.counters

    def open_connections(self) -> int:
        """
        How many senders are connected now.
        """
        return len(self.syslog_factory.connected)

    def stopService(self) -> Deferred[None]:
        self.syslog_factory.disconnect_all()
        stopped: Deferred[None] = super().stopService()
        return stopped


class SyslogUDPProtocol(DatagramProtocol):
    """
    One UDP listener: each datagram one message (RFC 5426), stored at once.
    """

    def __init__(
        self, listen: SyslogListen, sink: Any, clock: IReactorTime, host: bytes, tz: tzinfo
    ) -> None:
        self.listen = listen
        self.sink = sink
        self.clock = clock
        self.host = host
        self.tz = tz
        self.counters = SyslogCounters()
        self._stream: _Stream | None = None
        self._offset = 0

    def datagramReceived(self, datagram: bytes, addr: Any) -> None:
        if self._stream is None or self._offset >= _MAX_UDP_OFFSET:
            self._stream = _Stream(self.sink, self.listen.endpoint, self.host, self.tz)
            self._offset = 0
        pieces = datagram_pieces(datagram, self._offset)
        self._offset += len(datagram)
        self.counters.bytes += len(datagram)
        if pieces:
            events, lines = self._stream.events(pieces, self.clock.seconds())
            self.counters.messages += lines
            self.sink.store(events, self.listen.durability, lines)
        if self.sink.backlogged() and self.transport is not None:
            # the kernel's buffer, then the sender, keep (or drop) the rest
            self.counters.paused += 1
            self.transport.pauseProducing()  # type: ignore[attr-defined]
            self.sink.wait_for_room(self.transport)


class _UDPListener(Service):
    """
    Listens for syslog datagrams while running.  Twisted has no datagram
    endpoints: the port is opened here, on the injected reactor, before
    twistd drops privileges (a port below 1024), as the TCP listeners are;
    no datagram is read before the reactor runs, after the tailer read its
    checkpoint.
    """

    def __init__(self, reactor: Any, protocol: SyslogUDPProtocol) -> None:
        self._reactor = reactor
        self.protocol = protocol
        self.listen = protocol.listen
        self.counters = protocol.counters
        self._port: Any = None

    def open_connections(self) -> int:
        """
        None: UDP has no connections.
        """
        return 0

    def privilegedStartService(self) -> None:
        super().privilegedStartService()
        self._listen()

    def startService(self) -> None:
        super().startService()
        if self._port is None:
            self._listen()

    def _listen(self) -> None:
        description = self.protocol.listen.endpoint
        port, interface = _udp_address(description)
        try:
            self._port = self._reactor.listenUDP(port, self.protocol, interface=interface)
        except CannotListenError as e:
            _log.critical(
                "logship-tailer syslog cannot listen on {description}: {error}",
                description=description,
                error=str(e.socketError),
            )
            raise SystemExit(
                f"logship-tailer syslog: cannot listen on {description}: {e.socketError}"
            ) from None
        address = self._port.getHost()
        _log.info(
            "logship-tailer syslog listening on {where} ({description})",
            where=f"{address.host}:{address.port}",
            port=address.port,
            description=description,
        )

    def stopService(self) -> Deferred[None] | None:
        super().stopService()
        port, self._port = self._port, None
        if port is not None:
            self.protocol.sink.forget(port)
            return port.stopListening()  # type: ignore[no-any-return]
        return None


class CountedListener(typing.Protocol):
    """
    A listener's service, as the metrics read it.
    """

    listen: SyslogListen
    counters: SyslogCounters

    def open_connections(self) -> int:
        """
        How many senders are connected now.
        """

    def setServiceParent(self, parent: IServiceCollection) -> None:
        """
        Run it under C{parent}.
        """


def syslog_services(
    listens: list[SyslogListen], sink: Any, reactor: Any, host: bytes, tz: tzinfo
) -> list[CountedListener]:
    """
    A service per listener, to add under the tailer (started after it has
    read its checkpoint).

    @param sink: the tailer (L{ISyslogSink}).
    @param reactor: listens and gives the time.
    @param host: the host of messages that name none.
    """
    from logship.tailer.relp import RelpFactory  # it builds on this module

    services: list[CountedListener] = []
    for listen in listens:
        if listen.transport == "udp":
            services.append(_UDPListener(reactor, SyslogUDPProtocol(listen, sink, reactor, host, tz)))
        else:
            kind = RelpFactory if listen.transport == "relp" else SyslogTCPFactory
            factory = kind(listen, sink, reactor, host, tz)
            endpoint = endpoints.serverFromString(reactor, listen.endpoint)
            services.append(_TCPListener(listen.endpoint, endpoint, factory))
    return services
