"""Test helpers for credential mode: a fixed authority, node identities, credential files.

Keys come from fixed seeds (the same in every run); validity is from the
epoch (a L{twisted.internet.task.Clock} starts at 0) to L{FOREVER}.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Iterable
from pathlib import Path

from nacl.signing import SigningKey

from logship.core.credentials import (
    CredentialRole,
    Credentials,
    NodeIdentity,
    Revocations,
    Trust,
    issue_credential,
    write_credential,
)
from logship.core.keys import KeyKind, public_line

#: When test credentials expire: 2100-01-01.
FOREVER = 4102444800


def seeded_key(name: str) -> SigningKey:
    """
    A signing key derived from C{name} (the same in every run).
    """
    return SigningKey(hashlib.sha256(name.encode()).digest())


AUTHORITY = seeded_key("authority")
OTHER_AUTHORITY = seeded_key("another authority")


def identity(
    node: str,
    role: CredentialRole,
    hosts: Iterable[str] = (),
    *,
    authority: SigningKey = AUTHORITY,
    issued: int = 0,
    expires: int = FOREVER,
    key: SigningKey | None = None,
) -> NodeIdentity:
    """
    A node's identity: its key (seeded by its name) and a credential
    (whose serial is seeded by its fields).
    """
    key = key or seeded_key(f"node {node}")
    hosts = tuple(hosts)
    # The same fields give the same serial: tests can revoke "the"
    # credential of a node.
    seed = repr((node, role, hosts, issued, expires, bytes(authority.verify_key)))
    credential = issue_credential(
        authority,
        node=node,
        role=role,
        key=bytes(key.verify_key),
        hosts=hosts,
        issued=issued,
        expires=expires,
        serial=hashlib.sha256(seed.encode()).digest()[:16],
    )
    return NodeIdentity(key, credential)


def trust(*authorities: SigningKey, revocations: Revocations = Revocations()) -> Trust:
    """
    A L{Trust} of C{authorities} (the test authority by default).
    """
    return Trust([bytes(a.verify_key) for a in authorities or (AUTHORITY,)], revocations)


def credentials(
    node: str, role: CredentialRole, hosts: Iterable[str] = (), **kwargs: object
) -> Credentials:
    """
    L{Credentials} for a node trusting the test authority.
    """
    return Credentials(identity(node, role, hosts, **kwargs), trust())  # type: ignore[arg-type]


def write_node_files(directory: Path, ident: NodeIdentity) -> tuple[Path, Path]:
    """
    Write a node's secret key and credential files under C{directory}.

    @return: C{(node key file, credential file)}.
    """
    name = ident.credential.node
    key_file = directory / f"{name}.key"
    key_file.write_text(
        f"logship-node-secret {base64.b64encode(bytes(ident.signing_key)).decode()}\n"
    )
    key_file.chmod(0o600)
    credential_file = directory / f"{name}.cred"
    write_credential(credential_file, ident.credential)
    return key_file, credential_file


def write_authority_public(path: Path, *authorities: SigningKey) -> Path:
    """
    Write an authority public key file trusting C{authorities} (the test
    authority by default).
    """
    path.write_text(
        "".join(
            public_line(KeyKind.AUTHORITY, bytes(a.verify_key)) + "\n"
            for a in authorities or (AUTHORITY,)
        )
    )
    return path
