"""Tests of L{logship.cli.reading} and of C{logship cat} on every kind of file, archives and garbage."""

from __future__ import annotations

import contextlib
import gzip
import io
import shutil
import sqlite3
import tempfile
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st
from twisted.trial.unittest import SynchronousTestCase

from logship.cli.main import CommandError, build_parser
from logship.cli.reading import Unreadable, object_key, read_file
from logship.core.bucket import list_buckets
from tests.cli.incident import make_archive, make_buckets
from tests.cli.test_main import CLITestCase, logship


class CatTests(CLITestCase):
    def setUp(self) -> None:
        super().setUp()
        self.buckets = make_buckets(self.tmp, logship)
        self.archive = self.tmp / "archive"
        self.keys = make_archive(self.buckets, self.archive)
        self.all = self.cat(str(self.buckets))

    def cat(self, *args: str) -> bytes:
        result = logship("cat", *args)
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertEqual(result.stderr, b"")
        return result.stdout

    def test_each_kind(self) -> None:
        """
        A bucket file, an archive object (.lsp), a directory of either, and
        a dir: archive by range or by key all show the same events.
        """
        [(_, first), *_] = list_buckets(self.buckets)
        relpath = first.relative_to(self.buckets).as_posix()
        obj = self.archive / "buckets" / relpath.replace(".b", ".lsp")
        one = self.cat(str(first))
        self.assertTrue(one)
        self.assertEqual(self.cat(str(obj)), one)
        self.assertEqual(self.cat(f"dir:{self.archive}", "--key", relpath.removesuffix(".b")), one)
        self.assertEqual(self.cat(f"dir:{self.archive}", "--key", f"buckets/{relpath[:-2]}.lsp"), one)
        self.assertEqual(self.cat(str(self.archive)), self.all)
        self.assertEqual(self.cat(f"dir:{self.archive}", "--from", "2026-01-01"), self.all)
        self.assertEqual(len(self.all.splitlines()), 4000)

    def test_range(self) -> None:
        """
        --from and --to select events, the same from files and archives.
        """
        window = ("--from", "2026-12-10T07:00:00Z", "--to", "2026-12-10T08:00:00Z")
        from_files = self.cat(str(self.buckets), *window)
        self.assertEqual(self.cat(f"dir:{self.archive}", *window), from_files)
        self.assertTrue(from_files)
        self.assertTrue(all(line.startswith(b"2026-12-10T07:") for line in from_files.splitlines()))

    def test_other_files_named(self) -> None:
        """
        Files that are no bucket file or archive object get one line each
        saying what they look like, never "torn record"; status 1; the
        readable ones are still shown.
        """
        (self.tmp / "x.gz").write_bytes(gzip.compress(b"a line\n" * 50))
        (self.tmp / "x.log").write_bytes(b"Dec 10 06:55:46 LabSZ sshd[24200]: hello\n")
        sqlite3.connect(self.tmp / "x.sqlite").execute("CREATE TABLE t (a)").connection.commit()
        (self.tmp / "v9.lsp").write_bytes(b"LSPK\x09" + bytes(60))
        good = self.archive / "buckets" / self.keys[0].removeprefix("buckets/")
        (self.tmp / "bad.lsp").write_bytes(good.read_bytes()[:-5])
        result = logship("cat", str(self.tmp / "x.gz"), str(self.tmp / "x.log"),
                         str(self.tmp / "x.sqlite"), str(self.tmp / "v9.lsp"),
                         str(self.tmp / "bad.lsp"), str(good))
        error = self.assertUserError(result, 1)
        self.assertEqual(error.splitlines(), [
            f"logship cat: {self.tmp}/x.gz: gzip data, not a logship bucket file or archive object",
            f"logship cat: {self.tmp}/x.log: text, not a logship bucket file or archive object"
            " (a log file? read it with logship parse or logship import)",
            f"logship cat: {self.tmp}/x.sqlite: an SQLite database, not a logship bucket file or"
            " archive object (an index? read it with logship search or logship export)",
            f"logship cat: {self.tmp}/v9.lsp: a logship archive object of version 9"
            " (this logship reads versions 2 and 3)",
            f"logship cat: {self.tmp}/bad.lsp: corrupt archive object"
            f" ({good.stat().st_size - 5} bytes): truncated compressed data",
        ])
        self.assertEqual(result.stdout, self.cat(str(good)))

    def test_archive_errors(self) -> None:
        """
        Missing archives and objects, corrupt objects, bad URLs and keys:
        one line each, naming the archive and the object.
        """
        corrupt = self.archive / self.keys[1]
        data = bytearray(corrupt.read_bytes())
        data[60] ^= 0xFF
        corrupt.write_bytes(bytes(data))
        archive = f"dir:{self.archive}"
        cases = [
            (["dir:" + str(self.tmp / "none"), "--from", "0"], 2,
             f"dir:{self.tmp}/none: no such archive directory"),
            ([archive, "--key", "2020/01/01/00/00"], 1,
             f"{archive}: buckets/2020/01/01/00/00.lsp: no such object in the archive"),
            ([archive, "--key", "yesterday"], 2, "'yesterday' names no bucket"),
            ([archive], 2, "give --from/--to or --key"),
            (["--key", "2020/01/01/00/00", str(self.buckets)], 2, "--key names objects of an archive"),
            (["s3://x", "--from", "0"], 2, "not a valid bucket name"),
            ([archive, "--key", self.keys[1]], 1, f"{archive}: {self.keys[1]}: corrupt archive object"),
        ]
        for args, status, message in cases:
            error = self.assertUserError(logship("cat", *args), status)
            self.assertEqual(len(error.splitlines()), 1, error)
            self.assertIn(message, error)


def cat_in_process(path: Path) -> tuple[int, str]:
    """
    Run C{logship cat PATH} in this process: its status and stderr.
    """
    args = build_parser().parse_args(["cat", str(path)])
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        try:
            status = args.run(args, io.BytesIO(), 0.0)
        except CommandError as e:
            status = e.status
            err.write(f"logship cat: {e}\n")
    return status, err.getvalue()


class ArbitraryBytesTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.tmp = Path(tempfile.mkdtemp())
        self.addCleanup(shutil.rmtree, self.tmp)

    @settings(max_examples=300)
    @given(st.one_of(
        st.binary(max_size=300),
        st.binary(max_size=200).map(lambda b: b"LSPK\x03" + b),
        st.binary(max_size=200).map(lambda b: b"\x00\x40\x02" + b),
    ))
    def test_never_a_traceback(self, data: bytes) -> None:
        """
        Arbitrary bytes (also behind the pack magic, or a plausible first
        record) give events or one-line errors naming the file, never an
        exception.
        """
        path = self.tmp / "f"
        path.write_bytes(data)
        problems: list[str] = []
        try:
            events = read_file(path, problems.append)
        except Unreadable as e:
            self.assertTrue(str(e).startswith(f"{path}: "))
            self.assertNotIn("\n", str(e))
        else:
            self.assertIsInstance(events, list)
        for problem in problems:
            self.assertTrue(problem.startswith(f"{path}: "))
            self.assertNotIn("\n", problem)
        status, err = cat_in_process(path)
        self.assertIn(status, (0, 1))
        self.assertTrue(all(line.startswith(f"logship cat: {path}: ") for line in err.splitlines()))


class ObjectKeyTests(SynchronousTestCase):
    def test_forms(self) -> None:
        for given_ in ("2026/11/26/09/37", "2026/11/26/09/37.b", "buckets/2026/11/26/09/37.lsp",
                       "/2026/11/26/09/37.lsp"):
            self.assertEqual(object_key(given_), "buckets/2026/11/26/09/37.lsp")
        self.assertEqual(object_key("2026/11/26/09/37-10"), "buckets/2026/11/26/09/37-10.lsp")
        for bad in ("", "37", "2026/11/26/09", "../2026/11/26/09/37"):
            self.assertRaises(ValueError, object_key, bad)
