"""The buck's ingest of batches: decoded, written, acknowledged, then published.

Steps, per L{Batch} (docs/design.md "Delivery", C{docs/buck.md}):

  1. Durability C{ack1}, C{ack2} or C{ack2+fsync}: every event is checked
     as decoding would check it (layout, message rebuilt, crc; no event
     object is made); one corrupt event rejects the batch (nothing written, the connection
     closed with the reason, counted).  Otherwise the events are appended
     to their bucket files and handed to the kernel (fsynced for
     C{ack2+fsync}), only then is the L{Ack} sent, then the events are
     published on the channel (decoded only if someone subscribed).
  2. Durability C{live}: checked (a corrupt one is rejected as above),
     published on the channel, neither written nor acknowledged.
  3. In credential mode, an event whose host the sender's credential does
     not allow (L{IPeerConnection.hosts}) refuses the batch before
     anything is written or published: counted, logged, and answered
     with L{BatchRefused} saying why.  The connection stays open: the
     refusal is about that batch, and the sender's other batches go on.
"""

from __future__ import annotations

from twisted.logger import Logger

from logship.buck.counters import PeerCounters
from logship.buck.pubsub import Channel
from logship.buck.rejected import Rejected
from logship.buck.store import BucketStore, CorruptBatch, HostNotAllowed, StoreError
from logship.wire.messages import Ack, Batch, BatchRefused, reason_text
from logship.wire.protocol import IPeerConnection


class BatchIngest:
    """
    Receives batches: writes them with a L{BucketStore}, acknowledges,
    publishes to a L{Channel}, counts.
    """

    _log = Logger()

    def __init__(self, store: BucketStore, channel: Channel, counters: PeerCounters) -> None:
        """
        @param store: where events go.
        @param channel: where they are published.
        @param counters: where batches are counted.
        """
        self._store = store
        self._channel = channel
        self._counters = counters

    def receive(self, peer: IPeerConnection, batch: Batch) -> None:
        """
        Write (unless C{live}), acknowledge and publish one batch.

        @param peer: the connection it came on.
        @param batch: the batch.
        @raise Rejected: if an event is corrupt or the store cannot write.
        """
        mine, total = self._counters.both(peer.peer_node)
        count = len(batch.events)
        for c in (mine, total):
            c.batches_received += 1
            c.events_received += count
        live = batch.durability == "live"
        hosts = peer.hosts
        allow = None if hosts is None else hosts.allows
        try:
            if live:
                self._store.check_batch(batch.events, allow)
                written = batch.events
            else:
                written = self._store.write_batch(
                    batch.events, sync=batch.durability == "ack2+fsync", allow=allow
                )
        except HostNotAllowed as e:
            self._refuse(peer, batch, e)
            return
        except CorruptBatch as e:
            raise self._rejected(peer, batch, f"batch {batch.batch_id}: {e}")
        except (OSError, StoreError) as e:
            self._log.error(
                "Cannot write batch {batch_id} from {peer_node}: {error}",
                batch_id=batch.batch_id,
                peer_node=peer.peer_node,
                error=str(e),
            )
            for c in (mine, total):
                c.events_unwritable += count
            raise self._rejected(
                peer, batch, f"batch {batch.batch_id}: the buck cannot write it ({e})"
            )
        if live:
            for c in (mine, total):
                c.batches_live += 1
                c.events_live += count
        else:
            peer.send(Ack(batch.batch_id, count))
            for c in (mine, total):
                c.batches_written += 1
                c.events_written += count
        self._channel.publish_serialized(written)

    def _refuse(self, peer: IPeerConnection, batch: Batch, error: HostNotAllowed) -> None:
        """
        Refuse a batch holding an event of a host the peer may not send
        for: count it, log it, tell the peer.
        """
        count = len(batch.events)
        for c in self._counters.both(peer.peer_node):
            c.batches_rejected += 1
            c.events_rejected += count
            c.batches_refused += 1
            c.events_refused += count
        host = error.host.decode("utf-8", "replace")
        reason = (
            f"batch {batch.batch_id} refused: {error}; the credential of"
            f" {peer.peer_node} allows hosts {peer.hosts}"
        )
        self._log.warn(
            "Refused batch {batch_id} of {peer_node}: host {host} is not allowed"
            " (its credential allows {patterns})",
            batch_id=batch.batch_id,
            peer_node=peer.peer_node,
            host=host,
            patterns=str(peer.hosts),
            reason="host-refused",
            events=count,
        )
        peer.send(BatchRefused(batch.batch_id, reason_text(reason)))

    def _rejected(self, peer: IPeerConnection, batch: Batch, reason: str) -> Rejected:
        """
        Count a rejected batch; the L{Rejected} for the caller to raise.
        """
        for c in self._counters.both(peer.peer_node):
            c.batches_rejected += 1
            c.events_rejected += len(batch.events)
        return Rejected(reason)
