"""The C{dir:PATH} archive: one file per object under a directory.

A put writes a temporary file beside the target (C{.NAME.RANDOM.tmp}: keys
never have a segment beginning with C{.}, so it cannot clash with one),
fsyncs it, renames it over the target, fsyncs the directory (and every
directory it had to create, in its parent), then reads the file back and
compares its sha256 with the data given.  Readers therefore see either the
old object or the new one, whole, and a put that succeeded survives a
crash of the machine.

The file I/O blocks (an fsync can take tens of milliseconds on a busy
disk, a history load reads many objects), so by default it runs in the
reactor's thread pool, one call per operation; the reactor thread only
waits on a Deferred.  Tests pass C{run=inline} to run it at once, in
order, with no thread and no running reactor.
"""

from __future__ import annotations

import errno
import os
import secrets
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from twisted.internet.defer import Deferred, maybeDeferred, succeed
from twisted.logger import Logger
from zope.interface import implementer

from logship.archive import ArchiveError, IArchive, MissingObject, check_key, verify

T = TypeVar("T")

#: Runs a blocking callable and gives its result as a Deferred.
Runner = Callable[[Callable[[], Any]], Deferred[Any]]


def inline(work: Callable[[], T]) -> Deferred[T]:
    """
    A L{Runner} that runs C{work} at once, on the calling thread.
    """
    return maybeDeferred(work)


def thread_runner(reactor: Any) -> Runner:
    """
    A L{Runner} that runs each call in C{reactor}'s thread pool.
    """
    from twisted.internet.threads import deferToThreadPool

    def run(work: Callable[[], T]) -> Deferred[T]:
        return deferToThreadPool(reactor, reactor.getThreadPool(), work)

    return run


def _fsync_directory(path: Path) -> None:
    """
    fsync a directory, so that the entries made in it are durable.
    """
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@implementer(IArchive)
class DirArchive:
    """
    An archive of files under a root directory (created if needed).

    @ivar root: the root directory.
    """

    _log = Logger()

    def __init__(
        self,
        root: str | os.PathLike[str],
        *,
        reactor: Any = None,
        run: Runner | None = None,
        after_write: Callable[[Path], object] | None = None,
    ) -> None:
        """
        @param root: the directory.
        @param reactor: whose thread pool runs the file I/O (default: the
            global reactor); unused when C{run} is given.
        @param run: how blocking work runs (default: L{thread_runner} of
            C{reactor}; L{inline} for tests).
        @param after_write: called with the file's path between the rename
            and the read-back (tests use it to change the file).
        """
        self.root = Path(root)
        if run is None:
            if reactor is None:
                from twisted.internet import reactor as global_reactor

                reactor = global_reactor
            run = thread_runner(reactor)
        self._run = run
        self._after_write = after_write

    def __repr__(self) -> str:
        return f"DirArchive({str(self.root)!r})"

    def _path(self, key: str) -> Path:
        return self.root.joinpath(*check_key(key).split("/"))

    def put(self, key: str, data: bytes) -> Deferred[None]:
        """
        Write, fsync, rename, fsync the directory, read back and verify.
        See L{IArchive.put}.
        """
        path = self._path(key)
        data = bytes(data)
        return self._run(lambda: self._put(key, path, data))

    def _makedirs(self, directory: Path) -> None:
        """
        Create C{directory} and its missing parents, fsyncing the parent of
        each one created.
        """
        missing = []
        while not directory.is_dir():
            missing.append(directory)
            directory = directory.parent
        for new in reversed(missing):
            try:
                new.mkdir()
            except FileExistsError:
                if not new.is_dir():
                    raise
            _fsync_directory(new.parent)

    def _put(self, key: str, path: Path, data: bytes) -> None:
        try:
            self._makedirs(path.parent)
            temporary = path.with_name(f".{path.name}.{secrets.token_hex(6)}.tmp")
            try:
                with open(temporary, "xb") as f:
                    f.write(data)
                    f.flush()
                    os.fsync(f.fileno())
                os.replace(temporary, path)
            except BaseException:
                temporary.unlink(missing_ok=True)
                raise
            _fsync_directory(path.parent)
        except OSError as e:
            raise ArchiveError(f"dir put of {key!r} into {self.root} failed: {e}") from e
        if self._after_write is not None:
            self._after_write(path)
        try:
            got = path.read_bytes()
        except OSError as e:
            raise ArchiveError(f"dir put of {key!r}: reading it back failed: {e}") from e
        verify("dir", key, data, got)
        self._log.debug("Archived {key} ({size} bytes) in {root}", key=key, size=len(data), root=str(self.root))

    def get(self, key: str) -> Deferred[bytes]:
        """
        See L{IArchive.get}.
        """
        path = self._path(key)

        def read() -> bytes:
            try:
                return path.read_bytes()
            except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
                raise MissingObject(key) from None
            except OSError as e:
                raise ArchiveError(f"dir get of {key!r} failed: {e}") from e

        return self._run(read)

    def exists(self, key: str) -> Deferred[bool]:
        """
        See L{IArchive.exists}.
        """
        path = self._path(key)
        return self._run(path.is_file)

    def keys(self, prefix: str = "") -> Deferred[list[str]]:
        """
        See L{IArchive.keys}.  Only the directory that holds the prefix's
        complete segments is walked.  Temporary files are not keys.
        """
        check_key(prefix, prefix=True)
        head = prefix.rsplit("/", 1)[0] if "/" in prefix else ""
        start = self.root.joinpath(*head.split("/")) if head else self.root

        def walk() -> list[str]:
            found = []
            on_error = _raise_unless_missing
            for directory, subdirectories, files in os.walk(start, onerror=on_error):
                subdirectories[:] = [d for d in subdirectories if not d.startswith(".")]
                relative = Path(directory).relative_to(self.root).as_posix()
                base = "" if relative == "." else relative + "/"
                for name in files:
                    key = base + name
                    if not name.startswith(".") and key.startswith(prefix):
                        found.append(key)
            found.sort()
            return found

        return self._run(walk)

    def delete(self, key: str) -> Deferred[None]:
        """
        See L{IArchive.delete}.  Empty directories are left in place (a
        concurrent put may be about to write into one).
        """
        path = self._path(key)

        def remove() -> None:
            try:
                path.unlink(missing_ok=True)
                _fsync_directory(path.parent)
            except FileNotFoundError:
                pass
            except OSError as e:
                raise ArchiveError(f"dir delete of {key!r} failed: {e}") from e

        return self._run(remove)

    def close(self) -> Deferred[None]:
        """
        Nothing to release.
        """
        return succeed(None)


def _raise_unless_missing(error: OSError) -> None:
    """
    C{os.walk}'s error handler: a missing directory lists nothing, any
    other error fails the listing.
    """
    if error.errno not in (errno.ENOENT, errno.ENOTDIR):
        raise ArchiveError(f"dir listing failed: {error}")
