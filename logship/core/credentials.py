"""Node credentials: what the cluster authority signs, and how a node checks one.

Pure code, no I/O but the credential files (see C{docs/security.md}).

A I{credential} is a statement of the cluster authority (an Ed25519 key
kept off the cluster, C{logship keygen --authority}): "the holder of node
key K is node N, role R, sending for hosts matching P..., from T1 until
T2".  Its bytes are the 64-byte authority signature, then the statement
as a msgpack map::

    signature(authority, CONTEXT || body) || body
    body = {"v": 1, "serial": bin 16, "node": str, "role": str,
            "hosts": [str], "key": bin 32, "issued": int, "expires": int,
            "authority": bin 32}

Decoding is strict (exact keys and types, bounded sizes), so a credential
either parses into a L{Credential} or raises L{CredentialError}.  A
L{Trust} holds the authorities' verify keys a node accepts and the
L{Revocations} it knows, and checks a peer's credential: issued by one
of them, signature good, valid now, not revoked, of an accepted role.  A
L{NodeIdentity} is a node's own signing key with its credential.

Host patterns are C{fnmatch} patterns (C{*}, C{?}, C{[...]}), matched
case-sensitively against an event's host name (L{HostPatterns}).
"""

from __future__ import annotations

import base64
import binascii
import enum
import fnmatch
import re
import time
from collections.abc import Collection, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, get_args

import msgpack
from nacl.exceptions import BadSignatureError, CryptoError
from nacl.signing import SigningKey, VerifyKey
from nacl.utils import random

CredentialRole = Literal["tailer", "buck", "porter", "archie"]
CREDENTIAL_ROLES: tuple[CredentialRole, ...] = get_args(CredentialRole)

#: The version of the credential statement.
CREDENTIAL_VERSION = 1
#: Size of a credential's serial number.
SERIAL_SIZE = 16
#: Size of an Ed25519 signature.
SIGNATURE_SIZE = 64
#: Size of an Ed25519 verify key.
KEY_SIZE = 32
#: The largest credential, in bytes.
MAX_CREDENTIAL = 8192
#: The most host patterns of one credential.
MAX_PATTERNS = 64
#: The longest host pattern, and the longest node name, in characters.
MAX_NAME = 255
#: Seconds a credential may be presented before its issue time (clocks
#: of different machines differ a little).
CLOCK_SKEW = 300

#: What the authority signs: this context, then the body.
_CONTEXT = b"logship-credential-1\x00"
_FIELDS = frozenset(
    {"v", "serial", "node", "role", "hosts", "key", "issued", "expires", "authority"}
)
_MAX_TIME = (1 << 63) - 1
_FILE_LABEL = "logship-credential"


class Refusal(enum.StrEnum):
    """
    Why a credential is refused; the value is the wire's rejection code.
    """

    #: It does not parse, or is not signed by a trusted authority.
    FORGED = "bad-credential"
    #: Its validity ended (or has not begun).
    EXPIRED = "credential-expired"
    #: It is on the revocation list.
    REVOKED = "credential-revoked"
    #: Its role may not do this.
    ROLE = "bad-role"


class CredentialError(Exception):
    """
    A credential is refused.

    @ivar refusal: the kind of refusal.
    @ivar detail: a human-readable explanation, safe to send to the peer.
    """

    def __init__(self, refusal: Refusal, detail: str) -> None:
        super().__init__(detail)
        self.refusal = refusal
        self.detail = detail


def check_pattern(pattern: str) -> str:
    """
    Validate a host pattern: 1 to 255 printable ASCII characters, no
    space.

    @return: C{pattern}.
    @raise ValueError: if it is not one.
    """
    if (
        type(pattern) is not str
        or not 0 < len(pattern) <= MAX_NAME
        or not pattern.isascii()
        or not pattern.isprintable()
        or " " in pattern
    ):
        raise ValueError(
            f"a host pattern is 1 to {MAX_NAME} printable ASCII characters"
            f" without spaces, not {pattern!r:.60}"
        )
    return pattern


def check_node_name(node: str) -> str:
    """
    Validate a node name: 1 to 255 printable characters.

    @return: C{node}.
    @raise ValueError: if it is not one.
    """
    if type(node) is not str or not 0 < len(node) <= MAX_NAME or not node.isprintable():
        raise ValueError(f"a node name is 1 to {MAX_NAME} printable characters, not {node!r:.60}")
    return node


class HostPatterns:
    """
    The hosts a tailer may send events for: a match against any of its
    patterns, remembered per host name (a bounded cache: the hosts of a
    tailer are few and repeat in every batch).
    """

    _CACHE = 4096

    def __init__(self, patterns: Iterable[str]) -> None:
        """
        @param patterns: C{fnmatch} patterns (validated by L{check_pattern}).
        @raise ValueError: if a pattern is invalid.
        """
        self.patterns = tuple(check_pattern(p) for p in patterns)
        regex = "|".join(fnmatch.translate(p) for p in self.patterns) or "(?!)"
        self._match = re.compile(regex.encode("ascii"), re.DOTALL).fullmatch
        self._known: dict[bytes, bool] = {}

    def allows(self, host: bytes) -> bool:
        """
        Whether C{host} matches a pattern.
        """
        known = self._known.get(host)
        if known is None:
            if len(self._known) >= self._CACHE:
                self._known.clear()
            known = self._known[host] = self._match(host) is not None
        return known

    def __str__(self) -> str:
        return ", ".join(self.patterns) or "(none)"


@dataclass(frozen=True)
class Credential:
    """
    A decoded credential (see the module docstring).

    @ivar serial: 16 random bytes naming this credential (revocation).
    @ivar node: the node's name.
    @ivar role: what the node is.
    @ivar hosts: for a tailer, the host patterns it may send events for.
    @ivar key: the node's Ed25519 verify key.
    @ivar issued: when it was issued, epoch seconds.
    @ivar expires: when it stops being valid, epoch seconds.
    @ivar authority: the verify key of the authority that signed it.
    @ivar blob: its encoding, signature included (what is sent).
    """

    serial: bytes
    node: str
    role: CredentialRole
    hosts: tuple[str, ...]
    key: bytes
    issued: int
    expires: int
    authority: bytes
    blob: bytes = field(repr=False)

    @property
    def serial_hex(self) -> str:
        """
        The serial in hex, as logs and revocation lists write it.
        """
        return self.serial.hex()

    def host_patterns(self) -> HostPatterns:
        """
        The L{HostPatterns} of its C{hosts}.
        """
        return HostPatterns(self.hosts)

    def describe(self) -> str:
        """
        One line for people: node, role, hosts, validity, serial.
        """
        hosts = f", hosts {' '.join(self.hosts)}" if self.hosts else ""
        return (
            f"node {self.node}, role {self.role}{hosts}, valid {_iso(self.issued)}"
            f" to {_iso(self.expires)}, serial {self.serial_hex}"
        )


def _iso(when: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(min(when, 253402300799)))


def _statement(
    serial: bytes,
    node: str,
    role: str,
    hosts: tuple[str, ...],
    key: bytes,
    issued: int,
    expires: int,
    authority: bytes,
) -> bytes:
    body: bytes = msgpack.packb(
        {
            "v": CREDENTIAL_VERSION,
            "serial": serial,
            "node": node,
            "role": role,
            "hosts": list(hosts),
            "key": key,
            "issued": issued,
            "expires": expires,
            "authority": authority,
        },
        use_bin_type=True,
    )
    return body


def _check_fields(
    node: object, role: object, hosts: object, key: object, issued: object, expires: object
) -> None:
    """
    @raise ValueError: if a field is out of its domain.
    """
    check_node_name(node)  # type: ignore[arg-type]
    if role not in CREDENTIAL_ROLES:
        raise ValueError(f"the role is one of {', '.join(CREDENTIAL_ROLES)}, not {role!r:.40}")
    if type(hosts) is not tuple or len(hosts) > MAX_PATTERNS:
        raise ValueError(f"at most {MAX_PATTERNS} host patterns")
    for pattern in hosts:
        check_pattern(pattern)
    if role == "tailer" and not hosts:
        raise ValueError("a tailer's credential names the hosts it may send for")
    if role != "tailer" and hosts:
        raise ValueError(f"only a tailer's credential names hosts, not a {role}'s")
    if type(key) is not bytes or len(key) != KEY_SIZE:
        raise ValueError(f"the node key is {KEY_SIZE} bytes")
    for name, value in (("issued", issued), ("expires", expires)):
        if type(value) is not int or not 0 <= value <= _MAX_TIME:
            raise ValueError(f"{name} is a time in whole seconds, not {value!r:.40}")
    if not issued < expires:  # type: ignore[operator]
        raise ValueError("a credential expires after it is issued")


def issue_credential(
    authority: SigningKey,
    *,
    node: str,
    role: CredentialRole,
    key: bytes,
    hosts: Iterable[str] = (),
    issued: int,
    expires: int,
    serial: bytes | None = None,
) -> Credential:
    """
    Sign a credential for a node's verify key.

    @param authority: the cluster authority's signing key.
    @param node: the node's name.
    @param role: its role.
    @param key: its verify key (32 bytes; the node keeps the secret).
    @param hosts: for a tailer (required), the host patterns it may send
        for; nothing for the other roles.
    @param issued: when it begins to be valid, epoch seconds.
    @param expires: when it ends, epoch seconds.
    @param serial: its serial (random by default).
    @raise ValueError: if a field is invalid.
    """
    host_tuple = tuple(hosts)
    _check_fields(node, role, host_tuple, key, issued, expires)
    serial = random(SERIAL_SIZE) if serial is None else serial
    if len(serial) != SERIAL_SIZE:
        raise ValueError(f"the serial is {SERIAL_SIZE} bytes")
    authority_key = bytes(authority.verify_key)
    body = _statement(serial, node, role, host_tuple, key, issued, expires, authority_key)
    blob = authority.sign(_CONTEXT + body).signature + body
    if len(blob) > MAX_CREDENTIAL:
        raise ValueError(f"a credential of {len(blob)} bytes exceeds {MAX_CREDENTIAL}")
    return Credential(serial, node, role, host_tuple, key, issued, expires, authority_key, blob)


def _forged(detail: str) -> CredentialError:
    return CredentialError(Refusal.FORGED, detail)


def decode_credential(blob: bytes) -> Credential:
    """
    Parse a credential's bytes, without checking its signature.

    @raise CredentialError: (L{Refusal.FORGED}) if it is not one.
    """
    if type(blob) is not bytes or not SIGNATURE_SIZE < len(blob) <= MAX_CREDENTIAL:
        raise _forged(f"a credential is {SIGNATURE_SIZE + 1} to {MAX_CREDENTIAL} bytes")
    try:
        body = msgpack.unpackb(
            blob[SIGNATURE_SIZE:],
            raw=False,
            strict_map_key=True,
            use_list=False,
            max_bin_len=KEY_SIZE,
            max_str_len=MAX_NAME * 4,
            max_array_len=MAX_PATTERNS,
            max_map_len=len(_FIELDS),
            max_ext_len=0,
        )
    except (ValueError, msgpack.UnpackException) as e:
        raise _forged(f"not a credential ({type(e).__name__})") from None
    if type(body) is not dict or set(body) != _FIELDS:
        raise _forged("not a credential (wrong fields)")
    if body["v"] != CREDENTIAL_VERSION or type(body["v"]) is not int:
        raise _forged(f"credential version {body['v']!r:.20} is not supported")
    serial, authority = body["serial"], body["authority"]
    if type(serial) is not bytes or len(serial) != SERIAL_SIZE:
        raise _forged("not a credential (bad serial)")
    if type(authority) is not bytes or len(authority) != KEY_SIZE:
        raise _forged("not a credential (bad authority key)")
    hosts = body["hosts"]
    if type(hosts) is not tuple or not all(type(h) is str for h in hosts):
        raise _forged("not a credential (bad hosts)")
    try:
        _check_fields(
            body["node"], body["role"], hosts, body["key"], body["issued"], body["expires"]
        )
    except ValueError as e:
        raise _forged(f"not a credential ({e})") from None
    return Credential(
        serial,
        body["node"],
        body["role"],
        hosts,
        body["key"],
        body["issued"],
        body["expires"],
        authority,
        blob,
    )


def verify_credential(blob: bytes, authorities: Collection[bytes]) -> Credential:
    """
    Parse a credential and check that one of C{authorities} signed it.

    @param authorities: the verify keys of the trusted authorities.
    @raise CredentialError: (L{Refusal.FORGED}) if it does not parse, names
        an authority not among them, or its signature is wrong.
    """
    credential = decode_credential(blob)
    if credential.authority not in authorities:
        raise _forged(
            f"the credential of {credential.node} is issued by an authority this"
            " node does not trust"
        )
    try:
        VerifyKey(credential.authority).verify(
            _CONTEXT + blob[SIGNATURE_SIZE:], blob[:SIGNATURE_SIZE]
        )
    except (BadSignatureError, CryptoError, ValueError):
        raise _forged(f"the credential of {credential.node} has a bad signature") from None
    return credential


@dataclass(frozen=True)
class Revocations:
    """
    Revoked credentials, by serial, and revoked node keys (every
    credential of such a key is revoked).
    """

    serials: frozenset[bytes] = frozenset()
    keys: frozenset[bytes] = frozenset()

    def revokes(self, credential: Credential) -> bool:
        """
        Whether C{credential} is revoked.
        """
        return credential.serial in self.serials or credential.key in self.keys

    def __len__(self) -> int:
        return len(self.serials) + len(self.keys)


def parse_revocations(text: str) -> Revocations:
    """
    Parse a revocation list: one entry a line, C{credential SERIAL-HEX} or
    C{key BASE64} (a node's verify key), each optionally followed by a
    comment; blank lines and lines starting with C{#} are ignored.

    @raise ValueError: naming the first bad line.
    """
    serials: set[bytes] = set()
    keys: set[bytes] = set()
    for number, line in enumerate(text.splitlines(), 1):
        words = line.split("#", 1)[0].split()
        if not words:
            continue
        try:
            kind, value = words[0], words[1]
            if kind == "credential":
                serial = bytes.fromhex(value)
                if len(serial) != SERIAL_SIZE:
                    raise ValueError
                serials.add(serial)
            elif kind == "key":
                key = base64.b64decode(value, validate=True)
                if len(key) != KEY_SIZE:
                    raise ValueError
                keys.add(key)
            else:
                raise ValueError
        except (IndexError, ValueError, binascii.Error):
            raise ValueError(
                f"line {number}: expected `credential SERIAL-HEX` or `key BASE64`,"
                f" not {line.strip()[:60]!r}"
            ) from None
    return Revocations(frozenset(serials), frozenset(keys))


def revocation_line(credential: Credential) -> str:
    """
    The revocation list line that revokes C{credential} (with a comment
    naming it).
    """
    return f"credential {credential.serial_hex}  # node {credential.node}, role {credential.role}"


class Trust:
    """
    What a node accepts from peers: credentials of its trusted authorities,
    valid now and not revoked.

    @ivar authorities: the trusted authorities' verify keys.
    @ivar revocations: the revoked credentials (replaced when the
        revocation list is reloaded).
    """

    def __init__(
        self, authorities: Iterable[bytes], revocations: Revocations = Revocations()
    ) -> None:
        self.authorities = frozenset(authorities)
        if not self.authorities:
            raise ValueError("trust at least one authority")
        self.revocations = revocations

    def check(self, blob: bytes, now: float, roles: Collection[str]) -> Credential:
        """
        Check a peer's credential.

        @param now: the time now, epoch seconds.
        @param roles: the roles accepted.
        @return: the credential.
        @raise CredentialError: if it is refused.
        """
        credential = verify_credential(blob, self.authorities)
        refused = self.recheck(credential, now)
        if refused is not None:
            raise refused
        if credential.role not in roles:
            raise CredentialError(
                Refusal.ROLE,
                f"{credential.node} holds a {credential.role} credential; a"
                f" {' or '.join(sorted(roles))} may connect here",
            )
        return credential

    def recheck(self, credential: Credential, now: float) -> CredentialError | None:
        """
        Whether a credential checked earlier is still good now (not
        expired, not revoked since).

        @return: C{None} if it is, else the refusal.
        """
        if self.revocations.revokes(credential):
            return CredentialError(
                Refusal.REVOKED,
                f"the credential of {credential.node} (serial {credential.serial_hex})"
                " is revoked",
            )
        if now >= credential.expires:
            return CredentialError(
                Refusal.EXPIRED,
                f"the credential of {credential.node} expired at {_iso(credential.expires)}",
            )
        if now + CLOCK_SKEW < credential.issued:
            return CredentialError(
                Refusal.EXPIRED,
                f"the credential of {credential.node} is valid only from"
                f" {_iso(credential.issued)}",
            )
        return None


@dataclass(frozen=True)
class NodeIdentity:
    """
    A node's own signing key and the credential the authority issued for
    it.
    """

    signing_key: SigningKey
    credential: Credential

    def __post_init__(self) -> None:
        if bytes(self.signing_key.verify_key) != self.credential.key:
            raise ValueError(
                f"the credential of {self.credential.node} is for another node key"
            )

    def sign(self, message: bytes) -> bytes:
        """
        The 64-byte signature of C{message} with the node key.
        """
        return self.signing_key.sign(message).signature


@dataclass(frozen=True)
class Credentials:
    """
    Everything a node needs in credential mode: who it is, whom it trusts.
    """

    identity: NodeIdentity
    trust: Trust


def write_credential(path: Path, credential: Credential) -> None:
    """
    Write a credential file: a comment line describing it, then
    C{logship-credential BASE64}.  A credential is not secret (the node
    key is): the file is written with mode 0644, never over an existing
    file.

    @raise OSError: if it cannot be written (C{FileExistsError} if it
        exists).
    """
    text = (
        f"# {credential.describe()}\n"
        f"{_FILE_LABEL} {base64.b64encode(credential.blob).decode()}\n"
    )
    with open(path, "x", encoding="ascii") as f:
        f.write(text)


def read_credential_file(path: Path) -> bytes:
    """
    The credential bytes of a file written by L{write_credential}.

    @raise ValueError: if the file does not hold one line
        C{logship-credential BASE64} (comments aside).
    @raise OSError: if it cannot be read.
    """
    found: list[bytes] = []
    for line in path.read_text(encoding="ascii", errors="replace").splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        label, _, value = line.partition(" ")
        try:
            blob = base64.b64decode(value.strip(), validate=True)
        except (binascii.Error, ValueError):
            blob = b""
        if label != _FILE_LABEL or not blob:
            raise ValueError(f"{path}: not a logship credential file")
        found.append(blob)
    if len(found) != 1:
        raise ValueError(f"{path}: expected one credential, found {len(found)}")
    return found[0]


def as_dict(credential: Credential) -> dict[str, Any]:
    """
    The credential's fields as JSON-friendly values (for logs and the CLI).
    """
    return {
        "serial": credential.serial_hex,
        "node": credential.node,
        "role": credential.role,
        "hosts": list(credential.hosts),
        "key": base64.b64encode(credential.key).decode(),
        "issued": credential.issued,
        "expires": credential.expires,
        "authority": base64.b64encode(credential.authority).decode(),
    }
