"""Tests for L{logship.buck.archived}: the record of archived buckets."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from twisted.trial.unittest import SynchronousTestCase

from logship.buck.archived import ArchivedRecord

DAY = 86400


class ArchivedRecordTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.tmp = Path(tempfile.mkdtemp())
        self.addCleanup(shutil.rmtree, self.tmp)
        self.path = self.tmp / "archived"

    def open(self, now: float = 100 * DAY) -> ArchivedRecord:
        record = ArchivedRecord(self.path, now, keep_seconds=30 * DAY)
        self.addCleanup(record.close)
        return record

    def test_add_discard_replay(self) -> None:
        """
        Additions and removals survive reopening, in order.
        """
        record = self.open()
        record.add(99 * DAY)
        record.add(99 * DAY + 60)
        record.discard(99 * DAY)
        record.add(99 * DAY + 60)
        record.close()
        again = self.open()
        self.assertEqual((99 * DAY in again, 99 * DAY + 60 in again), (False, True))
        self.assertEqual(len(again), 1)

    def test_old_entries_dropped_and_file_compacted(self) -> None:
        """
        Starts older than the keeping period are forgotten at opening, and
        the file is rewritten without them.
        """
        self.path.write_text(f"+{10 * DAY}\n+{90 * DAY}\n-{5 * DAY}\n")
        record = self.open()
        self.assertNotIn(10 * DAY, record)
        self.assertIn(90 * DAY, record)
        self.assertEqual(self.path.read_text(), f"+{90 * DAY}\n")

    def test_torn_line_ignored(self) -> None:
        """
        A line torn by a crash (or any malformed line) is skipped with a
        warning; the rest is kept and appending goes on.
        """
        self.path.write_text(f"+{90 * DAY}\n+9x\n+{91 * DAY}\n+")
        record = self.open()
        self.assertEqual((90 * DAY in record, 91 * DAY in record), (True, True))
        record.add(92 * DAY)
        record.close()
        self.assertIn(92 * DAY, self.open())
