"""Tests for L{logship.core.keys}."""

from __future__ import annotations

import shutil
import stat
import tempfile
from pathlib import Path

from twisted.trial.unittest import SynchronousTestCase

from logship.core.keys import (
    KeyFileError,
    KeyKind,
    public_path,
    read_key,
    read_public_keys,
    read_signing_key,
    write_new_key,
    write_new_signing_key,
)


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


class SigningKeyTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.tmp = Path(tempfile.mkdtemp())
        self.addCleanup(shutil.rmtree, self.tmp)

    def test_round_trip(self) -> None:
        path = self.tmp / "node.key"
        verify_key = write_new_signing_key(path, KeyKind.NODE)
        self.assertEqual(stat.S_IMODE(path.stat().st_mode), 0o600)
        self.assertEqual(bytes(read_signing_key(path, KeyKind.NODE).verify_key), verify_key)
        self.assertEqual(read_public_keys(public_path(path), KeyKind.NODE), [verify_key])

    def test_kinds_not_mixed(self) -> None:
        """
        An authority key is not a node key, a cluster key is neither, and
        a public file of one kind is refused as the other.
        """
        authority = self.tmp / "authority.key"
        write_new_signing_key(authority, KeyKind.AUTHORITY)
        cluster = self.tmp / "cluster.key"
        write_new_key(cluster)
        for path in (authority, cluster):
            self.assertIn("not a logship node secret key",
                          str(self.assertRaises(KeyFileError, read_signing_key, path, KeyKind.NODE)))
        self.assertRaises(KeyFileError, read_public_keys, public_path(authority), KeyKind.NODE)
        self.assertRaises(KeyFileError, read_key, authority)

    def test_never_overwrites(self) -> None:
        path = self.tmp / "a.key"
        write_new_signing_key(path, KeyKind.AUTHORITY)
        self.assertRaises(KeyFileError, write_new_signing_key, path, KeyKind.AUTHORITY)
        path.unlink()
        error = self.assertRaises(KeyFileError, write_new_signing_key, path, KeyKind.AUTHORITY)
        self.assertIn(".pub: already exists", str(error))
        self.assertFalse(path.exists(), "no secret without its public half")

    def test_secret_readable_by_others(self) -> None:
        path = self.tmp / "n.key"
        write_new_signing_key(path, KeyKind.NODE)
        path.chmod(0o644)
        self.assertIn("chmod 600",
                      str(self.assertRaises(KeyFileError, read_signing_key, path, KeyKind.NODE)))

    def test_several_authorities(self) -> None:
        """
        A public file may list several keys (while one replaces another);
        comments and blank lines are skipped, duplicates dropped.
        """
        keys = []
        for name in ("old", "new"):
            keys.append(write_new_signing_key(self.tmp / name, KeyKind.AUTHORITY))
        both = self.tmp / "trusted.pub"
        both.write_text(
            "# authorities\n\n" + (self.tmp / "old.pub").read_text()
            + (self.tmp / "new.pub").read_text() + (self.tmp / "new.pub").read_text()
        )
        self.assertEqual(read_public_keys(both, KeyKind.AUTHORITY), keys)
        both.write_text("# nothing\n")
        self.assertIn("holds no", str(self.assertRaises(KeyFileError, read_public_keys, both,
                                                        KeyKind.AUTHORITY)))
