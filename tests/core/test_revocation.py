"""Tests for L{logship.core.revocation}: the revocation list file, reloaded when it changes."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

from twisted.trial.unittest import SynchronousTestCase

from logship.core.credentials import revocation_line
from logship.core.revocation import RevocationFile, RevocationFileError
from tests.credentials import identity, trust

WEB = identity("web-1", "tailer", ["web-*"]).credential
DB = identity("db-1", "tailer", ["db-*"]).credential


class RevocationFileTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.tmp = Path(tempfile.mkdtemp())
        self.addCleanup(shutil.rmtree, self.tmp)
        self.path = self.tmp / "revoked.txt"
        self.trust = trust()

    def write(self, text: str, mtime: int) -> None:
        self.path.write_text(text)
        os.utime(self.path, (mtime, mtime))

    def test_reload_on_change(self) -> None:
        self.write(revocation_line(WEB) + "\n", 1000)
        watched = RevocationFile(self.path, self.trust)
        self.assertTrue(self.trust.revocations.revokes(WEB))
        self.assertFalse(watched.reload_if_changed())
        self.write(revocation_line(WEB) + "\n" + revocation_line(DB) + "\n", 2000)
        self.assertTrue(watched.reload_if_changed())
        self.assertTrue(self.trust.revocations.revokes(DB))
        self.assertFalse(watched.reload_if_changed())

    def test_bad_file_keeps_the_last_list(self) -> None:
        """
        A list that no longer parses, or a file that went away, keeps the
        last good list; the next good version is taken.
        """
        self.write(revocation_line(WEB) + "\n", 1000)
        watched = RevocationFile(self.path, self.trust)
        self.write("nonsense\n", 2000)
        self.assertIn("line 1", str(self.assertRaises(RevocationFileError, watched.reload_if_changed)))
        self.assertTrue(self.trust.revocations.revokes(WEB))
        self.assertFalse(watched.reload_if_changed())  # not again until it changes
        self.path.unlink()
        self.assertIn("gone", str(self.assertRaises(RevocationFileError, watched.reload_if_changed)))
        self.assertTrue(self.trust.revocations.revokes(WEB))
        self.write(revocation_line(DB) + "\n", 3000)
        self.assertTrue(watched.reload_if_changed())
        self.assertFalse(self.trust.revocations.revokes(WEB))

    def test_missing_at_start(self) -> None:
        with self.assertRaises(RevocationFileError):
            RevocationFile(self.path, self.trust)
