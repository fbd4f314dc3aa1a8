"""Which buckets a buck deleted because the porter archived them.

A tailer keeps its local copy of a bucket until the buck that took its
upload says the bucket was archived with that upload in it
(C{docs/porter.md}, "Deleting").  The buck can only say so if it remembers:
L{ArchivedRecord} is that memory, a set of bucket starts kept in one small
append-only file, C{DATA/archived}::

    +1795680000     bucket 1795680000 was archived and its file deleted
    -1795680000     the bucket got events again (a late batch, an upload)

Each change is one appended line, flushed before the buck answers; at
start the file is replayed, entries older than the keeping period are
dropped and the file is rewritten (atomically) when that shrinks it.
"""

from __future__ import annotations

import os
from pathlib import Path

from twisted.logger import Logger

#: Seconds an archived start is remembered (a tailer that stays away longer
#: keeps its copies until its own age and size limits delete them).
DEFAULT_KEEP_SECONDS = 30 * 86400

ARCHIVED_FILE = "archived"


class ArchivedRecord:
    """
    The starts of the buckets that were archived and deleted, on disk.

    @ivar path: the record's file.
    """

    _log = Logger()

    def __init__(self, path: Path, now: float, keep_seconds: float = DEFAULT_KEEP_SECONDS) -> None:
        """
        Load the record at C{path} (empty if there is none), forgetting the
        starts older than C{now - keep_seconds}.

        @raise OSError: if the file cannot be read or rewritten.
        """
        self.path = path
        self._starts: set[int] = set()
        lines = self._replay(now - keep_seconds)
        if lines > len(self._starts):
            self._rewrite()
        self._file = open(path, "a", encoding="ascii")

    def _replay(self, oldest: float) -> int:
        try:
            text = self.path.read_text(encoding="ascii", errors="replace")
        except FileNotFoundError:
            return 0
        lines = text.splitlines()
        for number, line in enumerate(lines, 1):
            sign, digits = line[:1], line[1:]
            if sign not in "+-" or not digits.isdigit():
                # A torn last line (a crash mid-append) or damage: skip it.
                self._log.warn(
                    "{path}:{number}: ignored a malformed line {line!r}",
                    path=str(self.path),
                    number=number,
                    line=line[:40],
                )
                continue
            start = int(digits)
            if sign == "+" and start >= oldest:
                self._starts.add(start)
            else:
                self._starts.discard(start)
        return len(lines)

    def _rewrite(self) -> None:
        temporary = self.path.with_name(self.path.name + ".new")
        with open(temporary, "w", encoding="ascii") as out:
            out.writelines(f"+{start}\n" for start in sorted(self._starts))
            out.flush()
            os.fsync(out.fileno())
        os.replace(temporary, self.path)

    def __contains__(self, start: object) -> bool:
        return start in self._starts

    def __len__(self) -> int:
        return len(self._starts)

    def add(self, start: int) -> None:
        """
        Remember that bucket C{start} was archived and deleted.
        """
        if start not in self._starts:
            self._append(f"+{start}\n")
            self._starts.add(start)

    def discard(self, start: int) -> None:
        """
        Forget C{start}: the bucket holds events that were not archived.
        """
        if start in self._starts:
            self._append(f"-{start}\n")
            self._starts.discard(start)

    def _append(self, line: str) -> None:
        self._file.write(line)
        self._file.flush()

    def close(self) -> None:
        """
        Close the file.
        """
        self._file.close()
