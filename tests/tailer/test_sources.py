"""Tests for L{logship.tailer.sources}: generations, identities, open files."""

from __future__ import annotations

import gzip
import hashlib
import os
import shutil
import tempfile
from pathlib import Path

from twisted.trial.unittest import SynchronousTestCase

from logship.tailer.followstate import FileIdentity
from logship.tailer.sources import (
    Fingerprint,
    GzipSource,
    PlainSource,
    Source,
    last_line_end,
    locate,
    open_source,
    scan_generations,
)


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class SourcesTestCase(SynchronousTestCase):
    """
    A temporary directory per test, with C{app.log} as the live path.
    """

    def setUp(self) -> None:
        self.directory = Path(tempfile.mkdtemp())
        self.addCleanup(shutil.rmtree, self.directory)
        self.path = self.directory / "app.log"

    def write(self, name: str, data: bytes) -> Path:
        path = self.directory / name
        if name.endswith(".gz"):
            with gzip.open(path, "wb") as f:
                f.write(data)
        else:
            path.write_bytes(data)
        return path

    def open(self, name: str, offset: int = 0, fingerprint_size: int = 4) -> Source:
        [candidate] = [c for c in scan_generations(self.path) if c.path.name == name]
        source = open_source(candidate, offset, fingerprint_size, 7)
        self.addCleanup(source.close)
        return source


class FingerprintTests(SynchronousTestCase):
    """
    L{Fingerprint} covers a file's first bytes as they are read.
    """

    def test_extend_continues_the_prefix(self) -> None:
        """
        Only bytes that continue the covered prefix count, up to the limit.
        """
        fingerprint = Fingerprint(b"ab", 5)
        fingerprint.extend(4, b"zz")  # beyond the prefix: a gap, ignored
        self.assertEqual(fingerprint.length, 2)
        fingerprint.extend(1, b"bcdefg")
        self.assertEqual(fingerprint.length, 5)
        self.assertEqual(fingerprint.hexdigest(), sha(b"abcde"))
        fingerprint.extend(5, b"fg")
        self.assertEqual(fingerprint.hexdigest(), sha(b"abcde"))

    def test_head_beyond_limit(self) -> None:
        """
        A head longer than the limit is covered whole.
        """
        fingerprint = Fingerprint(b"abcdef", 2)
        self.assertEqual((fingerprint.limit, fingerprint.length), (6, 6))

    def test_matches(self) -> None:
        """
        A head matches when it starts with the covered bytes.
        """
        fingerprint = Fingerprint(b"abc", 8)
        self.assertTrue(fingerprint.matches(b"abcdef"))
        self.assertFalse(fingerprint.matches(b"ab"))
        self.assertFalse(fingerprint.matches(b"abX"))


class ScanGenerationsTests(SourcesTestCase):
    """
    L{scan_generations} lists the rotated files oldest first, then the live
    path.
    """

    def test_order(self) -> None:
        self.write("app.log.2.gz", b"two\n")
        self.write("app.log.1", b"one\n")
        self.write("app.log", b"live\n")
        found = scan_generations(self.path)
        self.assertEqual(
            [(c.path.name, c.gz, c.live) for c in found],
            [
                ("app.log.2.gz", True, False),
                ("app.log.1", False, False),
                ("app.log", False, True),
            ],
        )
        self.assertEqual(found[1].size, 4)
        self.assertEqual(found[1].inode, os.stat(self.directory / "app.log.1").st_ino)

    def test_without_live(self) -> None:
        """
        The live path is left out when asked, or when it does not exist.
        """
        self.write("app.log.1", b"one\n")
        self.assertEqual([c.path.name for c in scan_generations(self.path)], ["app.log.1"])
        self.write("app.log", b"live\n")
        self.assertEqual(
            [c.path.name for c in scan_generations(self.path, include_live=False)],
            ["app.log.1"],
        )

    def test_identity_and_head(self) -> None:
        """
        A candidate's identity fingerprints its first (decompressed) bytes.
        """
        self.write("app.log.1.gz", b"compressed\n")
        [candidate] = scan_generations(self.path)
        self.assertEqual(candidate.head(4), b"comp")
        identity = candidate.identity(4)
        self.assertEqual(identity.fingerprint, sha(b"comp"))
        self.assertEqual(identity.fingerprint_length, 4)
        self.assertTrue(candidate.matches(identity))
        self.assertFalse(candidate.matches(FileIdentity(0, 0, sha(b"comX"), 4)))

    def test_unreadable_head(self) -> None:
        """
        A file that is not gzip under a C{.gz} name has no head, and matches
        nothing.
        """
        (self.directory / "app.log.1.gz").write_bytes(b"not gzip\n")
        [candidate] = scan_generations(self.path)
        self.assertIsNone(candidate.head(4))
        self.assertFalse(candidate.matches(FileIdentity(0, 0, sha(b""), 0)))


class LocateTests(SourcesTestCase):
    """
    L{locate} finds a file by inode and fingerprint, else by fingerprint.
    """

    def test_by_inode_and_fingerprint(self) -> None:
        """
        The file itself wins over an older copy with the same start.
        """
        self.write("app.log.1", b"same start\n")
        self.write("app.log", b"same start, longer\n")
        candidates = scan_generations(self.path)
        identity = candidates[1].identity(4)
        self.assertEqual(locate(candidates, identity, 0, 0), 1)

    def test_by_fingerprint(self) -> None:
        """
        A compressed copy under another inode is found by its fingerprint;
        the inode's file with other content is not it.
        """
        self.write("app.log.1.gz", b"old content\n")
        self.write("app.log", b"new content\n")
        candidates = scan_generations(self.path)
        identity = FileIdentity(
            candidates[1].dev, candidates[1].inode, sha(b"old "), 4
        )
        self.assertEqual(locate(candidates, identity, 100, 0), 0)

    def test_plain_shorter_than_offset(self) -> None:
        """
        A plain file shorter than the offset is not it.
        """
        self.write("app.log", b"abcd\n")
        candidates = scan_generations(self.path)
        identity = candidates[0].identity(4)
        self.assertEqual(locate(candidates, identity, 5, 0), 0)
        self.assertIsNone(locate(candidates, identity, 6, 0))

    def test_exclude_and_trust_inode(self) -> None:
        """
        C{exclude} leaves a file out; without C{trust_inode}, the oldest
        fingerprint match is taken even if the inode matches a newer one.
        """
        self.write("app.log.1", b"abcd 1\n")
        self.write("app.log", b"abcd 2\n")
        candidates = scan_generations(self.path)
        live = candidates[1]
        identity = live.identity(4)
        self.assertEqual(locate(candidates, identity, 0, 0, trust_inode=False), 0)
        self.assertEqual(
            locate(candidates, identity, 0, 0, exclude=(live.dev, live.inode)), 0
        )

    def test_start_searched_first(self) -> None:
        """
        Candidates from C{start} on are searched before the older ones.
        """
        self.write("app.log.2", b"abcd 2\n")
        self.write("app.log.1", b"abcd 1\n")
        candidates = scan_generations(self.path)
        identity = FileIdentity(0, 0, sha(b"abcd"), 4)
        self.assertEqual(locate(candidates, identity, 0, 1), 1)
        self.assertEqual(locate(candidates, identity, 0, 0), 0)

    def test_no_fingerprint(self) -> None:
        """
        An identity with no fingerprint is found by its inode only.
        """
        self.write("app.log", b"")
        candidates = scan_generations(self.path)
        live = candidates[0]
        self.assertEqual(
            locate(candidates, FileIdentity(live.dev, live.inode, sha(b""), 0), 0, 0), 0
        )
        self.assertIsNone(
            locate(candidates, FileIdentity(live.dev, live.inode + 1, sha(b""), 0), 0, 0)
        )


class OpenSourceTests(SourcesTestCase):
    """
    L{open_source} opens a plain file at an offset, a compressed one at its
    start with the offset to skip.
    """

    def test_plain(self) -> None:
        self.write("app.log", b"first\nsecond\n")
        source = self.open("app.log", offset=6)
        assert isinstance(source, PlainSource)
        self.assertEqual((source.position, source.skip), (6, 0))
        self.assertEqual(source.tail, b"rst\n")
        self.assertEqual(source.checked_at, 7)
        self.assertEqual(source.read(100), b"second\n")
        self.assertEqual(source.seen_size, 13)
        self.assertEqual(source.identity().fingerprint, sha(b"firs"))

    def test_gzip(self) -> None:
        self.write("app.log.1.gz", b"first\nsecond\n")
        source = self.open("app.log.1.gz", offset=6)
        assert isinstance(source, GzipSource)
        self.assertEqual((source.position, source.skip), (0, 6))
        self.assertEqual(source.identity().fingerprint, sha(b"firs"))
        self.assertEqual(source.read(100), b"first\nsecond\n")

    def test_missing(self) -> None:
        """
        A file gone since it was listed raises C{FileNotFoundError}.
        """
        self.write("app.log", b"x\n")
        [candidate] = scan_generations(self.path)
        os.unlink(self.path)
        self.assertRaises(FileNotFoundError, open_source, candidate, 0, 4, 0)


class RewrittenTests(SourcesTestCase):
    """
    L{PlainSource.rewritten} tells whether the bytes read are still there.
    """

    def source(self) -> PlainSource:
        self.write("app.log", b"0123456789\n")
        source = self.open("app.log", offset=8)
        assert isinstance(source, PlainSource)
        return source

    def overwrite(self, at: int, data: bytes) -> None:
        fd = os.open(self.path, os.O_WRONLY)
        try:
            os.pwrite(fd, data, at)
        finally:
            os.close(fd)

    def test_unchanged(self) -> None:
        self.assertFalse(self.source().rewritten(11))

    def test_shrank(self) -> None:
        self.assertTrue(self.source().rewritten(7))

    def test_start_changed(self) -> None:
        source = self.source()
        self.overwrite(0, b"X")
        self.assertTrue(source.rewritten(11))

    def test_before_position_changed(self) -> None:
        source = self.source()
        self.overwrite(7, b"X")
        self.assertTrue(source.rewritten(11))


class LastLineEndTests(SourcesTestCase):
    """
    L{last_line_end} finds where the last complete line ends.
    """

    def end(self, data: bytes) -> int:
        self.path.write_bytes(data)
        fd = os.open(self.path, os.O_RDONLY)
        self.addCleanup(os.close, fd)
        return last_line_end(fd)

    def test_after_last_lf(self) -> None:
        self.assertEqual(self.end(b"one\ntwo\nthr"), 8)

    def test_no_line_end(self) -> None:
        """
        A short file without LF is one unfinished line: start at 0.
        """
        self.assertEqual(self.end(b"unfinished"), 0)

    def test_long_last_line(self) -> None:
        """
        No LF in the last 64 KiB: skip to the end.
        """
        data = b"x\n" + b"y" * (1 << 16)
        self.assertEqual(self.end(data), len(data))

