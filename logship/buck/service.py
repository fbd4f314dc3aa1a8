"""The buck's ingest: wire messages in, bucket files and acknowledgements out.

L{BuckService} is the L{IWireHandler} of the buck's L{WireServerFactory}
and a L{MultiService} whose children are its periodic jobs.

Steps, per message (docs/design.md "Delivery", C{docs/buck.md}):

  1. L{Batch}, durability C{ack1}, C{ack2} or C{ack2+fsync}: every event is
     decoded; one corrupt event rejects the batch (nothing written, the
     connection closed with the reason, counted).  Otherwise the events are
     appended to their bucket files and handed to the kernel (fsynced for
     C{ack2+fsync}), only then is the L{Ack} sent, then the events are
     published on the channel.
  2. L{Batch}, durability C{live}: decoded (a corrupt one is rejected as
     above), published on the channel, neither written nor acknowledged.
  3. L{BucketPut} chunks of one C{upload_id}: appended to a temporary file
     under C{DATA/incoming/} while the offsets are contiguous and the sizes
     within bounds; the last chunk's SHA-256 must match the whole; then
     the file is merged into the bucket (L{BucketStore.merge_bucket}), the
     L{BucketAck} is sent and the temporary file removed.  Any violation
     closes the connection with the reason and removes the file; so does a
     disconnection in the middle, and an upload idle for too long is
     dropped by the housekeeping job.
  4. From the porter: L{BucketList} is answered with the bucket files and
     their sizes, L{BucketGet} with bytes of one file, L{Archived} by
     deleting the file if it did not grow since (L{ArchivedAck}).
  5. From a tailer: L{ArchivedQuery} is answered with those of its buckets
     that were archived and deleted here (L{ArchivedReply}).
  6. Any other message (an L{Ack}, a porter's message from a tailer ...)
     closes the connection.

Counters per peer node and overall are in L{BuckService.stats}; a summary
is logged every C{stats_interval} seconds.
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

from twisted.application.service import MultiService
from twisted.internet.interfaces import IReactorTime
from twisted.logger import Logger
from zope.interface import implementer

from logship.buck.pubsub import Channel
from logship.buck.store import BadUpload, BucketStore, CorruptBatch, StoreError
from logship.plumbing.periodic import periodic
from logship.wire.messages import (
    Ack,
    Archived,
    ArchivedAck,
    ArchivedQuery,
    ArchivedReply,
    Batch,
    BucketAck,
    BucketData,
    BucketGet,
    BucketList,
    BucketListing,
    BucketPut,
    Error,
    Message,
)
from logship.wire.protocol import (
    CloseReason,
    IPeerConnection,
    IWireHandler,
    WireServerFactory,
)

#: Bytes one upload may have at most (a tailer's bucket file).
DEFAULT_MAX_UPLOAD = 256 << 20
#: Bytes all uploads in progress may have together, at most.
DEFAULT_MAX_INCOMING = 1 << 30
#: Uploads in progress per connection, at most.
DEFAULT_MAX_UPLOADS_PER_PEER = 4
#: Seconds an upload may go without a chunk before it is dropped.
DEFAULT_UPLOAD_TIMEOUT = 300.0
#: Seconds between two stats lines in the log.
DEFAULT_STATS_INTERVAL = 60.0
#: Seconds between two housekeeping rounds (idle writers, stale uploads).
HOUSEKEEPING_INTERVAL = 15.0

_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]+")


@dataclass
class Counters:
    """
    What the buck did for one peer node, or for all of them.

    @ivar batches_received: batches that arrived (any durability).
    @ivar events_received: their events.
    @ivar batches_written: batches written and acknowledged.
    @ivar events_written: their events.
    @ivar batches_live: C{live} batches (published, not written).
    @ivar events_live: their events.
    @ivar batches_rejected: batches refused (corrupt event, write error).
    @ivar events_rejected: their events.
    @ivar uploads_started: whole-bucket uploads begun.
    @ivar uploads_merged: uploads verified, merged and acknowledged.
    @ivar upload_events: events in the merged uploads.
    @ivar upload_new: those that the buck did not have yet.
    @ivar uploads_rejected: uploads refused (order, size, checksum, content).
    @ivar uploads_abandoned: uploads dropped by a disconnection or timeout.
    @ivar connections_closed: connections this buck closed for a reason of
        its own (the wire's rejections are counted by the wire).
    """

    batches_received: int = 0
    events_received: int = 0
    batches_written: int = 0
    events_written: int = 0
    batches_live: int = 0
    events_live: int = 0
    batches_rejected: int = 0
    events_rejected: int = 0
    uploads_started: int = 0
    uploads_merged: int = 0
    upload_events: int = 0
    upload_new: int = 0
    uploads_rejected: int = 0
    uploads_abandoned: int = 0
    connections_closed: int = 0


class _Rejected(Exception):
    """
    Close the peer's connection with this reason.
    """


@dataclass
class _Upload:
    """
    One whole-bucket upload in progress.
    """

    upload_id: int
    start: int
    seconds: int
    path: Path
    file: BinaryIO
    size: int = 0
    last_chunk: float = 0.0
    sha256: Any = field(default_factory=hashlib.sha256)


@implementer(IWireHandler)
class BuckService(MultiService):
    """
    The buck: receives batches and uploads over the wire, writes them with
    a L{BucketStore}, acknowledges, publishes to a L{Channel}, counts.

    @ivar store: the bucket store.
    @ivar channel: where written (and live) events are published.
    @ivar factory: the wire server factory to listen with.
    @ivar total: the overall L{Counters}.
    @ivar peers: L{Counters} by peer node name.
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
        """
        super().__init__()
        self.store = store
        self.channel = channel
        self.node = node
        self._clock = clock
        self._max_upload = max_upload
        self._max_incoming = max_incoming
        self._max_uploads_per_peer = max_uploads_per_peer
        self._upload_timeout = upload_timeout
        self._incoming_bytes = 0
        self._uploads: dict[IPeerConnection, dict[int, _Upload]] = {}
        self._connected: set[IPeerConnection] = set()
        self.total = Counters()
        self.peers: dict[str, Counters] = {}
        extra: dict[str, Any] = {} if frame_timeout is None else {"frame_timeout": frame_timeout}
        self.factory = WireServerFactory(
            key=key,
            node=node,
            role="buck",
            handler=self,
            clock=clock,
            accept_roles=("tailer", "porter"),
            **extra,
        )
        for step, job in (
            (stats_interval, self.log_stats),
            (HOUSEKEEPING_INTERVAL, self.housekeeping),
        ):
            periodic(step, job, clock, self._log).setServiceParent(self)
        self._last_stats: tuple[float, int] | None = None

    # -- IWireHandler

    def connected(self, peer: IPeerConnection) -> None:
        self._connected.add(peer)
        self._counters(peer)

    def message_received(self, peer: IPeerConnection, message: Message) -> None:
        if isinstance(message, Error):
            return  # the peer closes; the wire logged its reason
        try:
            if isinstance(message, Batch):
                self._batch(peer, message)
            elif isinstance(message, BucketPut):
                self._chunk(peer, message)
            elif isinstance(message, ArchivedQuery):
                self._archived_query(peer, message)
            elif isinstance(message, (BucketList, BucketGet, Archived)):
                if peer.peer_role != "porter":
                    raise _Rejected(f"only a porter may send {message.TYPE} messages")
                self._porter_request(peer, message)
            else:
                raise _Rejected(f"a buck does not accept {message.TYPE} messages")
        except _Rejected as e:
            self._close(peer, str(e), getattr(message, "batch_id", None))

    def disconnected(self, peer: IPeerConnection, reason: CloseReason) -> None:
        self._connected.discard(peer)
        for upload in list(self._uploads.get(peer, {}).values()):
            self._abandon(peer, upload, f"connection ended ({reason.code})")
        self._uploads.pop(peer, None)

    # -- batches

    def _batch(self, peer: IPeerConnection, batch: Batch) -> None:
        mine = self._counters(peer)
        count = len(batch.events)
        for c in (mine, self.total):
            c.batches_received += 1
            c.events_received += count
        live = batch.durability == "live"
        try:
            if live:
                written = self.store.decode_batch(batch.events)
            else:
                written = self.store.write_batch(
                    batch.events, sync=batch.durability == "ack2+fsync"
                )
        except CorruptBatch as e:
            self._reject_batch(peer, batch, f"batch {batch.batch_id}: {e}")
        except (OSError, StoreError) as e:
            self._log.error(
                "Cannot write batch {batch_id} from {peer_node}: {error}",
                batch_id=batch.batch_id,
                peer_node=peer.peer_node,
                error=str(e),
            )
            self._reject_batch(
                peer, batch, f"batch {batch.batch_id}: the buck cannot write it ({e})"
            )
        if live:
            for c in (mine, self.total):
                c.batches_live += 1
                c.events_live += count
        else:
            peer.send(Ack(batch.batch_id, count))
            for c in (mine, self.total):
                c.batches_written += 1
                c.events_written += count
        self.channel.publish(written)

    def _reject_batch(self, peer: IPeerConnection, batch: Batch, reason: str) -> None:
        for c in (self._counters(peer), self.total):
            c.batches_rejected += 1
            c.events_rejected += len(batch.events)
        raise _Rejected(reason)

    # -- uploads

    def _chunk(self, peer: IPeerConnection, put: BucketPut) -> None:
        uploads = self._uploads.setdefault(peer, {})
        upload = uploads.get(put.upload_id)
        if upload is None:
            upload = self._begin(peer, uploads, put)
        elif (put.start, put.seconds) != (upload.start, upload.seconds):
            self._refuse(
                peer,
                upload,
                f"upload {put.upload_id}: chunk for bucket {put.start}/{put.seconds}s"
                f" in an upload of {upload.start}/{upload.seconds}s",
            )
        if put.offset != upload.size:
            self._refuse(
                peer,
                upload,
                f"upload {put.upload_id}: chunk at offset {put.offset},"
                f" expected {upload.size}",
            )
        size = len(put.data)
        if upload.size + size > self._max_upload:
            self._refuse(
                peer,
                upload,
                f"upload {put.upload_id}: larger than {self._max_upload} bytes",
            )
        if self._incoming_bytes + size > self._max_incoming:
            self._refuse(
                peer,
                upload,
                f"upload {put.upload_id}: the buck holds {self._incoming_bytes}"
                " bytes of uploads in progress already; try later",
            )
        try:
            upload.file.write(put.data)
        except OSError as e:
            self._refuse(peer, upload, f"upload {put.upload_id}: cannot store it ({e})")
        upload.sha256.update(put.data)
        upload.size += size
        upload.last_chunk = self._clock.seconds()
        self._incoming_bytes += size
        if put.last:
            self._finish(peer, upload, put)

    def _begin(
        self, peer: IPeerConnection, uploads: dict[int, _Upload], put: BucketPut
    ) -> _Upload:
        for c in (self._counters(peer), self.total):
            c.uploads_started += 1
        reason = None
        if put.offset != 0:
            reason = (
                f"upload {put.upload_id}: first chunk at offset {put.offset},"
                " expected 0"
            )
        elif put.seconds != self.store.seconds:
            reason = (
                f"upload {put.upload_id}: bucket interval {put.seconds} s differs"
                f" from this buck's {self.store.seconds} s"
            )
        elif len(uploads) >= self._max_uploads_per_peer:
            reason = (
                f"upload {put.upload_id}: {len(uploads)} uploads in progress"
                " on this connection already"
            )
        if reason is not None:
            for c in (self._counters(peer), self.total):
                c.uploads_rejected += 1
            raise _Rejected(reason)
        prefix = f"{_UNSAFE.sub('_', peer.peer_node)[:64]}-{put.upload_id}-"
        try:
            fd, name = tempfile.mkstemp(
                prefix=prefix, suffix=".part", dir=self.store.incoming
            )
        except OSError as e:
            raise _Rejected(f"upload {put.upload_id}: cannot store it ({e})") from None
        upload = _Upload(
            put.upload_id,
            put.start,
            put.seconds,
            Path(name),
            os.fdopen(fd, "wb"),
            last_chunk=self._clock.seconds(),
        )
        uploads[put.upload_id] = upload
        self._log.debug(
            "Upload {upload_id} of bucket {start} from {peer_node} begins",
            upload_id=put.upload_id,
            start=put.start,
            peer_node=peer.peer_node,
        )
        return upload

    def _finish(self, peer: IPeerConnection, upload: _Upload, put: BucketPut) -> None:
        if put.sha256 != upload.sha256.digest():
            self._refuse(
                peer,
                upload,
                f"upload {upload.upload_id}: SHA-256 mismatch over"
                f" {upload.size} bytes",
            )
        try:
            upload.file.close()
            events, new = self.store.merge_bucket(
                upload.start, upload.seconds, upload.path
            )
        except BadUpload as e:
            self._refuse(peer, upload, f"upload {upload.upload_id}: {e}")
        except (OSError, StoreError) as e:
            self._log.error(
                "Cannot merge upload {upload_id} from {peer_node}: {error}",
                upload_id=upload.upload_id,
                peer_node=peer.peer_node,
                error=str(e),
            )
            self._refuse(
                peer, upload, f"upload {upload.upload_id}: the buck cannot merge it ({e})"
            )
        self._drop(peer, upload)
        peer.send(BucketAck(upload.upload_id, upload.start, events, new))
        for c in (self._counters(peer), self.total):
            c.uploads_merged += 1
            c.upload_events += events
            c.upload_new += new
        self._log.info(
            "Merged bucket {start} from {peer_node}: {events} events, {new} new",
            start=upload.start,
            peer_node=peer.peer_node,
            upload_id=upload.upload_id,
            events=events,
            new=new,
        )

    def _refuse(self, peer: IPeerConnection, upload: _Upload, reason: str) -> None:
        self._drop(peer, upload)
        for c in (self._counters(peer), self.total):
            c.uploads_rejected += 1
        raise _Rejected(reason)

    def _abandon(self, peer: IPeerConnection, upload: _Upload, why: str) -> None:
        self._drop(peer, upload)
        for c in (self._counters(peer), self.total):
            c.uploads_abandoned += 1
        self._log.info(
            "Dropped upload {upload_id} from {peer_node} after {size} bytes: {why}",
            upload_id=upload.upload_id,
            peer_node=peer.peer_node,
            size=upload.size,
            why=why,
        )

    def _drop(self, peer: IPeerConnection, upload: _Upload) -> None:
        """
        Forget an upload and remove its temporary file.
        """
        uploads = self._uploads.get(peer, {})
        if uploads.get(upload.upload_id) is upload:
            del uploads[upload.upload_id]
        self._incoming_bytes -= upload.size
        try:
            upload.file.close()
        except OSError:
            pass
        try:
            upload.path.unlink()
        except FileNotFoundError:
            pass
        except OSError as e:
            self._log.error(
                "Cannot remove {path}: {error}", path=str(upload.path), error=str(e)
            )

    @property
    def uploads_in_progress(self) -> int:
        """
        How many uploads are being received.
        """
        return sum(len(u) for u in self._uploads.values())

    # -- the porter's requests, the tailers' questions

    def _porter_request(
        self, peer: IPeerConnection, request: BucketList | BucketGet | Archived
    ) -> None:
        try:
            if isinstance(request, BucketList):
                found, more = self.store.listing(request.since, request.limit)
                peer.send(BucketListing(request.request_id, found, more))
            elif isinstance(request, BucketGet):
                size, data = self.store.read(request.start, request.offset, request.length)
                peer.send(BucketData(request.request_id, request.start, request.offset, size, data))
            else:
                deleted = self.store.delete_archived(request.start, request.size)
                self._log.info(
                    "Bucket {start} archived by {peer_node}: {outcome}",
                    start=request.start,
                    peer_node=peer.peer_node,
                    outcome="deleted" if deleted else "kept (it grew since)",
                )
                peer.send(ArchivedAck(request.request_id, request.start, deleted))
        except (OSError, StoreError) as e:
            self._log.error(
                "Cannot answer {kind} of {peer_node}: {error}",
                kind=request.TYPE,
                peer_node=peer.peer_node,
                error=str(e),
            )
            raise _Rejected(f"{request.TYPE}: the buck cannot answer ({e})") from None

    def _archived_query(self, peer: IPeerConnection, query: ArchivedQuery) -> None:
        archived = self.store.archived
        starts = [start for start in query.starts if start in archived]
        peer.send(ArchivedReply(query.request_id, starts))

    # -- closing

    def _close(self, peer: IPeerConnection, reason: str, batch_id: int | None) -> None:
        for c in (self._counters(peer), self.total):
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

    def _counters(self, peer: IPeerConnection) -> Counters:
        node = peer.peer_node
        counters = self.peers.get(node)
        if counters is None:
            counters = self.peers[node] = Counters()
        return counters

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
            "total": asdict(self.total),
            "peers": {node: asdict(c) for node, c in sorted(self.peers.items())},
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
            "uploads_in_progress": self.uploads_in_progress,
            "incoming_bytes": self._incoming_bytes,
        }

    # -- periodic jobs

    def log_stats(self) -> None:
        """
        Log a summary of the counters (every C{stats_interval} seconds).
        """
        now = self._clock.seconds()
        total = self.total
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
        limit = now - self._upload_timeout
        for peer, uploads in list(self._uploads.items()):
            for upload in list(uploads.values()):
                if upload.last_chunk <= limit:
                    self._abandon(
                        peer, upload, f"no chunk for {self._upload_timeout:g} seconds"
                    )

    def stopService(self) -> Any:
        """
        Close the connections, drop unfinished uploads, close the store.
        """
        for peer in list(self._connected):
            peer.close("the buck is shutting down")
        for peer, uploads in list(self._uploads.items()):
            for upload in list(uploads.values()):
                self._abandon(peer, upload, "shutting down")
        self._uploads.clear()
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
