"""A follower's saved state: which file it reads and where, in a versioned JSON form.

Pure values, no I/O.  A L{logship.tailer.follow.Follower} returns a
L{FollowState} with every poll; the tailer service saves its
L{FollowState.to_json} form in the checkpoint once the lines it covers are
stored, and builds the next follower from L{FollowState.from_json} after a
restart.  The JSON layout (C{docs/rotation.md}, "State format") carries
C{"version": STATE_VERSION}; a state of another version is refused.

A file is named by its L{FileIdentity}: inode and fingerprint.  How
identities are computed and matched against the files on disk is
L{logship.tailer.sources}' job.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

#: The version of L{FollowState.to_json}'s format (version 1, without
#: C{file}, is read as file number 0).
STATE_VERSION = 2


@dataclass(frozen=True, slots=True)
class FileIdentity:
    """
    What tells one file from another.

    @ivar dev: C{st_dev} of the file (of the C{.gz} file when compressed).
    @ivar inode: C{st_ino}, likewise.
    @ivar fingerprint: hex SHA-256 of the first C{fingerprint_length} bytes
        (decompressed).
    @ivar fingerprint_length: how many bytes the fingerprint covers; C{0}
        when nothing was read: such an identity matches any content, and only
        the inode tells it.
    """

    dev: int
    inode: int
    fingerprint: str
    fingerprint_length: int

    def to_json(self) -> dict[str, Any]:
        """
        A JSON-compatible dict of this identity.
        """
        return {
            "dev": self.dev,
            "inode": self.inode,
            "fingerprint": self.fingerprint,
            "fingerprint_length": self.fingerprint_length,
        }

    @classmethod
    def from_json(cls, data: Any) -> FileIdentity:
        """
        Read what L{to_json} wrote.

        @raise ValueError: if C{data} is not such a dict.
        """
        if not isinstance(data, Mapping):
            raise ValueError("file identity: not an object")
        return cls(
            dev=_get_int(data, "dev"),
            inode=_get_int(data, "inode"),
            fingerprint=_get_str(data, "fingerprint"),
            fingerprint_length=_get_int(data, "fingerprint_length"),
        )


@dataclass(frozen=True, slots=True)
class FollowState:
    """
    Where a L{logship.tailer.follow.Follower} is, to persist after the lines
    it returned are stored, and to build a follower from after a restart.

    The fields C{dev}, C{inode}, C{fingerprint} and C{fingerprint_length}
    identify the file being read (see L{FileIdentity}).  C{inode == 0}
    means no file is open: read whatever comes after C{previous}.

    @ivar path: the configured path (the key; not necessarily where the file
        is now).
    @ivar offset: bytes of the file returned as lines (decompressed for
        C{.gz}); the next line starts there.
    @ivar size: the largest size seen for the file, or C{None}; only used to
        say how much may be lost if the file disappears.
    @ivar name: where the file was last seen (for log messages only).
    @ivar previous: the last file finished, or on a first start the newest
        rotated file then present; C{None} if there was none.  Files after
        it are unread.
    @ivar extra: the caller's data, kept with the offset (the point
        sequencer's state); JSON-compatible.
    @ivar file: the number of the file this state is about: C{0} for the
        first file followed, one more for each file moved to after it (a
        copytruncate copy keeps the number of the file it copies).  With
        C{inode == 0}, the number the next file opened will get.
    """

    path: str
    dev: int
    inode: int
    fingerprint: str
    fingerprint_length: int
    offset: int
    size: int | None = None
    name: str | None = None
    previous: FileIdentity | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    file: int = 0

    @property
    def identity(self) -> FileIdentity:
        """
        The identity of the file this state is about.
        """
        return FileIdentity(
            self.dev, self.inode, self.fingerprint, self.fingerprint_length
        )

    def with_extra(self, extra: Mapping[str, Any]) -> FollowState:
        """
        This state with C{extra} replaced (by a copy of C{extra}).
        """
        return replace(self, extra=dict(extra))

    def to_json(self) -> dict[str, Any]:
        """
        A JSON-compatible dict of this state (for L{save_checkpoint}).

        @see: L{logship.tailer.checkpoint.save_checkpoint}
        """
        return {
            "version": STATE_VERSION,
            "path": self.path,
            "dev": self.dev,
            "inode": self.inode,
            "fingerprint": self.fingerprint,
            "fingerprint_length": self.fingerprint_length,
            "offset": self.offset,
            "size": self.size,
            "name": self.name,
            "previous": None if self.previous is None else self.previous.to_json(),
            "extra": self.extra,
            "file": self.file,
        }

    @classmethod
    def from_json(cls, data: Any) -> FollowState:
        """
        Read what L{to_json} wrote.

        @raise ValueError: if C{data} is not a valid state; the message says
            what is wrong.
        """
        if not isinstance(data, Mapping):
            raise ValueError("follow state: not an object")
        version = data.get("version")
        if version not in (1, STATE_VERSION):
            raise ValueError(f"follow state: unknown version {version!r}")
        size = data.get("size")
        if size is not None and (type(size) is not int or size < 0):
            raise ValueError("follow state: 'size' must be a non-negative integer")
        name = data.get("name")
        if name is not None and not isinstance(name, str):
            raise ValueError("follow state: 'name' must be a string")
        previous = data.get("previous")
        extra = data.get("extra", {})
        if not isinstance(extra, Mapping):
            raise ValueError("follow state: 'extra' must be an object")
        try:
            previous_identity = (
                None if previous is None else FileIdentity.from_json(previous)
            )
        except ValueError as e:
            raise ValueError(f"follow state: 'previous': {e}") from None
        fingerprint_length = _get_int(data, "fingerprint_length")
        return cls(
            path=_get_str(data, "path"),
            dev=_get_int(data, "dev"),
            inode=_get_int(data, "inode"),
            fingerprint=_get_str(data, "fingerprint"),
            fingerprint_length=fingerprint_length,
            offset=_get_int(data, "offset"),
            size=size,
            name=name,
            previous=previous_identity,
            extra=dict(extra),
            file=0 if version == 1 else _get_int(data, "file"),
        )


def _get_int(data: Mapping[str, Any], key: str) -> int:
    value = data.get(key)
    if type(value) is not int or value < 0:
        raise ValueError(f"{key!r} must be a non-negative integer, not {value!r}")
    return value


def _get_str(data: Mapping[str, Any], key: str) -> str:
    value = data.get(key)
    if not isinstance(value, str):
        raise ValueError(f"{key!r} must be a string, not {value!r}")
    return value
