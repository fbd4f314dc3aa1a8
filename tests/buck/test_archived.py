"""Tests for L{logship.buck.archived}: the record of merged uploads and archive receipts."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from twisted.trial.unittest import SynchronousTestCase

from logship.buck.archived import ArchivedRecord, SignedReceipt

DAY = 86400
U1, U2, U3 = (bytes([n]) * 32 for n in (1, 2, 3))
LAB = SignedReceipt(b"receipt one", b"", b"")
SIGNED = SignedReceipt(b"receipt two", bytes(64), b"porter credential")


class ArchivedRecordTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.tmp = Path(tempfile.mkdtemp())
        self.addCleanup(shutil.rmtree, self.tmp)
        self.path = self.tmp / "archived"

    def open(self, now: float = 100 * DAY) -> ArchivedRecord:
        record = ArchivedRecord(self.path, now, keep_seconds=30 * DAY)
        self.addCleanup(record.close)
        return record

    def test_receipt_covers_merged_uploads(self) -> None:
        """
        A receipt proves the uploads merged into the file it deleted, not
        those merged into the next file of the same bucket.
        """
        record = self.open()
        start = 99 * DAY
        record.merged(start, U1)
        record.merged(start, U2)
        self.assertIsNone(record.proof(start, U1))
        self.assertEqual(record.archived(start, SIGNED), 2)
        record.merged(start, U3)
        self.assertEqual(record.proof(start, U1), SIGNED)
        self.assertEqual(record.proof(start, U2), SIGNED)
        self.assertIsNone(record.proof(start, U3))
        self.assertIsNone(record.proof(start + 60, U1))
        self.assertEqual(len(record), 2)

    def test_no_uploads_nothing_recorded(self) -> None:
        """
        A file deleted without merged uploads records nothing: no tailer
        will ask.
        """
        record = self.open()
        self.assertEqual(record.archived(99 * DAY, LAB), 0)
        self.assertEqual(self.path.read_text(), "")

    def test_replay(self) -> None:
        """
        Everything survives reopening: proofs (the porter's credential
        written once), and the uploads of the present files.
        """
        record = self.open()
        for start in (98 * DAY, 99 * DAY):
            record.merged(start, U1)
            record.archived(start, SIGNED)
        record.merged(99 * DAY, U2)
        record.merged(97 * DAY, U3)
        record.archived(97 * DAY, LAB)
        record.close()
        self.assertEqual(self.path.read_text().count("porter "), 1)
        again = self.open()
        self.assertEqual(again.proof(98 * DAY, U1), SIGNED)
        self.assertEqual(again.proof(99 * DAY, U1), SIGNED)
        self.assertEqual(again.proof(97 * DAY, U3), LAB)
        self.assertIsNone(again.proof(99 * DAY, U2))
        again.archived(99 * DAY, LAB)
        self.assertEqual(again.proof(99 * DAY, U2), LAB)

    def test_old_entries_dropped_and_file_compacted(self) -> None:
        """
        Buckets older than the keeping period are forgotten at opening, and
        the file is rewritten without them (or lines of the older format).
        """
        record = self.open()
        record.merged(10 * DAY, U1)
        record.archived(10 * DAY, SIGNED)
        record.merged(90 * DAY, U2)
        record.archived(90 * DAY, SIGNED)
        record.merged(91 * DAY, U3)
        record.close()
        self.path.write_text(f"+{90 * DAY}\n-{5 * DAY}\n" + self.path.read_text())
        again = self.open()
        self.assertIsNone(again.proof(10 * DAY, U1))
        self.assertEqual(again.proof(90 * DAY, U2), SIGNED)
        text = self.path.read_text()
        self.assertEqual(
            [line.split(" ")[0] for line in text.splitlines()],
            ["merged", "porter", "archived", "merged"],
        )
        again.close()
        self.assertEqual(self.open().proof(90 * DAY, U2), SIGNED)

    def test_torn_line_ignored(self) -> None:
        """
        A line torn by a crash (or any malformed line) is skipped with a
        warning; the rest is kept and appending goes on.
        """
        record = self.open()
        record.merged(90 * DAY, U1)
        record.archived(90 * DAY, LAB)
        record.close()
        with open(self.path, "a") as f:
            f.write(f"merged {91 * DAY} abc\narchived {91 * DAY} x y nosuchporter\nmerged 9")
        again = self.open()
        self.assertEqual(again.proof(90 * DAY, U1), LAB)
        again.merged(92 * DAY, U2)
        again.archived(92 * DAY, LAB)
        again.close()
        self.assertEqual(self.open().proof(92 * DAY, U2), LAB)
