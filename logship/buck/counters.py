"""What the buck did, for each peer node and overall: its L{Counters}.

Each part of the buck (ingest, uploads, the dispatcher) counts into the
same L{PeerCounters}: L{PeerCounters.both} gives the peer's counters and
the overall ones, to add the same amounts to both.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any


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
    @ivar events_unwritable: those of them refused because the store could
        not write them (the others: a corrupt event, or refused hosts).
    @ivar uploads_started: whole-bucket uploads begun.
    @ivar uploads_merged: uploads verified, merged and acknowledged.
    @ivar upload_events: events in the merged uploads.
    @ivar upload_new: those that the buck did not have yet.
    @ivar uploads_rejected: uploads refused (order, size, checksum, content).
    @ivar uploads_abandoned: uploads dropped by a disconnection or timeout.
    @ivar batches_refused: batches refused because an event's host is not
        one the sender's credential allows (also counted as rejected).
    @ivar events_refused: their events.
    @ivar uploads_refused: uploads refused for the same reason (also
        counted as rejected).
    @ivar messages_refused: messages the sender's role may not send
        (a tailer's listing, a porter's batch ...).
    @ivar archived_refused: archived notices whose receipt was refused, or
        did not match the buck's file.
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
    events_unwritable: int = 0
    uploads_started: int = 0
    uploads_merged: int = 0
    upload_events: int = 0
    upload_new: int = 0
    uploads_rejected: int = 0
    uploads_abandoned: int = 0
    batches_refused: int = 0
    events_refused: int = 0
    uploads_refused: int = 0
    messages_refused: int = 0
    archived_refused: int = 0
    connections_closed: int = 0


class PeerCounters:
    """
    The buck's L{Counters}: overall, and by peer node name.

    @ivar total: the overall counters.
    @ivar peers: the counters by peer node name.
    """

    def __init__(self) -> None:
        self.total = Counters()
        self.peers: dict[str, Counters] = {}

    def of(self, node: str) -> Counters:
        """
        The counters of a peer node (new ones the first time).

        @param node: the peer's node name (in its hello).
        """
        counters = self.peers.get(node)
        if counters is None:
            counters = self.peers[node] = Counters()
        return counters

    def both(self, node: str) -> tuple[Counters, Counters]:
        """
        The counters of a peer node, and the overall ones.

        @param node: the peer's node name.
        """
        return self.of(node), self.total

    def as_dict(self) -> dict[str, Any]:
        """
        C{{"total": COUNTERS, "peers": {NODE: COUNTERS}}}, each as a dict of
        the L{Counters} fields, the peers sorted by name.
        """
        return {
            "total": asdict(self.total),
            "peers": {node: asdict(c) for node, c in sorted(self.peers.items())},
        }
