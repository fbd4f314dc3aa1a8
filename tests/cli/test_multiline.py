"""Tests of the multi-line options of C{logship parse} and C{logship import}
(L{logship.cli.multiline}), run as users run them."""

from __future__ import annotations


from tests.cli.test_main import CLITestCase, json_lines, logship
from tests.multiline import AFTER, BEFORE, JAVA_TRACE, LONG_TRACE, PYTHON_TRACE, log_of, message_of

RULES = [
    (JAVA_TRACE, ["--multiline", "java"]),
    (PYTHON_TRACE, ["--multiline", "python"]),
    (LONG_TRACE, ["--multiline", "java"]),
    (JAVA_TRACE, ["--multiline-start", r"^\d{4}-\d\d-\d\d "]),
    (PYTHON_TRACE, ["--multiline-continue", r"^\d{4}-", "--multiline-negate"]),
]


def messages(output: bytes) -> list[bytes]:
    return [o["message"].encode() for o in json_lines(output)]


class MultilineCommandTests(CLITestCase):
    def test_parse(self) -> None:
        """
        Each rule: one JSON object for the trace, its message the trace
        without the first line's header, lines and terminators kept.
        """
        for trace, options in RULES:
            for newline in (b"\n", b"\r\n"):
                result = logship("parse", *options, stdin=log_of(trace, newline))
                self.assertEqual(result.returncode, 0, result.stderr)
                expected = message_of(trace).replace(b"\n", newline)
                self.assertEqual(messages(result.stdout),
                                 [message_of(BEFORE), expected, message_of(AFTER)])  # fmt: skip

    def test_off_by_default(self) -> None:
        result = logship("parse", stdin=log_of(JAVA_TRACE))
        self.assertEqual(len(json_lines(result.stdout)), JAVA_TRACE.count(b"\n") + 3)

    def test_import_then_cat(self) -> None:
        """
        Imported with the rules, each trace comes back from C{cat} as one
        event (the long one joined again from its parts).
        """
        for i, (trace, options) in enumerate(RULES):
            log = self.tmp / f"app{i}.log"
            log.write_bytes(log_of(trace))
            buckets = self.tmp / f"buckets{i}"
            result = logship("import", *options, "--buckets", str(buckets), str(log))
            self.assertEqual(result.returncode, 0, result.stderr)
            lines = len(log_of(trace).splitlines())
            self.assertIn(f"{lines} lines, ".encode(), result.stderr)
            result = logship("cat", "--json", str(buckets))
            self.assertEqual(result.returncode, 0, result.stderr)
            self.assertEqual(messages(result.stdout),
                             [message_of(BEFORE), message_of(trace), message_of(AFTER)])  # fmt: skip

    def test_bad_rules(self) -> None:
        for options, message in [
            (["--multiline", "cobol"], "invalid choice"),
            (["--multiline-start", "("], "is not a regular expression"),
            (["--multiline", "java", "--multiline-start", "x"], "not both"),
            (["--multiline-negate"], "needs --multiline-continue"),
            (["--multiline", "java", "--multiline-max-lines", "1"], "max_lines"),
        ]:
            self.assertIn(message, self.assertUserError(logship("parse", *options), 2))
