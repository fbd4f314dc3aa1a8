"""The revocation list file, reloaded when it changes.

A node in credential mode may be given a revocation list (C{--revoked
FILE}, format in L{logship.core.credentials.parse_revocations}).  Its
service calls L{RevocationFile.reload_if_changed} every few seconds (on
the injected clock): when the file's modification time, size or inode
changed, it is read again and the node's L{Trust} gets the new list, so a
revocation takes effect without a restart.  A list that no longer parses,
or a file that went away, keeps the last good list (a revocation is
never undone by a damaged file) and says why.
"""

from __future__ import annotations

import os
from pathlib import Path

from logship.core.credentials import Revocations, Trust, parse_revocations

#: Seconds between two looks at the revocation list file (and at the
#: credentials of open connections), by default.
DEFAULT_INTERVAL = 5.0


class RevocationFileError(Exception):
    """
    The revocation list cannot be read or parsed; the message says why.
    """


def read_revocations(path: Path) -> Revocations:
    """
    Read and parse a revocation list.

    @raise RevocationFileError: if it cannot be read or parsed.
    """
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError as e:
        raise RevocationFileError(f"{path}: {e.strerror}") from None
    try:
        return parse_revocations(text)
    except ValueError as e:
        raise RevocationFileError(f"{path}: {e}") from None


class RevocationFile:
    """
    A revocation list file feeding a L{Trust}.

    @ivar path: the file.
    """

    def __init__(self, path: Path, trust: Trust) -> None:
        """
        Read the list now and give it to C{trust}.

        @raise RevocationFileError: if it cannot be read or parsed.
        """
        self.path = path
        self._trust = trust
        self._seen = self._stamp()
        trust.revocations = read_revocations(path)

    def _stamp(self) -> tuple[int, int, int] | None:
        try:
            st = os.stat(self.path)
        except OSError:
            return None
        return (st.st_mtime_ns, st.st_size, st.st_ino)

    def reload_if_changed(self) -> bool:
        """
        Read the list again if the file changed since it was last read.

        @return: whether a new list was taken.
        @raise RevocationFileError: if the file changed but cannot be read
            or parsed (the trust keeps the last good list; the next call
            tries again only after another change).
        """
        stamp = self._stamp()
        if stamp == self._seen:
            return False
        self._seen = stamp
        if stamp is None:
            raise RevocationFileError(f"{self.path}: gone; keeping the last list read")
        revocations = read_revocations(self.path)
        self._trust.revocations = revocations
        return True
