"""Tests for L{logship.core.receipts}: the porter's archive receipts and the tailer's check of a relayed proof."""

from __future__ import annotations

import hashlib
import shutil
import tempfile
from pathlib import Path

import msgpack
from hypothesis import given
from hypothesis import strategies as st
from twisted.trial.unittest import SynchronousTestCase

from logship.core.receipts import (
    ArchiveReceipt,
    ReceiptError,
    check_archive_proof,
    decode_receipt,
    file_sha256,
    sign_receipt,
    verify_receipt,
)
from tests.credentials import OTHER_AUTHORITY, identity, trust

PORTER = identity("porter", "porter")
RECEIPT = ArchiveReceipt(
    "porter", "buck-1", 1795685820, 60, 1234, bytes(range(32)), "buckets/2026/11/26/09/37.lsp",
    bytes(32), 1795900000,
)


class ReceiptTests(SynchronousTestCase):
    def test_round_trip(self) -> None:
        body, signature = sign_receipt(RECEIPT, PORTER)
        self.assertEqual(decode_receipt(body), RECEIPT)
        self.assertEqual(verify_receipt(body, signature, PORTER.credential.key), RECEIPT)
        self.assertEqual(sign_receipt(RECEIPT, None), (body, b""))

    def test_signature_checked(self) -> None:
        body, signature = sign_receipt(RECEIPT, PORTER)
        other = identity("porter-2", "porter").credential.key
        for args in (
            (body, signature, other),
            (body, b"", PORTER.credential.key),
            (body + b"\x00", signature, PORTER.credential.key),
            (body, signature[:-1] + bytes([signature[-1] ^ 1]), PORTER.credential.key),
        ):
            with self.assertRaises(ReceiptError):
                verify_receipt(*args)

    def test_fields_checked(self) -> None:
        fields = msgpack.unpackb(RECEIPT.encode())
        for change in ({"size": -1}, {"sha256": b"x"}, {"seconds": 0}, {"buck": ""},
                       {"v": 2}, {"extra": 1}, {"start": True}):
            with self.assertRaises(ReceiptError):
                decode_receipt(msgpack.packb({**fields, **change}, use_bin_type=True))
        with self.assertRaises(ReceiptError):
            decode_receipt(b"x" * 3000)

    @given(st.binary(max_size=400))
    def test_garbage(self, body: bytes) -> None:
        try:
            decode_receipt(body)
        except ReceiptError:
            pass

    def test_file_sha256(self) -> None:
        tmp = Path(tempfile.mkdtemp())
        self.addCleanup(shutil.rmtree, tmp)
        data = b"x" * (3 << 20) + b"tail"
        (tmp / "f").write_bytes(data)
        self.assertEqual(file_sha256(tmp / "f"), hashlib.sha256(data).digest())


class ProofCheckTests(SynchronousTestCase):
    """
    What a tailer accepts as proof that its upload to buck-1 is archived.
    """

    def check(self, body: bytes, signature: bytes, credential: bytes, **kwargs: object) -> ArchiveReceipt:
        fields: dict[str, object] = dict(
            trust=trust(), now=1795900000, buck="buck-1", start=RECEIPT.start, seconds=60
        )
        fields.update(kwargs)
        return check_archive_proof(body, signature, credential, **fields)  # type: ignore[arg-type]

    def test_good(self) -> None:
        body, signature = sign_receipt(RECEIPT, PORTER)
        self.assertEqual(self.check(body, signature, PORTER.credential.blob), RECEIPT)

    def test_lab_mode_checks_fields_only(self) -> None:
        body, _ = sign_receipt(RECEIPT, None)
        self.assertEqual(self.check(body, b"", b"", trust=None), RECEIPT)
        with self.assertRaises(ReceiptError):
            self.check(body, b"", b"", trust=None, buck="buck-2")

    def test_refused(self) -> None:
        body, signature = sign_receipt(RECEIPT, PORTER)
        forged = identity("porter", "porter", authority=OTHER_AUTHORITY)
        forged_body, forged_signature = sign_receipt(RECEIPT, forged)
        tailer = identity("porter", "tailer", ["*"])
        tailer_body, tailer_signature = sign_receipt(RECEIPT, tailer)
        renamed = identity("porter-2", "porter")
        renamed_signature = sign_receipt(RECEIPT, renamed)[1]
        for args, kwargs, needle in (
            ((body, signature, PORTER.credential.blob), dict(buck="buck-2"), "for buck buck-1"),
            ((body, signature, PORTER.credential.blob), dict(start=RECEIPT.start + 60), "bucket"),
            ((body, signature, PORTER.credential.blob), dict(seconds=10), "bucket"),
            ((body, b"", PORTER.credential.blob), {}, "not signed"),
            ((body, signature, b""), {}, "credential is refused"),
            ((forged_body, forged_signature, forged.credential.blob), {}, "does not trust"),
            ((tailer_body, tailer_signature, tailer.credential.blob), {}, "tailer credential"),
            ((body, renamed_signature, renamed.credential.blob), {}, "names porter porter"),
            ((body, signature, PORTER.credential.blob), dict(now=5_000_000_000), "expired"),
        ):
            error = self.assertRaises(ReceiptError, self.check, *args, **kwargs)
            self.assertIn(needle, str(error), needle)
