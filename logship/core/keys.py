"""Key files: the lab's shared cluster key, and the signing keys of an authority and of nodes.

Every key file is text.  Secret keys are written with mode 0600, never
over an existing file, and refused when readable by group or others.

  - A I{cluster key} (lab mode, C{logship keygen FILE}): one line, a
    32-byte NaCl C{SecretBox} key in base64.
  - A I{signing key} (C{logship keygen --authority FILE}, C{logship keygen
    --node FILE}): one line C{logship-KIND-secret BASE64} holding the
    32-byte Ed25519 seed, and beside it C{FILE.pub}, one line
    C{logship-KIND-public BASE64} holding the 32-byte verify key, where KIND
    is C{authority} or C{node}.  A public file may hold several lines (the
    authorities a node trusts while one is being replaced); blank lines and
    lines starting with C{#} are ignored.
"""

from __future__ import annotations

import base64
import binascii
import enum
import os
import stat
from pathlib import Path

from nacl.secret import SecretBox
from nacl.signing import SigningKey
from nacl.utils import random

#: Size of an Ed25519 seed and of a verify key.
SIGNING_KEY_SIZE = 32


class KeyFileError(Exception):
    """
    A key file cannot be written or read; the message says which and why.
    """


class KeyKind(enum.StrEnum):
    """
    Whose signing key a file holds.
    """

    #: The cluster authority: it signs node credentials.
    AUTHORITY = "authority"
    #: A node: it proves its credential in each handshake.
    NODE = "node"


def _create_exclusive(path: Path, data: bytes, mode: int) -> None:
    """
    Write C{data} to a new file C{path} with C{mode}, fsynced.

    @raise KeyFileError: if C{path} exists or cannot be created.
    """
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    except FileExistsError:
        raise KeyFileError(f"{path}: already exists, not overwriting it") from None
    except OSError as e:
        raise KeyFileError(f"{path}: {e.strerror}") from None
    with os.fdopen(fd, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())


def _read_private(path: Path) -> bytes:
    """
    The content of a secret file, refused if group or others may read it.

    @raise KeyFileError: if missing or too open.
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
    return data


def _b64(text: bytes | str, size: int) -> bytes | None:
    try:
        value = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        return None
    return value if len(value) == size else None


def _labelled(line: str, label: str) -> bytes | None:
    """
    The signing key in a line C{LABEL BASE64}, or C{None} if the line has
    another label or does not hold a key.
    """
    found, _, value = line.partition(" ")
    return _b64(value.strip(), SIGNING_KEY_SIZE) if found == label else None


def write_new_key(path: Path) -> None:
    """
    Write a new random cluster key to C{path} with mode 0600.

    @raise KeyFileError: if C{path} exists (it is never overwritten) or
        cannot be created.
    """
    _create_exclusive(path, base64.b64encode(random(SecretBox.KEY_SIZE)) + b"\n", 0o600)


def read_key(path: Path) -> bytes:
    """
    Read a cluster key written by L{write_new_key}.

    @return: the 32-byte key.
    @raise KeyFileError: if the file is missing, readable by others, or does
        not hold a key.
    """
    key = _b64(_read_private(path).strip(), SecretBox.KEY_SIZE)
    if key is None:
        raise KeyFileError(
            f"{path}: not a logship key (expected {SecretBox.KEY_SIZE} bytes"
            " in base64 on one line)"
        )
    return key


def public_path(path: Path) -> Path:
    """
    Where the public half of the signing key file C{path} goes: C{PATH.pub}.
    """
    return path.with_name(path.name + ".pub")


def public_line(kind: KeyKind, verify_key: bytes) -> str:
    """
    The line of a public key file for C{verify_key} (without a newline).
    """
    return f"logship-{kind}-public {base64.b64encode(verify_key).decode()}"


def write_new_signing_key(path: Path, kind: KeyKind) -> bytes:
    """
    Make a new Ed25519 signing key: its secret in C{path} (mode 0600), its
    verify key in C{PATH.pub} (mode 0644).

    @return: the verify key (32 bytes).
    @raise KeyFileError: if either file exists or cannot be created (the
        secret is not left behind without its public half).
    """
    public = public_path(path)
    if public.exists():
        raise KeyFileError(f"{public}: already exists, not overwriting it")
    key = SigningKey.generate()
    secret = f"logship-{kind}-secret {base64.b64encode(bytes(key)).decode()}\n"
    _create_exclusive(path, secret.encode(), 0o600)
    verify_key = bytes(key.verify_key)
    try:
        _create_exclusive(public, (public_line(kind, verify_key) + "\n").encode(), 0o644)
    except KeyFileError:
        path.unlink()
        raise
    return verify_key


def read_signing_key(path: Path, kind: KeyKind) -> SigningKey:
    """
    Read a signing key written by L{write_new_signing_key}.

    @raise KeyFileError: if the file is missing, readable by others, or
        not a signing key of that kind.
    """
    text = _read_private(path).decode("ascii", "replace").strip()
    seed = _labelled(text, f"logship-{kind}-secret")
    if seed is None:
        raise KeyFileError(
            f"{path}: not a logship {kind} secret key (made by"
            f" `logship keygen --{kind} FILE`)"
        )
    return SigningKey(seed)


def read_public_keys(path: Path, kind: KeyKind) -> list[bytes]:
    """
    Read the verify keys of a public key file (one or more lines).

    @return: the 32-byte verify keys, in file order, without duplicates.
    @raise KeyFileError: if the file is missing, holds no key, or a line
        is not a public key of that kind.
    """
    try:
        text = path.read_text(encoding="ascii", errors="replace")
    except OSError as e:
        raise KeyFileError(f"{path}: {e.strerror}") from None
    keys: list[bytes] = []
    for number, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        key = _labelled(line, f"logship-{kind}-public")
        if key is None:
            raise KeyFileError(
                f"{path}:{number}: not a logship {kind} public key"
                f" (expected `logship-{kind}-public BASE64`)"
            )
        if key not in keys:
            keys.append(key)
    if not keys:
        raise KeyFileError(f"{path}: holds no {kind} public key")
    return keys
