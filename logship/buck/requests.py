"""Questions about the stored buckets: the porter's listings, reads and archived notices, the tailers' archived queries.

The dispatcher (L{logship.buck.service.BuckService}) hands over only what
the peer's role may send:

  1. From the porter: L{BucketList} is answered with the bucket files and
     their sizes, L{BucketGet} with bytes of one file, L{Archived} by
     checking its receipt (L{logship.core.receipts}: in credential mode
     signed by the porter's node key; for this buck, bucket, interval
     and size) and deleting the file only if it still has the receipt's
     size and SHA-256 (L{ArchivedAck}).
  2. From a tailer: L{ArchivedQuery} is answered with the receipts that
     prove its uploads archived, and the uploads it does not know
     (L{ArchivedReply}: the tailer ships those again).
"""

from __future__ import annotations

from twisted.logger import Logger

from logship.buck.archived import SignedReceipt
from logship.buck.counters import PeerCounters
from logship.buck.rejected import Rejected
from logship.buck.store import ArchiveOutcome, BucketStore, StoreError
from logship.core.receipts import ArchiveReceipt, ReceiptError, decode_receipt, verify_receipt
from logship.wire.messages import (
    ArchivedAck,
    Archived,
    ArchivedQuery,
    ArchivedReply,
    ArchiveProof,
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

    def __init__(self, store: BucketStore, node: str, counters: PeerCounters) -> None:
        """
        @param store: the buck's store.
        @param node: the buck's node name (a receipt must name it).
        @param counters: where refused receipts are counted.
        """
        self._store = store
        self._node = node
        self._counters = counters

    def porter_request(
        self, peer: IPeerConnection, request: BucketList | BucketGet | Archived
    ) -> None:
        """
        Answer a porter's request.

        @param peer: the connection it came on (a porter's).
        @param request: the request.
        @raise Rejected: if the store cannot answer, or a receipt is refused.
        """
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
        Answer a tailer's question: the receipts that prove these uploads
        archived, and the uploads this buck does not know (lost with its
        disk, or forgotten); those merged here and not archived yet are
        left out.

        @param peer: the connection it came on (a tailer's).
        @param query: the question.
        """
        proofs = []
        missing = []
        record = self._store.archived
        for start, upload in query.uploads:
            receipt = record.proof(start, upload)
            if receipt is not None:
                proofs.append(
                    ArchiveProof(
                        start, upload, receipt.body, receipt.signature, receipt.credential
                    )
                )
            elif not record.knows(start, upload):
                missing.append((start, upload))
        peer.send(ArchivedReply(query.request_id, proofs, missing))

    def _check_receipt(self, peer: IPeerConnection, notice: Archived) -> ArchiveReceipt:
        """
        The receipt of C{notice}, checked: signed by the peer's node key (in
        credential mode), naming the peer, this buck, the bucket, the
        interval and the size.

        @raise ReceiptError: if not.
        """
        credential = peer.credential
        if credential is None:
            receipt = decode_receipt(notice.receipt)  # lab mode: a claim
        else:
            receipt = verify_receipt(notice.receipt, notice.signature, credential.key)
            if receipt.porter != peer.peer_node:
                raise ReceiptError(f"the receipt is signed for porter {receipt.porter}")
        if receipt.buck != self._node:
            raise ReceiptError(f"the receipt is for buck {receipt.buck}, not {self._node}")
        if (receipt.start, receipt.size, receipt.seconds) != (
            notice.start,
            notice.size,
            self._store.seconds,
        ):
            raise ReceiptError(
                f"the receipt is for bucket {receipt.start}/{receipt.seconds}s at"
                f" {receipt.size} bytes"
            )
        return receipt

    def _archived(self, peer: IPeerConnection, notice: Archived) -> None:
        try:
            receipt = self._check_receipt(peer, notice)
        except ReceiptError as e:
            for c in self._counters.both(peer.peer_node):
                c.archived_refused += 1
            raise Rejected(f"archived {notice.start}: {e}") from None
        signed = SignedReceipt(
            notice.receipt,
            notice.signature,
            b"" if peer.credential is None else peer.credential.blob,
        )
        outcome = self._store.delete_archived(notice.start, notice.size, receipt.sha256, signed)
        if outcome is ArchiveOutcome.DIFFERS:
            for c in self._counters.both(peer.peer_node):
                c.archived_refused += 1
            self._log.warn(
                "Bucket {start}: kept, the archived copy of {peer_node} has another"
                " SHA-256 than this buck's file of {size} bytes",
                start=notice.start,
                peer_node=peer.peer_node,
                size=notice.size,
                reason="receipt-differs",
            )
        else:
            self._log.info(
                "Bucket {start} archived by {peer_node}: {outcome}",
                start=notice.start,
                peer_node=peer.peer_node,
                outcome={
                    ArchiveOutcome.DELETED: "deleted",
                    ArchiveOutcome.ABSENT: "no file",
                    ArchiveOutcome.GREW: "kept (it grew since)",
                }[outcome],
            )
        deleted = outcome in (ArchiveOutcome.DELETED, ArchiveOutcome.ABSENT)
        peer.send(ArchivedAck(notice.request_id, notice.start, deleted))
