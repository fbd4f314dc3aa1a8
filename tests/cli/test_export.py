"""Tests of C{logship export}: an index written back out, run as users run it."""

from __future__ import annotations

import json

from tests.cli.incident import RANGE, index_contents, make_buckets, make_index, records
from tests.cli.test_main import CLITestCase, logship


class ExportTests(CLITestCase):
    def setUp(self) -> None:
        super().setUp()
        self.buckets = make_buckets(self.tmp, logship)
        make_index(self.buckets, self.tmp / "index")
        self.index = f"sqlite:{self.tmp / 'index'}"

    def export(self, *args: str) -> str:
        result = logship("export", "--index", self.index, *args)
        self.assertEqual(result.returncode, 0, result.stderr)
        return result.stderr.decode()

    def test_bucket_files_byte_equal(self) -> None:
        """
        Exported bucket files hold the same records, byte for byte, as the
        files the index was loaded from; exporting again adds nothing.
        """
        out = self.tmp / "out"
        summary = self.export(*RANGE, "--out", str(out))
        self.assertIn("4000 events into", summary)
        self.assertEqual(records(out), records(self.buckets))
        again = self.export(*RANGE, "--out", str(out))
        self.assertIn("0 events added", again)
        self.assertEqual(records(out), records(self.buckets))
        self.assertEqual([p for p in out.rglob("*") if p.name.startswith(".")], [])

    def test_range(self) -> None:
        """
        Only the events of [--from, --to) are written.
        """
        out = self.tmp / "out"
        self.export("--from", "2026-12-10T07:02:00Z", "--to", "2026-12-10T07:08:00Z",
                    "--out", str(out))
        got = records(out)
        self.assertEqual(sorted(got), ["2026/12/10/07/02.b", "2026/12/10/07/07.b"])
        original = records(self.buckets)
        self.assertEqual(got["2026/12/10/07/02.b"], original["2026/12/10/07/02.b"])
        self.assertEqual(got["2026/12/10/07/07.b"], original["2026/12/10/07/07.b"])

    def test_archive_round_trip(self) -> None:
        """
        Export to a dir: archive, reindex into a new index: the same events
        (identities and bytes); the archive has the porter's layout with a
        manifest per hour.
        """
        archive = self.tmp / "archive"
        self.export(*RANGE, "--out", f"dir:{archive}")
        result = logship("reindex", "--archive", f"dir:{archive}", *RANGE,
                         "--index", f"sqlite:{self.tmp / 'again'}", "--quiet")
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertEqual(index_contents(self.tmp / "again"), index_contents(self.tmp / "index"))
        objects = sorted(p.relative_to(archive / "buckets").as_posix()
                         for p in (archive / "buckets").rglob("*.lsp"))
        self.assertEqual(objects, sorted(k.replace(".b", ".lsp") for k in records(self.buckets)))
        manifest = json.loads((archive / "manifest/2026/12/10/06.json").read_text())
        self.assertEqual(manifest["bucket_seconds"], 60)
        self.assertTrue(all(entry["key"].startswith("buckets/2026/12/10/06/")
                            for entry in manifest["buckets"]))

    def test_errors(self) -> None:
        """
        Bad arguments and unusable indexes or outputs: one line, no
        traceback, nothing written.
        """
        out = str(self.tmp / "out")
        cases = [
            (["--index", "mysql:x", *RANGE, "--out", out], 2, "bad index URL"),
            (["--index", self.index, "--from", "yesterday", "--out", out], 2, "--from: 'yesterday' is not a time"),
            (["--index", self.index, "--from", "2026-02-01", "--to", "2026-01-01", "--out", out], 2,
             "the range is empty"),
            (["--index", f"sqlite:{self.tmp / 'none'}", *RANGE, "--out", out], 1, "no such directory"),
            (["--index", self.index, *RANGE, "--out", "s3://Bad_Bucket"], 2, "not a valid bucket name"),
            (["--index", self.index, *RANGE, "--out", out, "--bucket-seconds", "7"], 2, "divide 3600"),
            (["--index", self.index, *RANGE, "--out", "ftp://host/x"], 2, "unsupported archive URL"),
        ]
        for args, status, message in cases:
            error = self.assertUserError(logship("export", *args), status)
            self.assertIn(message, error)
            self.assertEqual(len(error.splitlines()), 1, error)
        self.assertFalse((self.tmp / "out").exists())

    def test_damaged_file_left_alone(self) -> None:
        """
        A bucket file already there that does not read cleanly is not
        overwritten: the export stops and names it.
        """
        out = self.tmp / "out"
        self.export(*RANGE, "--out", str(out))
        damaged = out / "2026/12/10/06/55.b"
        data = damaged.read_bytes()[:-3]
        damaged.write_bytes(data)
        error = self.assertUserError(logship("export", "--index", self.index, *RANGE,
                                             "--out", str(out)), 1)
        self.assertIn("2026/12/10/06/55.b exists and does not read cleanly", error)
        self.assertEqual(damaged.read_bytes(), data)

