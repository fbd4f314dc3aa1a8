"""Archive receipts: the porter's signed statement that a buck's copy of a bucket is archived.

Pure code, no I/O but L{file_sha256}.

Before a buck deletes its file of a bucket, and before a tailer deletes its
local copy, each wants evidence that the archive holds what it would
delete (C{docs/security.md}, "Deletion needs proof").  The porter gives it:
once it has stored and verified an archive object, it signs, with its node
key, for each buck copy it merged::

    signature(porter node key, CONTEXT || body) ; body = msgpack map
    {"v": 1, "porter": str, "buck": str, "start": int, "seconds": int,
     "size": int, "sha256": bin 32,          # the buck's copy, as read
     "key": str, "object_sha256": bin 32,    # the archive object
     "issued": int}

The buck deletes only if its file has exactly C{size} bytes hashing to
C{sha256} (it did not grow, it is the same file), and keeps the receipt
to show tailers whose uploads that file had merged.  A tailer checks the
porter's credential against its authority, the signature, and that the
receipt names the buck that took its upload.  In lab mode (no node
keys) the receipt travels unsigned: the buck's size and digest checks
still hold, the signature is then a claim like any other.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import msgpack
from nacl.exceptions import BadSignatureError, CryptoError
from nacl.signing import VerifyKey

from logship.core.credentials import SIGNATURE_SIZE, CredentialError, NodeIdentity, Trust

#: The version of the receipt statement.
RECEIPT_VERSION = 1
#: The largest encoded receipt, in bytes.
MAX_RECEIPT = 2048

_CONTEXT = b"logship-archive-receipt-1\x00"
_FIELDS = (
    "v", "porter", "buck", "start", "seconds", "size", "sha256", "key", "object_sha256", "issued",
)  # fmt: skip
_MAX_U64 = (1 << 64) - 1


def file_sha256(path: Path) -> bytes:
    """
    The SHA-256 of a whole file (a bucket file, a spool copy), read in
    1 MiB steps.

    @raise OSError: if it cannot be read.
    """
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.digest()


class ReceiptError(ValueError):
    """
    A receipt does not parse, or its signature is wrong.
    """


@dataclass(frozen=True)
class ArchiveReceipt:
    """
    The porter's statement (see the module docstring).

    @ivar porter: the porter's node name.
    @ivar buck: the node name of the buck whose copy it is.
    @ivar start: the bucket's start, epoch seconds.
    @ivar seconds: the bucket interval.
    @ivar size: the size of the buck's copy the porter read and archived.
    @ivar sha256: the SHA-256 of those bytes.
    @ivar key: the archive object's key.
    @ivar object_sha256: the archive object's SHA-256.
    @ivar issued: when it was signed, epoch seconds.
    """

    porter: str
    buck: str
    start: int
    seconds: int
    size: int
    sha256: bytes
    key: str
    object_sha256: bytes
    issued: int

    def __post_init__(self) -> None:
        for name in ("porter", "buck", "key"):
            value = getattr(self, name)
            if type(value) is not str or not 0 < len(value) <= 255 or not value.isprintable():
                raise ReceiptError(f"receipt: {name} is 1 to 255 printable characters")
        for name in ("start", "size", "issued"):
            value = getattr(self, name)
            if type(value) is not int or not 0 <= value <= _MAX_U64:
                raise ReceiptError(f"receipt: {name} is an unsigned 64-bit integer")
        if type(self.seconds) is not int or not 1 <= self.seconds <= 3600:
            raise ReceiptError("receipt: seconds is 1 to 3600")
        for name in ("sha256", "object_sha256"):
            value = getattr(self, name)
            if type(value) is not bytes or len(value) != 32:
                raise ReceiptError(f"receipt: {name} is 32 bytes")

    def encode(self) -> bytes:
        """
        The receipt's body (what is signed).
        """
        fields: dict[str, Any] = {name: getattr(self, name) for name in _FIELDS[1:]}
        body: bytes = msgpack.packb({"v": RECEIPT_VERSION, **fields}, use_bin_type=True)
        return body


def decode_receipt(body: bytes) -> ArchiveReceipt:
    """
    Parse a receipt's body, without checking a signature.

    @raise ReceiptError: if it is not one.
    """
    if type(body) is not bytes or len(body) > MAX_RECEIPT:
        raise ReceiptError(f"a receipt is at most {MAX_RECEIPT} bytes")
    try:
        fields = msgpack.unpackb(
            body, raw=False, strict_map_key=True, max_bin_len=32, max_str_len=1024,
            max_array_len=0, max_map_len=len(_FIELDS), max_ext_len=0,
        )
    except (ValueError, msgpack.UnpackException) as e:
        raise ReceiptError(f"not a receipt ({type(e).__name__})") from None
    if type(fields) is not dict or set(fields) != set(_FIELDS):
        raise ReceiptError("not a receipt (wrong fields)")
    if type(fields["v"]) is not int or fields["v"] != RECEIPT_VERSION:
        raise ReceiptError(f"receipt version {fields['v']!r:.20} is not supported")
    return ArchiveReceipt(*(fields[name] for name in _FIELDS[1:]))


def sign_receipt(receipt: ArchiveReceipt, identity: NodeIdentity | None) -> tuple[bytes, bytes]:
    """
    Encode a receipt and sign it with the porter's node key.

    @param identity: the porter's identity, or C{None} in lab mode.
    @return: C{(body, signature)}; the signature is empty in lab mode.
    """
    body = receipt.encode()
    if identity is None:
        return body, b""
    return body, identity.sign(_CONTEXT + body)


def verify_receipt(body: bytes, signature: bytes, porter_key: bytes) -> ArchiveReceipt:
    """
    Parse a receipt and check the porter's signature.

    @param porter_key: the verify key of the porter's credential.
    @raise ReceiptError: if it does not parse or the signature is wrong.
    """
    receipt = decode_receipt(body)
    if len(signature) != SIGNATURE_SIZE:
        raise ReceiptError("the receipt is not signed")
    try:
        VerifyKey(porter_key).verify(_CONTEXT + body, signature)
    except (BadSignatureError, CryptoError, ValueError):
        raise ReceiptError("the receipt's signature is wrong") from None
    return receipt


def check_archive_proof(
    receipt: bytes,
    signature: bytes,
    credential: bytes,
    *,
    trust: Trust | None,
    now: float,
    buck: str,
    start: int,
    seconds: int,
) -> ArchiveReceipt:
    """
    A tailer's check of a receipt a buck relays as proof that its upload
    is archived.

    @param receipt: the receipt's body.
    @param signature: the porter's signature of it.
    @param credential: the porter's credential.
    @param trust: the tailer's trust (credential mode), or C{None} in lab
        mode, where the receipt is a claim and only its fields are checked.
    @param now: the time now (the porter's credential must be valid now).
    @param buck: the node name of the buck that took the upload.
    @param start: the bucket's start.
    @param seconds: the bucket interval.
    @return: the receipt.
    @raise ReceiptError: if it is not a proof of that bucket's copy on
        that buck, signed by a porter the tailer trusts.
    """
    if trust is None:
        parsed = decode_receipt(receipt)
    else:
        try:
            porter = trust.check(credential, now, ("porter",))
        except CredentialError as e:
            raise ReceiptError(f"the porter's credential is refused: {e.detail}") from None
        parsed = verify_receipt(receipt, signature, porter.key)
        if parsed.porter != porter.node:
            raise ReceiptError(f"the receipt names porter {parsed.porter}, not {porter.node}")
    if parsed.buck != buck:
        raise ReceiptError(f"the receipt is for buck {parsed.buck}, not {buck}")
    if (parsed.start, parsed.seconds) != (start, seconds):
        raise ReceiptError(
            f"the receipt is for bucket {parsed.start}/{parsed.seconds}s, not {start}/{seconds}s"
        )
    return parsed
