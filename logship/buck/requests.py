"""Questions about the stored buckets: the porter's listings, reads and archived notices, the tailers' archived queries.

  1. From the porter only: L{BucketList} is answered with the bucket files
     and their sizes, L{BucketGet} with bytes of one file, L{Archived} by
     deleting the file if it did not grow since (L{ArchivedAck}).
  2. From a tailer: L{ArchivedQuery} is answered with those of its buckets
     that were archived and deleted here (L{ArchivedReply}).
"""

from __future__ import annotations

from twisted.logger import Logger

from logship.buck.rejected import Rejected
from logship.buck.store import BucketStore, StoreError
from logship.wire.messages import (
    Archived,
    ArchivedAck,
    ArchivedQuery,
    ArchivedReply,
    BucketData,
    BucketGet,
    BucketList,
    BucketListing,
)
from logship.wire.protocol import IPeerConnection


class BucketRequests:
    """
    Answers requests about the buckets of a L{BucketStore}.
    """

    _log = Logger()

    def __init__(self, store: BucketStore) -> None:
        """
        @param store: the buck's store.
        """
        self._store = store

    def porter_request(
        self, peer: IPeerConnection, request: BucketList | BucketGet | Archived
    ) -> None:
        """
        Answer a porter's request.

        @param peer: the connection it came on.
        @param request: the request.
        @raise Rejected: if the peer is not a porter, or the store cannot
            answer.
        """
        if peer.peer_role != "porter":
            raise Rejected(f"only a porter may send {request.TYPE} messages")
        try:
            match request:
                case BucketList():
                    found, more = self._store.listing(request.since, request.limit)
                    peer.send(BucketListing(request.request_id, found, more))
                case BucketGet():
                    size, data = self._store.read(request.start, request.offset, request.length)
                    peer.send(
                        BucketData(request.request_id, request.start, request.offset, size, data)
                    )
                case Archived():
                    self._archived(peer, request)
        except (OSError, StoreError) as e:
            self._log.error(
                "Cannot answer {kind} of {peer_node}: {error}",
                kind=request.TYPE,
                peer_node=peer.peer_node,
                error=str(e),
            )
            raise Rejected(f"{request.TYPE}: the buck cannot answer ({e})") from None

    def archived_query(self, peer: IPeerConnection, query: ArchivedQuery) -> None:
        """
        Answer a tailer's question: which of these buckets were archived
        and deleted here.

        @param peer: the connection it came on.
        @param query: the question.
        """
        archived = self._store.archived
        starts = [start for start in query.starts if start in archived]
        peer.send(ArchivedReply(query.request_id, starts))

    def _archived(self, peer: IPeerConnection, notice: Archived) -> None:
        deleted = self._store.delete_archived(notice.start, notice.size)
        self._log.info(
            "Bucket {start} archived by {peer_node}: {outcome}",
            start=notice.start,
            peer_node=peer.peer_node,
            outcome="deleted" if deleted else "kept (it grew since)",
        )
        peer.send(ArchivedAck(notice.request_id, notice.start, deleted))
