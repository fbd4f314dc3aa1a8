"""Tests of C{logship verify}: log files against buckets, an index, an archive."""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path

from logship.core.bucket import list_buckets
from logship.core.event import Event
from logship.core.pack import pack
from logship.index.sqlite import SqliteStore, check_directory, database_path
from logship.porter.service import archive_key
from tests.cli.test_main import CLITestCase, json_lines, logship
from tests.corpus import corpus_file

READING = ("--tz", "UTC", "--year", "2026", "--host", "verify-host")


class VerifyTests(CLITestCase):
    def setUp(self) -> None:
        super().setUp()
        # A replayed log: the same 2,000 lines three times (time goes back
        # twice), and identical lines in the same second within each copy.
        corpus = corpus_file("OpenSSH_2k.log").read_bytes()
        self.log = self.tmp / "replayed.log"
        self.log.write_bytes(b"\n".join([corpus.rstrip(b"\r\n")] * 3) + b"\n")
        self.buckets = self.tmp / "buckets"
        result = logship("import", *READING, str(self.log), "--buckets", str(self.buckets))
        self.assertEqual(result.returncode, 0, result.stderr)

    def verify(self, *args: str) -> tuple[int, list[str]]:
        result = logship("verify", *READING, *args)
        self.assertNotIn(b"Traceback", result.stderr)
        return result.returncode, result.stdout.decode().splitlines()

    def stored(self) -> list[Event]:
        from logship.cli.reading import read_bucket

        return [e for _, path in list_buckets(self.buckets) for e in read_bucket(path, self.fail)]

    def test_every_line_once(self) -> None:
        """
        Every line of a replayed log is its own event: 6,000 distinct
        identities; verify finds nothing missing or extra.
        """
        ids = {obj["id"] for obj in json_lines(logship("cat", "--json", str(self.buckets)).stdout)}
        self.assertEqual(len(ids), 6000)
        status, out = self.verify(str(self.log), "--against", str(self.buckets))
        self.assertEqual(out[-1], "6000 lines, 6000 events in range (0 more copies collapsed):"
                                  " 0 missing, 0 extra")
        self.assertEqual(status, 0)

    def test_copies_collapse(self) -> None:
        """
        Importing the same file again stores copies of the same
        occurrences: they collapse, and are counted.
        """
        logship("import", *READING, str(self.log), "--buckets", str(self.buckets))
        status, out = self.verify(str(self.log), "--against", str(self.buckets))
        self.assertEqual((status, out[-1].split(": ")[-1]), (0, "0 missing, 0 extra"))
        self.assertIn("(6000 more copies collapsed)", out[-1])

    def test_missing(self) -> None:
        """
        A lost bucket file: its lines are missing, named by file and line.
        """
        _, path = list_buckets(self.buckets)[0]
        lost = sum(1 for _ in json_lines(logship("cat", "--json", str(path)).stdout))
        path.unlink()
        status, out = self.verify(str(self.log), "--against", str(self.buckets), "--show", "3")
        self.assertEqual(status, 1)
        self.assertTrue(out[-1].endswith(f"{lost} missing, 0 extra"), out[-1])
        self.assertTrue(out[0].startswith(f"missing {self.log}:1: "), out[0])
        self.assertEqual(out[3], f"... and {lost - 3} more missing")

    def test_extra(self) -> None:
        """
        Events of the same host and time range that the files do not hold
        are extra.
        """
        other = self.tmp / "other.log"
        other.write_bytes(b"Dec 10 07:00:00 LabSZ sshd[1]: not in the replayed log\n")
        logship("import", *READING, str(other), "--buckets", str(self.buckets))
        status, out = self.verify(str(self.log), "--against", str(self.buckets))
        self.assertEqual(status, 1)
        self.assertEqual(out[0], "extra: 2026-12-10T07:00:00.000000Z LabSZ sshd[1]:"
                                 " not in the replayed log")
        self.assertTrue(out[-1].endswith("0 missing, 1 extra"))
        status, out = self.verify(str(self.log), str(other), "--against", str(self.buckets))
        self.assertEqual(status, 0)

    def test_index(self) -> None:
        """
        Against a sqlite index holding the events (one missing).
        """
        events = self.stored()
        store = SqliteStore(database_path(check_directory(self.tmp / "index", create=True), "recent"))
        store.load(events[1:])
        store.close()
        status, out = self.verify(str(self.log), "--against", f"sqlite:{self.tmp / 'index'}")
        self.assertEqual(status, 1)
        self.assertTrue(out[-1].startswith("6000 lines, 5999 events"), out[-1])
        self.assertTrue(out[-1].endswith("1 missing, 0 extra"), out[-1])

    def test_archive(self) -> None:
        """
        Against a dir archive of packed buckets.
        """
        by_bucket: dict[int, list[Event]] = defaultdict(list)
        for event in self.stored():
            by_bucket[event.point // 10**8 // 60 * 60].append(event)
        for start, events in by_bucket.items():
            path = self.tmp / "archive" / archive_key(start, 60)
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(pack(sorted(events, key=lambda e: e.point)))
        status, out = self.verify(str(self.log), "--against", f"dir:{self.tmp / 'archive'}")
        self.assertEqual((status, out[-1].split(": ")[-1]), (0, "0 missing, 0 extra"))

    def test_errors(self) -> None:
        """
        A missing file, a missing target, an unknown index: one line each.
        """
        result = logship("verify", str(self.tmp / "absent.log"), "--against", str(self.buckets))
        self.assertIn("absent.log: no such file", self.assertUserError(result, 2))
        result = logship("verify", str(self.log), "--against", str(self.tmp / "nowhere"))
        self.assertIn("nowhere: no such file", self.assertUserError(result, 2))
        result = logship("verify", str(self.log), "--against", f"sqlite:{self.tmp}")
        self.assertIn("no such index", self.assertUserError(result, 1))
        empty = self.tmp / "empty.log"
        empty.write_bytes(b"")
        result = logship("verify", str(empty), "--against", str(self.buckets))
        self.assertIn("hold no lines", self.assertUserError(result, 2))


def test_cat_shows_identity(tmp_path: Path) -> None:
    """
    C{logship cat --json} shows each event's id and origin: the file's
    source tag, file number 0 and the byte offset of its line.
    """
    log = tmp_path / "two.log"
    log.write_bytes(b"same line\nsame line\n")
    logship("import", *READING, str(log), "--buckets", str(tmp_path / "b"))
    first, second = json_lines(logship("cat", "--json", str(tmp_path / "b")).stdout)
    assert first["origin"]["source"] == second["origin"]["source"]
    assert (first["origin"]["offset"], second["origin"]["offset"]) == (0, 10)
    assert first["id"] != second["id"]
    assert json.dumps(first["origin"]["file"]) == "0"
