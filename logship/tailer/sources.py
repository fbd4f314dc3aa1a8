"""The files a follower reads: a path's generations, told apart by identity, opened and read.

Synchronous file code with no reactor, and no policy: which file to read
next, and when, is L{logship.tailer.follow.Follower}'s decision.  This
module lists the generations of a path (L{scan_generations}: the rotated
files of L{logship.tailer.rotated.scan_rotated}, then the live path), finds
a known file among them (L{locate}), and opens one to read it through a
descriptor kept open (L{open_source}: a L{PlainSource} read with C{pread},
or a L{GzipSource} decompressed as a stream).

Identity.  A file is known by C{(st_dev, st_ino)} and by a I{fingerprint}:
the SHA-256 of its first C{fingerprint_length} bytes (up to 1024, counted
in decompressed bytes for C{.gz}).  A young file's fingerprint grows as
the file is read, so it always covers what was read (up to the limit).
Another file I{matches} an identity if its first C{fingerprint_length}
bytes hash to the fingerprint.  A match on inode and fingerprint together
is the same file (renamed, or not moved).  A match on the fingerprint alone
is the same content under another inode: compressed (C{.gz}), or copied by
copytruncate.  An inode match with a different fingerprint is a new file
that reuses the inode.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import zlib
from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any

from logship.tailer.followstate import FileIdentity
from logship.tailer.rotated import scan_rotated

#: How many bytes from the start of a file its fingerprint covers.
FINGERPRINT_SIZE = 1024

#: How far back from the end L{last_line_end} looks for the last line end.
_START_AT_END_WINDOW = 1 << 16


class Fingerprint:
    """
    A running SHA-256 over the first bytes of a file, up to C{limit}.

    @ivar limit: how many bytes it covers at most.
    @ivar length: how many bytes it covers now.
    """

    def __init__(self, head: bytes, limit: int) -> None:
        """
        @param head: the file's first bytes (all of them are covered, even
            beyond C{limit}).
        @param limit: how many bytes to cover at most as the file is read.
        """
        self.limit = max(limit, len(head))
        self._hash = hashlib.sha256(head)
        self.length = len(head)

    def extend(self, start: int, data: bytes) -> None:
        """
        Feed bytes read at C{start}; only the part that continues the
        covered prefix, up to the limit, is used.
        """
        if self.length >= self.limit:
            return
        if start <= self.length < start + len(data):
            piece = data[self.length - start : self.limit - start]
            self._hash.update(piece)
            self.length += len(piece)

    def hexdigest(self) -> str:
        """
        The fingerprint: hex SHA-256 of the C{length} bytes covered.
        """
        return self._hash.hexdigest()

    def matches(self, head: bytes) -> bool:
        """
        Whether C{head} (the file's first bytes now) starts with the
        covered prefix.
        """
        return (
            len(head) >= self.length
            and hashlib.sha256(head[: self.length]).hexdigest() == self.hexdigest()
        )


def _matches(head: bytes | None, identity: FileIdentity) -> bool:
    """
    Whether a file whose first bytes are C{head} has C{identity}'s
    fingerprint.
    """
    if head is None:
        return False
    length = identity.fingerprint_length
    return (
        len(head) >= length
        and hashlib.sha256(head[:length]).hexdigest() == identity.fingerprint
    )


class Candidate:
    """
    A file found where a generation of the log may be: a rotated name, or
    the live path.  Its first bytes are read on demand, once.

    @ivar path: where it was found.
    @ivar gz: whether it is gzip-compressed.
    @ivar dev: its C{st_dev} when it was listed.
    @ivar inode: its C{st_ino}, likewise.
    @ivar size: its C{st_size}, likewise (compressed bytes for C{.gz}).
    @ivar live: whether it is the live path (not a rotated name).
    """

    def __init__(
        self, path: Path, gz: bool, result: os.stat_result, live: bool
    ) -> None:
        """
        @param result: its C{os.stat} result when it was listed.
        """
        self.path = path
        self.gz = gz
        self.dev = result.st_dev
        self.inode = result.st_ino
        self.size = result.st_size
        self.live = live
        self._head: bytes | None = None
        self._head_read = 0

    def head(self, size: int) -> bytes | None:
        """
        The first C{size} bytes (fewer if the file is shorter), decompressed;
        C{None} if the file cannot be read.
        """
        if self._head_read < size:
            self._head_read = size
            try:
                if self.gz:
                    with gzip.open(self.path, "rb") as f:
                        self._head = _read_up_to(f, size)
                else:
                    with open(self.path, "rb") as f:
                        self._head = f.read(size)
            except (OSError, EOFError, zlib.error):
                self._head = None
        return self._head

    def matches(self, identity: FileIdentity) -> bool:
        """
        Whether this file's first bytes have C{identity}'s fingerprint (the
        inode is not compared).
        """
        return _matches(
            self.head(max(identity.fingerprint_length, FINGERPRINT_SIZE)), identity
        )

    def identity(self, fingerprint_size: int) -> FileIdentity:
        """
        This file's identity (fingerprint of what it holds now).
        """
        head = self.head(fingerprint_size) or b""
        head = head[:fingerprint_size]
        return FileIdentity(
            self.dev, self.inode, hashlib.sha256(head).hexdigest(), len(head)
        )


def _read_up_to(f: Any, size: int) -> bytes:
    """
    Read C{size} bytes from C{f}, fewer only at its end.
    """
    chunks = []
    left = size
    while left > 0:
        chunk = f.read(left)
        if not chunk:
            break
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


def scan_generations(path: Path, include_live: bool = True) -> list[Candidate]:
    """
    The generations of C{path}, oldest first: rotated files, then the live
    path (if it exists and C{include_live}).

    @param path: the configured (live) path of the log file.
    """
    candidates = [
        Candidate(found.path, found.gz, found.stat, live=False)
        for found in scan_rotated(path)
    ]
    if include_live:
        try:
            result = os.stat(path)
        except FileNotFoundError:
            pass
        else:
            candidates.append(Candidate(path, False, result, live=True))
    return candidates


def locate(
    candidates: list[Candidate],
    identity: FileIdentity,
    offset: int,
    start: int,
    *,
    exclude: tuple[int, int] | None = None,
    trust_inode: bool = True,
) -> int | None:
    """
    Find the file with C{identity} among C{candidates}.

    First by inode and fingerprint (the file itself), then by fingerprint
    alone (a compressed or copied version; the oldest such).  Candidates
    from C{start} on are searched first, then the others.  A plain file
    shorter than C{offset} is not it.  An identity with no fingerprint is
    found by inode only.

    @param exclude: C{(dev, inode)} of a file that is not it (the live file
        after a truncation).
    @param trust_inode: C{False} skips the search by inode.  Use it for a
        file no longer held open whose fingerprint is short (a young file).
        Its inode may have gone to a new file that starts with the same few
        bytes (ext4 reuses inodes at once).  A copytruncated file may also
        have been rewritten with them.  The oldest fingerprint match after
        the previous file is then the right one, or an older one
        (duplicates rather than loss).
    @return: the index, or C{None}.
    """
    order = list(range(start, len(candidates))) + list(range(0, start))

    def eligible(c: Candidate) -> bool:
        return (c.dev, c.inode) != exclude and (c.gz or c.size >= offset)

    wanted = (identity.dev, identity.inode)
    if trust_inode:
        for i in order:
            c = candidates[i]
            if (c.dev, c.inode) == wanted and eligible(c) and c.matches(identity):
                return i
    if identity.fingerprint_length == 0:
        return None
    for i in order:
        c = candidates[i]
        if eligible(c) and c.matches(identity):
            return i
    return None


class Source(ABC):
    """
    An open file being read, through a descriptor kept open.

    @ivar name: where the file was last seen.
    @ivar dev: its C{st_dev} (of the C{.gz} file when compressed).
    @ivar inode: its C{st_ino}, likewise.
    @ivar fingerprint: the fingerprint of its first bytes, extended as it
        is read.
    @ivar position: bytes consumed from the file (returned, or waiting as a
        partial line).
    @ivar skip: bytes still to skip to reach the starting offset (only
        compressed files, which cannot seek).
    @ivar seen_size: the largest size seen for the file.
    @ivar broken: whether it could not be read further (a corrupt
        compressed file): it ends there.
    @ivar tail: the last bytes consumed, just before C{position}.
    """

    def __init__(
        self, name: Path, dev: int, inode: int, fingerprint: Fingerprint
    ) -> None:
        self.name = name
        self.dev = dev
        self.inode = inode
        self.fingerprint = fingerprint
        self.position = 0
        self.skip = 0
        self.seen_size = 0
        self.broken = False
        self.tail = b""

    def identity(self) -> FileIdentity:
        """
        The identity of this file (its fingerprint so far).
        """
        return FileIdentity(
            self.dev,
            self.inode,
            self.fingerprint.hexdigest(),
            self.fingerprint.length,
        )

    @abstractmethod
    def read(self, size: int) -> bytes:
        """
        Read at most C{size} bytes at C{position}; C{b""} at the end.  Does
        not advance C{position}: the caller does, as it consumes the bytes.
        """

    @abstractmethod
    def close(self) -> None:
        """
        Close the file.
        """


class PlainSource(Source):
    """
    A plain file, read with C{pread} at C{position}.

    @ivar fd: the open descriptor.
    @ivar last_key: C{(size, mtime_ns)} at the last identity check.
    @ivar checked_at: the poll number of the last full identity check.
    """

    def __init__(
        self,
        name: Path,
        fd: int,
        result: os.stat_result,
        fingerprint: Fingerprint,
    ) -> None:
        super().__init__(name, result.st_dev, result.st_ino, fingerprint)
        self.fd = fd
        self.seen_size = result.st_size
        self.last_key = (result.st_size, result.st_mtime_ns)
        self.checked_at = 0

    def read(self, size: int) -> bytes:
        data = os.pread(self.fd, size, self.position)
        self.seen_size = max(self.seen_size, self.position + len(data))
        return data

    def close(self) -> None:
        os.close(self.fd)

    def rewritten(self, size: int) -> bool:
        """
        Whether the file, now C{size} bytes long, no longer holds what was
        read at its place: it shrank below C{position}, or its first bytes
        or the bytes just before C{position} changed.
        """
        position = self.position
        if size < position:
            return True
        fingerprint = self.fingerprint
        length = fingerprint.length
        if length and not fingerprint.matches(os.pread(self.fd, length, 0)):
            return True
        tail = self.tail
        return bool(tail) and os.pread(self.fd, len(tail), position - len(tail)) != tail


class GzipSource(Source):
    """
    A gzip-compressed rotated file, decompressed as a stream; positions
    count decompressed bytes.
    """

    def __init__(
        self,
        name: Path,
        raw: Any,
        result: os.stat_result,
        fingerprint: Fingerprint,
    ) -> None:
        super().__init__(name, result.st_dev, result.st_ino, fingerprint)
        self._raw = raw
        self._stream = gzip.GzipFile(fileobj=raw, mode="rb")

    def read(self, size: int) -> bytes:
        data = self._stream.read(size)
        self.seen_size = max(self.seen_size, self.position + len(data))
        return data

    def close(self) -> None:
        self._stream.close()
        self._raw.close()


def open_source(
    candidate: Candidate, offset: int, fingerprint_size: int, poll: int
) -> Source:
    """
    Open C{candidate} to read from C{offset}.

    A plain file is read from C{offset} at once; a compressed one from its
    start, with C{offset} bytes to skip.

    @param fingerprint_size: bytes covered by the fingerprint.
    @param poll: the caller's poll number, recorded as a plain file's last
        identity check.
    @raise OSError: if the file cannot be opened (C{FileNotFoundError} if
        it vanished).
    """
    if candidate.gz:
        source: Source = _open_gzip(candidate.path, fingerprint_size)
        source.skip = offset
        source.position = 0
        return source
    plain = _open_plain(candidate.path, offset, fingerprint_size)
    plain.checked_at = poll
    return plain


def _open_plain(name: Path, offset: int, fingerprint_size: int) -> PlainSource:
    """
    Open a plain file at C{offset}, with its fingerprint and the bytes
    before C{offset} (for L{PlainSource.rewritten}).
    """
    fd = os.open(name, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
    try:
        result = os.fstat(fd)
        head = os.pread(fd, fingerprint_size, 0)
        start = max(0, offset - fingerprint_size)
        tail = os.pread(fd, offset - start, start)
    except BaseException:
        os.close(fd)
        raise
    source = PlainSource(name, fd, result, Fingerprint(head, fingerprint_size))
    source.position = offset
    source.tail = tail
    return source


def _open_gzip(name: Path, fingerprint_size: int) -> GzipSource:
    """
    Open a compressed file at its start, with the fingerprint of its first
    decompressed bytes (none if they cannot be decompressed).
    """
    raw = open(name, "rb")
    try:
        result = os.fstat(raw.fileno())
        try:
            with gzip.open(name, "rb") as head_file:
                head = _read_up_to(head_file, fingerprint_size)
        except (OSError, EOFError, zlib.error):
            head = b""
        return GzipSource(name, raw, result, Fingerprint(head, fingerprint_size))
    except BaseException:
        raw.close()
        raise


def last_line_end(fd: int) -> int:
    """
    The offset just after the last LF near the end of the file (its size if
    there is none in the last 64 KiB).
    """
    size = os.fstat(fd).st_size
    start = max(0, size - _START_AT_END_WINDOW)
    tail = os.pread(fd, size - start, start)
    end = tail.rfind(b"\n")
    if end < 0:
        # No line end: the whole file is one unfinished line (read it when
        # it ends), or the last line is longer than the window (skip it).
        return 0 if start == 0 else size
    return start + end + 1
