"""Tests of L{logship.cli.progress}: a one-line bar on a terminal only."""

from __future__ import annotations

import io
from pathlib import Path

from twisted.trial.unittest import SynchronousTestCase

from logship.cli.progress import Progress


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


class ProgressTests(SynchronousTestCase):
    def test_on_a_terminal(self) -> None:
        """
        One line redrawn in place (carriage returns, no newline), at most
        five times a second, cleared at the end.
        """
        now = [10.0]
        stream = Terminal()
        progress = Progress(stream, lambda: now[0])
        progress("buckets/2026/11/26/09/37.lsp", 1, 4, "10 events")
        progress("buckets/2026/11/26/09/38.lsp", 2, 4, "20 events")  # too soon: not drawn
        now[0] += 0.5
        progress(Path("/x/in.log"), 3, 4)
        progress.done()
        text = stream.getvalue()
        self.assertNotIn("\n", text)
        draws = text.split("\r")[1:]
        self.assertEqual(len(draws), 4)
        self.assertIn("2026/11/26/09/37.lsp", draws[0])
        self.assertIn("[#####               ]  25% 10 events", draws[0])
        self.assertIn("in.log", draws[1])
        self.assertIn(" 75%", draws[1])
        self.assertEqual(draws[2].strip(), "")

    def test_quiet(self) -> None:
        """
        Nothing is drawn when the stream is no terminal, or with quiet.
        """
        for stream, quiet in ((io.StringIO(), False), (Terminal(), True)):
            progress = Progress(stream, lambda: 100.0, quiet=quiet)
            progress("x", 1, 2)
            progress.done()
            self.assertEqual(stream.getvalue(), "")
