"""Multi-line events: lines joined into one event by start and continuation rules.

Pure, sans-IO: a L{Joiner} is fed the lines of one source in order and
gives back L{Joined} groups, each to become one event (or the parts of one,
over 64 KiB).  The rules (L{MultilineRules}) are those of Filebeat's and
Vector's C{multiline}, and C{docs/multiline.md} describes them for users:

 - a I{continuation} pattern: a line it matches (does not match, with
   C{negate}) continues the event before it;
 - a I{start} pattern: a line it matches begins an event; with no
   continuation pattern, every other line continues;
 - a preset by name (L{PRESETS}): C{java} (stack traces), C{python}
   (tracebacks);
 - C{max_lines}, C{max_bytes}: a group that would grow past either is
   emitted first, and the line begins the next one (nothing is dropped);
 - C{timeout}: the caller emits the held group (L{Joiner.flush}) when no
   line came for that many seconds (the tailer does, from its clock).

Lossless: a group's C{data} is the bytes of its lines as they were in the
file, the terminators between them included (LF, or CR LF), the last
line's terminator not.  Its C{offset} and C{file} are those of its first
line: the event's origin, the same when the group is read again after a
restart.  Patterns are matched with C{re.search} on a line's bytes
without its terminator.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, NamedTuple, Protocol

#: The defaults of the limits (Filebeat's C{max_lines} and C{timeout}).
DEFAULT_MAX_LINES = 500
DEFAULT_MAX_BYTES = 1 << 20
DEFAULT_TIMEOUT = 5.0


@dataclass(frozen=True)
class MultilineRules:
    """
    How the lines of a source are joined (see the module docstring).

    @ivar preset: the name of a preset (L{PRESETS}), or C{None}.
    @ivar start: the start pattern, or C{None}.
    @ivar continuation: the continuation pattern, or C{None}.
    @ivar negate: lines the continuation pattern does B{not} match continue.
    @ivar max_lines: at most this many lines in one group.
    @ivar max_bytes: at most this many bytes in one group's C{data} (a
        single longer line is a group of its own).
    @ivar timeout: seconds without a line after which the held group is
        emitted (by the caller: L{Joiner.idle}).
    """

    preset: str | None = None
    start: re.Pattern[bytes] | None = None
    continuation: re.Pattern[bytes] | None = None
    negate: bool = False
    max_lines: int = DEFAULT_MAX_LINES
    max_bytes: int = DEFAULT_MAX_BYTES
    timeout: float = DEFAULT_TIMEOUT

    def matcher(self) -> Matcher:
        """
        A new matcher of these rules, for one source.
        """
        if self.preset is not None:
            return PRESETS[self.preset]()
        return _Patterns(self.start, self.continuation, self.negate)


class Matcher(Protocol):
    """
    Decides, line by line, whether a line continues the event before it.
    A matcher may keep state across the lines of one source.
    """

    def continues(self, line: bytes) -> bool:
        """
        Whether C{line} (the next line of the source) continues the event
        before it; C{False}: it begins an event.
        """


class _Patterns:
    """
    The rules of a start and/or continuation pattern (stateless).
    """

    def __init__(
        self,
        start: re.Pattern[bytes] | None,
        continuation: re.Pattern[bytes] | None,
        negate: bool,
    ) -> None:
        self._start = start
        self._continuation = continuation
        self._negate = negate

    def continues(self, line: bytes) -> bool:
        if self._start is not None and self._start.search(line):
            return False
        if self._continuation is None:
            return True
        return (self._continuation.search(line) is not None) != self._negate


#: Java: frames (C{at ...}), C{... N more}, C{Caused by:}, C{Suppressed:},
#: and a line naming an exception class (C{java.lang.IllegalStateException:
#: boom}) continue the log line before them.
JAVA_CONTINUATION = re.compile(
    rb"^(?:[ \t]+(?:at |\.\.\. )"
    rb"|[ \t]*(?:Caused by: |Suppressed: )"
    rb"|[A-Za-z_$][\w$]*(?:\.[\w$]+)+(?:Exception|Error|Throwable)(?::|$))"
)


class _PythonTraceback:
    """
    Python: a C{Traceback (most recent call last):} line, its indented
    lines, the exception line after them, and the chained tracebacks
    (a blank line, C{During handling of the above exception ...:} or
    C{The above exception was the direct cause ...:}, a blank line, the
    next traceback) continue the log line before them; so does any
    indented line.
    """

    _TRACEBACK = b"Traceback (most recent call last):"
    _CHAINS = (
        b"During handling of the above exception, another exception occurred:",
        b"The above exception was the direct cause of the following exception:",
    )
    # states
    _OUT, _FRAMES, _RAISED, _GAP, _CHAINED = range(5)

    def __init__(self) -> None:
        self._state = self._OUT

    def continues(self, line: bytes) -> bool:
        state = self._state
        indented = line[:1] in (b" ", b"\t")
        if line.rstrip() == self._TRACEBACK:
            self._state = self._FRAMES
            return True
        if state == self._FRAMES:
            if not indented and line:
                self._state = self._RAISED
            return True
        if state == self._RAISED and not line:
            self._state = self._GAP
            return True
        if state in (self._GAP, self._CHAINED):
            if line.rstrip() in self._CHAINS:
                self._state = self._CHAINED
                return True
            if not line:
                return True
        self._state = self._OUT
        return indented


#: The presets, by name: each makes a new matcher.
PRESETS: Mapping[str, Callable[[], Matcher]] = {
    "java": lambda: _Patterns(None, JAVA_CONTINUATION, False),
    "python": _PythonTraceback,
}


class Joined(NamedTuple):
    """
    One group of lines (one event, or one piece of an over-long line).

    @ivar data: the lines with the terminators between them.
    @ivar offset: where the first line starts in its file.
    @ivar file: the file's number.
    @ivar first: the length of the first line, when several lines were
        joined; C{None} for a single line.
    @ivar ended: C{False} for a piece of an over-long line that the next
        L{Joined} continues (passed through, never joined).
    @ivar lines: how many lines were joined.
    """

    data: bytes
    offset: int
    file: int
    first: int | None = None
    ended: bool = True
    lines: int = 1


class Joiner:
    """
    Joins the lines of one source by L{MultilineRules}, holding the
    current group until a line that begins another, a limit, a new file,
    or the caller's L{flush}.
    """

    def __init__(self, rules: MultilineRules) -> None:
        self.rules = rules
        self._matcher = rules.matcher()
        # the lines held and the terminators between them
        self._lines: list[bytes] = []
        self._count = 0
        self._size = 0
        self._offset = 0
        self._end = 0
        self._file = 0
        self._piece = False
        #: when the last line was fed (the C{now} given with it)
        self.last_fed = 0.0

    @property
    def held(self) -> tuple[int, int] | None:
        """
        C{(file, offset)} of the first line held, or C{None}: a checkpoint
        must not go past it.
        """
        return (self._file, self._offset) if self._lines else None

    def feed(
        self, line: bytes, offset: int, file: int = 0, *, ended: bool = True, now: float = 0.0
    ) -> list[Joined]:
        """
        The next line of the source.

        @param line: the line without its terminator (a CR before the LF
            stripped too); or a piece of an over-long line.
        @param offset: where it starts in its file; the bytes between the
            end of the previous line and this offset are the previous
            line's terminator (two: CR LF).
        @param file: its file's number; a new number emits what is held.
        @param ended: C{False} for a piece of a line that the next one
            continues (pieces go through alone, never joined).
        @param now: the time it was read (for L{idle}).
        @return: the groups complete now (zero, one, or two).
        """
        self.last_fed = now
        out: list[Joined] = []
        piece = self._piece or not ended
        self._piece = not ended
        if piece:
            self._emit(out)
            out.append(Joined(line, offset, file, None, ended))
            return out
        lines = self._lines
        continues = self._matcher.continues(line)
        if lines and (
            not continues
            or file != self._file
            or self._count >= self.rules.max_lines
            or self._size + (offset - self._end) + len(line) > self.rules.max_bytes
        ):
            self._emit(out)
            lines = self._lines
        if lines:
            lines.append(b"\r\n" if offset - self._end == 2 else b"\n")
            self._size += offset - self._end
        else:
            self._offset, self._file, self._size = offset, file, 0
        lines.append(line)
        self._count += 1
        self._size += len(line)
        self._end = offset + len(line)
        return out

    def flush(self) -> list[Joined]:
        """
        Emit the group held, if any (at a timeout, the end of a file).
        """
        out: list[Joined] = []
        self._emit(out)
        return out

    def idle(self, now: float) -> bool:
        """
        Whether a group is held and no line came for the rules' timeout.
        """
        return bool(self._lines) and now - self.last_fed >= self.rules.timeout

    def _emit(self, out: list[Joined]) -> None:
        lines = self._lines
        if not lines:
            return
        count = self._count
        data = lines[0] if count == 1 else b"".join(lines)
        out.append(
            Joined(data, self._offset, self._file, None if count == 1 else len(lines[0]), True, count)
        )
        self._lines = []
        self._count = 0


def join_lines(lines: Iterable[tuple[int, bytes]], rules: MultilineRules) -> Iterator[Joined]:
    """
    Join the lines of a whole file (L{logship.core.ingest.lines_at}
    pairs), with no timeout: for C{logship parse} and C{logship import}.
    """
    joiner = Joiner(rules)
    for offset, line in lines:
        yield from joiner.feed(line, offset)
    yield from joiner.flush()


#: The keys of a C{multiline} table (TOML), with the types each takes and
#: their name in a message.
_TABLE_TYPES: Mapping[str, tuple[tuple[type, ...], str]] = {
    "preset": ((str,), "a string"),
    "start": ((str,), "a string"),
    "continuation": ((str,), "a string"),
    "negate": ((bool,), "true or false"),
    "max_lines": ((int,), "an integer"),
    "max_bytes": ((int,), "an integer"),
    "timeout": ((int, float), "a number"),
}


def make_rules(
    *,
    preset: str | None = None,
    start: str | None = None,
    continuation: str | None = None,
    negate: bool = False,
    max_lines: int = DEFAULT_MAX_LINES,
    max_bytes: int = DEFAULT_MAX_BYTES,
    timeout: float = DEFAULT_TIMEOUT,
) -> MultilineRules:
    """
    Check and build rules: a preset, or a start and/or a continuation
    pattern (Python regular expressions, matched on a line's UTF-8 bytes).

    @raise ValueError: saying what is wrong (by its key's name).
    """
    if preset is not None:
        if preset not in PRESETS:
            raise ValueError(f"preset: {preset!r} is not one of {', '.join(sorted(PRESETS))}")
        if start is not None or continuation is not None or negate:
            raise ValueError("a preset or patterns (start, continuation, negate), not both")
    elif start is None and continuation is None:
        raise ValueError(
            f"give a preset ({', '.join(sorted(PRESETS))}) or a start or continuation pattern"
        )
    if negate and continuation is None:
        raise ValueError("negate applies to a continuation pattern: give one")
    if max_lines < 2:
        raise ValueError(f"max_lines: at least 2, not {max_lines}")
    if max_bytes < 1:
        raise ValueError(f"max_bytes: at least 1, not {max_bytes}")
    if not timeout > 0:
        raise ValueError(f"timeout: seconds > 0, not {timeout}")
    return MultilineRules(
        preset,
        _compiled("start", start),
        _compiled("continuation", continuation),
        negate,
        max_lines,
        max_bytes,
        float(timeout),
    )


def _compiled(key: str, pattern: str | None) -> re.Pattern[bytes] | None:
    if pattern is None:
        return None
    try:
        return re.compile(pattern.encode("utf-8", "surrogateescape"))
    except re.error as e:
        raise ValueError(f"{key}: {pattern!r} is not a regular expression: {e}") from None


def rules_from_table(table: Mapping[str, Any]) -> MultilineRules:
    """
    The rules of a C{multiline} table (TOML): the keys of L{make_rules}.

    @raise ValueError: an unknown key, a value of the wrong type, or rules
        that L{make_rules} refuses.
    """
    for key, value in table.items():
        if key not in _TABLE_TYPES:
            raise ValueError(f"unknown key {key!r} (known: {', '.join(_TABLE_TYPES)})")
        types, kind = _TABLE_TYPES[key]
        if type(value) not in types:
            raise ValueError(f"{key} must be {kind}")
    return make_rules(**table)
