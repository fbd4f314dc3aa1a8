"""End-to-end tests of the C{logship} command, run as users run it."""

from __future__ import annotations

import base64
import json
import os
import shutil
import stat
import subprocess
import sys
import tempfile
import zlib
from pathlib import Path

from twisted.trial.unittest import SynchronousTestCase

from logship.core.bucket import list_buckets
from logship.core.keys import read_key
from tests.corpus import corpus_file, corpus_lines


def logship(*args: str, stdin: bytes = b"") -> subprocess.CompletedProcess[bytes]:
    """
    Run C{python -m logship ARGS} and return what it did.
    """
    return subprocess.run(
        [sys.executable, "-m", "logship", *args],
        input=stdin,
        capture_output=True,
        env={**os.environ, "TZ": "UTC"},
        timeout=120,
    )


def json_lines(output: bytes) -> list[dict]:
    return [json.loads(line) for line in output.splitlines()]


class CLITestCase(SynchronousTestCase):
    """
    Each test gets a scratch directory.
    """

    def setUp(self) -> None:
        self.tmp = Path(tempfile.mkdtemp())
        self.addCleanup(shutil.rmtree, self.tmp)

    def assertUserError(self, result: subprocess.CompletedProcess[bytes], status: int) -> str:
        """
        The command failed with C{status} and one line on stderr, no traceback.
        """
        self.assertEqual(result.returncode, status, result.stderr)
        self.assertNotIn(b"Traceback", result.stderr)
        return result.stderr.decode()


class ParseTests(CLITestCase):
    def test_fields(self) -> None:
        line = b"<38>Dec 10 06:55:46 LabSZ sshd[24200]: Invalid user webmaster from 173.234.31.186\n"
        result = logship("parse", "--year", "2026", stdin=line)
        self.assertEqual(result.returncode, 0, result.stderr)
        [obj] = json_lines(result.stdout)
        self.assertEqual(obj["time"], "2026-12-10T06:55:46.000000Z")
        self.assertEqual(obj["point"] // 10**8, 1796885746)
        self.assertEqual(
            {k: obj[k] for k in ("host", "app", "pid", "severity", "facility", "message")},
            {
                "host": "LabSZ",
                "app": "sshd",
                "pid": "24200",
                "severity": 6,
                "facility": 4,
                "message": "Invalid user webmaster from 173.234.31.186",
            },
        )
        self.assertIn("173.234.31.186", obj["tokens"])
        self.assertEqual(obj["crc"], zlib.crc32(obj["message"].encode()))

    def test_headerless_gets_host_and_no_pri(self) -> None:
        result = logship("parse", "--host", "box1", stdin=b"just some text\n")
        [obj] = json_lines(result.stdout)
        self.assertEqual((obj["host"], obj["pid"], obj["severity"]), ("box1", None, None))
        self.assertEqual(obj["message"], "just some text")

    def test_identical_lines_in_one_second_stay_two(self) -> None:
        line = b"Dec 10 06:55:46 LabSZ sshd[1]: same\n"
        result = logship("parse", "--year", "2026", stdin=line * 3)
        points = [obj["point"] for obj in json_lines(result.stdout)]
        self.assertEqual(len(set(points)), 3)
        self.assertEqual(points, sorted(points))

    def test_invalid_utf8_kept(self) -> None:
        result = logship("parse", stdin=b"bad \xff\xfe bytes\n")
        [obj] = json_lines(result.stdout)
        self.assertEqual(base64.b64decode(obj["message_b64"]), b"bad \xff\xfe bytes")

    def test_file_argument(self) -> None:
        path = self.tmp / "x.log"
        path.write_bytes(b"a\r\nb\r\nc")
        result = logship("parse", str(path))
        self.assertEqual([o["message"] for o in json_lines(result.stdout)], ["a", "b", "c"])


#: An RFC 5424 line with MSGID and SD, and rsyslog's RFC 3164 "[origin ...]".
SD_LINES = (
    b'<165>1 2003-10-11T22:14:15.003Z mymachine.example.com evntslog - ID47'
    b' [exampleSDID@32473 iut="3" eventSource="Application" eventID="1011"]'
    b'[examplePriority@32473 class="high\\]"] An application event\n'
    b'<46>Jan  5 15:33:03 h rsyslogd: [origin software="rsyslogd" swVersion="8.32.0"] start\n'
)

#: What each gives as msgid, sd and message.
SD_FIELDS = [
    ("ID47", {
        "exampleSDID@32473": {"iut": "3", "eventSource": "Application", "eventID": "1011"},
        "examplePriority@32473": {"class": "high]"},
    }, "An application event"),
    (None, {"origin": {"software": "rsyslogd", "swVersion": "8.32.0"}}, "start"),
]  # fmt: skip


class StructuredDataTests(CLITestCase):
    """
    RFC 5424 MSGID and SD (and rsyslog's SD after an RFC 3164 header) apart
    from the message in C{logship parse} and C{logship cat --json}; the
    stored message stays whole.
    """

    def check(self, objects: list[dict]) -> None:
        self.assertEqual([(o["msgid"], o["sd"], o["message"]) for o in objects], SD_FIELDS)
        lines = SD_LINES.split(b"\n")
        for obj, line in zip(objects, lines):
            stored = obj["stored_message"].encode()
            self.assertTrue(line.endswith(stored))
            self.assertEqual(obj["crc"], zlib.crc32(stored))

    def test_parse(self) -> None:
        result = logship("parse", "--year", "2026", stdin=SD_LINES + b"plain line\n")
        self.assertEqual(result.returncode, 0, result.stderr)
        *objects, plain = json_lines(result.stdout)
        self.check(objects)
        self.assertEqual(objects[0]["host"], "mymachine.example.com")
        self.assertNotIn("sd", plain)
        self.assertNotIn("stored_message", plain)

    def test_import_then_cat(self) -> None:
        source, buckets = self.tmp / "sd.log", self.tmp / "buckets"
        source.write_bytes(SD_LINES)
        result = logship("import", "--year", "2026", "--host", "h", str(source),
                         "--buckets", str(buckets))
        self.assertEqual(result.returncode, 0, result.stderr)
        objects = json_lines(logship("cat", "--json", str(buckets)).stdout)
        self.check(sorted(objects, key=lambda o: o["app"]))


class UsageErrorTests(CLITestCase):
    def test_unknown_option(self) -> None:
        self.assertIn("unrecognized", self.assertUserError(logship("parse", "--nope"), 2))

    def test_missing_file(self) -> None:
        error = self.assertUserError(logship("parse", str(self.tmp / "absent.log")), 2)
        self.assertIn("absent.log: no such file", error)
        self.assertEqual(len(error.splitlines()), 1)

    def test_bad_zone(self) -> None:
        self.assertIn("unknown time zone", self.assertUserError(logship("parse", "--tz", "Mars/Base"), 2))

    def test_bad_bucket_seconds(self) -> None:
        error = self.assertUserError(
            logship("import", "--bucket-seconds", "7", "--buckets", str(self.tmp), "x"), 2
        )
        self.assertIn("divide 3600", error)

    def test_no_command(self) -> None:
        self.assertUserError(logship(), 2)

    def test_help_on_each_command(self) -> None:
        for command in ("parse", "import", "cat", "keygen", "demo"):
            result = logship(command, "--help")
            self.assertEqual(result.returncode, 0)
            self.assertIn(b"usage: logship " + command.encode(), result.stdout)


class ImportCatTests(CLITestCase):
    def test_corpus_import_then_cat(self) -> None:
        """
        C{import} then C{cat --json} on a corpus file gives one JSON line per
        input line, in time order, with the same messages as C{parse}.
        """
        source = corpus_file("Linux_2k.log")
        buckets = self.tmp / "b"
        result = logship("import", "--year", "2026", "--host", "h", str(source), "--buckets", str(buckets))
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertIn(b"2000 lines, 2000 events", result.stderr)
        cat = logship("cat", "--json", str(buckets))
        self.assertEqual(cat.returncode, 0, cat.stderr)
        got = json_lines(cat.stdout)
        parsed = json_lines(logship("parse", "--year", "2026", "--host", "h", str(source)).stdout)
        self.assertEqual(len(got), len(corpus_lines("Linux_2k.log")))
        self.assertEqual([o["point"] for o in got], sorted(o["point"] for o in got))
        # The file is not quite in time order (around line 1907 the kernel
        # logs a few seconds back), so compare with parse's output in time order.
        self.assertEqual(
            [(o["point"], o["message"]) for o in got],
            [(o["point"], o["message"]) for o in sorted(parsed, key=lambda o: o["point"])],
        )

    def test_long_and_binary_lines_round_trip(self) -> None:
        long = b"<13>2026-11-26T09:37:00Z host app: " + bytes(range(256)).replace(b"\n", b"") * 1000
        lines = [b"plain", long, b"\xff\xfe invalid", b"", b"x\x00y"]
        source = self.tmp / "in.log"
        source.write_bytes(b"\n".join(lines) + b"\n")
        buckets = self.tmp / "b"
        logship("import", "--host", "h", str(source), "--buckets", str(buckets))
        text = logship("cat", str(buckets))
        self.assertEqual(text.returncode, 0, text.stderr)
        messages = sorted(line.split(b": ", 1)[1] for line in text.stdout.split(b"\n")[:-1])
        self.assertEqual(
            messages,
            sorted([b"plain", long.split(b"app: ", 1)[1], b"\xff\xfe invalid", b"", b"x\x00y"]),
        )
        objs = json_lines(logship("cat", "--json", str(buckets)).stdout)
        self.assertEqual(len(objs), 5)
        [big] = [o for o in objs if len(o["message"]) > 65536]
        self.assertEqual(base64.b64decode(big["message_b64"]), long.split(b"app: ", 1)[1])
        self.assertEqual(big["crc"], zlib.crc32(long.split(b"app: ", 1)[1]))

    def test_cat_reports_corrupt_and_torn_records(self) -> None:
        source = self.tmp / "in.log"
        source.write_bytes(b"".join(b"2026-11-26T09:37:%02dZ h a: line %d\n" % (i, i) for i in range(10)))
        buckets = self.tmp / "b"
        logship("import", str(source), "--buckets", str(buckets))
        [(_, path)] = list_buckets(buckets)
        data = bytearray(path.read_bytes())
        data[-3] ^= 0xFF  # corrupt the last record's message
        path.write_bytes(bytes(data) + b"\x00\x40partial")
        result = logship("cat", str(path))
        self.assertEqual(result.returncode, 1)
        self.assertEqual(len(result.stdout.splitlines()), 9)
        error = result.stderr.decode()
        self.assertIn(f"{path}: record at byte", error)
        self.assertIn("torn record", error)
        self.assertNotIn("Traceback", error)


class KeygenTests(CLITestCase):
    def test_new_key(self) -> None:
        path = self.tmp / "cluster.key"
        self.assertEqual(logship("keygen", str(path)).returncode, 0)
        self.assertEqual(stat.S_IMODE(path.stat().st_mode), 0o600)
        self.assertEqual(len(read_key(path)), 32)

    def test_refuses_to_overwrite(self) -> None:
        path = self.tmp / "cluster.key"
        logship("keygen", str(path))
        before = path.read_bytes()
        error = self.assertUserError(logship("keygen", str(path)), 1)
        self.assertIn("already exists", error)
        self.assertEqual(path.read_bytes(), before)
