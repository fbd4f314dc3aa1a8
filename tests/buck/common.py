"""The buck's test harness: a L{BuckService} and its peers over in-memory wires, and upload helpers."""

from __future__ import annotations

import hashlib
import shutil
import tempfile
from pathlib import Path
from typing import Any

from twisted.internet.task import Clock
from twisted.internet.testing import EventLoggingObserver
from twisted.logger import globalLogPublisher
from twisted.trial.unittest import SynchronousTestCase

from logship.buck.pubsub import Channel
from logship.buck.service import BuckService
from logship.buck.store import BucketStore
from logship.core.bucket import encode_record
from logship.core.credentials import NodeIdentity
from logship.core.receipts import ArchiveReceipt, sign_receipt
from logship.wire.messages import Ack, Archived, BucketPut, Error, Message, Role
from logship.wire.protocol import IPeerConnection
from tests.buck import T0, read_bucket
from tests.wire.common import KEY, Pair, RecordingHandler, client_factory, connect_pair


class Client(RecordingHandler):
    """
    A tailer's handler that notes, when each ack arrives, what the buck's
    bucket file of L{T0} holds at that moment.
    """

    def __init__(self, bucket: Path) -> None:
        super().__init__(ack=False)
        self.bucket = bucket
        self.on_disk_at_ack: list[int] = []

    def message_received(self, peer: IPeerConnection, message: Message) -> None:
        super().message_received(peer, message)
        if isinstance(message, Ack):
            on_disk = len(read_bucket(self.bucket)) if self.bucket.exists() else 0
            self.on_disk_at_ack.append(on_disk)

    @property
    def peer(self) -> IPeerConnection:
        return self.connected_peers[-1]

    def received(self, kind: type) -> list[Any]:
        return [m for _, m in self.messages if isinstance(m, kind)]


class BuckTestCase(SynchronousTestCase):
    def setUp(self) -> None:
        self.tmp = Path(tempfile.mkdtemp())
        self.addCleanup(shutil.rmtree, self.tmp)
        self.clock = Clock()
        self.fsynced: list[int] = []
        self.order: list[str] = []
        self.store = BucketStore(
            self.tmp / "data", 60, self.clock, fsync=self.fsync
        )
        self.addCleanup(self.store.close)
        self.channel = Channel(self.clock)
        self.feed = self.channel.subscribe("test")
        self.buck = self.make_buck()
        self.log = EventLoggingObserver.createWithCleanup(self, globalLogPublisher)

    def make_buck(self, **kwargs: Any) -> BuckService:
        return BuckService(
            store=self.store,
            channel=self.channel,
            clock=self.clock,
            key=KEY,
            node="buck-1",
            **kwargs,
        )

    def fsync(self, fd: int) -> None:
        self.fsynced.append(fd)
        self.order.append("fsync")

    def connect(self, node: str = "web-1", role: Role = "tailer") -> tuple[Client, Pair]:
        client = Client(self.store.path_of(T0))
        pair = connect_pair(
            self.buck.factory,
            client_factory(self.clock, client, node=node, role=role),
            self.clock,
        )
        self.assertEqual(len(client.connected_peers), 1)
        return client, pair

    def send(self, client: Client, pair: Pair, message: Message) -> None:
        client.peer.send(message)
        pair.flush()

    def bucket_files(self) -> list[Path]:
        return sorted(p for p in self.store.buckets.rglob("*") if p.is_file())

    def closed_with(self, client: Client, pair: Pair) -> str:
        """
        The reason the buck gave when it closed the client's connection.
        """
        self.assertTrue(pair.lost)
        (error,) = client.received(Error)
        return str(error.reason)

    def rejections(self) -> list[dict[str, Any]]:
        return [e for e in self.log if e.get("reason") == "rejected-input"]


def put_chunks(
    upload_id: int, data: bytes, start: int = T0, seconds: int = 60, size: int = 1000,
    digest: bytes | None = None,
) -> list[BucketPut]:
    """
    The L{BucketPut} chunks of an upload of C{data}.
    """
    chunks = [data[i : i + size] for i in range(0, len(data), size)] or [b""]
    puts = []
    offset = 0
    for n, chunk in enumerate(chunks):
        last = n == len(chunks) - 1
        sha = (digest or hashlib.sha256(data).digest()) if last else None
        puts.append(BucketPut(upload_id, start, seconds, offset, chunk, last, sha))
        offset += len(chunk)
    return puts


def bucket_bytes(events: list[bytes]) -> bytes:
    return b"".join(encode_record(e) for e in events)


def archived_notice(
    store: BucketStore,
    request_id: int,
    start: int,
    *,
    buck: str = "buck-1",
    porter: str = "porter",
    data: bytes | None = None,
    identity: NodeIdentity | None = None,
) -> Archived:
    """
    The porter's L{Archived} for the buck's file of bucket C{start} as it
    is now (or as if it held C{data}), with its receipt, signed with
    C{identity} if given.
    """
    if data is None:
        path = store.path_of(start)
        data = path.read_bytes() if path.exists() else b""
    receipt = ArchiveReceipt(
        porter, buck, start, store.seconds, len(data), hashlib.sha256(data).digest(),
        "buckets/x.lsp", bytes(32), 1,
    )
    body, signature = sign_receipt(receipt, identity)
    return Archived(request_id, start, len(data), body, signature)
