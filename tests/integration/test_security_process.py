"""The attacks of issue 11 against real processes on 127.0.0.1, with per-node credentials.

A cluster of 3 bucks and a good tailer (whose credential allows C{web*})
runs; an attacker holding a stolen credential (a tailer's for C{web-*}, or a
porter's) connects to the bucks from this process.  Each attack fails to do
harm, is refused with its reason and logged by the buck, and the good
tailer keeps delivering; a revoked credential is refused, on its open
connections too, within one reload of the revocation list.
"""

from __future__ import annotations

import hashlib
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import pytest_twisted
from twisted.internet import reactor
from twisted.internet.defer import Deferred
from twisted.internet.endpoints import TCP4ClientEndpoint
from zope.interface import implementer

from logship.core.bucket import encode_record
from logship.core.credentials import CredentialRole, Credentials, NodeIdentity
from logship.core.event import encode_fields
from logship.core.parse import TICKS_PER_SECOND
from logship.core.receipts import ArchiveReceipt, sign_receipt
from logship.plumbing.tapsupport import node_credentials
from logship.wire.messages import (
    Archived,
    ArchivedAck,
    Batch,
    BatchRefused,
    BucketGet,
    BucketList,
    BucketListing,
    BucketPut,
    Error,
    Message,
)
from logship.wire.protocol import (
    CloseReason,
    HandshakeFailed,
    IPeerConnection,
    IWireHandler,
    WireClientFactory,
    WireProtocol,
)
from tests.credentials import OTHER_AUTHORITY, identity
from tests.integration.delivery import Cluster, append_lines, read_identities
from tests.integration.processes import ProcessGroup, TwistdProcess
from tests.integration.waiting import wait_until

TIMEOUT = 10.0


@implementer(IWireHandler)
class Probe:
    """
    The attacker's handler: keeps every message and the close reason.
    """

    def __init__(self) -> None:
        self.messages: list[Message] = []
        self.closed: Deferred[CloseReason] = Deferred()

    def connected(self, peer: IPeerConnection) -> None:
        pass

    def message_received(self, peer: IPeerConnection, message: Message) -> None:
        self.messages.append(message)

    def disconnected(self, peer: IPeerConnection, reason: CloseReason) -> None:
        self.closed.callback(reason)

    async def wait_for(self, kind: type) -> Message:
        found = await wait_until(
            lambda: [m for m in self.messages if isinstance(m, kind)], TIMEOUT
        )
        return found[0]  # type: ignore[no-any-return]

    async def wait_closed(self) -> str:
        """
        Wait until the buck closes the connection; the reason it gave.
        """
        await self.closed.addTimeout(TIMEOUT, reactor)
        (error,) = [m for m in self.messages if isinstance(m, Error)]
        return error.reason


async def connect(buck: TwistdProcess, credentials: Credentials) -> tuple[Probe, IPeerConnection]:
    """
    Connect to C{buck} with C{credentials}, as a client of their role.
    """
    own = credentials.identity.credential
    probe = Probe()
    factory = WireClientFactory(
        key=None, node=own.node, role=own.role, handler=probe,  # type: ignore[arg-type]
        clock=reactor, accept_roles=("buck",), credentials=credentials,
    )
    protocol: WireProtocol = await TCP4ClientEndpoint(reactor, "127.0.0.1", buck.port).connect(
        factory
    )
    peer = await protocol.when_connected().addTimeout(TIMEOUT, reactor)
    return probe, peer


def event(host: bytes, n: int) -> bytes:
    """
    A serialized event of C{host}, a few seconds old.
    """
    point = int(time.time() - 5) * TICKS_PER_SECOND + n
    return encode_fields(point, 13, host, b"sshd", None, b"forged line %d" % n)


@pytest.fixture
def cluster(group: ProcessGroup) -> Iterator[Cluster]:
    yield Cluster.start(group, credentials=True, tailer_hosts=["web*"])


def stolen(cluster: Cluster, node: str, role: CredentialRole, hosts: list[str]) -> Credentials:
    """
    A credential of the cluster's authority (as if stolen from a node),
    loaded as a node would load it.
    """
    assert cluster.credentials is not None
    credential, key = cluster.credentials.issue(node, role, hosts)
    return node_credentials(
        str(credential), str(key), str(cluster.credentials.authority_public), role
    )


def good_lines(first: int, count: int) -> list[bytes]:
    stamp = time.strftime("%b %d %H:%M:%S", time.localtime()).encode()
    return [b"%s web1 app[7]: good line %d" % (stamp, i) for i in range(first, first + count)]


def bucket_files(cluster: Cluster) -> dict[Path, bytes]:
    return {
        path: path.read_bytes()
        for buck in cluster.bucks
        for path in sorted((buck.workdir / "data" / "buckets").rglob("*.b"))
    }


@pytest_twisted.ensureDeferred
async def test_stolen_tailer_credential(cluster: Cluster) -> None:
    """
    A tailer credential for C{web-*} cannot write C{db-prod-01} (in a batch
    or an upload), cannot list, get or mark archived; the good tailer
    keeps delivering, and no bucket file changes.
    """
    append_lines(cluster.log, good_lines(0, 500))
    cluster.wait_delivered(500)
    thief = stolen(cluster, "intruder", "tailer", ["web-*"])
    buck = cluster.bucks[0]
    before = bucket_files(cluster)

    probe, peer = await connect(buck, thief)
    peer.send(Batch(1, "ack2", [event(b"web-7", 1), event(b"db-prod-01", 2)]))
    refused = await probe.wait_for(BatchRefused)
    assert isinstance(refused, BatchRefused) and refused.batch_id == 1
    assert "db-prod-01" in refused.reason and "web-*" in refused.reason
    await buck.wait_for_log(r"Refused batch 1 of intruder: host db-prod-01 is not allowed")
    assert peer.is_open, "a refused batch does not cost the connection"

    start = int(time.time() - 5) // 60 * 60
    data = encode_record(event(b"db-prod-01", 3))
    peer.send(BucketPut(1, start, 60, 0, data, True, hashlib.sha256(data).digest()))
    assert "host 'db-prod-01' is not allowed" in await probe.wait_closed()
    await buck.wait_for_log(r"Refused upload 1 of bucket \d+ from intruder: host db-prod-01")

    for request in (
        BucketList(1, 0, 100),
        BucketGet(1, start, 0, 100),
        Archived(1, start, 10, b"\x80", b""),
    ):
        probe, peer = await connect(buck, thief)
        peer.send(request)
        reason = await probe.wait_closed()
        assert f"a tailer may not send {request.TYPE} messages (only a porter may)" in reason

    append_lines(cluster.log, good_lines(500, 500))
    cluster.wait_delivered(1000)
    cluster.check(1000)
    after = bucket_files(cluster)
    for path, data in before.items():
        assert after[path].startswith(data), f"{path} was deleted or changed"
    held = read_identities([b.workdir / "data" / "buckets" for b in cluster.bucks])
    assert not any(host == "db-prod-01" for events in held for host, *_ in events)

    # The good tailer itself, given a line of a host its credential does
    # not name, is refused too, and logs why.
    stamp = time.strftime("%b %d %H:%M:%S", time.localtime()).encode()
    append_lines(cluster.log, [stamp + b" db-prod-01 app[7]: not mine"])
    assert cluster.tailer is not None
    await cluster.tailer.wait_for_log(
        r"Buck \S+ refused batch \d+: batch \d+ refused: event 0: host 'db-prod-01'"
    )


@pytest_twisted.ensureDeferred
async def test_porter_cannot_send_events(cluster: Cluster) -> None:
    """
    A porter credential cannot send events; a credential of another
    authority is refused at the handshake.
    """
    porter = stolen(cluster, "porter-x", "porter", [])
    probe, peer = await connect(cluster.bucks[1], porter)
    peer.send(Batch(1, "ack2", [event(b"web1", 1)]))
    assert "a porter may not send batch messages" in await probe.wait_closed()

    forged = Credentials(
        identity("web-1", "tailer", ["*"], authority=OTHER_AUTHORITY),
        porter.trust,
    )
    with pytest.raises(HandshakeFailed) as failed:
        await connect(cluster.bucks[1], forged)
    assert "does not trust" in failed.value.reason.detail
    await cluster.bucks[1].wait_for_log(r"Rejected [^\n]*bad-credential")


@pytest_twisted.ensureDeferred
async def test_revoked_within_one_reload(cluster: Cluster) -> None:
    """
    Revoking a stolen credential (C{logship revoke}) closes its open
    connections to every buck and refuses new ones, without a restart;
    the good tailer goes on.
    """
    assert cluster.credentials is not None
    thief = stolen(cluster, "intruder", "tailer", ["web-*"])
    probes = [await connect(buck, thief) for buck in cluster.bucks]
    credential_file = cluster.credentials.root / "intruder.cred"
    result = subprocess.run(
        [sys.executable, "-m", "logship", "revoke", str(cluster.credentials.revoked),
         str(credential_file)],
        capture_output=True, text=True, timeout=60,
    )
    assert result.returncode == 0, result.stderr
    for probe, _ in probes:
        assert "is revoked" in await probe.wait_closed()
    for buck in cluster.bucks:
        await buck.wait_for_log(r"Reloaded the revocation list")
        await buck.wait_for_log(r"Rejected [^\n]*credential-revoked")
    with pytest.raises(HandshakeFailed) as failed:
        await connect(cluster.bucks[2], thief)
    assert "revoked" in failed.value.reason.detail

    append_lines(cluster.log, good_lines(0, 300))
    cluster.wait_delivered(300)
    cluster.check(300)


@pytest_twisted.ensureDeferred
async def test_archived_needs_proof(cluster: Cluster) -> None:
    """
    Even from a porter credential, an archived notice deletes nothing
    unless its receipt is signed by that porter and names the size and
    SHA-256 of the buck's file as it is.
    """
    append_lines(cluster.log, good_lines(0, 200))
    cluster.wait_delivered(200)
    porter = stolen(cluster, "porter-x", "porter", [])
    # (each batch went to 2 of the 3 bucks: take one that has a file)
    buck = next(b for b in cluster.bucks if list((b.workdir / "data" / "buckets").rglob("*.b")))
    probe, peer = await connect(buck, porter)
    peer.send(BucketList(1, 0, 100))
    listing = await probe.wait_for(BucketListing)
    assert isinstance(listing, BucketListing)
    start, size = listing.buckets[0]
    path = next((buck.workdir / "data" / "buckets").rglob("*.b"))

    def notice(request_id: int, digest: bytes, signer: NodeIdentity | None) -> Archived:
        receipt = ArchiveReceipt("porter-x", buck.name, start, 60, size, digest,
                                 "buckets/x.lsp", bytes(32), int(time.time()))
        body, signature = sign_receipt(receipt, signer)
        return Archived(request_id, start, size, body, signature)

    peer.send(notice(2, hashlib.sha256(b"not the file").digest(), porter.identity))
    ack = await probe.wait_for(ArchivedAck)
    assert ack == ArchivedAck(2, start, False)
    assert path.exists()
    await buck.wait_for_log(r"kept, the archived copy of porter-x has another SHA-256")

    peer.send(notice(3, hashlib.sha256(path.read_bytes()).digest(), None))
    assert "the receipt is not signed" in await probe.wait_closed()
    assert path.exists()
