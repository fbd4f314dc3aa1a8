"""A real C{twistd -n logship-buck} process on 127.0.0.1, fed by real clients.

Each test starts its own buck (listening on C{tcp:0}; the port comes from
its "listening on" log line) and stops it at the end, even when the test
fails.  Bucket files are checked with C{python -m logship cat --json}.

The rejection tests each run a correct client delivering before and after
the bad one on the same buck, and check that the bad input is refused with
its reason in the buck's log and that nothing of it was written.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import struct
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import msgpack
import pytest
import pytest_twisted
from twisted.internet import reactor
from twisted.internet.defer import Deferred
from twisted.internet.endpoints import TCP4ClientEndpoint, connectProtocol
from twisted.internet.protocol import Protocol
from twisted.python.failure import Failure
from zope.interface import implementer

from logship.core.bucket import encode_record
from logship.core.event import encode_fields
from logship.core.keys import read_key, write_new_key
from logship.core.parse import TICKS_PER_SECOND
from logship.wire.framing import MAX_FRAME, Framer
from logship.wire.messages import (
    Ack,
    Batch,
    BucketAck,
    BucketPut,
    Message,
    encode_message,
)
from logship.wire.protocol import (
    CloseReason,
    HandshakeFailed,
    IPeerConnection,
    IWireHandler,
    WireClientFactory,
    WireProtocol,
)
from tests.integration.processes import ProcessGroup, TwistdProcess, twistd_command
from tests.integration.waiting import wait_until
from tests.wire.common import ManualClient, zlib_bomb

#: 2026-11-26T09:37:00Z
T0 = 1795685820
#: Seconds to wait for anything over loopback.
TIMEOUT = 10.0


# -- fixtures


@pytest.fixture
def processes(tmp_path: Path) -> Iterator[ProcessGroup]:
    group = ProcessGroup(tmp_path)
    try:
        yield group
    finally:
        group.stop_all()


@pytest.fixture
def key_file(tmp_path: Path) -> Path:
    path = tmp_path / "cluster.key"
    write_new_key(path)
    return path


@pytest.fixture
def buck(processes: ProcessGroup, key_file: Path) -> TwistdProcess:
    """
    A buck with a short frame timeout (for the half-frame test).
    """
    return processes.start_twistd(
        "logship-buck",
        [
            "--listen", "tcp:0:interface=127.0.0.1",
            "--data", "data",
            "--key", str(key_file),
            "--node", "buck-it",
            "--frame-timeout", "0.5",
        ],
        name="buck",
    )


# -- clients


def event(tag: str, n: int, second: int = 0) -> bytes:
    """
    A serialized event whose message is C{"TAG N"}.
    """
    point = (T0 + second) * TICKS_PER_SECOND + n
    return encode_fields(point, 13, b"web-1", b"app", None, f"{tag} {n}".encode())


@implementer(IWireHandler)
class Tailer:
    """
    A minimal tailer: sends batches and uploads, waits for their acks.
    """

    def __init__(self) -> None:
        self.peer: IPeerConnection | None = None
        self.waiting: dict[tuple[type, int], Deferred[Message]] = {}
        self.closed: Deferred[CloseReason] = Deferred()

    def connected(self, peer: IPeerConnection) -> None:
        self.peer = peer

    def message_received(self, peer: IPeerConnection, message: Message) -> None:
        if isinstance(message, Ack):
            waiter = self.waiting.pop((Ack, message.batch_id), None)
        elif isinstance(message, BucketAck):
            waiter = self.waiting.pop((BucketAck, message.upload_id), None)
        else:
            waiter = None
        if waiter is not None:
            waiter.callback(message)

    def disconnected(self, peer: IPeerConnection, reason: CloseReason) -> None:
        for waiter in self.waiting.values():
            waiter.errback(Failure(ConnectionError(str(reason))))
        self.waiting.clear()
        self.closed.callback(reason)

    async def deliver(self, batch_id: int, events: list[bytes], durability: str = "ack2") -> Ack:
        assert self.peer is not None
        waiter: Deferred[Message] = Deferred()
        self.waiting[(Ack, batch_id)] = waiter
        self.peer.send(Batch(batch_id, durability, events))  # type: ignore[arg-type]
        ack = await waiter.addTimeout(TIMEOUT, reactor)
        assert isinstance(ack, Ack)
        return ack

    async def upload(self, upload_id: int, start: int, data: bytes, chunk: int = 4096) -> BucketAck:
        assert self.peer is not None
        waiter: Deferred[Message] = Deferred()
        self.waiting[(BucketAck, upload_id)] = waiter
        digest = hashlib.sha256(data).digest()
        offsets = list(range(0, len(data), chunk)) or [0]
        for offset in offsets:
            last = offset == offsets[-1]
            self.peer.send(
                BucketPut(upload_id, start, 60, offset, data[offset : offset + chunk],
                          last, digest if last else None)
            )
        ack = await waiter.addTimeout(TIMEOUT, reactor)
        assert isinstance(ack, BucketAck)
        return ack


async def connect_tailer(
    buck: TwistdProcess, key: bytes, node: str = "web-1"
) -> tuple[Tailer, WireProtocol]:
    tailer = Tailer()
    factory = WireClientFactory(
        key=key, node=node, role="tailer", handler=tailer, clock=reactor,
        accept_roles=("buck",),
    )
    endpoint = TCP4ClientEndpoint(reactor, "127.0.0.1", buck.port)
    protocol = await endpoint.connect(factory)
    # when_connected fires before the handler's connected() is called.
    tailer.peer = await protocol.when_connected().addTimeout(TIMEOUT, reactor)
    return tailer, protocol


class RawClient(Protocol):
    """
    A TCP client that writes whatever it is told and keeps what it gets.
    """

    def __init__(self) -> None:
        self.received = bytearray()
        self.lost: Deferred[None] = Deferred()

    def dataReceived(self, data: bytes) -> None:
        self.received += data

    def connectionLost(self, reason: Failure) -> None:
        self.lost.callback(None)

    def write(self, data: bytes) -> None:
        assert self.transport is not None
        self.transport.write(data)

    async def handshake(self, manual: ManualClient) -> None:
        """
        Complete the handshake by hand as C{manual} (which then seals frames).
        """
        self.write(manual.hello_frame())
        frames = await wait_until(lambda: Framer().feed(bytes(self.received)), TIMEOUT)
        manual.server_hello(frames[0])
        self.received.clear()

    async def wait_lost(self) -> None:
        await self.lost.addTimeout(TIMEOUT, reactor)


async def connect_raw(buck: TwistdProcess) -> RawClient:
    endpoint = TCP4ClientEndpoint(reactor, "127.0.0.1", buck.port)
    return await connectProtocol(endpoint, RawClient())


def cat(buck: TwistdProcess) -> list[dict[str, Any]]:
    """
    The buck's events, as C{logship cat --json DATA/buckets} shows them.
    """
    result = subprocess.run(
        [sys.executable, "-m", "logship", "cat", "--json", str(buck.workdir / "data" / "buckets")],
        capture_output=True, timeout=60, check=True,
    )
    return [json.loads(line) for line in result.stdout.splitlines()]


def batch_body(batch_id: int, events: list[bytes]) -> bytes:
    return encode_message(Batch(batch_id, "ack2", events))


class GoodClient:
    """
    The correct tailer that delivers before and after the bad input.
    """

    def __init__(self, buck: TwistdProcess, key: bytes) -> None:
        self.buck = buck
        self.key = key
        self.sent: list[str] = []
        self.tailer: Tailer | None = None
        self.protocol: WireProtocol | None = None
        self.batch_id = 0

    async def deliver(self, count: int = 50) -> None:
        if self.tailer is None:
            self.tailer, self.protocol = await connect_tailer(self.buck, self.key, "good-1")
        self.batch_id += 1
        first = len(self.sent)
        events = [event("good", first + i) for i in range(count)]
        ack = await self.tailer.deliver(self.batch_id, events)
        assert ack == Ack(self.batch_id, count)
        self.sent.extend(f"good {first + i}" for i in range(count))

    def close(self) -> None:
        if self.protocol is not None and self.protocol.transport is not None:
            self.protocol.transport.loseConnection()

    def check_disk(self) -> None:
        """
        The buck holds exactly the good events: nothing of the bad client.
        """
        on_disk = cat(self.buck)
        assert sorted(e["message"] for e in on_disk) == sorted(self.sent)
        assert not any("evil" in e["message"] for e in on_disk)


async def rejected(buck: TwistdProcess, reason: str) -> str:
    """
    Wait for the buck to log a rejection with C{reason}; return the line.
    """
    match = await buck.wait_for_log(rf"Rejected [^\n]*{reason}[^\n]*")
    return match.group(0)


@pytest.fixture
def good(buck: TwistdProcess, key_file: Path) -> Iterator[GoodClient]:
    client = GoodClient(buck, read_key(key_file))
    yield client
    client.close()


# -- tests


@pytest_twisted.ensureDeferred
async def test_batches_acknowledged_and_stored(buck: TwistdProcess, key_file: Path) -> None:
    """
    Three tailers send batches of every durability: each non-live batch is
    acknowledged with its count, and the bucket files hold exactly those
    events (live ones are not written).
    """
    key = read_key(key_file)
    clients = [await connect_tailer(buck, key, f"web-{n}") for n in range(3)]
    expected: list[str] = []
    durabilities = ["ack1", "ack2", "ack2+fsync"]
    for round_ in range(4):
        for n, (tailer, _) in enumerate(clients):
            durability = durabilities[(round_ + n) % 3]
            tag = f"c{n}-r{round_}"
            events = [event(tag, i, second=i % 120) for i in range(200)]
            ack = await tailer.deliver(round_, events, durability)
            assert ack == Ack(round_, 200)
            expected.extend(f"{tag} {i}" for i in range(200))
    tailer, _ = clients[0]
    assert tailer.peer is not None
    tailer.peer.send(Batch(99, "live", [event("live", i) for i in range(5)]))
    await tailer.deliver(100, [event("after-live", 0)])
    expected.append("after-live 0")
    on_disk = cat(buck)
    assert len(on_disk) == len(expected)
    assert sorted(e["message"] for e in on_disk) == sorted(expected)
    assert {e["host"] for e in on_disk} == {"web-1"}
    buckets = sorted(p.relative_to(buck.workdir / "data" / "buckets").as_posix()
                     for p in (buck.workdir / "data" / "buckets").rglob("*.b"))
    assert buckets == ["2026/11/26/09/37.b", "2026/11/26/09/38.b"]
    for _, protocol in clients:
        assert protocol.transport is not None
        protocol.transport.loseConnection()


@pytest_twisted.ensureDeferred
async def test_whole_bucket_upload_merged(buck: TwistdProcess, key_file: Path) -> None:
    """
    A bucket uploaded whole is merged: what the buck got in batches is not
    duplicated, a re-upload adds nothing.
    """
    tailer, protocol = await connect_tailer(buck, read_key(key_file))
    events = [event("up", i, second=i % 60) for i in range(300)]
    await tailer.deliver(1, events[:100])
    data = b"".join(encode_record(e) for e in events)
    assert await tailer.upload(1, T0, data) == BucketAck(1, T0, 300, 200)
    assert await tailer.upload(2, T0, data) == BucketAck(2, T0, 300, 0)
    assert sorted(e["message"] for e in cat(buck)) == sorted(f"up {i}" for i in range(300))
    assert list((buck.workdir / "data" / "incoming").iterdir()) == []
    assert protocol.transport is not None
    protocol.transport.loseConnection()


@pytest_twisted.ensureDeferred
async def test_wrong_key(buck: TwistdProcess, good: GoodClient) -> None:
    await good.deliver()
    other = buck.workdir.parent / "other.key"
    write_new_key(other)
    with pytest.raises(HandshakeFailed):
        await connect_tailer(buck, read_key(other), "evil-1")
    await rejected(buck, "bad-seal")
    await good.deliver()
    good.check_disk()


@pytest_twisted.ensureDeferred
async def test_flipped_bit(buck: TwistdProcess, key_file: Path, good: GoodClient) -> None:
    await good.deliver()
    raw = await connect_raw(buck)
    manual = ManualClient(key=read_key(key_file))
    await raw.handshake(manual)
    frame = bytearray(manual.session_frame(batch_body(1, [event("evil", i) for i in range(10)])))
    frame[len(frame) // 2] ^= 0x10
    raw.write(bytes(frame))
    await raw.wait_lost()
    await rejected(buck, "bad-seal")
    await good.deliver()
    good.check_disk()


@pytest_twisted.ensureDeferred
async def test_garbage(buck: TwistdProcess, good: GoodClient) -> None:
    await good.deliver()
    raw = await connect_raw(buck)
    raw.write(struct.pack(">I", 64) + os.urandom(64))
    await raw.wait_lost()
    await rejected(buck, "not-logship")
    http = await connect_raw(buck)
    http.write(b"GET / HTTP/1.1\r\nHost: buck\r\n\r\n")
    await http.wait_lost()
    await rejected(buck, "frame-too-large")
    await good.deliver()
    good.check_disk()


@pytest_twisted.ensureDeferred
async def test_oversized_frame(buck: TwistdProcess, key_file: Path, good: GoodClient) -> None:
    await good.deliver()
    raw = await connect_raw(buck)
    await raw.handshake(ManualClient(key=read_key(key_file)))
    raw.write(struct.pack(">I", MAX_FRAME + 1) + b"evil" * 1000)
    await raw.wait_lost()
    line = await rejected(buck, "frame-too-large")
    assert str(MAX_FRAME + 1) in line
    await good.deliver()
    good.check_disk()


@pytest_twisted.ensureDeferred
async def test_zlib_bomb(buck: TwistdProcess, key_file: Path, good: GoodClient) -> None:
    await good.deliver()
    raw = await connect_raw(buck)
    manual = ManualClient(key=read_key(key_file))
    await raw.handshake(manual)
    body = msgpack.packb(
        [{"type": "batch", "batch_id": 1, "durability": "ack2", "events": 1}, zlib_bomb()],
        use_bin_type=True,
    )
    raw.write(manual.session_frame(body))
    await raw.wait_lost()
    line = await rejected(buck, "malformed")
    assert "decompression bomb" in line
    await good.deliver()
    good.check_disk()


@pytest_twisted.ensureDeferred
async def test_half_a_frame(buck: TwistdProcess, key_file: Path, good: GoodClient) -> None:
    """
    A client that sends half a frame and stops is dropped after the frame
    timeout (0.5 s here); the good client is served meanwhile.
    """
    await good.deliver()
    raw = await connect_raw(buck)
    manual = ManualClient(key=read_key(key_file))
    await raw.handshake(manual)
    frame = manual.session_frame(batch_body(1, [event("evil", i) for i in range(10)]))
    raw.write(frame[: len(frame) // 2])
    await good.deliver()
    await raw.wait_lost()
    await rejected(buck, "frame-timeout")
    await good.deliver()
    good.check_disk()


@pytest_twisted.ensureDeferred
async def test_corrupt_event(buck: TwistdProcess, key_file: Path, good: GoodClient) -> None:
    """
    A correctly sealed batch holding a corrupt event: the buck closes that
    connection with the reason and writes nothing of the batch.
    """
    await good.deliver()
    evil, _ = await connect_tailer(buck, read_key(key_file), "evil-1")
    events = [event("evil", i) for i in range(10)]
    events[7] = events[7][:-1] + b"X"
    assert evil.peer is not None
    evil.peer.send(Batch(1, "ack2", events))
    reason = await evil.closed.addTimeout(TIMEOUT, reactor)
    assert reason.code == "peer-error"
    assert "event 7 is corrupt" in reason.detail
    await rejected(buck, "event 7 is corrupt")
    await good.deliver()
    good.check_disk()


@pytest_twisted.ensureDeferred
async def test_bad_version(buck: TwistdProcess, key_file: Path, good: GoodClient) -> None:
    await good.deliver()
    raw = await connect_raw(buck)
    raw.write(ManualClient(key=read_key(key_file), version=2).hello_frame())
    await raw.wait_lost()
    await rejected(buck, "bad-version")
    await good.deliver()
    good.check_disk()


def test_clean_errors(tmp_path: Path) -> None:
    """
    A missing key is a one-line error and exit status 1, no traceback.
    """
    result = subprocess.run(
        [*twistd_command(), "-n", "--pidfile=", "logship-buck", "--data", str(tmp_path / "d")],
        capture_output=True, timeout=60, cwd=tmp_path,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 1
    assert b"no --key FILE given" in output
    assert b"Traceback" not in output


def test_stops_cleanly(processes: ProcessGroup, buck: TwistdProcess) -> None:
    """
    SIGTERM stops the buck cleanly (twistd then ends itself with the same
    signal, so the status says SIGTERM) with a final stats line.
    """
    assert buck.stop() in (0, -signal.SIGTERM)
    log = buck.log_text()
    assert "Main loop terminated" in log
    assert log.count("Buck buck-it:") >= 2
