"""The buck's ingest of batches: decoded, written, acknowledged, then published.

Steps, per L{Batch} (docs/design.md "Delivery", C{docs/buck.md}):

  1. Durability C{ack1}, C{ack2} or C{ack2+fsync}: every event is decoded;
     one corrupt event rejects the batch (nothing written, the connection
     closed with the reason, counted).  Otherwise the events are appended
     to their bucket files and handed to the kernel (fsynced for
     C{ack2+fsync}), only then is the L{Ack} sent, then the events are
     published on the channel.
  2. Durability C{live}: decoded (a corrupt one is rejected as above),
     published on the channel, neither written nor acknowledged.
"""

from __future__ import annotations

from twisted.logger import Logger

from logship.buck.counters import PeerCounters
from logship.buck.pubsub import Channel
from logship.buck.rejected import Rejected
from logship.buck.store import BucketStore, CorruptBatch, StoreError
from logship.wire.messages import Ack, Batch
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
        try:
            if live:
                written = self._store.decode_batch(batch.events)
            else:
                written = self._store.write_batch(
                    batch.events, sync=batch.durability == "ack2+fsync"
                )
        except CorruptBatch as e:
            raise self._rejected(peer, batch, f"batch {batch.batch_id}: {e}")
        except (OSError, StoreError) as e:
            self._log.error(
                "Cannot write batch {batch_id} from {peer_node}: {error}",
                batch_id=batch.batch_id,
                peer_node=peer.peer_node,
                error=str(e),
            )
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
        self._channel.publish(written)

    def _rejected(self, peer: IPeerConnection, batch: Batch, reason: str) -> Rejected:
        """
        Count a rejected batch; the L{Rejected} for the caller to raise.
        """
        for c in self._counters.both(peer.peer_node):
            c.batches_rejected += 1
            c.events_rejected += len(batch.events)
        return Rejected(reason)
