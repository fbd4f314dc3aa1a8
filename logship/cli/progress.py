"""A one-line progress bar on a terminal's stderr, for the long commands (import, reindex)."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TextIO


class Progress:
    """
    A one-line progress bar on a terminal's stderr; silent elsewhere, or
    when asked to be quiet.
    """

    def __init__(
        self,
        stream: TextIO = sys.stderr,
        clock: Callable[[], float] = time.monotonic,
        *,
        quiet: bool = False,
    ) -> None:
        """
        @param stream: where the bar is drawn (if it is a terminal).
        @param clock: seconds, to draw at most five times a second.
        @param quiet: never draw.
        """
        self._stream = stream
        self._clock = clock
        self._enabled = not quiet and stream.isatty()
        self._last = 0.0
        self._shown = False

    def __call__(self, what: Path | str, done: int, total: int, detail: str = "") -> None:
        """
        Show that C{done} of C{total} are done, working on C{what} (a file,
        whose name is shown, or a label), with C{detail} after the bar.
        """
        now = self._clock()
        if not self._enabled or now - self._last < 0.2:
            return
        self._last = now
        label = what.name if isinstance(what, Path) else what
        percent = 100 * done // total if total else 100
        bar = "#" * (percent // 5)
        line = f"\r{label[-30:]:30} [{bar:20}] {percent:3d}%"
        if detail:
            line += " " + detail
        self._stream.write(line[:120])
        self._stream.flush()
        self._shown = True

    def done(self) -> None:
        """
        Clear the bar before the summary is printed.
        """
        if self._shown:
            self._stream.write("\r" + " " * 120 + "\r")
            self._stream.flush()
