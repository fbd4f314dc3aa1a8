"""Whole-bucket shipping and pruning of the tailer's local buckets.

  1. A local bucket file is I{closed} one bucket interval after its interval
     ended (late lines mostly arrive by then) and I{settled} once every
     record in it was delivered (R acks), so that shipping it duplicates no
     batch still on its way.
  2. A closed, settled file that grew since it was last shipped is due
     after a random delay (up to one interval, so that tailers do not all
     ship at the same moment), to one random connected buck, whole, in
     C{BucketPut} chunks with the file's sha256 on the last, each chunk
     read when the connection's write buffer is empty (a pull producer on
     its transport: a big bucket is never in memory whole).  The buck
     merges it by identity (nothing is clobbered, a re-upload adds
     nothing) and answers C{BucketAck}.  One upload at a time; an upload
     not acknowledged in time, or whose buck goes away, is tried again.
  3. Every C{query_interval} seconds, the buck that acknowledged each
     shipped file is asked (C{ArchivedQuery}, naming each upload by its
     bucket and SHA-256) for proof that it was archived since: the buck
     answers with the porter's receipt for its file of the bucket that had
     merged the upload, which it deleted on that receipt (C{docs/porter.md},
     C{docs/security.md}).  A file is deleted only if it is still at its
     shipped size and the receipt checks out
     (L{logship.core.receipts.check_archive_proof}: in credential mode a
     porter credential of a trusted authority, valid now, its signature,
     and the receipt naming the buck that took the upload and the bucket).
  4. A buck that answers that it does not know an upload (it lost its
     disk, or forgot the bucket) can never show a receipt for it: the
     file's shipped size is forgotten, and it is shipped again, to another
     buck if one is connected.
  5. Nothing else deletes a file that has no receipt, except the size
     limit: while the spools hold more than C{keep_bytes}, the oldest
     files shipped and acknowledged at their present size are deleted,
     each logged as an error and counted (C{pruned}): their events may
     then be only on the bucks.  A file whose interval ended more than
     C{keep_seconds} ago is kept: it is logged once and counted
     (C{overdue_files}, C{overdue_bytes}) until a receipt deletes it.

State (shipped sizes, the buck that took each, the upload's SHA-256)
goes into the tailer's checkpoint; when it is restored, the sizes of files
that are gone or shorter are forgotten (L{Shipper.restore}).
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from twisted.internet.interfaces import IDelayedCall, IPullProducer, IReactorTime
from twisted.logger import Logger
from zope.interface import implementer

from logship.core.credentials import Trust
from logship.core.receipts import ReceiptError, check_archive_proof, file_sha256
from logship.tailer.spool import Spool
from logship.wire.messages import (
    MAX_CHUNK,
    MAX_PROOFS,
    ArchivedQuery,
    ArchivedReply,
    BucketAck,
    BucketPut,
)
from logship.wire.protocol import IPeerConnection


@implementer(IPullProducer)
class _ChunkSender:
    """
    Sends the first C{size} bytes of a file as C{BucketPut} chunks, one
    each time the connection asks for more.
    """

    def __init__(self, peer: IPeerConnection, path: Path, first: BucketPut, size: int) -> None:
        """
        @param peer: the buck's connection (the producer registers on it).
        @param path: the file.
        @param first: the first chunk's fields but C{data}, C{last} and
            C{sha256} (C{data} empty).
        @param size: how many bytes of the file to send.
        """
        self._peer = peer
        self._file = open(path, "rb")
        self._first = first
        self._size = size
        self._offset = 0
        self._digest = hashlib.sha256()
        self.done = False

    def hexdigest(self) -> str:
        """
        The SHA-256 of what was sent, in hex.
        """
        return self._digest.hexdigest()

    def resumeProducing(self) -> None:
        """
        Send the next chunk; the last one ends the production.
        """
        if self.done:
            return
        data = self._file.read(min(MAX_CHUNK, self._size - self._offset))
        self._digest.update(data)
        last = not data or self._offset + len(data) >= self._size
        put = BucketPut(
            self._first.upload_id, self._first.start, self._first.seconds, self._offset,
            data, last, self._digest.digest() if last else None,
        )
        self._offset += len(data)
        if last:
            self.stopProducing()
        if not self._peer.send(put):
            self.stopProducing()

    def stopProducing(self) -> None:
        """
        Stop: the file is closed, the producer unregistered.
        """
        if not self.done:
            self.done = True
            self._file.close()
            self._peer.unregister_producer()


@dataclass
class _Upload:
    """
    The upload in progress.
    """

    upload_id: int
    buck: str
    path: Path
    size: int
    sender: _ChunkSender
    timeout: IDelayedCall


@dataclass
class ShipperStats:
    """
    Counters of a L{Shipper}.
    """

    uploads: int = 0
    acked: int = 0
    failed: int = 0
    bytes_shipped: int = 0
    pruned: int = 0
    bytes_pruned: int = 0
    archived: int = 0
    bytes_archived: int = 0
    proofs_refused: int = 0
    reshipped: int = 0
    overdue_files: int = 0
    overdue_bytes: int = 0


class Shipper:
    """
    Ships closed local buckets whole to one random buck, and prunes them.
    """

    _log = Logger()

    def __init__(
        self,
        *,
        spools: list[Spool],
        bucket_seconds: int,
        clock: IReactorTime,
        keep_seconds: float = 7 * 86400,
        keep_bytes: int = 10 << 30,
        ack_timeout: float = 120.0,
        query_interval: float = 60.0,
        rng: random.Random | None = None,
        on_change: Callable[[], None] = lambda: None,
        trust: Trust | None = None,
    ) -> None:
        """
        @param clock: the reactor's time: its C{seconds()} is the wall
            clock, which bucket intervals are in; it runs the timers.
        @param keep_seconds: a bucket older than this without a receipt is
            logged and counted as overdue (it is kept).
        @param keep_bytes: delete shipped buckets without a receipt,
            oldest first, while the spools hold more than this (each one
            logged as an error and counted).
        @param ack_timeout: seconds to wait for a C{BucketAck}.
        @param query_interval: seconds between two questions to the bucks
            about archived buckets.
        @param on_change: called when L{state} changed (to save it).
        @param trust: the tailer's trust in credential mode (archive
            receipts must then be signed by a porter it trusts); C{None} in
            lab mode.
        """
        self.stats = ShipperStats()
        self._spools = list(spools)
        self._seconds = bucket_seconds
        self._clock = clock
        self._keep_seconds = keep_seconds
        self._keep_bytes = keep_bytes
        self._ack_timeout = ack_timeout
        self._query_interval = query_interval
        self._last_query = float("-inf")
        self._rng = rng or random.Random()
        self._on_change = on_change
        self._trust = trust
        self._bucks: dict[str, IPeerConnection] = {}
        #: Per file key: the size shipped, the buck that took it, and the
        #: upload's SHA-256 in hex (None in a checkpoint of an earlier
        #: version: computed when needed).
        self._shipped: dict[str, tuple[int, str | None, str | None]] = {}
        self._due: dict[Path, float] = {}
        #: Files to ship again, and the buck that did not have them.
        self._avoid: dict[Path, str] = {}
        #: Overdue files already logged.
        self._overdue: set[Path] = set()
        self._upload: _Upload | None = None
        self._next_id = 1

    def _key(self, path: Path) -> str:
        """
        How a file is named in the state: relative to its spool's parent
        (C{ack2/2026/11/26/09/37.b}), so that it survives a change of the
        working directory.
        """
        return path.relative_to(self._spool_of(path).root.parent).as_posix()

    def _spool_of(self, path: Path) -> Spool:
        return next(s for s in self._spools if path.is_relative_to(s.root))

    def state(self) -> dict[str, list[Any]]:
        """
        For the checkpoint: C{{file key: [size shipped, buck name, SHA-256
        hex]}}.
        """
        return {key: list(value) for key, value in self._shipped.items()}

    def restore(self, state: dict[str, Any] | None) -> None:
        """
        Take the shipped sizes saved by L{state} (a bare size, as older
        checkpoints have it, stands for an unknown buck; a pair for an
        unknown digest), of the files the spools hold: call it after their
        C{restore}.

        A file that is gone (deleted once archived, or pruned, by a tailer
        killed before its next checkpoint), or shorter than its shipped
        size, is not the file shipped: its shipped size is forgotten, so
        that a file made again for that bucket (late or replayed lines) is
        shipped whole, then asked about and pruned like any other.
        """
        self._shipped = {}
        present = {
            self._key(path): size for spool in self._spools for _, path, size, _ in spool.files()
        }
        forgotten = []
        for key, value in (state or {}).items():
            size, buck, digest = (
                (value, None, None) if isinstance(value, int) else (*value, None)[:3]
            )
            if present.get(str(key), -1) < int(size):
                forgotten.append(str(key))
                continue
            self._shipped[str(key)] = (
                int(size),
                None if buck is None else str(buck),
                None if digest is None else str(digest),
            )
        if forgotten:
            self._log.info(
                "{count} local bucket file(s) shipped before are gone or shorter"
                " (e.g. {key}): their shipped sizes are forgotten",
                count=len(forgotten),
                key=forgotten[0],
            )

    def add_spool(self, spool: Spool) -> None:
        """
        Ship and prune the files of C{spool} too (a durability configured
        by a reload).
        """
        self._spools.append(spool)

    def connected(self, name: str, peer: IPeerConnection) -> None:
        self._bucks[name] = peer

    def disconnected(self, name: str) -> None:
        self._bucks.pop(name, None)
        if self._upload is not None and self._upload.buck == name:
            self._give_up("its buck went away")

    def bucket_acked(self, name: str, ack: BucketAck) -> None:
        """
        A buck merged an upload.
        """
        upload = self._upload
        if upload is None or upload.upload_id != ack.upload_id or upload.buck != name:
            return
        upload.timeout.cancel()
        self._upload = None
        self._shipped[self._key(upload.path)] = (upload.size, name, upload.sender.hexdigest())
        self.stats.acked += 1
        self._on_change()
        self._log.info(
            "Shipped {path} to {buck}: {events} events, {new} new to it",
            path=str(upload.path),
            buck=name,
            events=ack.events,
            new=ack.new,
        )

    def tick(self) -> None:
        """
        Find due files, start an upload if none is running, prune.
        """
        now = self._clock.seconds()
        files = [f for spool in self._spools for f in spool.files()]
        busy = self._upload.path if self._upload is not None else None
        for start, path, size, delivered in files:
            closed = start + 2 * self._seconds <= now
            shipped = self._shipped.get(self._key(path), (0, None))[0]
            if closed and delivered == size and size > shipped and path != busy:
                self._due.setdefault(path, now + self._rng.uniform(0, self._seconds))
        if self._upload is None and self._bucks:
            ready = sorted((when, str(p)) for p, when in self._due.items() if when <= now)
            if ready:
                self._ship(Path(ready[0][1]))
        if now - self._last_query >= self._query_interval:
            self._last_query = now
            self._ask_archived(files)
        self._prune(files, now)

    def oldest_unshipped(self) -> int | None:
        """
        The start of the oldest local bucket not shipped whole at its
        present size (open, undelivered or not yet due ones included), or
        C{None} if there is none.
        """
        files = sorted(f for spool in self._spools for f in spool.files())
        for start, path, size, _ in files:
            if size > self._shipped.get(self._key(path), (0, None, None))[0]:
                return start
        return None

    def _shipped_whole(self, path: Path, size: int, delivered: int) -> tuple[str, str] | None:
        """
        The buck that took C{path} and the upload's SHA-256 (hex) if it was
        shipped at its present size (and everything in it delivered), else
        C{None}.
        """
        key = self._key(path)
        shipped, buck, digest = self._shipped.get(key, (None, None, None))
        if shipped != size or size != delivered or buck is None:
            return None
        if digest is None:  # a checkpoint of an earlier version
            digest = file_sha256(path).hex()
            self._shipped[key] = (size, buck, digest)
            self._on_change()
        return buck, digest

    def _ask_archived(self, files: list[tuple[int, Path, int, int]]) -> None:
        """
        Ask each connected buck for proofs that the uploads it took were
        archived.
        """
        asked: dict[str, list[tuple[int, bytes]]] = {}
        for start, path, size, delivered in files:
            shipped = self._shipped_whole(path, size, delivered)
            if shipped is not None and shipped[0] in self._bucks:
                asked.setdefault(shipped[0], []).append((start, bytes.fromhex(shipped[1])))
        for buck, uploads in asked.items():
            uploads.sort()
            for first in range(0, len(uploads), MAX_PROOFS):
                chunk = uploads[first : first + MAX_PROOFS]
                self._bucks[buck].send(ArchivedQuery(self._next_id, chunk))
                self._next_id += 1

    def archived_reply(self, name: str, reply: ArchivedReply) -> None:
        """
        Buck C{name} gives proofs that uploads it took were archived:
        delete the files still at their shipped size whose proof checks out.
        """
        peer = self._bucks.get(name)
        if peer is None:
            return
        proofs = {(proof.start, proof.upload): proof for proof in reply.proofs}
        missing = set(reply.missing)
        busy = self._upload.path if self._upload is not None else None
        for spool in self._spools:
            for start, path, size, delivered in spool.files():
                shipped = self._shipped_whole(path, size, delivered)
                if shipped is None or shipped[0] != name or path == busy:
                    continue
                upload = (start, bytes.fromhex(shipped[1]))
                if upload in missing:
                    self._ship_again(path, name)
                    continue
                proof = proofs.get(upload)
                if proof is None:
                    continue
                try:
                    receipt = check_archive_proof(
                        proof.receipt,
                        proof.signature,
                        proof.credential,
                        trust=self._trust,
                        now=self._clock.seconds(),
                        buck=peer.peer_node,
                        start=start,
                        seconds=self._seconds,
                    )
                except ReceiptError as e:
                    self.stats.proofs_refused += 1
                    self._log.warn(
                        "Kept {path}: buck {buck} relays a proof of archiving that is"
                        " refused ({error})",
                        path=str(path),
                        buck=name,
                        error=str(e),
                    )
                    continue
                self._delete(spool, path, size)
                self.stats.archived += 1
                self.stats.bytes_archived += size
                self._log.info(
                    "Deleted {path}: archived as {key} (porter {porter}'s receipt,"
                    " relayed by buck {buck})",
                    path=str(path),
                    buck=name,
                    key=receipt.key,
                    porter=receipt.porter,
                )

    def _ship_again(self, path: Path, name: str) -> None:
        """
        Buck C{name} does not have the upload of C{path} it took: forget
        that it was shipped, so that it is shipped again (to another buck
        if one is connected).
        """
        del self._shipped[self._key(path)]
        self._avoid[path] = name
        self.stats.reshipped += 1
        self._on_change()
        self._log.warn(
            "Buck {buck} does not have {path}, which it took (its disk lost?):"
            " shipping it again",
            path=str(path),
            buck=name,
        )

    def _ship(self, path: Path) -> None:
        """
        Send C{path} whole to a random connected buck (not the one that
        lost it, if another is connected).
        """
        del self._due[path]
        avoid = self._avoid.pop(path, None)
        names = sorted(self._bucks)
        name = self._rng.choice([n for n in names if n != avoid] or names)
        start, size = next((f[0], f[2]) for f in self._spool_of(path).files() if f[1] == path)
        upload_id = self._next_id
        self._next_id += 1
        peer = self._bucks[name]
        sender = _ChunkSender(
            peer, path, BucketPut(upload_id, start, self._seconds, 0, b"", False, None), size
        )
        self.stats.uploads += 1
        self.stats.bytes_shipped += size
        self._upload = _Upload(
            upload_id,
            name,
            path,
            size,
            sender,
            self._clock.callLater(self._ack_timeout, self._give_up, "no acknowledgement in time"),
        )
        if not peer.register_producer(sender):
            sender.stopProducing()

    def _give_up(self, why: str) -> None:
        upload = self._upload
        assert upload is not None
        if upload.timeout.active():
            upload.timeout.cancel()
        upload.sender.stopProducing()
        self._upload = None
        self.stats.failed += 1
        self._due[upload.path] = self._clock.seconds()
        self._log.warn(
            "Upload of {path} to {buck} failed ({why}); trying again",
            path=str(upload.path),
            buck=upload.buck,
            why=why,
        )

    def _prune(self, files: list[tuple[int, Path, int, int]], now: float) -> None:
        """
        Delete shipped files beyond the size limit, oldest first, loudly;
        count (and log once) the files past the age limit, kept.
        """
        total = sum(f[2] for f in files)
        overdue = [0, 0]
        for start, path, size, delivered in sorted(files):
            shipped = self._shipped.get(self._key(path), (None, None, None))[0] == size == delivered
            busy = self._upload is not None and self._upload.path == path
            if shipped and not busy and total > self._keep_bytes:
                self._delete(self._spool_of(path), path, size)
                total -= size
                self.stats.pruned += 1
                self.stats.bytes_pruned += size
                self._log.error(
                    "Deleted {path} without a proof of archiving: the spools hold more"
                    " than {keep_mb} MiB; its events are now only on the bucks",
                    path=str(path),
                    keep_mb=self._keep_bytes >> 20,
                )
                continue
            if start + self._seconds < now - self._keep_seconds:
                overdue[0] += 1
                overdue[1] += size
                if path not in self._overdue:
                    self._overdue.add(path)
                    self._log.warn(
                        "{path} is older than the keeping period and not archived:"
                        " kept until a buck shows its receipt",
                        path=str(path),
                    )
        self.stats.overdue_files, self.stats.overdue_bytes = overdue

    def _delete(self, spool: Spool, path: Path, size: int) -> None:
        spool.forget(path)
        path.unlink(missing_ok=True)
        del self._shipped[self._key(path)]
        self._overdue.discard(path)
        self._avoid.pop(path, None)
        self._on_change()

    def stop(self) -> None:
        """
        Cancel the upload's timer (it is redone after a restart).
        """
        if self._upload is not None:
            if self._upload.timeout.active():
                self._upload.timeout.cancel()
            self._upload.sender.stopProducing()

