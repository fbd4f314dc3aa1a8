"""Tests for L{logship.archive.dirstore}, with the file I/O run inline."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from twisted.trial.unittest import SynchronousTestCase
from zope.interface.verify import verifyObject

from logship.archive import ArchiveError, IArchive, MissingObject
from logship.archive.dirstore import DirArchive, inline


class DirArchiveTests(SynchronousTestCase):
    """
    put/get/exists/keys/delete on a temporary directory.
    """

    def setUp(self) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="logship-archive-"))
        self.addCleanup(_remove_tree, self.root)
        self.archive = DirArchive(self.root / "archive", run=inline)

    def test_interface(self) -> None:
        """
        DirArchive provides IArchive.
        """
        self.assertTrue(verifyObject(IArchive, self.archive))
        self.assertIsNone(self.successResultOf(self.archive.close()))

    def test_put_get(self) -> None:
        """
        A put object reads back as it was, under its path; a second put
        replaces it and leaves no temporary file.
        """
        key = "buckets/2026/11/26/09/37.lsp"
        self.assertIsNone(self.successResultOf(self.archive.put(key, b"packed\x00\xff")))
        self.assertEqual(self.successResultOf(self.archive.get(key)), b"packed\x00\xff")
        path = self.root / "archive" / "buckets" / "2026" / "11" / "26" / "09" / "37.lsp"
        self.assertEqual(path.read_bytes(), b"packed\x00\xff")
        self.successResultOf(self.archive.put(key, memoryview(b"again")))
        self.assertEqual(self.successResultOf(self.archive.get(key)), b"again")
        self.assertEqual(os.listdir(path.parent), ["37.lsp"])
        self.successResultOf(self.archive.put("empty", b""))
        self.assertEqual(self.successResultOf(self.archive.get("empty")), b"")

    def test_exists_delete(self) -> None:
        """
        exists says whether an object is there; delete removes it, and a
        repeated delete is harmless.
        """
        self.assertFalse(self.successResultOf(self.archive.exists("a/b")))
        self.successResultOf(self.archive.put("a/b", b"x"))
        self.assertTrue(self.successResultOf(self.archive.exists("a/b")))
        self.assertFalse(self.successResultOf(self.archive.exists("a")))
        self.assertIsNone(self.successResultOf(self.archive.delete("a/b")))
        self.assertFalse(self.successResultOf(self.archive.exists("a/b")))
        self.successResultOf(self.archive.delete("a/b"))
        self.successResultOf(self.archive.delete("never/was"))

    def test_missing(self) -> None:
        """
        get of a missing key, or of a directory, fails with MissingObject.
        """
        self.failureResultOf(self.archive.get("no/such"), MissingObject)
        self.successResultOf(self.archive.put("a/b", b"x"))
        failure = self.failureResultOf(self.archive.get("a"), MissingObject)
        self.assertEqual(failure.value.key, "a")
        self.failureResultOf(self.archive.get("a/b/c"), MissingObject)

    def test_keys(self) -> None:
        """
        keys gives every key that begins with the prefix, sorted; a prefix
        may end mid-segment or with a slash; temporary files are not keys.
        """
        keys = [
            f"buckets/2026/11/{d:02d}/{h:02d}/{m:02d}.lsp"
            for d in (1, 2)
            for h in range(3)
            for m in range(0, 60, 7)
        ]
        keys += ["manifest/2026-11-01.json", "manifest/2026-11-02.json", "top"]
        for key in reversed(keys):
            self.successResultOf(self.archive.put(key, key.encode()))
        (self.root / "archive" / "buckets" / ".37.lsp.0123.tmp").write_bytes(b"partial")
        self.assertEqual(self.successResultOf(self.archive.keys("")), sorted(keys))
        self.assertEqual(self.successResultOf(self.archive.keys()), sorted(keys))
        self.assertEqual(
            self.successResultOf(self.archive.keys("buckets/2026/11/02/")),
            sorted(k for k in keys if k.startswith("buckets/2026/11/02/")),
        )
        self.assertEqual(
            self.successResultOf(self.archive.keys("buckets/2026/11/01/01/1")),
            ["buckets/2026/11/01/01/14.lsp"],
        )
        self.assertEqual(
            self.successResultOf(self.archive.keys("manifest/2026-11-0")),
            ["manifest/2026-11-01.json", "manifest/2026-11-02.json"],
        )
        self.assertEqual(self.successResultOf(self.archive.keys("t")), ["top"])
        self.assertEqual(self.successResultOf(self.archive.keys("nothing/here/")), [])
        self.assertEqual(self.successResultOf(self.archive.keys("top/x")), [])

    def test_many_keys(self) -> None:
        """
        More than a thousand keys (an S3 page) list completely.
        """
        keys = [f"many/{i // 100:02d}/{i:05d}" for i in range(1100)]
        for key in keys:
            self.successResultOf(self.archive.put(key, b""))
        self.assertEqual(self.successResultOf(self.archive.keys("many/")), keys)

    def test_keys_of_missing_root(self) -> None:
        """
        An archive whose directory does not exist yet lists nothing.
        """
        self.assertEqual(self.successResultOf(DirArchive(self.root / "nope", run=inline).keys()), [])

    def test_bad_keys(self) -> None:
        """
        Bad keys and prefixes raise ValueError at once, touching nothing.
        """
        for call in (
            lambda: self.archive.put("../escape", b"x"),
            lambda: self.archive.get("/etc/passwd"),
            lambda: self.archive.exists("a//b"),
            lambda: self.archive.delete("a/.."),
            lambda: self.archive.keys("../"),
        ):
            self.assertRaises(ValueError, call)
        self.assertFalse((self.root / "escape").exists())
        self.assertFalse((self.root / "archive").exists())

    def test_verification_failure(self) -> None:
        """
        A file changed between the write and the read-back fails the put
        with ArchiveError, both digests in its message.
        """
        changed = []

        def corrupt(path: Path) -> None:
            changed.append(path)
            path.write_bytes(b"bit rot")

        archive = DirArchive(self.root / "archive", run=inline, after_write=corrupt)
        failure = self.failureResultOf(archive.put("a/b.lsp", b"packed"), ArchiveError)
        self.assertIn("dir put of 'a/b.lsp' did not verify", str(failure.value))
        self.assertIn("read back 7 bytes", str(failure.value))
        self.assertEqual(changed, [self.root / "archive" / "a" / "b.lsp"])

    def test_write_failure(self) -> None:
        """
        A put that cannot write (a file where a directory must go) fails
        with ArchiveError and leaves no temporary file.
        """
        self.successResultOf(self.archive.put("a", b"file"))
        failure = self.failureResultOf(self.archive.put("a/b", b"x"), ArchiveError)
        self.assertIn("dir put of 'a/b'", str(failure.value))
        self.successResultOf(self.archive.put("c/d", b"x"))
        failure = self.failureResultOf(self.archive.put("c", b"x"), ArchiveError)
        self.assertIn("dir put of 'c'", str(failure.value))
        self.assertEqual(sorted(os.listdir(self.root / "archive")), ["a", "c"])


def _remove_tree(root: Path) -> None:
    for directory, subdirectories, files in os.walk(root, topdown=False):
        for name in files:
            os.unlink(os.path.join(directory, name))
        for name in subdirectories:
            os.rmdir(os.path.join(directory, name))
    os.rmdir(root)
