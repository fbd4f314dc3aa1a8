"""Tests for L{logship.core.keys}."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from twisted.trial.unittest import SynchronousTestCase

from logship.core.keys import KeyFileError, read_key, write_new_key


class KeyTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.tmp = Path(tempfile.mkdtemp())
        self.addCleanup(shutil.rmtree, self.tmp)

    def test_two_keys_differ(self) -> None:
        write_new_key(self.tmp / "a")
        write_new_key(self.tmp / "b")
        self.assertNotEqual(read_key(self.tmp / "a"), read_key(self.tmp / "b"))

    def test_group_readable_refused(self) -> None:
        path = self.tmp / "k"
        write_new_key(path)
        path.chmod(0o640)
        self.assertIn("chmod 600", str(self.assertRaises(KeyFileError, read_key, path)))

    def test_not_a_key(self) -> None:
        path = self.tmp / "k"
        path.write_bytes(b"hello\n")
        path.chmod(0o600)
        self.assertIn("not a logship key", str(self.assertRaises(KeyFileError, read_key, path)))

    def test_missing(self) -> None:
        self.assertRaises(KeyFileError, read_key, self.tmp / "absent")

    def test_unwritable_directory(self) -> None:
        error = self.assertRaises(KeyFileError, write_new_key, self.tmp / "no" / "k")
        self.assertIn("No such file", str(error))
