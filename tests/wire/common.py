"""Test helpers for the wire: keys, a recording handler, in-memory pairs.

The in-memory connections use C{twisted.test.iosim} (test support that
ships with Twisted), kept in this module only.
"""

from __future__ import annotations

import itertools
import struct
import zlib
from dataclasses import dataclass, field
from functools import cache
from typing import Any

from twisted.internet.address import IPv4Address
from twisted.internet.protocol import Protocol
from twisted.internet.task import Clock
from twisted.test.iosim import FakeTransport, IOPump, connect
from zope.interface import implementer

from logship.core.credentials import NodeIdentity
from logship.wire.framing import Framer, encode_frame
from logship.wire.handshake import Ephemeral, proof_message, session_keys, transcript
from logship.wire.messages import (
    PROTOCOL_VERSION,
    Ack,
    Batch,
    Greeting,
    Hello,
    Identify,
    Message,
    Role,
    decode_message,
    encode_message,
)
from logship.wire.protocol import (
    CloseReason,
    IPeerConnection,
    IWireHandler,
    WireClientFactory,
    WireFactory,
    WireProtocol,
    WireServerFactory,
)
from logship.wire.seal import (
    FrameOpener,
    FrameSealer,
    Side,
    counter_session,
    keyed_handshake,
    new_random,
    open_handshake,
    seal_handshake,
    session,
)

KEY = bytes(range(32))
OTHER_KEY = bytes(range(1, 33))

_ports = itertools.count(40000)


def address(host: str = "192.0.2.1") -> IPv4Address:
    """
    A fresh TCP address (a new port each time) for a fake transport.
    """
    return IPv4Address("TCP", host, next(_ports))


def describe(addr: IPv4Address) -> str:
    """
    How the protocol names C{addr} in its log events.
    """
    return f"{addr.host}:{addr.port}"


def events(count: int, size: int = 120) -> list[bytes]:
    """
    C{count} distinct opaque events of C{size} bytes.
    """
    return [(b"%08d " % i + b"event " * size)[:size] for i in range(count)]


@cache
def zlib_bomb(expanded: int = 1 << 30) -> bytes:
    """
    A valid zlib stream of C{expanded} zero bytes (1 GiB by default), about
    1 MiB long, made cheaply: one zeroed mebibyte is compressed after a full
    flush (which makes its blocks independent of what came before) and that
    block sequence is repeated; the trailer is the Adler-32 of the whole.
    """
    chunk = bytes(1 << 20)
    count = expanded // len(chunk)
    deflater = zlib.compressobj(9, zlib.DEFLATED, -15)
    first = deflater.compress(chunk) + deflater.flush(zlib.Z_FULL_FLUSH)
    repeat = deflater.compress(chunk) + deflater.flush(zlib.Z_FULL_FLUSH)
    end = deflater.flush()
    adler = 1
    for _ in range(count):
        adler = zlib.adler32(chunk, adler)
    return b"\x78\xda" + first + repeat * (count - 1) + end + struct.pack(">I", adler)


@implementer(IWireHandler)
class RecordingHandler:
    """
    Records every call; acknowledges batches (except live ones) if asked.
    """

    def __init__(self, ack: bool = True) -> None:
        self.ack = ack
        self.connected_peers: list[IPeerConnection] = []
        self.messages: list[tuple[IPeerConnection, Message]] = []
        self.disconnections: list[tuple[IPeerConnection, CloseReason]] = []

    def connected(self, peer: IPeerConnection) -> None:
        self.connected_peers.append(peer)

    def message_received(self, peer: IPeerConnection, message: Message) -> None:
        self.messages.append((peer, message))
        if self.ack and isinstance(message, Batch) and message.durability != "live":
            peer.send(Ack(message.batch_id, len(message.events)))

    def disconnected(self, peer: IPeerConnection, reason: CloseReason) -> None:
        self.disconnections.append((peer, reason))

    def messages_from(self, addr: IPv4Address) -> list[Message]:
        """
        The messages received from the peer at C{addr}.
        """
        return [m for p, m in self.messages if p.address == addr]


def server_factory(
    clock: Clock,
    handler: RecordingHandler,
    key: bytes | None = KEY,
    node: str = "buck-1",
    role: Role = "buck",
    **kwargs: Any,
) -> WireServerFactory:
    """
    A buck-like server factory.
    """
    return WireServerFactory(
        key=key, node=node, role=role, handler=handler, clock=clock, **kwargs
    )


def client_factory(
    clock: Clock,
    handler: RecordingHandler,
    key: bytes | None = KEY,
    node: str = "web-1",
    role: Role = "tailer",
    **kwargs: Any,
) -> WireClientFactory:
    """
    A tailer-like client factory.
    """
    return WireClientFactory(
        key=key, node=node, role=role, handler=handler, clock=clock, **kwargs
    )


@dataclass
class Pair:
    """
    A client protocol connected in memory to a server protocol.

    @ivar client_address: the client's address as the server sees it.
    """

    client: Protocol
    server: WireProtocol
    client_transport: FakeTransport
    server_transport: FakeTransport
    pump: IOPump
    client_address: IPv4Address

    def flush(self) -> None:
        self.pump.flush()

    @property
    def wire_client(self) -> WireProtocol:
        """
        The client, when it is a L{WireProtocol}.
        """
        assert isinstance(self.client, WireProtocol)
        return self.client

    @property
    def lost(self) -> bool:
        """
        Whether both ends saw the connection go.
        """
        return bool(
            self.client_transport.disconnected and self.server_transport.disconnected
        )


def connect_pair(
    server: WireFactory,
    client: WireFactory | Protocol,
    clock: Clock,
    tap: list[bytes] | None = None,
) -> Pair:
    """
    Connect a protocol from C{client} (a factory, or a ready protocol such
    as a L{RawPeer}) to a new protocol of C{server}, and flush.

    @param tap: if given, every chunk delivered either way is appended.
    """
    client_address = address("192.0.2.66")
    server_address = address("198.51.100.1")
    server_protocol = server.buildProtocol(client_address)
    client_protocol = (
        client.buildProtocol(server_address)
        if isinstance(client, WireFactory)
        else client
    )
    server_transport = FakeTransport(
        server_protocol,
        isServer=True,
        hostAddress=server_address,
        peerAddress=client_address,
    )
    client_transport = FakeTransport(
        client_protocol,
        isServer=False,
        hostAddress=client_address,
        peerAddress=server_address,
    )
    if tap is not None:
        for protocol in (server_protocol, client_protocol):
            _tap(protocol, tap)
    pump = connect(
        server_protocol,
        server_transport,
        client_protocol,
        client_transport,
        clock=clock,
    )
    return Pair(
        client_protocol,
        server_protocol,
        client_transport,
        server_transport,
        pump,
        client_address,
    )


def _tap(protocol: Protocol, tap: list[bytes]) -> None:
    received = protocol.dataReceived

    def data_received(data: bytes) -> None:
        tap.append(data)
        received(data)

    protocol.dataReceived = data_received  # type: ignore[method-assign]


class RawPeer(Protocol):
    """
    A client that writes whatever it is told and keeps what it receives.
    """

    def __init__(self, greeting: bytes = b"") -> None:
        self.greeting = greeting
        self.received = bytearray()
        self.lost = False

    def connectionMade(self) -> None:
        if self.greeting:
            self.send_raw(self.greeting)

    def send_raw(self, data: bytes) -> None:
        assert self.transport is not None
        self.transport.write(data)

    def dataReceived(self, data: bytes) -> None:
        self.received += data

    def connectionLost(self, reason: object = None) -> None:
        self.lost = True

    def frames(self) -> list[bytes]:
        """
        The frame bodies received so far.
        """
        return Framer().feed(bytes(self.received))


@dataclass
class ManualClient:
    """
    A client's half of the handshake done by hand with the pure layers, to
    send frames a real client never would.
    """

    key: bytes | None = KEY
    version: int = PROTOCOL_VERSION
    role: Role = "tailer"
    node: str = "evil-1"
    random: bytes = field(default_factory=new_random)
    sealer: FrameSealer | None = None
    opener: FrameOpener | None = None

    def hello_frame(self) -> bytes:
        """
        This client's hello, framed.
        """
        hello = Hello(self.version, self.role, self.node, self.random, self.key is None)
        return encode_frame(seal_handshake(self.key, encode_message(hello)))

    def server_hello(self, frame: bytes) -> Hello:
        """
        Take the server's hello (a handshake frame body) and derive keys.
        """
        hello = decode_message(open_handshake(self.key, frame))
        assert isinstance(hello, Hello), hello
        self.sealer, self.opener = session(
            self.key, Side.CLIENT, self.random, hello.nonce
        )
        return hello

    def session_frame(self, body: bytes) -> bytes:
        """
        A framed session frame holding C{body} (any bytes).
        """
        assert self.sealer is not None
        return encode_frame(self.sealer.seal(body))


def handshake_by_hand(
    server: WireFactory, clock: Clock, manual: ManualClient
) -> tuple[Pair, RawPeer]:
    """
    Connect a L{RawPeer} that completes the handshake as C{manual}.
    """
    peer = RawPeer(manual.hello_frame())
    pair = connect_pair(server, peer, clock)
    (frame,) = peer.frames()
    manual.server_hello(frame)
    del peer.received[:]
    return pair, peer


@dataclass
class KeyedManualClient:
    """
    A client's half of the credential handshake done by hand, to send what
    a real client never would (a wrong proof, someone else's credential, a
    replayed identify).
    """

    identity: NodeIdentity
    ephemeral: Ephemeral = field(default_factory=Ephemeral)
    transcript: bytes = b""
    sealer: FrameSealer | None = None
    opener: FrameOpener | None = None

    @property
    def greeting(self) -> bytes:
        return encode_message(Greeting(PROTOCOL_VERSION, self.ephemeral.public))

    def greeting_frame(self) -> bytes:
        """
        This client's greeting, framed.
        """
        return encode_frame(keyed_handshake(self.greeting))

    def server_greeting(self, frame: bytes) -> None:
        """
        Take the server's greeting (a handshake frame body) and derive the
        keys.
        """
        body = open_handshake(None, frame, keyed=True)
        greeting = decode_message(body)
        assert isinstance(greeting, Greeting), greeting
        self.transcript = transcript(self.greeting, body)
        keys = session_keys(self.ephemeral.shared(greeting.ephemeral), self.transcript)
        self.sealer, self.opener = counter_session(Side.CLIENT, *keys)

    def open(self, frame: bytes) -> Message:
        """
        Open and decode a session frame body from the server.
        """
        assert self.opener is not None
        return decode_message(self.opener.open(frame))

    def identify(self, proof: bytes | None = None, credential: bytes | None = None) -> Identify:
        """
        This client's identify (a right proof unless told otherwise).
        """
        return Identify(
            self.identity.credential.blob if credential is None else credential,
            self.identity.sign(proof_message(Side.CLIENT, self.transcript))
            if proof is None
            else proof,
        )

    def session_frame(self, body: bytes) -> bytes:
        """
        A framed session frame holding C{body} (any bytes).
        """
        assert self.sealer is not None
        return encode_frame(self.sealer.seal(body))


def keyed_by_hand(
    server: WireFactory, clock: Clock, manual: KeyedManualClient
) -> tuple[Pair, RawPeer]:
    """
    Connect a L{RawPeer} that exchanges greetings as C{manual}.

    @return: the pair and the raw peer, whose next frame is its identify.
    """
    peer = RawPeer(manual.greeting_frame())
    pair = connect_pair(server, peer, clock)
    (greeting,) = peer.frames()
    manual.server_greeting(greeting)
    del peer.received[:]
    return pair, peer
