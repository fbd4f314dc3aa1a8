"""Tests of C{logship reindex}: an index from a dir archive, run as users run it.

The Ctrl-C test is in C{tests/integration/test_incident_process.py}.
"""

from __future__ import annotations

import json

from tests.cli.incident import (
    RANGE,
    index_contents,
    make_archive,
    make_buckets,
    make_index,
)
from tests.cli.test_main import CLITestCase, logship

QUERIES = (
    ("--term", "sshd"),
    ("--substring", "authentication failure"),
    ("--q", 'session "for user root"', "--json"),
    ("--from", "2026-12-10T07:00:00Z", "--to", "2026-12-10T09:00:00Z"),
)


class ReindexTests(CLITestCase):
    def setUp(self) -> None:
        super().setUp()
        self.buckets = make_buckets(self.tmp, logship)
        make_index(self.buckets, self.tmp / "original")
        self.keys = make_archive(self.buckets, self.tmp / "archive")
        self.archive = f"dir:{self.tmp / 'archive'}"
        self.index = f"sqlite:{self.tmp / 'rebuilt'}"

    def reindex(self, *args: str, status: int = 0) -> str:
        result = logship("reindex", "--archive", self.archive, "--index", self.index, *args)
        self.assertEqual(result.returncode, status, result.stderr)
        self.assertNotIn(b"Traceback", result.stderr)
        return result.stderr.decode()

    def search(self, index: str, *args: str) -> bytes:
        result = logship("search", "--index", index, "--limit", "10000", *RANGE, *args)
        self.assertEqual(result.returncode, 0, result.stderr)
        return result.stdout

    def test_equal_to_the_original(self) -> None:
        """
        The rebuilt index has the original's events (identities and every
        field), counts and search results; the state file is gone.
        """
        summary = self.reindex(*RANGE)
        self.assertIn(f"{len(self.keys)} objects (0 done before, 0 unreadable),"
                      " 4000 events loaded (4000 new)", summary)
        self.assertEqual(index_contents(self.tmp / "rebuilt"), index_contents(self.tmp / "original"))
        original = f"sqlite:{self.tmp / 'original'}"
        for query in QUERIES:
            self.assertEqual(self.search(self.index, *query), self.search(original, *query))
            self.assertEqual(self.search(self.index, "--count", *query),
                             self.search(original, "--count", *query))
        self.assertFalse((self.tmp / "rebuilt" / "recent.reindex.json").exists())
        again = self.reindex(*RANGE)
        self.assertIn("4000 events loaded (0 new)", again)

    def test_range_and_name(self) -> None:
        """
        Only events of [--from, --to) are loaded, into the index named.
        """
        self.reindex("--from", "2026-12-10T07:00:00Z", "--to", "2026-12-10T08:00:00Z",
                     "--name", "history-1")
        expected = self.search(f"sqlite:{self.tmp / 'original'}", "--from", "2026-12-10T07:00:00Z",
                               "--to", "2026-12-10T08:00:00Z", "--count")
        self.assertEqual(self.search(self.index, "--name", "history-1", "--count"), expected)

    def test_corrupt_object_then_resume(self) -> None:
        """
        A corrupt object is one line with its name; the others are loaded
        and the state keeps them; once the object is repaired, the same
        command loads only it, and the index is the original's.
        """
        path = self.tmp / "archive" / self.keys[3]
        good = path.read_bytes()
        path.write_bytes(good[:40] + bytes([good[40] ^ 1]) + good[41:])
        error = self.reindex(*RANGE, status=1)
        self.assertIn(f"{self.archive}: {self.keys[3]}: corrupt archive object", error)
        self.assertIn("1 unreadable", error)
        state = json.loads((self.tmp / "rebuilt" / "recent.reindex.json").read_text())
        self.assertEqual(len(state["done"]), len(self.keys) - 1)
        path.write_bytes(good)
        summary = self.reindex(*RANGE)
        self.assertIn(f"resuming from {self.tmp}/rebuilt/recent.reindex.json:"
                      f" {len(self.keys) - 1} objects done before", summary)
        self.assertIn(f"({len(self.keys) - 1} done before, 0 unreadable)", summary)
        self.assertEqual(index_contents(self.tmp / "rebuilt"), index_contents(self.tmp / "original"))
        self.assertFalse((self.tmp / "rebuilt" / "recent.reindex.json").exists())

    def test_state_of_another_run(self) -> None:
        """
        A state file of another range, or one that is not JSON, is
        replaced: everything is loaded.
        """
        state = self.tmp / "state.json"
        state.write_text("{not json")
        summary = self.reindex(*RANGE, "--state", str(state))
        self.assertIn("starting over", summary)
        self.assertIn("(0 done before", summary)
        self.assertEqual(index_contents(self.tmp / "rebuilt"), index_contents(self.tmp / "original"))

    def test_errors(self) -> None:
        cases = [
            (["--archive", "ftp://x", "--index", self.index, *RANGE], 2, "unsupported archive URL"),
            (["--archive", f"dir:{self.tmp}/none", "--index", self.index, *RANGE], 2,
             "no such archive directory"),
            (["--archive", self.archive, "--index", "sqlite", *RANGE], 2, "bad index URL"),
            (["--archive", self.archive, "--index", self.index, "--from", "2026-13-01"], 2,
             "--from: '2026-13-01' is not a time"),
            (["--archive", self.archive, "--index", self.index, "--name", "Bad", *RANGE], 2,
             "bad index name"),
        ]
        for args, status, message in cases:
            error = self.assertUserError(logship("reindex", *args), status)
            self.assertEqual(len(error.splitlines()), 1, error)
            self.assertIn(message, error)
