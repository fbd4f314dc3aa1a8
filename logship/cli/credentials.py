"""C{logship credential} and C{logship revoke}: issuing and revoking node credentials.

    logship keygen --authority authority.key        # once, off the cluster
    logship keygen --node web-1.key                 # on the node: web-1.key(.pub)
    logship credential --authority authority.key --public web-1.key.pub \\
        --node web-1 --role tailer --host 'web-*' [--days 365] web-1.cred
    logship revoke revoked.txt web-1.cred           # or --key web-1.key.pub

C{credential} signs the node's public key with its name, role, host
patterns (a tailer's) and validity into a credential file (not secret);
C{revoke} appends to a revocation list, which the nodes given it read
again when it changes (C{docs/security.md}).  Mistakes are a
L{CredentialCommandError} with the exit status.
"""

from __future__ import annotations

import argparse
import base64
import math
from pathlib import Path
from typing import TextIO

from logship.core.credentials import (
    CREDENTIAL_ROLES,
    CredentialError,
    decode_credential,
    issue_credential,
    parse_revocations,
    read_credential_file,
    revocation_line,
    write_credential,
)
from logship.core.keys import KeyFileError, KeyKind, read_public_keys, read_signing_key

#: Days a credential is valid by default.
DEFAULT_DAYS = 365.0


class CredentialCommandError(Exception):
    """
    A failure to report in one line, with the exit status.
    """

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


def add_credential_arguments(sub: argparse.ArgumentParser) -> None:
    """
    The arguments of C{logship credential}.
    """
    sub.add_argument("--authority", type=Path, required=True, metavar="FILE",
                     help="the authority's secret key (logship keygen --authority FILE)")
    sub.add_argument("--public", type=Path, required=True, metavar="FILE",
                     help="the node's public key (FILE.pub of logship keygen --node FILE)")
    sub.add_argument("--node", required=True, metavar="NAME", help="the node's name")
    sub.add_argument("--role", required=True, choices=CREDENTIAL_ROLES)
    sub.add_argument("--host", action="append", default=[], metavar="PATTERN",
                     help="a host a tailer may send events for, fnmatch patterns"
                     " allowed (web-*); repeatable; required for a tailer")
    sub.add_argument("--days", type=float, default=DEFAULT_DAYS,
                     help=f"days it is valid from now (default: {DEFAULT_DAYS:g})")
    sub.add_argument("path", type=Path, metavar="FILE", help="the credential file to write")


def add_revoke_arguments(sub: argparse.ArgumentParser) -> None:
    """
    The arguments of C{logship revoke}.
    """
    sub.add_argument("list", type=Path, metavar="LIST",
                     help="the revocation list (created if missing)")
    sub.add_argument("credentials", nargs="*", type=Path, metavar="CREDENTIAL",
                     help="credential files to revoke")
    sub.add_argument("--key", action="append", default=[], type=Path, metavar="FILE",
                     help="a node public key: revoke all its credentials (repeatable)")


def issue(args: argparse.Namespace, now: float, err: TextIO) -> int:
    """
    C{logship credential}: sign a node's public key into a credential file.

    @param now: the time now, epoch seconds (the start of its validity).
    @raise CredentialCommandError: on a bad file or value.
    """
    try:
        authority = read_signing_key(args.authority, KeyKind.AUTHORITY)
        (key,) = read_public_keys(args.public, KeyKind.NODE)[:1]
    except KeyFileError as e:
        raise CredentialCommandError(str(e), 1) from None
    if not 0 < args.days <= 36500 or math.isnan(args.days):
        raise CredentialCommandError("--days: from more than 0 to 36500", 2)
    issued = int(now)
    try:
        credential = issue_credential(
            authority,
            node=args.node,
            role=args.role,
            key=key,
            hosts=args.host,
            issued=issued,
            expires=issued + int(args.days * 86400),
        )
    except ValueError as e:
        raise CredentialCommandError(str(e), 2) from None
    try:
        write_credential(args.path, credential)
    except FileExistsError:
        raise CredentialCommandError(f"{args.path}: already exists, not overwriting it", 1) from None
    except OSError as e:
        raise CredentialCommandError(f"{args.path}: {e.strerror}", 1) from None
    print(f"wrote {args.path}: {credential.describe()}", file=err)
    return 0


def revoke(args: argparse.Namespace, err: TextIO) -> int:
    """
    C{logship revoke}: append credentials (by serial) and node keys to a
    revocation list.

    @raise CredentialCommandError: on a bad file, or nothing to revoke.
    """
    if not args.credentials and not args.key:
        raise CredentialCommandError("nothing to revoke: give CREDENTIAL files or --key", 2)
    lines = []
    for path in args.credentials:
        try:
            credential = decode_credential(read_credential_file(path))
        except (OSError, ValueError) as e:
            raise CredentialCommandError(str(e), 1) from None
        except CredentialError as e:
            raise CredentialCommandError(f"{path}: {e.detail}", 1) from None
        lines.append(revocation_line(credential))
    for path in args.key:
        try:
            keys = read_public_keys(path, KeyKind.NODE)
        except KeyFileError as e:
            raise CredentialCommandError(str(e), 1) from None
        lines += [f"key {base64.b64encode(k).decode()}  # {path.name}" for k in keys]
    try:
        existing = args.list.read_text(encoding="utf-8") if args.list.exists() else ""
        parse_revocations(existing)
    except (OSError, ValueError) as e:
        raise CredentialCommandError(f"{args.list}: {e}", 1) from None
    text = "".join(f"{line}\n" for line in lines)
    if existing and not existing.endswith("\n"):
        text = "\n" + text
    try:
        with open(args.list, "a", encoding="utf-8") as f:
            f.write(text)
    except OSError as e:
        raise CredentialCommandError(f"{args.list}: {e.strerror}", 1) from None
    print(f"revoked {len(lines)} in {args.list}", file=err)
    return 0
