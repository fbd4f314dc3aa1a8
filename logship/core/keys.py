"""Cluster keys: NaCl SecretBox keys kept in files readable by their owner only.

A key file holds one line: the 32-byte key in base64.
"""

from __future__ import annotations

import base64
import binascii
import os
import stat
from pathlib import Path

from nacl.secret import SecretBox
from nacl.utils import random


class KeyFileError(Exception):
    """
    A key file cannot be written or read; the message says which and why.
    """


def write_new_key(path: Path) -> None:
    """
    Write a new random cluster key to C{path} with mode 0600.

    @raise KeyFileError: if C{path} exists (it is never overwritten) or
        cannot be created.
    """
    line = base64.b64encode(random(SecretBox.KEY_SIZE)) + b"\n"
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise KeyFileError(f"{path}: already exists, not overwriting it") from None
    except OSError as e:
        raise KeyFileError(f"{path}: {e.strerror}") from None
    with os.fdopen(fd, "wb") as f:
        f.write(line)
        f.flush()
        os.fsync(f.fileno())


def read_key(path: Path) -> bytes:
    """
    Read a cluster key written by L{write_new_key}.

    @return: the 32-byte key.
    @raise KeyFileError: if the file is missing, readable by others, or does
        not hold a key.
    """
    try:
        mode = path.stat().st_mode
        data = path.read_bytes()
    except OSError as e:
        raise KeyFileError(f"{path}: {e.strerror}") from None
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise KeyFileError(
            f"{path}: readable by group or others (mode {stat.S_IMODE(mode):o});"
            " chmod 600 it"
        )
    try:
        key = base64.b64decode(data.strip(), validate=True)
    except binascii.Error:
        key = b""
    if len(key) != SecretBox.KEY_SIZE:
        raise KeyFileError(
            f"{path}: not a logship key (expected {SecretBox.KEY_SIZE} bytes"
            " in base64 on one line)"
        )
    return key
