"""The tailer's checkpoint file: JSON, replaced atomically.

L{save_checkpoint} writes a temporary file in the same directory, flushes
and fsyncs it, renames it over the checkpoint, and fsyncs the directory.
After a crash, the checkpoint is therefore either the old one or the new
one, never a mix of both.  A temporary file left behind by a crash is
ignored by L{load_checkpoint} and removed by L{discard_temporaries}.  One
save costs two fsyncs, which is cheap enough a few times per second.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

#: Temporary files are named C{.NAME.<random>.tmp} next to the checkpoint.
_TEMP_SUFFIX = ".tmp"


class CheckpointError(Exception):
    """
    A checkpoint exists but cannot be used.

    @ivar path: the checkpoint file.
    @ivar reason: what is wrong with it.
    """

    def __init__(self, path: Path, reason: str) -> None:
        super().__init__(f"checkpoint {str(path)!r} is unusable: {reason}")
        self.path = path
        self.reason = reason


def save_checkpoint(
    path: str | os.PathLike[str], data: Mapping[str, Any], *, fsync: bool = True
) -> None:
    """
    Replace the checkpoint at C{path} with C{data}, atomically.

    @param data: a JSON-compatible mapping (e.g. built from
        L{logship.tailer.followstate.FollowState.to_json}).
    @param fsync: flush the file and the directory to disk (turn off only
        where durability does not matter, e.g. for C{live} sources).
    @raise OSError: if it cannot be written; the old checkpoint is then
        unchanged.
    @raise TypeError: if C{data} is not JSON-compatible.
    """
    target = Path(path)
    payload = json.dumps(data, sort_keys=True, separators=(",", ":")).encode(
        "utf-8"
    )
    directory = target.parent
    fd, temporary = tempfile.mkstemp(
        prefix=f".{target.name}.", suffix=_TEMP_SUFFIX, dir=directory
    )
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(payload + b"\n")
            f.flush()
            if fsync:
                os.fsync(f.fileno())
        os.replace(temporary, target)
    except BaseException:
        try:
            os.unlink(temporary)
        except FileNotFoundError:
            pass
        raise
    if fsync:
        _fsync_directory(directory)


def load_checkpoint(path: str | os.PathLike[str]) -> dict[str, Any] | None:
    """
    Read the checkpoint at C{path}.

    On L{CheckpointError}, the caller should log it, move the file aside
    (keep it for a post-mortem), and start over, re-reading its files from
    the beginning: duplicates are allowed and loss is not.

    @return: the saved mapping, or C{None} if there is no checkpoint.
    @raise CheckpointError: if the file cannot be read, or is not a JSON
        object; the message names the file and the problem.
    """
    source = Path(path)
    try:
        raw = source.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as e:
        raise CheckpointError(source, f"cannot be read ({e.strerror or e})") from e
    try:
        data = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as e:
        raise CheckpointError(source, f"not UTF-8 ({e})") from e
    except ValueError as e:
        raise CheckpointError(source, f"not valid JSON ({e})") from e
    if not isinstance(data, dict):
        raise CheckpointError(
            source, f"a JSON {type(data).__name__} instead of an object"
        )
    return data


def discard_temporaries(path: str | os.PathLike[str]) -> int:
    """
    Remove temporary files that crashed saves of the checkpoint at C{path}
    left behind.  Call it once at startup, before saving.

    @return: how many were removed.
    """
    target = Path(path)
    prefix = f".{target.name}."
    removed = 0
    try:
        names = os.listdir(target.parent)
    except FileNotFoundError:
        return 0
    for name in names:
        if name.startswith(prefix) and name.endswith(_TEMP_SUFFIX):
            try:
                os.unlink(target.parent / name)
            except FileNotFoundError:
                continue
            removed += 1
    return removed


def _fsync_directory(directory: Path) -> None:
    """
    Make a rename in C{directory} durable.
    """
    fd = os.open(directory, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
