"""Tests for L{logship.tailer.rotated}: logrotate's names, oldest first."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

from twisted.trial.unittest import SynchronousTestCase

from logship.tailer.rotated import is_gzip_name, rotated_candidates, scan_rotated


class RotatedCandidatesTests(SynchronousTestCase):
    """
    L{rotated_candidates} finds numbered, dated and compressed generations.
    """

    def setUp(self) -> None:
        self.directory = Path(tempfile.mkdtemp())
        self.addCleanup(shutil.rmtree, self.directory)
        self.path = self.directory / "app.log"

    def touch(self, name: str, mtime: int | None = None) -> Path:
        path = self.directory / name
        path.write_bytes(b"x\n")
        if mtime is not None:
            os.utime(path, (mtime, mtime))
        return path

    def names(self) -> list[str]:
        return [p.name for p in rotated_candidates(self.path)]

    def test_missing_directory(self) -> None:
        """
        A path in a directory that does not exist has no rotated files.
        """
        self.assertEqual(rotated_candidates(self.directory / "nope" / "app.log"), [])

    def test_numbered(self) -> None:
        """
        Numbered generations come oldest (highest number) first, compared
        as numbers, plain and compressed alike; the live file is not listed.
        """
        for name in ["app.log", "app.log.1", "app.log.2.gz", "app.log.10.gz", "app.log.9.gz"]:
            self.touch(name)
        self.assertEqual(
            self.names(), ["app.log.10.gz", "app.log.9.gz", "app.log.2.gz", "app.log.1"]
        )

    def test_savelog_zero(self) -> None:
        """
        C{NAME.0} (savelog) is the newest.
        """
        for name in ["app.log.0", "app.log.1.gz"]:
            self.touch(name)
        self.assertEqual(self.names(), ["app.log.1.gz", "app.log.0"])

    def test_compression_in_progress(self) -> None:
        """
        A C{.gz} whose plain twin exists is being written: only the plain
        file is listed.
        """
        for name in ["app.log.1", "app.log.2", "app.log.2.gz", "app.log.3.gz"]:
            self.touch(name)
        self.assertEqual(self.names(), ["app.log.3.gz", "app.log.2", "app.log.1"])

    def test_dateext(self) -> None:
        """
        Dated names come in date order, whatever their precision, with or
        without C{.gz} and a C{-SECONDS} suffix.
        """
        for name in [
            "app.log-20240103",
            "app.log-20240101.gz",
            "app.log-2024010212",
            "app.log-20240102.gz",
            "app.log-20240103-1704300000",
            "app.log-20240103-1704290000.gz",
        ]:
            self.touch(name)
        self.assertEqual(
            self.names(),
            [
                "app.log-20240101.gz",
                "app.log-20240102.gz",
                "app.log-2024010212",
                "app.log-20240103",
                "app.log-20240103-1704290000.gz",
                "app.log-20240103-1704300000",
            ],
        )

    def test_unrelated_names(self) -> None:
        """
        Other files of the directory, other suffixes, other compression
        formats and directories are not rotated generations.
        """
        for name in [
            "app.log.bak",
            "app.log2",
            "app.logs.1",
            "app.log.1.bz2",
            "app.log.1.xz",
            "app.log-2024",
            "app.log-20240101.log",
            "other.log.1",
            "app.log.1.gz.tmp",
        ]:
            self.touch(name)
        (self.directory / "app.log.3").mkdir()
        self.touch("app.log.2")
        self.assertEqual(self.names(), ["app.log.2"])

    def test_mixed_schemes_by_mtime(self) -> None:
        """
        When both numbered and dated names exist, they are interleaved by
        modification time, each scheme keeping its own order.
        """
        self.touch("app.log-20240101.gz", mtime=1000)
        self.touch("app.log-20240102.gz", mtime=3000)
        self.touch("app.log.2.gz", mtime=2000)
        self.touch("app.log.1", mtime=4000)
        self.assertEqual(
            self.names(),
            ["app.log-20240101.gz", "app.log.2.gz", "app.log-20240102.gz", "app.log.1"],
        )

    def test_scan_rotated(self) -> None:
        """
        L{scan_rotated} gives the same files with their stat and whether
        they are compressed.
        """
        self.touch("app.log.1")
        self.touch("app.log.2.gz")
        found = scan_rotated(self.path)
        self.assertEqual([(f.path.name, f.gz) for f in found], [("app.log.2.gz", True), ("app.log.1", False)])
        self.assertEqual(found[1].stat.st_ino, os.stat(self.directory / "app.log.1").st_ino)
        self.assertTrue(is_gzip_name(found[0].path))
        self.assertFalse(is_gzip_name(found[1].path))

