"""The buck: a thin wire handler that dispatches each message to ingest, uploads or requests.

L{BuckService} is the L{IWireHandler} of the buck's L{WireServerFactory}
and a L{MultiService} whose children are its periodic jobs.  Per message
(docs/design.md "Delivery", C{docs/buck.md}), first checked against what
the peer's role may send (L{ROLE_MESSAGES}: its credential's role, or in
lab mode the role its hello claims):

  1. L{Batch} (a tailer's): to L{BatchIngest} (written, acknowledged,
     published; refused if a host is not the credential's).
  2. L{BucketPut} (a tailer's): to L{Uploads} (whole-bucket uploads,
     merged when complete).
  3. L{BucketList}, L{BucketGet}, L{Archived} (the porter's) and
     L{ArchivedQuery} (a tailer's): to L{BucketRequests}.
  4. Any other message (an L{Ack} ...), one the peer's role may not send,
     or one of the above that they reject (L{Rejected}), closes the
     connection with the reason.

In credential mode the buck reloads its revocation list when the file
changes (checked every C{revocation_interval} seconds), and then, and at
each check, closes the connections whose credential is revoked or
expired.

Counters per peer node and overall are in L{BuckService.stats}; a summary
is logged every C{stats_interval} seconds.
"""

from __future__ import annotations

from typing import Any

from twisted.application.service import MultiService
from twisted.internet.interfaces import IReactorTime
from twisted.logger import Logger
from zope.interface import implementer

from logship.buck.counters import PeerCounters
from logship.buck.ingest import BatchIngest
from logship.buck.pubsub import Channel
from logship.buck.rejected import Rejected
from logship.buck.requests import BucketRequests
from logship.buck.store import BucketStore
from logship.core.credentials import Credentials
from logship.core.revocation import DEFAULT_INTERVAL, RevocationFile
from logship.wire.credentialwatch import CredentialWatch
from logship.buck.uploads import (
    DEFAULT_MAX_INCOMING,
    DEFAULT_MAX_UPLOAD,
    DEFAULT_MAX_UPLOADS_PER_PEER,
    DEFAULT_UPLOAD_TIMEOUT,
    Uploads,
)
from logship.plumbing.periodic import periodic
from logship.wire.messages import (
    Archived,
    ArchivedQuery,
    Batch,
    BucketGet,
    BucketList,
    BucketPut,
    Error,
    Message,
)
from logship.wire.protocol import (
    FRAME_TIMEOUT,
    CloseReason,
    IPeerConnection,
    IWireHandler,
    WireServerFactory,
)

#: Seconds between two stats lines in the log.
DEFAULT_STATS_INTERVAL = 60.0
#: Seconds between two housekeeping rounds (idle writers, stale uploads).
HOUSEKEEPING_INTERVAL = 15.0
#: What each role may send a buck.
ROLE_MESSAGES: dict[str, tuple[type, ...]] = {
    "tailer": (Batch, BucketPut, ArchivedQuery),
    "porter": (BucketList, BucketGet, Archived),
}


@implementer(IWireHandler)
class BuckService(MultiService):
    """
    The buck: receives batches, uploads and requests over the wire and
    hands each to the part that handles it; counts; runs the periodic jobs.

    @ivar store: the bucket store.
    @ivar channel: where written (and live) events are published.
    @ivar factory: the wire server factory to listen with.
    @ivar counters: the L{PeerCounters}, overall and by peer node name.
    @ivar ingest: receives the batches.
    @ivar uploads: receives the whole-bucket uploads.
    @ivar requests: answers the porter's requests and the tailers' queries.
    @ivar credential_watch: reloads the revocation list and closes the
        connections of revoked or expired credentials (run periodically in
        credential mode).
    """

    _log = Logger()

    def __init__(
        self,
        *,
        store: BucketStore,
        channel: Channel,
        clock: IReactorTime,
        key: bytes | None,
        node: str,
        frame_timeout: float | None = None,
        max_upload: int = DEFAULT_MAX_UPLOAD,
        max_incoming: int = DEFAULT_MAX_INCOMING,
        max_uploads_per_peer: int = DEFAULT_MAX_UPLOADS_PER_PEER,
        upload_timeout: float = DEFAULT_UPLOAD_TIMEOUT,
        stats_interval: float = DEFAULT_STATS_INTERVAL,
        credentials: Credentials | None = None,
        revocations: RevocationFile | None = None,
        revocation_interval: float = DEFAULT_INTERVAL,
    ) -> None:
        """
        @param store: where events go.
        @param channel: where they are published.
        @param clock: the reactor (or a L{twisted.internet.task.Clock}).
        @param key: the cluster key, or C{None} for insecure (lab) mode.
        @param node: this buck's node name.
        @param frame_timeout: seconds a partial frame may wait (the wire's
            default if C{None}).
        @param max_upload: bytes per upload, at most.
        @param max_incoming: bytes of all uploads in progress, at most.
        @param max_uploads_per_peer: uploads in progress per connection.
        @param upload_timeout: seconds without a chunk before an upload is
            dropped.
        @param stats_interval: seconds between two stats lines in the log.
        @param credentials: this buck's identity and trust (credential mode;
            then C{key} is C{None}).
        @param revocations: the revocation list file feeding
            C{credentials.trust}, reloaded when it changes.
        @param revocation_interval: seconds between two looks at it (and
            two sweeps of expired credentials).
        """
        super().__init__()
        self.store = store
        self.channel = channel
        self.node = node
        self._clock = clock
        self._connected: set[IPeerConnection] = set()
        self.counters = PeerCounters()
        self.ingest = BatchIngest(store, channel, self.counters)
        self.uploads = Uploads(
            store,
            clock,
            self.counters,
            max_upload=max_upload,
            max_incoming=max_incoming,
            max_uploads_per_peer=max_uploads_per_peer,
            upload_timeout=upload_timeout,
        )
        self.requests = BucketRequests(store, node, self.counters)
        self.factory = WireServerFactory(
            key=key,
            node=node,
            role="buck",
            handler=self,
            clock=clock,
            accept_roles=("tailer", "porter"),
            frame_timeout=FRAME_TIMEOUT if frame_timeout is None else frame_timeout,
            credentials=credentials,
        )
        for step, job in (
            (stats_interval, self.log_stats),
            (HOUSEKEEPING_INTERVAL, self.housekeeping),
        ):
            periodic(step, job, clock, self._log).setServiceParent(self)
        self.credential_watch = CredentialWatch(revocations, [self.factory])
        if credentials is not None:
            self.credential_watch.service(clock, revocation_interval).setServiceParent(self)
        self._last_stats: tuple[float, int] | None = None

    # -- IWireHandler

    def connected(self, peer: IPeerConnection) -> None:
        self._connected.add(peer)
        self.counters.of(peer.peer_node)

    def message_received(self, peer: IPeerConnection, message: Message) -> None:
        try:
            if not isinstance(message, (Error, *ROLE_MESSAGES.get(peer.peer_role, ()))):
                raise self._refused(peer, message)
            match message:
                case Error():
                    return  # the peer closes; the wire logged its reason
                case Batch():
                    self.ingest.receive(peer, message)
                case BucketPut():
                    self.uploads.receive(peer, message)
                case ArchivedQuery():
                    self.requests.archived_query(peer, message)
                case BucketList() | BucketGet() | Archived():
                    self.requests.porter_request(peer, message)
        except Rejected as e:
            self._close(peer, str(e), getattr(message, "batch_id", None))

    def disconnected(self, peer: IPeerConnection, reason: CloseReason) -> None:
        self._connected.discard(peer)
        self.uploads.abandon_peer(peer, f"connection ended ({reason.code})")

    @property
    def uploads_in_progress(self) -> int:
        """
        How many uploads are being received.
        """
        return self.uploads.in_progress

    # -- closing

    def _refused(self, peer: IPeerConnection, message: Message) -> Rejected:
        """
        Count a message the peer's role may not send; the L{Rejected} for
        the caller to raise.
        """
        senders = [role for role, kinds in ROLE_MESSAGES.items() if isinstance(message, kinds)]
        if not senders:
            return Rejected(f"a buck does not accept {message.TYPE} messages")
        for c in self.counters.both(peer.peer_node):
            c.messages_refused += 1
        self._log.warn(
            "Refused a {kind} message of {peer_node}: a {role} may not send it",
            kind=message.TYPE,
            peer_node=peer.peer_node,
            role=peer.peer_role,
            reason="role-refused",
        )
        return Rejected(
            f"a {peer.peer_role} may not send {message.TYPE} messages"
            f" (only a {' or '.join(senders)} may)"
        )

    def _close(self, peer: IPeerConnection, reason: str, batch_id: int | None) -> None:
        for c in self.counters.both(peer.peer_node):
            c.connections_closed += 1
        self._log.warn(
            "Rejected {peer_node} at {address}: {detail}",
            peer_node=peer.peer_node,
            address=_describe(getattr(peer, "address", None)),
            reason="rejected-input",
            detail=reason,
            batch_id=batch_id,
        )
        peer.close(reason, batch_id)

    # -- counters

    def stats(self) -> dict[str, Any]:
        """
        Every counter of the buck, for metrics and checks.

        @return: C{{"node", "total", "peers", "store", "channel", "wire",
            "connected", "uploads_in_progress", "incoming_bytes"}}; C{total}
            and each of C{peers} (by node name) hold the L{Counters} fields.
        """
        wire = self.factory.stats
        return {
            "node": self.node,
            **self.counters.as_dict(),
            "store": self.store.stats_dict(),
            "channel": self.channel.stats(),
            "wire": {
                "connections": wire.connections,
                "handshakes": wire.handshakes,
                "rejected": dict(wire.rejected),
                "peer_errors": wire.peer_errors,
                "internal_errors": wire.internal_errors,
            },
            "connected": len(self._connected),
            "uploads_in_progress": self.uploads.in_progress,
            "incoming_bytes": self.uploads.incoming_bytes,
        }

    # -- periodic jobs

    def log_stats(self) -> None:
        """
        Log a summary of the counters (every C{stats_interval} seconds).
        """
        now = self._clock.seconds()
        total = self.counters.total
        rate = 0.0
        if self._last_stats is not None:
            then, written = self._last_stats
            if now > then:
                rate = (total.events_written - written) / (now - then)
        self._last_stats = (now, total.events_written)
        stats = self.stats()
        self._log.info(
            "Buck {node}: {events_written} events written ({rate:.0f}/s),"
            " {events_received} received, {batches_rejected} batches rejected,"
            " {rejected_connections} connections rejected, {connected} connected,"
            " {dropped} dropped by subscribers",
            node=self.node,
            events_written=total.events_written,
            events_received=total.events_received,
            batches_rejected=total.batches_rejected,
            rejected_connections=sum(stats["wire"]["rejected"].values())
            + total.connections_closed,
            connected=stats["connected"],
            dropped=self.channel.dropped,
            rate=rate,
            stats=stats,
        )

    def housekeeping(self) -> None:
        """
        Close idle bucket writers and drop uploads idle for too long.
        """
        now = self._clock.seconds()
        self.store.close_idle(now)
        self.uploads.expire(now)

    def stopService(self) -> Any:
        """
        Close the connections, drop unfinished uploads, close the store.
        """
        for peer in list(self._connected):
            peer.close("the buck is shutting down")
        self.uploads.abandon_all("shutting down")
        result = super().stopService()
        self.store.close()
        self.log_stats()
        return result


def _describe(address: object) -> str:
    host = getattr(address, "host", None)
    port = getattr(address, "port", None)
    if host is None or port is None:
        return str(address)
    return f"[{host}]:{port}" if ":" in str(host) else f"{host}:{port}"
