"""Tests for L{logship.core.sample}."""

from __future__ import annotations

from datetime import timezone

from twisted.trial.unittest import SynchronousTestCase

from logship.core.parse import parse_line
from logship.core.sample import sample_lines

START = 1795685820.0


class SampleTests(SynchronousTestCase):
    def test_deterministic(self) -> None:
        self.assertEqual(
            list(sample_lines(200, start=START, seed=3)),
            list(sample_lines(200, start=START, seed=3)),
        )
        self.assertNotEqual(
            list(sample_lines(50, start=START, seed=3)),
            list(sample_lines(50, start=START, seed=4)),
        )

    def test_lines_parse_as_syslog(self) -> None:
        lines = list(sample_lines(500, start=START, rate=50))
        self.assertEqual(len(lines), 500)
        for line in lines:
            parsed = parse_line(line, now=START, tz=timezone.utc)
            self.assertIsNotNone(parsed.host, line)
            self.assertTrue(parsed.app, line)
        seconds = {parse_line(line, now=START, tz=timezone.utc).point for line in lines}
        self.assertEqual(len(seconds), 10)
