"""The non-syslog shapes (L{logship.core.formats}) through C{logship parse},
C{logship import} then C{logship cat}, and C{--format}."""

from __future__ import annotations

from pathlib import Path

from logship.cli.exits import USAGE_ERROR
from tests.cli.test_main import CLITestCase, json_lines, logship
from tests.formatlines import EXAMPLES, HPC_EXAMPLES, Example


def shown(example: Example) -> dict[str, object]:
    """
    What C{logship parse} and C{logship cat --json} show of an example.
    """
    return {
        "time": example.time,
        "host": example.host or "h",
        "app": example.app,
        "pid": example.pid,
        "severity": example.severity,
        "message": example.message,
    }


def picked(obj: dict[str, object]) -> dict[str, object]:
    return {key: obj[key] for key in ("time", "host", "app", "pid", "severity", "message")}


class FormatsTests(CLITestCase):
    def write(self, examples: list[Example]) -> Path:
        path = self.tmp / "in.log"
        path.write_bytes(b"".join(e.line + b"\n" for e in examples))
        return path

    def test_parse(self) -> None:
        """
        C{logship parse} shows every example's fields, guessed.
        """
        result = logship("parse", "--host", "h", "--year", "2023", str(self.write(EXAMPLES)))
        self.assertEqual(result.returncode, 0, result.stderr)
        got = [picked(o) for o in json_lines(result.stdout)]
        self.assertEqual(got, [shown(e) for e in EXAMPLES])

    def test_import_then_cat(self) -> None:
        """
        C{logship import} then C{cat --json} keeps the fields of every
        shape, one event per line.
        """
        buckets = self.tmp / "b"
        result = logship(
            "import", "--host", "h", "--year", "2023", str(self.write(EXAMPLES)),
            "--buckets", str(buckets),
        )  # fmt: skip
        self.assertEqual(result.returncode, 0, result.stderr)
        cat = logship("cat", "--json", str(buckets))
        self.assertEqual(cat.returncode, 0, cat.stderr)
        got = sorted(json_lines(cat.stdout), key=lambda o: (o["origin"]["offset"]))
        self.assertEqual([picked(o) for o in got], [shown(e) for e in EXAMPLES])

    def test_format_option(self) -> None:
        """
        C{--format hpc} reads the hpc lines that guessing leaves as text, in
        parse, import and verify.
        """
        path = self.write(HPC_EXAMPLES)
        guessed = json_lines(logship("parse", "--host", "h", str(path)).stdout)
        self.assertEqual([o["host"] for o in guessed], ["h"] * len(HPC_EXAMPLES))
        result = logship("parse", "--host", "h", "--format", "hpc", str(path))
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertEqual(
            [picked(o) for o in json_lines(result.stdout)], [shown(e) for e in HPC_EXAMPLES]
        )
        buckets = self.tmp / "b"
        imported = logship(
            "import", "--format", "hpc", str(path), "--buckets", str(buckets)
        )
        self.assertEqual(imported.returncode, 0, imported.stderr)
        cat = json_lines(logship("cat", "--json", str(buckets)).stdout)
        self.assertEqual(sorted(o["host"] for o in cat), sorted(e.host for e in HPC_EXAMPLES))
        verified = logship(
            "verify", "--format", "hpc", str(path), "--against", str(buckets), "--slack", "1e10"
        )
        self.assertEqual(verified.returncode, 0, verified.stdout + verified.stderr)

    def test_unknown_format(self) -> None:
        """
        An unknown name is a usage error that lists the known ones.
        """
        for command in (["parse"], ["import", "--buckets", str(self.tmp / "b")], ["verify", "--against", "x"]):
            result = logship(*command, "--format", "syslogish", str(self.write(EXAMPLES[:1])))
            error = self.assertUserError(result, USAGE_ERROR)
            self.assertIn("unknown format 'syslogish'; known: auto, cluster, hpc, pipe", error)
