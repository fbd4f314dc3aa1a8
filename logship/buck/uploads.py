"""Whole-bucket uploads: chunks received into temporary files, checked, merged into the store.

Steps, per C{upload_id} of one connection (C{docs/buck.md}):

  1. L{BucketPut} chunks are appended to a temporary file under
     C{DATA/incoming/} while the offsets are contiguous and the sizes
     within bounds (per upload, all uploads together, uploads per
     connection).
  2. The last chunk's SHA-256 must match the whole; then the file is
     merged into the bucket (L{BucketStore.merge_bucket}: every event
     checked first, its host too against the sender's credential), the
     L{BucketAck} is sent and the temporary file removed.
  3. Any violation rejects the upload (the connection is closed with the
     reason) and removes the file; so does a disconnection in the middle,
     and an upload idle for too long is dropped by L{Uploads.expire}.
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

from twisted.internet.interfaces import IReactorTime
from twisted.logger import Logger

from logship.buck.counters import PeerCounters
from logship.buck.rejected import Rejected
from logship.buck.store import BadUpload, BucketStore, HostNotAllowed, StoreError
from logship.wire.messages import BucketAck, BucketPut
from logship.wire.protocol import IPeerConnection

#: Bytes one upload may have at most (a tailer's bucket file).
DEFAULT_MAX_UPLOAD = 256 << 20
#: Bytes all uploads in progress may have together, at most.
DEFAULT_MAX_INCOMING = 1 << 30
#: Uploads in progress per connection, at most.
DEFAULT_MAX_UPLOADS_PER_PEER = 4
#: Seconds an upload may go without a chunk before it is dropped.
DEFAULT_UPLOAD_TIMEOUT = 300.0

_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]+")


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


class Uploads:
    """
    The uploads in progress, by connection: receives their chunks, merges
    the complete ones into the store, drops the abandoned ones.

    @ivar incoming_bytes: bytes of all uploads in progress.
    """

    _log = Logger()

    def __init__(
        self,
        store: BucketStore,
        clock: IReactorTime,
        counters: PeerCounters,
        *,
        max_upload: int = DEFAULT_MAX_UPLOAD,
        max_incoming: int = DEFAULT_MAX_INCOMING,
        max_uploads_per_peer: int = DEFAULT_MAX_UPLOADS_PER_PEER,
        upload_timeout: float = DEFAULT_UPLOAD_TIMEOUT,
    ) -> None:
        """
        @param store: where uploads are merged (and their temporary files
            go, under C{store.incoming}).
        @param clock: when each chunk arrived.
        @param counters: where uploads are counted.
        @param max_upload: bytes per upload, at most.
        @param max_incoming: bytes of all uploads in progress, at most.
        @param max_uploads_per_peer: uploads in progress per connection.
        @param upload_timeout: seconds without a chunk before an upload is
            dropped.
        """
        self._store = store
        self._clock = clock
        self._counters = counters
        self._max_upload = max_upload
        self._max_incoming = max_incoming
        self._max_uploads_per_peer = max_uploads_per_peer
        self._upload_timeout = upload_timeout
        self.incoming_bytes = 0
        self._uploads: dict[IPeerConnection, dict[int, _Upload]] = {}

    @property
    def in_progress(self) -> int:
        """
        How many uploads are being received.
        """
        return sum(len(u) for u in self._uploads.values())

    def receive(self, peer: IPeerConnection, put: BucketPut) -> None:
        """
        Append a chunk to its upload (beginning it with its first chunk);
        after the last one, merge the upload and acknowledge it.

        @param peer: the connection it came on.
        @param put: the chunk.
        @raise Rejected: if the chunk or the upload is refused (the upload
            is dropped).
        """
        uploads = self._uploads.setdefault(peer, {})
        upload = uploads.get(put.upload_id)
        if upload is None:
            upload = self._begin(peer, uploads, put)
        elif (put.start, put.seconds) != (upload.start, upload.seconds):
            raise self._refused(
                peer,
                upload,
                f"upload {put.upload_id}: chunk for bucket {put.start}/{put.seconds}s"
                f" in an upload of {upload.start}/{upload.seconds}s",
            )
        if put.offset != upload.size:
            raise self._refused(
                peer,
                upload,
                f"upload {put.upload_id}: chunk at offset {put.offset},"
                f" expected {upload.size}",
            )
        size = len(put.data)
        if upload.size + size > self._max_upload:
            raise self._refused(
                peer,
                upload,
                f"upload {put.upload_id}: larger than {self._max_upload} bytes",
            )
        if self.incoming_bytes + size > self._max_incoming:
            raise self._refused(
                peer,
                upload,
                f"upload {put.upload_id}: the buck holds {self.incoming_bytes}"
                " bytes of uploads in progress already; try later",
            )
        try:
            upload.file.write(put.data)
        except OSError as e:
            raise self._refused(peer, upload, f"upload {put.upload_id}: cannot store it ({e})")
        upload.sha256.update(put.data)
        upload.size += size
        upload.last_chunk = self._clock.seconds()
        self.incoming_bytes += size
        if put.last:
            self._finish(peer, upload, put)

    def abandon_peer(self, peer: IPeerConnection, why: str) -> None:
        """
        Drop the uploads of a connection (it ended).

        @param peer: the connection.
        @param why: what the log says.
        """
        for upload in list(self._uploads.get(peer, {}).values()):
            self._abandon(peer, upload, why)
        self._uploads.pop(peer, None)

    def abandon_all(self, why: str) -> None:
        """
        Drop every upload in progress (the buck stops).

        @param why: what the log says.
        """
        for peer in list(self._uploads):
            self.abandon_peer(peer, why)

    def expire(self, now: float) -> None:
        """
        Drop the uploads that had no chunk for the upload timeout.

        @param now: the time now.
        """
        limit = now - self._upload_timeout
        for peer, uploads in list(self._uploads.items()):
            for upload in list(uploads.values()):
                if upload.last_chunk <= limit:
                    self._abandon(
                        peer, upload, f"no chunk for {self._upload_timeout:g} seconds"
                    )

    # -- internals

    def _begin(
        self, peer: IPeerConnection, uploads: dict[int, _Upload], put: BucketPut
    ) -> _Upload:
        for c in self._counters.both(peer.peer_node):
            c.uploads_started += 1
        reason = None
        if put.offset != 0:
            reason = (
                f"upload {put.upload_id}: first chunk at offset {put.offset},"
                " expected 0"
            )
        elif put.seconds != self._store.seconds:
            reason = (
                f"upload {put.upload_id}: bucket interval {put.seconds} s differs"
                f" from this buck's {self._store.seconds} s"
            )
        elif len(uploads) >= self._max_uploads_per_peer:
            reason = (
                f"upload {put.upload_id}: {len(uploads)} uploads in progress"
                " on this connection already"
            )
        if reason is not None:
            for c in self._counters.both(peer.peer_node):
                c.uploads_rejected += 1
            raise Rejected(reason)
        prefix = f"{_UNSAFE.sub('_', peer.peer_node)[:64]}-{put.upload_id}-"
        try:
            fd, name = tempfile.mkstemp(
                prefix=prefix, suffix=".part", dir=self._store.incoming
            )
        except OSError as e:
            raise Rejected(f"upload {put.upload_id}: cannot store it ({e})") from None
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
            raise self._refused(
                peer,
                upload,
                f"upload {upload.upload_id}: SHA-256 mismatch over"
                f" {upload.size} bytes",
            )
        hosts = peer.hosts
        try:
            upload.file.close()
            events, new = self._store.merge_bucket(
                upload.start,
                upload.seconds,
                upload.path,
                upload.sha256.digest(),
                None if hosts is None else hosts.allows,
            )
        except HostNotAllowed as e:
            for c in self._counters.both(peer.peer_node):
                c.uploads_refused += 1
            self._log.warn(
                "Refused upload {upload_id} of bucket {start} from {peer_node}: host {host}"
                " is not allowed (its credential allows {patterns})",
                upload_id=upload.upload_id,
                start=upload.start,
                peer_node=peer.peer_node,
                host=e.host.decode("utf-8", "replace"),
                patterns=str(hosts),
                reason="host-refused",
            )
            raise self._refused(peer, upload, f"upload {upload.upload_id}: {e}")
        except BadUpload as e:
            raise self._refused(peer, upload, f"upload {upload.upload_id}: {e}")
        except (OSError, StoreError) as e:
            self._log.error(
                "Cannot merge upload {upload_id} from {peer_node}: {error}",
                upload_id=upload.upload_id,
                peer_node=peer.peer_node,
                error=str(e),
            )
            raise self._refused(
                peer, upload, f"upload {upload.upload_id}: the buck cannot merge it ({e})"
            )
        self._drop(peer, upload)
        peer.send(BucketAck(upload.upload_id, upload.start, events, new))
        for c in self._counters.both(peer.peer_node):
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

    def _refused(self, peer: IPeerConnection, upload: _Upload, reason: str) -> Rejected:
        """
        Drop a refused upload and count it; the L{Rejected} for the caller
        to raise.
        """
        self._drop(peer, upload)
        for c in self._counters.both(peer.peer_node):
            c.uploads_rejected += 1
        return Rejected(reason)

    def _abandon(self, peer: IPeerConnection, upload: _Upload, why: str) -> None:
        self._drop(peer, upload)
        for c in self._counters.both(peer.peer_node):
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
        self.incoming_bytes -= upload.size
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
