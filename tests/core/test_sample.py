"""Tests for L{logship.core.sample}."""

from __future__ import annotations

from datetime import timezone

from twisted.trial.unittest import SynchronousTestCase

from logship.core.parse import parse_line
from logship.core.sample import JavaSampleSource, sample_lines

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


class JavaSampleTests(SynchronousTestCase):
    def test_events_with_and_without_traces(self) -> None:
        """
        The same seed gives the same events; each begins with a log4j
        line, and some have a stack trace after it.
        """
        def events(seed: int) -> list[list[bytes]]:
            source = JavaSampleSource(seed)
            return [source.event(START + i) for i in range(100)]

        self.assertEqual(events(1), events(1))
        traces = [e for e in events(1) if len(e) > 1]
        self.assertTrue(5 < len(traces) < 50)
        for event in events(1):
            self.assertRegex(event[0], rb"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} [A-Z]+ \[")
        for trace in traces:
            self.assertTrue(all(line.startswith((b"\t", b"Caused by: ")) for line in trace[2:]))
