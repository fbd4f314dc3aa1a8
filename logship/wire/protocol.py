"""The thin Twisted protocol of the wire: bytes -> frames -> seal -> messages.

The work is done by the pure layers (L{logship.wire.framing},
L{logship.wire.seal}, L{logship.wire.messages}); this module moves bytes
between them and the transport, runs the timers, and hands messages to an
L{IWireHandler} supplied by the service (the buck's ingest, the tailer's
sender).  C{docs/protocol.md} describes every byte.

Protocol steps:

  1. The client connects and sends its L{Hello} in a handshake frame: sealed
     with the cluster key and a random nonce, or in clear when insecure.
     Both sides start the handshake timer (L{HANDSHAKE_TIMEOUT}).
  2. The server opens it, checks version, role and mode, answers with its
     own L{Hello} in a handshake frame, derives the two session keys from
     both hellos' random values, and is connected.  The client does the same
     when the server's hello arrives.  The handler's C{connected} is called;
     the handshake timer is cancelled.  A client that refuses the server's
     hello answers with an L{Error} in a handshake frame, which the server
     accepts in place of the first session frame.
  3. From then on each frame is a session frame (counter + body sealed with
     the direction's session key), holding one message: L{Batch},
     L{Ack}, L{BucketPut}, L{BucketAck} or L{Error}.  Each is handed to the
     handler's C{message_received} in order.
  4. Whenever part of a frame is buffered, the frame timer runs
     (L{FRAME_TIMEOUT}, restarted by every chunk received): a peer that
     stops in the middle of a frame is dropped.
  5. A peer that breaks the protocol (oversize frame, a frame that does not
     open, a wrong counter, a malformed message, a bad version, role or
     mode, a message out of order, a timeout) is rejected: the reason is
     logged and counted in L{WireStats.rejected}, an L{Error} saying why
     is sent (sealed as the current state allows: with the cluster key
     during the handshake, the session key after), the connection is
     closed, and nothing more from it reaches the handler.
  6. A deliberate close (L{PeerConnection.close}) sends an L{Error} with
     the reason first.  An L{Error} received is handed to the handler, then
     the connection is closed.
  7. A closing connection whose peer does not read is aborted after
     L{CLOSE_TIMEOUT}.  All timers are cancelled when the connection is
     lost, and the handler's C{disconnected} is called if C{connected} was.
  8. With a C{ping_interval} (the connections to bucks: L{buck_factory}),
     a connected side that received nothing for that long sends a L{Ping};
     if still nothing arrives within C{ping_timeout} more, the peer is
     rejected as C{peer-timeout} (a host that died without closing the
     connection, or a hung process), and the handler's C{disconnected}
     follows at once.  Each side answers a L{Ping} with a L{Pong}; neither
     reaches the handler.  A check that runs late (this process was
     stalled) first lets the input waiting meanwhile be read.

In credential mode (a factory given L{Credentials}) steps 1 and 2 differ
(L{logship.wire.handshake}):

  1. The client sends its L{Greeting} (an ephemeral X25519 key) in a
     handshake frame, in clear; the server answers with its own, and both
     derive the session keys from the exchange and the transcript.
  2. The client's first session frame is its L{Identify} (credential and
     proof); the server checks it (trusted authority, valid now, not
     revoked, an accepted role, the proof), answers with its own
     L{Identify} and is connected; the client checks that and is
     connected (so a client is connected only once the server accepted
     it).  The peer's node name and role are then those of its
     credential, and its host patterns come with it
     (L{IPeerConnection.hosts}).  L{WireFactory.recheck} closes the
     connections whose credential was revoked or expired since.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import ClassVar, cast

from twisted.application.internet import ClientService, backoffPolicy
from twisted.internet.defer import Deferred, fail, succeed
from twisted.internet.interfaces import (
    IAddress,
    IConsumer,
    IDelayedCall,
    IPullProducer,
    IReactorTime,
    IStreamClientEndpoint,
)
from twisted.internet.protocol import Factory, Protocol, connectionDone
from twisted.logger import Logger
from twisted.python.failure import Failure
from zope.interface import Attribute, Interface, implementer

from logship.core.credentials import (
    Credential,
    CredentialError,
    Credentials,
    HostPatterns,
    Refusal,
)
from logship.wire import WireError
from logship.wire.framing import MAX_FRAME, Framer, encode_frame, frame_prefix
from logship.wire.handshake import Ephemeral, check_proof, proof_message, session_keys, transcript
from logship.wire.messages import (
    PROTOCOL_VERSION,
    ROLES,
    Error,
    Greeting,
    Hello,
    Identify,
    MalformedMessage,
    Message,
    Ping,
    Pong,
    PreparedMessage,
    Role,
    decode_message,
    encode_message,
    error_for,
)
from logship.wire.seal import (
    MAGIC,
    FrameOpener,
    FrameSealer,
    Side,
    check_key,
    counter_session,
    keyed_handshake,
    new_random,
    open_handshake,
    seal_handshake,
    session,
)

#: Seconds a connection may take to complete the handshake.
HANDSHAKE_TIMEOUT = 10.0
#: Seconds a partial frame may wait for more bytes.
FRAME_TIMEOUT = 30.0
#: Seconds a closing connection may take to flush before it is aborted.
CLOSE_TIMEOUT = 10.0
#: Seconds without a byte from the peer before a L{Ping} (connections to
#: bucks).
PING_INTERVAL = 15.0
#: Seconds after that before a silent peer is dropped: a dead peer is
#: noticed within 30 s.
PING_TIMEOUT = 15.0
#: Seconds a liveness check may run late before it counts this process as
#: stalled (then it reads the waiting input before it judges the peer).
_STALLED = 1.0
#: Seconds a late check waits, so that the input is read first.
_READ_FIRST = 0.01


class HandshakeTimeout(WireError):
    """
    The handshake did not complete in time.
    """

    code = "handshake-timeout"


class FrameTimeout(WireError):
    """
    The peer stopped sending in the middle of a frame.
    """

    code = "frame-timeout"


class PeerTimeout(WireError):
    """
    Nothing came from the peer, not even the answer to a L{Ping}.
    """

    code = "peer-timeout"


class UnexpectedMessage(WireError):
    """
    A message arrived where the protocol does not allow it.
    """

    code = "unexpected-message"


class BadRole(WireError):
    """
    The peer's role may not connect here.
    """

    code = "bad-role"


class BadCredential(WireError):
    """
    The peer's credential does not parse, or no trusted authority signed it.
    """

    code = "bad-credential"


class CredentialExpired(WireError):
    """
    The peer's credential is not valid now.
    """

    code = "credential-expired"


class CredentialRevoked(WireError):
    """
    The peer's credential is on the revocation list.
    """

    code = "credential-revoked"


_REFUSALS: dict[Refusal, type[WireError]] = {
    Refusal.FORGED: BadCredential,
    Refusal.EXPIRED: CredentialExpired,
    Refusal.REVOKED: CredentialRevoked,
    Refusal.ROLE: BadRole,
}


def credential_rejection(error: CredentialError) -> WireError:
    """
    The wire's rejection for a refused credential.
    """
    return _REFUSALS[error.refusal](error.detail)


@dataclass(frozen=True, slots=True)
class CloseReason:
    """
    Why a connection ended.

    @ivar code: C{"connection-lost"} (the transport went away),
        C{"closed"} (this node closed it deliberately), C{"peer-error"}
        (the peer closed it with an L{Error}), C{"internal-error"} (a
        handler raised), or the L{WireError.code} of a rejection.
    @ivar detail: human-readable details.
    """

    code: str
    detail: str

    def __str__(self) -> str:
        return f"{self.code}: {self.detail}"


class HandshakeFailed(Exception):
    """
    The connection ended before the handshake completed.

    @ivar reason: why.
    """

    def __init__(self, reason: CloseReason) -> None:
        super().__init__(str(reason))
        self.reason = reason


class IPeerConnection(Interface):
    """
    A connection whose handshake completed, as its handler sees it.
    """

    peer_node = Attribute(
        "The peer's node name (C{str}): its credential's, else (lab mode) its hello's."
    )
    peer_role = Attribute("The peer's role (C{str}), from its credential or hello.")
    address = Attribute("The peer's L{IAddress}.")
    insecure = Attribute("C{True} if the connection is not sealed (lab mode).")
    credential = Attribute(
        "The peer's L{Credential}, checked in the handshake; C{None} in lab mode."
    )
    hosts = Attribute(
        "The L{HostPatterns} the peer may send events for (its credential's);"
        " C{None} in lab mode, where a hello's claims are all there is."
    )
    is_open = Attribute("C{True} until the connection starts closing.")

    def send(message: Message | PreparedMessage) -> bool:
        """
        Send a message (not a L{Hello} nor an L{Error}: see C{close}),
        or a message encoded once by L{prepare_message} for several peers.

        @return: C{True} if written, C{False} if the connection is closing
            or closed (the message is dropped).
        @raise logship.wire.messages.MessageTooLarge: if it exceeds a limit.
        """

    def close(reason: str | None = None, batch_id: int | None = None) -> None:
        """
        Close the connection, first sending an L{Error} with C{reason} (and
        C{batch_id}) if a reason is given.  Nothing more is handed to the
        handler from this connection except C{disconnected}.
        """

    def register_producer(producer: IPullProducer) -> bool:
        """
        Have C{producer} asked for more (C{resumeProducing}, which should
        C{send} one message) each time the connection's write buffer is
        empty, at once the first time: a long upload never sits in memory
        whole.  One producer at a time; it calls C{unregister_producer}
        when done, and is stopped (C{stopProducing}) if the connection
        closes first.

        @return: C{False} (and nothing registered) if the connection is
            closing or closed, or a producer is registered.
        """

    def unregister_producer() -> None:
        """
        Forget the registered producer, if any.
        """


class IWireHandler(Interface):
    """
    What a service plugs into the wire: it receives the messages of every
    connection of a factory.  Calls come from the reactor thread, in order.
    An exception raised by a handler method is logged and closes that
    connection.
    """

    def connected(peer: IPeerConnection) -> None:
        """
        A handshake completed; C{peer} can send from now on.
        """

    def message_received(peer: IPeerConnection, message: Message) -> None:
        """
        A message arrived from C{peer} (never a L{Hello}).  An L{Error} is
        the last one: the connection closes after it.
        """

    def disconnected(peer: IPeerConnection, reason: CloseReason) -> None:
        """
        The connection of C{peer} is gone (called once, and only for peers
        that were C{connected}).
        """


@dataclass
class WireStats:
    """
    Counters of one factory, for metrics and checks.

    @ivar connections: transport connections made.
    @ivar handshakes: handshakes completed.
    @ivar rejected: connections this node closed because of what the peer
        did (or did not do in time), by reason code.
    @ivar peer_errors: connections the peer closed with an L{Error}.
    @ivar internal_errors: connections closed because a handler raised.
    @ivar messages_received: messages handed to the handler.
    @ivar messages_sent: messages sent after handshakes.
    """

    connections: int = 0
    handshakes: int = 0
    rejected: Counter[str] = field(default_factory=Counter)
    peer_errors: int = 0
    internal_errors: int = 0
    messages_received: int = 0
    messages_sent: int = 0


@dataclass(frozen=True)
class WireSettings:
    """
    The configuration shared by every connection of a factory.

    @ivar key: the cluster key, or C{None} for insecure (lab) mode and for
        credential mode.
    @ivar node: this node's name, sent in its hello.
    @ivar role: this node's role, sent in its hello.
    @ivar accept_roles: the peer roles allowed to complete a handshake.
    @ivar credentials: this node's identity and trust in credential mode,
        else C{None}.
    @ivar ping_interval: seconds of silence from the peer before a
        L{Ping}, or C{None} for no pings.
    @ivar ping_timeout: seconds after the ping before a silent peer is
        dropped.
    """

    key: bytes | None
    node: str
    role: Role
    accept_roles: frozenset[str]
    handshake_timeout: float = HANDSHAKE_TIMEOUT
    frame_timeout: float = FRAME_TIMEOUT
    close_timeout: float = CLOSE_TIMEOUT
    max_frame: int = MAX_FRAME
    credentials: Credentials | None = None
    ping_interval: float | None = None
    ping_timeout: float = PING_TIMEOUT

    def __post_init__(self) -> None:
        check_key(self.key)
        if self.credentials is not None:
            own = self.credentials.identity.credential
            if self.key is not None:
                raise ValueError("a cluster key and credentials exclude each other")
            if (own.node, own.role) != (self.node, self.role):
                raise ValueError(
                    f"this node is {self.node} ({self.role}) but its credential is for"
                    f" {own.node} ({own.role})"
                )
        # Building a hello validates the node name and the role.
        Hello(PROTOCOL_VERSION, self.role, self.node, new_random(), self.key is None)
        unknown = set(self.accept_roles) - set(ROLES)
        if unknown or not self.accept_roles:
            raise ValueError(f"accept_roles must be some of {', '.join(ROLES)}")


def _describe(address: IAddress | None) -> str:
    host = getattr(address, "host", None)
    port = getattr(address, "port", None)
    if host is not None and port is not None:
        return f"[{host}]:{port}" if ":" in str(host) else f"{host}:{port}"
    return str(address)


class _Handshaking:
    """
    State: waiting for the peer's hello (lab mode) or greeting (credential
    mode).

    @ivar own_random: the random value of this side's hello (lab mode).
    @ivar ephemeral: this side's ephemeral key (credential mode).
    @ivar own_greeting: the client's encoded greeting (credential mode).
    """

    def __init__(self, wire: WireProtocol) -> None:
        self._wire = wire
        self.own_random = new_random()
        self.ephemeral: Ephemeral | None = None
        self.own_greeting = b""
        if wire.settings.credentials is not None:
            self.ephemeral = Ephemeral()
            if wire.side is Side.CLIENT:
                self.own_greeting = encode_message(
                    Greeting(PROTOCOL_VERSION, self.ephemeral.public)
                )

    def frame_received(self, body: bytes) -> None:
        wire = self._wire
        settings = wire.settings
        opened = open_handshake(settings.key, body, settings.credentials is not None)
        message = decode_message(opened)
        if isinstance(message, Error):
            wire._peer_error(message)
        elif isinstance(message, Hello) and self.ephemeral is None:
            wire._hello_received(message, self.own_random)
        elif isinstance(message, Greeting) and self.ephemeral is not None:
            wire._greeting_received(message, opened, self)
        else:
            raise UnexpectedMessage(f"{message.TYPE} before the handshake completed")

    def error_frame(self, error: Error) -> bytes | None:
        return self._wire._handshake_frame(encode_message(error))


class _Authenticating:
    """
    State (credential mode): the keys are agreed; waiting for the peer's
    L{Identify} in its first session frame.

    @ivar transcript: the handshake transcript.
    """

    def __init__(
        self, wire: WireProtocol, sealer: FrameSealer, opener: FrameOpener, th: bytes
    ) -> None:
        self._wire = wire
        self.sealer = sealer
        self.opener = opener
        self.transcript = th

    def frame_received(self, body: bytes) -> None:
        message = decode_message(self.opener.open(body))
        if isinstance(message, Identify):
            self._wire._identified(message, self)
        elif isinstance(message, Error):
            self._wire._peer_error(message)
        else:
            raise UnexpectedMessage(f"{message.TYPE} before the peer identified itself")

    def error_frame(self, error: Error) -> bytes | None:
        return self.sealer.seal(encode_message(error))


class _Connected:
    """
    State: the handshake is done; session frames flow both ways.

    @ivar _refusal_allowed: on the server, until the client's first frame:
        the client may still refuse the server's hello with an L{Error} in a
        handshake frame (it starts with the magic; a session frame starts
        with counter 0 or, insecure, with a msgpack array: never confused).
    """

    def __init__(
        self,
        wire: WireProtocol,
        sealer: FrameSealer,
        opener: FrameOpener,
        refusal_allowed: bool,
    ) -> None:
        self._wire = wire
        self.seal = sealer.seal
        self._open = opener.open
        self._refusal_allowed = refusal_allowed

    def frame_received(self, body: bytes) -> None:
        if self._refusal_allowed:
            self._refusal_allowed = False
            if body.startswith(MAGIC):
                refusal = decode_message(self._wire._open_handshake(body))
                if not isinstance(refusal, Error):
                    raise UnexpectedMessage(f"{refusal.TYPE} in a handshake frame")
                self._wire._peer_error(refusal)
                return
        message = decode_message(self._open(body))
        if isinstance(message, Hello):
            raise UnexpectedMessage("hello after the handshake completed")
        if isinstance(message, Error):
            self._wire._peer_error(message)
        elif isinstance(message, Ping):
            self._wire._send(Pong())
        elif not isinstance(message, Pong):  # a pong was heard: enough
            self._wire._deliver(message)

    def error_frame(self, error: Error) -> bytes | None:
        return self.seal(encode_message(error))


class _Closed:
    """
    State: closing or closed; input is ignored and nothing is sent.
    """

    def frame_received(self, body: bytes) -> None:
        pass

    def error_frame(self, error: Error) -> bytes | None:
        return None


_State = _Handshaking | _Authenticating | _Connected | _Closed


@implementer(IPeerConnection)
class PeerConnection:
    """
    The handler's view of one connected peer (see L{IPeerConnection}).
    """

    def __init__(
        self,
        wire: WireProtocol,
        *,
        node: str,
        role: Role,
        insecure: bool,
        address: IAddress | None,
        credential: Credential | None = None,
    ) -> None:
        self._wire = wire
        self.peer_node = node
        self.peer_role = role
        self.insecure = insecure
        self.address = address
        self.credential = credential
        self.hosts: HostPatterns | None = (
            None if credential is None else credential.host_patterns()
        )

    @property
    def is_open(self) -> bool:
        return isinstance(self._wire._state, _Connected)

    def send(self, message: Message | PreparedMessage) -> bool:
        return self._wire._send(message)

    def close(self, reason: str | None = None, batch_id: int | None = None) -> None:
        self._wire._close_deliberately(reason, batch_id)

    def register_producer(self, producer: IPullProducer) -> bool:
        return self._wire._register_producer(producer)

    def unregister_producer(self) -> None:
        self._wire._unregister_producer()

    def __repr__(self) -> str:
        where = _describe(self.address)
        return f"<PeerConnection {self.peer_role} {self.peer_node} at {where}>"


class WireProtocol(Protocol):
    """
    One connection, either side (see the steps at the top of the module).
    """

    _log = Logger()

    def __init__(
        self,
        settings: WireSettings,
        side: Side,
        handler: IWireHandler,
        clock: IReactorTime,
        stats: WireStats,
        live: set[WireProtocol] | None = None,
    ) -> None:
        """
        @param settings: the factory's settings.
        @param side: which end this protocol is.
        @param handler: receives the messages.
        @param clock: schedules the timeouts.
        @param stats: the factory's counters, updated in place.
        @param live: the factory's connected protocols: this one is in it
            from its handshake until it is lost.
        """
        self.settings = settings
        self.side = side
        self._handler = handler
        self._clock = clock
        self._stats = stats
        self._live: set[WireProtocol] = set() if live is None else live
        self._framer = Framer(settings.max_frame)
        self._state: _State = _Handshaking(self)
        self._peer: PeerConnection | None = None
        self._address = "?"
        self._close_reason: CloseReason | None = None
        self._waiters: list[Deferred[PeerConnection]] = []
        self._handshake_timer: IDelayedCall | None = None
        self._frame_timer: IDelayedCall | None = None
        self._abort_timer: IDelayedCall | None = None
        self._producer: IPullProducer | None = None
        self._ping_timer: IDelayedCall | None = None
        #: When the peer was last heard from, and when the liveness check
        #: is due (with pings only).
        self._heard = 0.0
        self._check_at = 0.0
        self._pinged_at = float("-inf")

    # -- what services use

    @property
    def peer(self) -> PeerConnection | None:
        """
        The connected peer, once the handshake completed.
        """
        return self._peer

    def when_connected(self) -> Deferred[PeerConnection]:
        """
        Wait for the handshake (e.g. as C{ClientService}'s
        C{prepareConnection}).

        @return: a Deferred that fires with the L{PeerConnection}, or fails
            with L{HandshakeFailed} if the connection ends first.
        """
        if self._peer is not None:
            return succeed(self._peer)
        if self._close_reason is not None:
            return fail(HandshakeFailed(self._close_reason))
        waiter: Deferred[PeerConnection] = Deferred()
        self._waiters.append(waiter)
        return waiter

    # -- Twisted's side

    def connectionMade(self) -> None:
        self._stats.connections += 1
        assert self.transport is not None
        self._address = _describe(self.transport.getPeer())
        self._handshake_timer = self._clock.callLater(
            self.settings.handshake_timeout, self._handshake_timed_out
        )
        if self.side is Side.CLIENT:
            assert isinstance(self._state, _Handshaking)
            if self.settings.credentials is None:
                self._send_hello(self._state.own_random)
            else:
                self._write(keyed_handshake(self._state.own_greeting))

    def dataReceived(self, data: bytes) -> None:
        if isinstance(self._state, _Closed):
            return
        if self._ping_timer is not None:
            self._heard = self._clock.seconds()
        try:
            for body in self._framer.feed(data):
                self._state.frame_received(body)
                if isinstance(self._state, _Closed):
                    return
        except WireError as e:
            self._reject(e)
            return
        self._watch_partial_frame()

    def connectionLost(self, reason: Failure = connectionDone) -> None:
        self._state = _Closed()
        self._producer = None  # the transport stopped it
        self._live.discard(self)
        timers = (self._handshake_timer, self._frame_timer, self._abort_timer, self._ping_timer)
        for timer in timers:
            if timer is not None and timer.active():
                timer.cancel()
        self._handshake_timer = self._frame_timer = self._abort_timer = None
        self._ping_timer = None
        why = self._close_reason or CloseReason(
            "connection-lost", reason.getErrorMessage()
        )
        self._close_reason = why
        peer = self._peer
        if peer is None:
            waiters, self._waiters = self._waiters, []
            for waiter in waiters:
                waiter.errback(HandshakeFailed(why))
            return
        self._log.info(
            "Disconnected from {peer_node} ({peer_role}) at {address}: {reason}",
            address=self._address,
            peer_node=peer.peer_node,
            peer_role=peer.peer_role,
            reason=why.code,
            detail=why.detail,
        )
        try:
            self._handler.disconnected(peer, why)
        except Exception:
            self._log.failure(
                "Handler failed on disconnection of {address}", address=self._address
            )

    # -- steps

    def _send_hello(self, own_random: bytes) -> None:
        settings = self.settings
        hello = Hello(
            PROTOCOL_VERSION,
            settings.role,
            settings.node,
            own_random,
            settings.key is None,
        )
        self._write(seal_handshake(settings.key, encode_message(hello)))

    def _handshake_frame(self, body: bytes) -> bytes:
        """
        A handshake frame holding C{body}, as this node's mode builds it.
        """
        if self.settings.credentials is not None:
            return keyed_handshake(body)
        return seal_handshake(self.settings.key, body)

    def _open_handshake(self, frame: bytes) -> bytes:
        settings = self.settings
        return open_handshake(settings.key, frame, settings.credentials is not None)

    def _hello_received(self, hello: Hello, own_random: bytes) -> None:
        settings = self.settings
        if hello.role not in settings.accept_roles:
            raise BadRole(
                f"a {hello.role} may not connect here"
                f" (expected {' or '.join(sorted(settings.accept_roles))})"
            )
        if hello.insecure != (settings.key is None):
            raise MalformedMessage("the hello's insecure flag contradicts its frame")
        if hello.nonce == own_random:
            raise UnexpectedMessage("the peer sent back this node's own hello")
        if self.side is Side.SERVER:
            self._send_hello(own_random)
            client_random, server_random = hello.nonce, own_random
        else:
            client_random, server_random = own_random, hello.nonce
        sealer, opener = session(settings.key, self.side, client_random, server_random)
        assert self.transport is not None
        peer = PeerConnection(
            self,
            node=hello.node,
            role=hello.role,
            insecure=hello.insecure,
            address=self.transport.getPeer(),
        )
        self._established(peer, sealer, opener, self.side is Side.SERVER)

    def _greeting_received(
        self, greeting: Greeting, peer_body: bytes, state: _Handshaking
    ) -> None:
        ephemeral = state.ephemeral
        assert ephemeral is not None
        shared = ephemeral.shared(greeting.ephemeral)
        if self.side is Side.SERVER:
            own_body = encode_message(Greeting(PROTOCOL_VERSION, ephemeral.public))
            self._write(keyed_handshake(own_body))
            th = transcript(peer_body, own_body)
        else:
            th = transcript(state.own_greeting, peer_body)
        sealer, opener = counter_session(self.side, *session_keys(shared, th))
        authenticating = self._state = _Authenticating(self, sealer, opener, th)
        if self.side is Side.CLIENT:
            self._send_identify(authenticating)

    def _send_identify(self, state: _Authenticating) -> None:
        credentials = self.settings.credentials
        assert credentials is not None
        identity = credentials.identity
        proof = identity.sign(proof_message(self.side, state.transcript))
        identify = Identify(identity.credential.blob, proof)
        self._write(state.sealer.seal(encode_message(identify)))

    def _identified(self, identify: Identify, state: _Authenticating) -> None:
        settings = self.settings
        assert settings.credentials is not None
        try:
            credential = settings.credentials.trust.check(
                identify.credential, self._clock.seconds(), settings.accept_roles
            )
        except CredentialError as e:
            raise credential_rejection(e) from None
        peer_side = Side.SERVER if self.side is Side.CLIENT else Side.CLIENT
        check_proof(credential.key, peer_side, state.transcript, identify.proof)
        if self.side is Side.SERVER:
            self._send_identify(state)
        assert self.transport is not None
        peer = PeerConnection(
            self,
            node=credential.node,
            role=cast(Role, credential.role),  # one of accept_roles, all Roles
            insecure=False,
            address=self.transport.getPeer(),
            credential=credential,
        )
        self._established(peer, state.sealer, state.opener, False)

    def _established(
        self,
        peer: PeerConnection,
        sealer: FrameSealer,
        opener: FrameOpener,
        refusal_allowed: bool,
    ) -> None:
        """
        The handshake is done: the peer is connected.
        """
        self._state = _Connected(self, sealer, opener, refusal_allowed)
        if self._handshake_timer is not None and self._handshake_timer.active():
            self._handshake_timer.cancel()
        self._handshake_timer = None
        self._stats.handshakes += 1
        self._peer = peer
        self._live.add(self)
        if self.settings.ping_interval is not None:
            self._heard = self._clock.seconds()
            self._check_alive_in(self.settings.ping_interval)
        credential = peer.credential
        self._log.info(
            "Connected to {peer_node} ({peer_role}) at {address}{insecure_note}{credential_note}",
            address=self._address,
            peer_node=peer.peer_node,
            peer_role=peer.peer_role,
            insecure=peer.insecure,
            insecure_note=" (insecure: not sealed)" if peer.insecure else "",
            credential=None if credential is None else credential.serial_hex,
            credential_note="" if credential is None else f" (credential {credential.serial_hex})",
        )
        waiters, self._waiters = self._waiters, []
        for waiter in waiters:
            waiter.callback(peer)
        if isinstance(self._state, _Connected):
            self._call_handler(self._handler.connected, peer)

    def recheck(self, now: float) -> None:
        """
        Close the connection if the peer's credential was revoked or
        expired since the handshake (nothing in lab mode).
        """
        credentials = self.settings.credentials
        peer = self._peer
        if credentials is None or peer is None or peer.credential is None:
            return
        refused = credentials.trust.recheck(peer.credential, now)
        if refused is not None:
            self._reject(credential_rejection(refused))

    def _deliver(self, message: Message) -> None:
        assert self._peer is not None
        self._stats.messages_received += 1
        self._call_handler(self._handler.message_received, self._peer, message)

    def _call_handler(self, method: Callable[..., object], *args: object) -> None:
        try:
            method(*args)
        except Exception:
            self._stats.internal_errors += 1
            self._log.failure(
                "Handler failed in {method} for {address}; closing",
                method=method.__name__,
                address=self._address,
            )
            self._close(
                self._state.error_frame(Error("internal error")),
                CloseReason("internal-error", f"handler failed in {method.__name__}"),
            )

    def _peer_error(self, error: Error) -> None:
        self._stats.peer_errors += 1
        self._log.warn(
            "{address} closed the connection: {detail}",
            address=self._address,
            peer_node=self._peer.peer_node if self._peer else None,
            reason="peer-error",
            detail=error.reason,
            batch_id=error.batch_id,
        )
        if self._peer is not None:
            self._deliver(error)
        self._close(None, CloseReason("peer-error", error.reason))

    def _send(self, message: Message | PreparedMessage) -> bool:
        state = self._state
        if not isinstance(state, _Connected):
            return False
        if isinstance(message, PreparedMessage):
            plain, body = message.message, message.body
        else:
            plain, body = message, None
        if isinstance(plain, (Hello, Error)):
            raise ValueError(
                f"{plain.TYPE} is sent by the protocol itself; see close()"
            )
        self._write(state.seal(encode_message(plain) if body is None else body))
        self._stats.messages_sent += 1
        return True

    def _register_producer(self, producer: IPullProducer) -> bool:
        if not isinstance(self._state, _Connected) or self._producer is not None:
            return False
        self._producer = producer
        IConsumer(self.transport).registerProducer(producer, False)
        return True

    def _unregister_producer(self) -> None:
        if self._producer is not None:
            self._producer = None
            IConsumer(self.transport).unregisterProducer()

    def _write(self, body: bytes) -> None:
        # the length and the body as two buffers: a batch body is not copied
        assert self.transport is not None
        self.transport.writeSequence((frame_prefix(body, self.settings.max_frame), body))

    # -- endings

    def _reject(self, error: WireError) -> None:
        if isinstance(self._state, _Closed):
            return
        self._stats.rejected[error.code] += 1
        self._log.warn(
            "Rejected {address}: {reason}: {detail}",
            address=self._address,
            peer_node=self._peer.peer_node if self._peer else None,
            side=self.side.value,
            reason=error.code,
            detail=error.detail,
        )
        self._close(
            self._state.error_frame(error_for(error.detail)),
            CloseReason(error.code, error.detail),
        )

    def _handshake_timed_out(self) -> None:
        self._handshake_timer = None
        timeout = self.settings.handshake_timeout
        self._reject(HandshakeTimeout(f"no handshake within {timeout:g} seconds"))

    def _frame_timed_out(self) -> None:
        self._frame_timer = None
        timeout = self.settings.frame_timeout
        self._reject(
            FrameTimeout(f"half a frame, then nothing for {timeout:g} seconds")
        )

    def _check_alive_in(self, delay: float) -> None:
        self._check_at = self._clock.seconds() + delay
        self._ping_timer = self._clock.callLater(delay, self._check_alive)

    def _check_alive(self) -> None:
        """
        Ping a peer silent for C{ping_interval}; reject one still silent
        C{ping_timeout} later (see step 8).
        """
        self._ping_timer = None
        interval = self.settings.ping_interval
        assert interval is not None
        timeout = self.settings.ping_timeout
        now = self._clock.seconds()
        silent = now - self._heard
        if silent >= interval + timeout:
            if now - self._check_at > _STALLED:
                self._check_alive_in(_READ_FIRST)  # read what came meanwhile first
                return
            self._reject(PeerTimeout(f"nothing from the peer for {silent:.0f} seconds"))
            self._abort()  # a dead peer reads nothing: do not wait to flush
            return
        if silent < interval:
            self._check_alive_in(interval - silent)
            return
        if self._pinged_at <= self._heard:  # no ping since the peer was heard
            self._pinged_at = now
            self._send(Ping())
        self._check_alive_in(interval + timeout - silent)

    def _close_deliberately(self, reason: str | None, batch_id: int | None) -> None:
        if isinstance(self._state, _Closed):
            return
        self._log.info(
            "Closing {address}: {detail}",
            address=self._address,
            reason="closed",
            detail=reason or "",
        )
        frame = (
            None
            if reason is None
            else self._state.error_frame(error_for(reason, batch_id))
        )
        self._close(frame, CloseReason("closed", reason or "closed by this node"))

    def _close(self, last_frame: bytes | None, why: CloseReason) -> None:
        if isinstance(self._state, _Closed):
            return
        self._state = _Closed()
        self._close_reason = why
        for timer in (self._handshake_timer, self._frame_timer, self._ping_timer):
            if timer is not None and timer.active():
                timer.cancel()
        self._handshake_timer = self._frame_timer = self._ping_timer = None
        producer = self._producer
        if producer is not None:  # else the transport waits for it to finish
            self._unregister_producer()
            producer.stopProducing()
        transport = self.transport
        assert transport is not None
        if last_frame is not None:
            transport.write(encode_frame(last_frame, self.settings.max_frame))
        transport.loseConnection()
        self._abort_timer = self._clock.callLater(
            self.settings.close_timeout, self._abort
        )

    def _abort(self) -> None:
        self._abort_timer = None
        transport = self.transport
        abort = getattr(transport, "abortConnection", None)
        if abort is not None:
            abort()

    def _watch_partial_frame(self) -> None:
        if self._framer.buffered:
            timer = self._frame_timer
            if timer is not None and timer.active():
                timer.reset(self.settings.frame_timeout)
            else:
                self._frame_timer = self._clock.callLater(
                    self.settings.frame_timeout, self._frame_timed_out
                )
        elif self._frame_timer is not None:
            if self._frame_timer.active():
                self._frame_timer.cancel()
            self._frame_timer = None


class WireFactory(Factory):
    """
    Builds L{WireProtocol}s sharing settings, a handler, a clock and
    counters.  Use L{WireServerFactory} or L{WireClientFactory}.

    @ivar stats: the counters of every connection built here.
    @ivar settings: the configuration.
    """

    side: ClassVar[Side]
    noisy = False

    def __init__(
        self,
        *,
        key: bytes | None,
        node: str,
        role: Role,
        handler: IWireHandler,
        clock: IReactorTime,
        accept_roles: Iterable[str] = ROLES,
        handshake_timeout: float = HANDSHAKE_TIMEOUT,
        frame_timeout: float = FRAME_TIMEOUT,
        close_timeout: float = CLOSE_TIMEOUT,
        max_frame: int = MAX_FRAME,
        credentials: Credentials | None = None,
        ping_interval: float | None = None,
        ping_timeout: float = PING_TIMEOUT,
    ) -> None:
        """
        @param key: the 32-byte cluster key (L{logship.core.keys.read_key}), or
            C{None} for insecure mode (lab only: nothing is sealed).
        @param node: this node's name (1 to 255 printable characters).
        @param role: this node's role (C{"tailer"}, C{"buck"} or
            C{"porter"}).
        @param handler: an L{IWireHandler}, shared by all connections.
        @param clock: the reactor (or a L{twisted.internet.task.Clock}).
        @param accept_roles: the peer roles to accept (all by default).
        @param handshake_timeout: seconds to complete the handshake.
        @param frame_timeout: seconds a partial frame may wait.
        @param close_timeout: seconds a closing connection may take.
        @param max_frame: the frame cap (the same on both sides).
        @param credentials: this node's identity and trust, for credential
            mode (then C{key} is C{None}, and C{node} and C{role} are the
            credential's).
        @param ping_interval: seconds of silence from a connected peer
            before a L{Ping}; C{None}: never ping.
        @param ping_timeout: seconds after that before the silent peer is
            dropped.
        @raise ValueError: on a bad key, node, role or accepted role, or a
            credential of another node or role.
        """
        if not IWireHandler.providedBy(handler):
            raise TypeError(f"{handler!r} does not provide IWireHandler")
        self.settings = WireSettings(
            key=key,
            node=node,
            role=role,
            accept_roles=frozenset(accept_roles),
            handshake_timeout=handshake_timeout,
            frame_timeout=frame_timeout,
            close_timeout=close_timeout,
            max_frame=max_frame,
            credentials=credentials,
            ping_interval=ping_interval,
            ping_timeout=ping_timeout,
        )
        self.handler = handler
        self.clock = clock
        self.stats = WireStats()
        self._live: set[WireProtocol] = set()

    def buildProtocol(self, addr: IAddress | None) -> WireProtocol:
        protocol = WireProtocol(
            self.settings, self.side, self.handler, self.clock, self.stats, self._live
        )
        protocol.factory = self
        return protocol

    @property
    def connected(self) -> int:
        """
        How many of its connections completed the handshake and are open.
        """
        return len(self._live)

    def recheck(self) -> None:
        """
        Close the connections whose peer's credential was revoked or expired
        since their handshake (after the revocation list was reloaded, and
        periodically).  Nothing happens in lab mode.
        """
        now = self.clock.seconds()
        for protocol in list(self._live):
            protocol.recheck(now)


class WireServerFactory(WireFactory):
    """
    The accepting side (a buck; later the porter for its own peers).
    """

    side = Side.SERVER


class WireClientFactory(WireFactory):
    """
    The connecting side (a tailer, or the porter pulling from bucks).
    """

    side = Side.CLIENT


def buck_factory(
    *,
    key: bytes | None,
    node: str,
    role: Role,
    handler: IWireHandler,
    clock: IReactorTime,
    credentials: Credentials | None = None,
    ping_interval: float | None = PING_INTERVAL,
    ping_timeout: float = PING_TIMEOUT,
) -> WireClientFactory:
    """
    The client factory of a connection to a buck: it accepts only a buck
    as the peer (in credential mode, a buck credential), and drops a buck
    silent for C{ping_interval + ping_timeout} (step 8).

    @param handler: receives the connection's messages.
    @param credentials: for credential mode.
    @param ping_interval: seconds of silence before a ping (C{None}: none).
    @param ping_timeout: seconds after the ping before dropping the buck.
    """
    return WireClientFactory(
        key=key,
        node=node,
        role=role,
        handler=handler,
        clock=clock,
        accept_roles=("buck",),
        credentials=credentials,
        ping_interval=ping_interval,
        ping_timeout=ping_timeout,
    )


def buck_client(
    endpoint: IStreamClientEndpoint, factory: WireClientFactory, clock: IReactorTime
) -> ClientService:
    """
    A service keeping one connection to a buck: reconnecting with backoff
    and jitter (0.5 s to 10 s), a connection counting only once its
    handshake completed.  The tailer and the porter keep one per buck.

    @param factory: its L{buck_factory}.
    """
    return ClientService(
        endpoint,
        factory,
        retryPolicy=backoffPolicy(initialDelay=0.5, maxDelay=10.0),
        clock=clock,
        # The factory's protocols are WireProtocols.
        prepareConnection=lambda protocol: cast(WireProtocol, protocol).when_connected(),
    )
