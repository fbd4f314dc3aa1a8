"""Whole-bucket shipping and pruning of the tailer's local buckets.

  1. A local bucket file is I{closed} one bucket interval after its interval
     ended (late lines mostly arrive by then) and I{settled} once every
     record in it was delivered (R acks), so that shipping it duplicates no
     batch still on its way.
  2. A closed, settled file that grew since it was last shipped is due
     after a random delay (up to one interval, so that tailers do not all
     ship at the same moment), to one random connected buck, whole, in
     C{BucketPut} chunks with the file's sha256 on the last.  The buck
     merges it by identity (nothing is clobbered, a re-upload adds
     nothing) and answers C{BucketAck}.  One upload at a time; an upload
     not acknowledged in time, or whose buck goes away, is tried again.
  3. Every C{query_interval} seconds, the buck that acknowledged each
     shipped file is asked (C{ArchivedQuery}) whether that bucket was
     archived since: the buck says yes only if the porter archived its
     whole file of the bucket, the merged upload included, and deleted it
     (C{docs/porter.md}).  A file the buck reports archived, still at its
     shipped size, is deleted.
  4. Otherwise a file is pruned only when it was shipped and acknowledged
     at its present size, and either its interval ended more than
     C{keep_seconds} ago or the spools hold more than C{keep_bytes} (oldest
     first).

State (shipped sizes and the buck that took each) goes into the tailer's
checkpoint; when it is restored, the sizes of files that are gone or
shorter are forgotten (L{Shipper.restore}).
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from twisted.internet.interfaces import IDelayedCall, IReactorTime
from twisted.logger import Logger

from logship.tailer.spool import Spool
from logship.wire.messages import (
    MAX_CHUNK,
    MAX_LIST,
    ArchivedQuery,
    ArchivedReply,
    BucketAck,
    BucketPut,
)
from logship.wire.protocol import IPeerConnection


@dataclass
class _Upload:
    """
    The upload in progress.
    """

    upload_id: int
    buck: str
    path: Path
    size: int
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
    ) -> None:
        """
        @param clock: the reactor's time: its C{seconds()} is the wall
            clock, which bucket intervals are in; it runs the timers.
        @param keep_seconds: prune shipped buckets older than this.
        @param keep_bytes: prune shipped buckets, oldest first, while the
            spools hold more than this.
        @param ack_timeout: seconds to wait for a C{BucketAck}.
        @param query_interval: seconds between two questions to the bucks
            about archived buckets.
        @param on_change: called when L{state} changed (to save it).
        """
        self.stats = ShipperStats()
        self._spools = spools
        self._seconds = bucket_seconds
        self._clock = clock
        self._keep_seconds = keep_seconds
        self._keep_bytes = keep_bytes
        self._ack_timeout = ack_timeout
        self._query_interval = query_interval
        self._last_query = float("-inf")
        self._rng = rng or random.Random()
        self._on_change = on_change
        self._bucks: dict[str, IPeerConnection] = {}
        #: Per file key: the size shipped, and the buck that took it.
        self._shipped: dict[str, tuple[int, str | None]] = {}
        self._due: dict[Path, float] = {}
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
        For the checkpoint: C{{file key: [size shipped, buck name]}}.
        """
        return {key: list(value) for key, value in self._shipped.items()}

    def restore(self, state: dict[str, Any] | None) -> None:
        """
        Take the shipped sizes saved by L{state} (a bare size, as older
        checkpoints have it, stands for an unknown buck), of the files the
        spools hold: call it after their C{restore}.

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
            size, buck = (value, None) if isinstance(value, int) else value
            if present.get(str(key), -1) < int(size):
                forgotten.append(str(key))
                continue
            self._shipped[str(key)] = (int(size), None if buck is None else str(buck))
        if forgotten:
            self._log.info(
                "{count} local bucket file(s) shipped before are gone or shorter"
                " (e.g. {key}): their shipped sizes are forgotten",
                count=len(forgotten),
                key=forgotten[0],
            )

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
        self._shipped[self._key(upload.path)] = (upload.size, name)
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
        for start, path, size, delivered in files:
            closed = start + 2 * self._seconds <= now
            shipped = self._shipped.get(self._key(path), (0, None))[0]
            if closed and delivered == size and size > shipped:
                self._due.setdefault(path, now + self._rng.uniform(0, self._seconds))
        if self._upload is None and self._bucks:
            ready = sorted((when, str(p)) for p, when in self._due.items() if when <= now)
            if ready:
                self._ship(Path(ready[0][1]))
        if now - self._last_query >= self._query_interval:
            self._last_query = now
            self._ask_archived(files)
        self._prune(files, now)

    def _shipped_whole(self, path: Path, size: int, delivered: int) -> str | None:
        """
        The buck that took C{path} if it was shipped at its present size
        (and everything in it delivered), else C{None}.
        """
        shipped, buck = self._shipped.get(self._key(path), (None, None))
        if shipped == size == delivered and buck is not None:
            return buck
        return None

    def _ask_archived(self, files: list[tuple[int, Path, int, int]]) -> None:
        """
        Ask each connected buck which of the buckets it took were archived.
        """
        asked: dict[str, set[int]] = {}
        for start, path, size, delivered in files:
            buck = self._shipped_whole(path, size, delivered)
            if buck in self._bucks:
                asked.setdefault(buck, set()).add(start)
        for buck, starts in asked.items():
            ordered = sorted(starts)
            for first in range(0, len(ordered), MAX_LIST):
                self._bucks[buck].send(ArchivedQuery(self._next_id, ordered[first : first + MAX_LIST]))
                self._next_id += 1

    def archived_reply(self, name: str, reply: ArchivedReply) -> None:
        """
        Buck C{name} says these buckets were archived with the files it took
        from this tailer: delete the ones still at their shipped size.
        """
        archived = set(reply.starts)
        busy = self._upload.path if self._upload is not None else None
        for spool in self._spools:
            for start, path, size, delivered in spool.files():
                if start not in archived or path == busy:
                    continue
                if self._shipped_whole(path, size, delivered) != name:
                    continue
                self._delete(spool, path, size)
                self.stats.archived += 1
                self.stats.bytes_archived += size
                self._log.info(
                    "Deleted {path}: archived (buck {buck} says so)", path=str(path), buck=name
                )

    def _ship(self, path: Path) -> None:
        """
        Send C{path} whole to a random connected buck.
        """
        del self._due[path]
        name = self._rng.choice(sorted(self._bucks))
        start, size = next((f[0], f[2]) for f in self._spool_of(path).files() if f[1] == path)
        upload_id = self._next_id
        self._next_id += 1
        digest = hashlib.sha256()
        with open(path, "rb") as f:
            offset = 0
            while True:
                data = f.read(min(MAX_CHUNK, size - offset))
                digest.update(data)
                last = offset + len(data) >= size
                self._bucks[name].send(
                    BucketPut(
                        upload_id, start, self._seconds, offset, data, last,
                        digest.digest() if last else None,
                    )
                )
                offset += len(data)
                if last:
                    break
        self.stats.uploads += 1
        self.stats.bytes_shipped += size
        self._upload = _Upload(
            upload_id,
            name,
            path,
            size,
            self._clock.callLater(self._ack_timeout, self._give_up, "no acknowledgement in time"),
        )

    def _give_up(self, why: str) -> None:
        upload = self._upload
        assert upload is not None
        if upload.timeout.active():
            upload.timeout.cancel()
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
        Delete shipped files past the age or size limit, oldest first.
        """
        total = sum(f[2] for f in files)
        for start, path, size, delivered in files:
            shipped = self._shipped.get(self._key(path), (None, None))[0] == size == delivered
            busy = self._upload is not None and self._upload.path == path
            too_old = start + self._seconds < now - self._keep_seconds
            if not shipped or busy or not (too_old or total > self._keep_bytes):
                continue
            self._delete(self._spool_of(path), path, size)
            total -= size
            self.stats.pruned += 1
            self.stats.bytes_pruned += size

    def _delete(self, spool: Spool, path: Path, size: int) -> None:
        spool.forget(path)
        path.unlink(missing_ok=True)
        del self._shipped[self._key(path)]
        self._on_change()

    def stop(self) -> None:
        """
        Cancel the upload's timer (it is redone after a restart).
        """
        if self._upload is not None and self._upload.timeout.active():
            self._upload.timeout.cancel()
