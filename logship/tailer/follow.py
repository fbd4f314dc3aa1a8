"""Follow one log file across rotations: lose nothing, read nothing twice.

Synchronous file code with no reactor.  The tailer service calls
L{Follower.poll} from a C{LoopingCall}.  It hands the returned lines to the
encoder and appends the events to its local bucket files, and only then
persists L{ReadResult.state}.  After a crash, a new L{Follower} built from
the persisted state reads the same bytes again, cut into the same lines.
Duplicates are possible, loss is not, and the replays collapse because
the points are deterministic.

Identity.  A file is known by its inode and a fingerprint of its first
bytes (L{logship.tailer.sources} says how, and how files are matched); a
saved L{FollowState} names the file being read that way.

Order.  The generations of a path, oldest first, are the rotated files
then the live path (L{logship.tailer.sources.scan_generations}).  The
follower remembers the I{previous} file, the last one it finished (or,
on a first start, the newest rotated file then present).  Files after it
in that list are unread, so the search for the current file starts there.
The search prefers the oldest match, so an ambiguous young fingerprint
gives duplicates rather than loss.

Each poll:

  1. Check the open file (C{fstat}, then its first bytes when its size or
     mtime changed, and every few polls in any case).  If it shrank below
     what was read, or its first bytes changed, it was I{copytruncated}:
     find the copy by fingerprint (not by the live inode), read the copy
     from the saved offset to its end, then the newer files, then the
     live file from 0.
  2. Read at most C{max_read} bytes through the descriptor kept open, so a
     renamed file can be finished.  Complete lines are returned.  A partial
     last line stays in memory and is not counted in the offset, except
     that a line longer than C{max_line} is returned in pieces.
  3. At the end of the file: if the path still names it, wait.  If not
     (renamed, deleted, or the file is a rotated generation), find it in
     the list and move on to the next one.  Move to the live path only when
     the new file has data (a single writer has then reopened, so the old
     file is complete) or after C{rotate_wait} polls.  Read the old file
     once more, after seeing that, before leaving it.  A last line without
     LF in a finished file is returned as a line.

See C{docs/rotation.md} for each rotation scheme, restarts and the limits.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import zlib
from collections.abc import Mapping
from dataclasses import dataclass
from enum import Enum
from itertools import accumulate, repeat
from pathlib import Path
from typing import Any, NamedTuple

from twisted.logger import Logger

from logship.tailer.followstate import FileIdentity, FollowState
from logship.tailer.sources import (
    FINGERPRINT_SIZE,
    Candidate,
    PlainSource,
    Source,
    last_line_end,
    locate,
    open_source,
    scan_generations,
)

#: Bytes of a compressed file skipped (decompressed, to reach a saved offset)
#: per poll, as a multiple of C{max_read}: skipping is cheaper than reading.
_SKIP_FACTOR = 8

#: At most this many steps (reads, file switches) per poll.
_MAX_STEPS = 64

#: Re-check what is cached (the identity of the open file, a directory
#: listing while waiting) at least every this many polls, even when nothing
#: seems to have changed: file and directory times are coarse, and two
#: changes in one tick look like one.
_RECHECK_POLLS = 8

#: The fingerprint of no bytes.
_EMPTY_FINGERPRINT = hashlib.sha256(b"").hexdigest()


class _Verdict(Enum):
    """
    What L{Follower._check} found out about the open plain file.
    """

    #: Still the file read so far.
    SAME = "same"
    #: Copytruncated after (some of) it was read: read the copy on.
    TRUNCATED = "truncated"
    #: Copytruncated before anything was read: read the copies first.
    ROTATED_WHILE_EMPTY = "rotated while empty"


#: Adds one (a line's LF) in C, for L{itertools.accumulate}.
_plus_one = (1).__add__


class Line(NamedTuple):
    """
    One line read, or one piece of a line longer than C{max_line}.

    (A named tuple: the tailer creates one per line, and a tuple is the
    cheapest immutable value to create.)

    C{file} and C{offset} say which occurrence this is: reading the same
    file again from a saved state gives the same pair for the same line
    (the tailer makes the events' origins of them).

    @ivar data: the bytes, without the LF; a CR before the LF is kept (the
        encoder strips it, as L{logship.core.ingest.split_lines} does).
    @ivar ended: C{False} for a piece that the next L{Line} continues;
        C{True} for a whole line or the last piece of one.
    @ivar offset: where the line (or piece) starts in its file
        (decompressed bytes for C{.gz}).
    @ivar file: the number of its file (L{FollowState.file}).
    """

    data: bytes
    ended: bool = True
    offset: int = 0
    file: int = 0


@dataclass(frozen=True, slots=True)
class ReadResult:
    """
    What one L{Follower.poll} read.

    @ivar lines: the lines, in file order.
    @ivar state: the state to persist once the lines are safely stored.
    @ivar more: C{True} if the poll stopped on its C{max_read} budget (or
        step limit) with more to read: poll again soon.
    """

    lines: list[Line]
    state: FollowState
    more: bool


@dataclass
class FollowCounters:
    """
    What a L{Follower} did, for metrics.

    @ivar lines: whole lines returned (pieces of a long line count once).
    @ivar pieces: pieces of long lines returned with C{ended=False}.
    @ivar bytes: bytes returned (line terminators included).
    @ivar files_finished: files read to their end and left (after a
        rename-and-create rotation, or rotated files caught up with).
    @ivar truncations: copytruncate rotations seen (the file shrank or its
        first bytes changed).
    @ivar rotated_files_opened: rotated generations opened (resuming in one
        after a restart, a copytruncate copy, a generation never read).
    @ivar files_lost: files that could not be found again (deleted, or the
        copy of a truncation missing); what was left unread in them is lost.
    @ivar bytes_lost: lower bound of the bytes lost (when the size was known).
    @ivar corrupt_files: compressed files that could not be decompressed to
        their end.
    """

    lines: int = 0
    pieces: int = 0
    bytes: int = 0
    files_finished: int = 0
    truncations: int = 0
    rotated_files_opened: int = 0
    files_lost: int = 0
    bytes_lost: int = 0
    corrupt_files: int = 0


class Follower:
    """
    Follows one configured path across rotations.

    Build one per configured path, from its persisted L{FollowState} (or
    C{None} on a first start), call L{poll} periodically, and persist the
    returned state once the returned lines are stored.  Call L{close} when
    done, to release the open file.

    @ivar counters: what this follower did (L{FollowCounters}).
    """

    _log = Logger()

    def __init__(
        self,
        path: str | os.PathLike[str],
        state: FollowState | None = None,
        *,
        max_read: int = 128 << 10,
        max_line: int = 1 << 20,
        start_at_end: bool = False,
        rotate_wait: int = 20,
        fingerprint_size: int = FINGERPRINT_SIZE,
    ) -> None:
        """
        @param path: the path to follow; rotated generations are looked for
            next to it under logrotate's names.
        @param state: where to resume, as persisted; C{None} on a first
            start.
        @param max_read: at most this many bytes are read per poll.
        @param max_line: a line longer than this is returned in pieces of
            this size (the last piece is C{1..max_line} bytes).
        @param start_at_end: on a first start (C{state is None}) with the
            file present, skip what it holds: start after its last line end.
            Otherwise it is read from the beginning.  Rotated generations
            present on a first start are never read.
        @param rotate_wait: after a rename, wait this many polls for the new
            file to get data (the writer to reopen) before leaving the old
            one; a new file with data is followed at once.
        @param fingerprint_size: bytes covered by a file's fingerprint.
        """
        if max_read < 1 or max_line < 1 or fingerprint_size < 1:
            raise ValueError("max_read, max_line and fingerprint_size must be > 0")
        self._path = Path(path)
        if state is not None and state.path != str(self._path):
            raise ValueError(
                f"state is for {state.path!r}, not for {str(self._path)!r}"
            )
        self._initial = state
        self._max_read = max_read
        self._max_line = max_line
        self._start_at_end = start_at_end
        self._rotate_wait = rotate_wait
        self._fingerprint_size = fingerprint_size
        self._extra: dict[str, Any] = {} if state is None else dict(state.extra)
        self._started = False
        self._source: Source | None = None
        self._offset = 0
        # The number of the file open, or of the next one to open.
        self._file = 0 if state is None else state.file
        self._carry = b""
        self._previous: FileIdentity | None = None
        # No file open: open the first file after self._previous when one
        # appears.
        self._resume = False
        self._waiting_logged = False
        self._open_failure: tuple[str, str] | None = None
        self._polls = 0
        # Detached (renamed away) file at its end since this poll, or None.
        self._detached_since: int | None = None
        # (directory key, poll number, decision) of the last listing that
        # ended in waiting.
        self._wait_cache: tuple[object, int, Candidate | None] | None = None
        self.counters = FollowCounters()

    @property
    def path(self) -> Path:
        """
        The configured path.
        """
        return self._path

    @property
    def state(self) -> FollowState:
        """
        The state after the lines returned so far (what the last L{poll}
        returned, with the C{extra} last given to L{set_extra}).
        """
        if not self._started and self._initial is not None:
            return self._initial.with_extra(self._extra)
        source = self._source
        if source is None:
            return FollowState(
                path=str(self._path),
                dev=0,
                inode=0,
                fingerprint=_EMPTY_FINGERPRINT,
                fingerprint_length=0,
                offset=0,
                previous=self._previous,
                extra=dict(self._extra),
                file=self._file,
            )
        identity = source.identity()
        return FollowState(
            path=str(self._path),
            dev=identity.dev,
            inode=identity.inode,
            fingerprint=identity.fingerprint,
            fingerprint_length=identity.fingerprint_length,
            offset=self._offset,
            size=max(source.seen_size, source.position),
            name=str(source.name),
            previous=self._previous,
            extra=dict(self._extra),
            file=self._file,
        )

    def set_extra(self, extra: Mapping[str, Any]) -> None:
        """
        Set the caller's data carried in L{state} (e.g. the point
        sequencer's state after the lines of the last poll).
        """
        self._extra = dict(extra)

    def close(self) -> None:
        """
        Close the open file, if any.  The follower must not be polled again.
        """
        if self._source is not None:
            self._source.close()
            self._source = None

    def poll(self) -> ReadResult:
        """
        Read what is new: at most C{max_read} bytes, across rotations.

        @return: the complete lines read (and pieces of over-long lines),
            and the state to persist once they are stored.
        """
        self._polls += 1
        out: list[Line] = []
        budget = self._max_read
        more = False
        self.start()
        for _ in range(_MAX_STEPS):
            source = self._source
            if source is None:
                if not self._resume or not self._open_after_previous():
                    break
                continue
            if source.skip:
                budget = self._skip(source, budget)
                if source.skip:
                    more = True
                    break
                continue
            if isinstance(source, PlainSource):
                verdict = self._check(source)
                if verdict is _Verdict.TRUNCATED:
                    self._on_truncation(source)
                    continue
                if verdict is _Verdict.ROTATED_WHILE_EMPTY:
                    self._close_source()
                    self._resume = True
                    continue
            if budget <= 0:
                more = True
                break
            data = self._read(source, budget)
            budget -= len(data)
            if data:
                self._consume(source, data, out)
                if budget <= 0:
                    more = True
                    break
                continue
            following = self._next_file(source)
            if following is None:
                break
            # Read the old file once more, now that the next one was seen
            # ready: what its writer wrote before switching is there now.
            data = self._read(source, budget)
            if data:
                budget -= len(data)
                self._consume(source, data, out)
                continue
            self._finish(source, out, following)
        else:
            more = True
        return ReadResult(out, self.state, more)

    # -- starting ---------------------------------------------------------

    def start(self) -> None:
        """
        Decide what to read, from the saved state or the path, and open it,
        without reading (once; the first L{poll} does it otherwise).

        Following begins with the file at the path now: if it is rotated
        before the first poll, it is read under its new name, not taken
        for history that was there before (as rotated files present at a
        first start are).
        """
        if not self._started:
            self._started = True
            self._start()

    def _start(self) -> None:
        """
        First poll: decide what to read, from the saved state or the path.
        """
        state = self._initial
        if state is None:
            # The newest rotated file with content (see _finish for why not
            # an empty one) marks where history ends.
            for candidate in reversed(scan_generations(self._path, include_live=False)):
                identity = candidate.identity(self._fingerprint_size)
                if identity.fingerprint_length:
                    self._previous = identity
                    break
            if not self._open_first():
                self._resume = True
            return
        self._previous = state.previous
        if state.inode == 0 or (state.fingerprint_length == 0 and state.offset == 0):
            # Nothing read from this file: it is simply the one after
            # previous, wherever it is now.
            self._resume = True
            return
        candidates = scan_generations(self._path)
        found = locate(
            candidates,
            state.identity,
            state.offset,
            self._window_start(candidates),
            trust_inode=state.fingerprint_length >= self._fingerprint_size,
        )
        if found is None:
            self._report_lost(
                state.name or state.path,
                state.offset,
                state.size,
                "not found at its path nor under a rotated name",
            )
            self._resume = True
            return
        candidate = candidates[found]
        if not self._open(candidate, state.offset):
            self._resume = True
            return
        self._log.info(
            "Resuming {path} in {name} at offset {offset}.",
            follow_event="resumed",
            path=str(self._path),
            name=str(candidate.path),
            offset=state.offset,
        )

    def _open_first(self) -> bool:
        """
        First start without state: open the live path at its start (or at
        its last line end with C{start_at_end}).
        """
        try:
            result = os.stat(self._path)
        except FileNotFoundError:
            return False
        candidate = Candidate(self._path, False, result, live=True)
        if not self._open(candidate, 0):
            return False
        source = self._source
        if self._start_at_end and isinstance(source, PlainSource):
            self._offset = source.position = last_line_end(source.fd)
        return True

    def _open_after_previous(self) -> bool:
        """
        Open the first file after L{_previous} (the live path if none);
        C{False} while there is none yet.
        """
        key = self._directory_key()
        cache = self._wait_cache
        if (
            cache is not None
            and cache[0] == key
            and self._polls - cache[1] < _RECHECK_POLLS
        ):
            return False
        candidates = scan_generations(self._path)
        start = self._window_start(candidates)
        if start >= len(candidates):
            self._wait_cache = (key, self._polls, None)
            if not self._waiting_logged:
                self._waiting_logged = True
                self._log.info(
                    "Waiting for {path} to appear.",
                    follow_event="waiting",
                    path=str(self._path),
                )
            return False
        self._wait_cache = None
        if not self._open(candidates[start], 0):
            return False
        self._resume = False
        self._waiting_logged = False
        return True

    # -- opening and closing ------------------------------------------------

    def _open(self, candidate: Candidate, offset: int) -> bool:
        """
        Open C{candidate} to read from C{offset}; C{False} if it vanished or
        cannot be opened.
        """
        try:
            source = open_source(
                candidate, offset, self._fingerprint_size, self._polls
            )
        except FileNotFoundError:
            return False
        except OSError as e:
            failure = (str(candidate.path), str(e))
            if failure != self._open_failure:
                # Once per distinct failure: it is retried every poll.
                self._open_failure = failure
                self._log.warn(
                    "Cannot open {name}: {error}",
                    follow_event="open_failed",
                    path=str(self._path),
                    name=str(candidate.path),
                    error=str(e),
                )
            return False
        self._open_failure = None
        if not candidate.live:
            self.counters.rotated_files_opened += 1
        self._source = source
        self._offset = offset
        self._carry = b""
        self._detached_since = None
        self._wait_cache = None
        return True

    def _close_source(self) -> None:
        if self._source is not None:
            self._source.close()
        self._source = None
        self._carry = b""
        self._offset = 0
        self._wait_cache = None

    # -- reading --------------------------------------------------------------

    def _skip(self, source: Source, budget: int) -> int:
        """
        Skip (decompress and drop) toward a compressed file's saved offset.

        @return: the budget left.
        """
        allowance = budget * _SKIP_FACTOR
        skipped = 0
        while source.skip and skipped < allowance:
            data = self._read(source, min(source.skip, allowance - skipped, 1 << 20))
            if not data:
                # Shorter than the saved offset: nothing more of it to read.
                source.skip = 0
                break
            source.fingerprint.extend(source.position, data)
            source.position += len(data)
            source.skip -= len(data)
            skipped += len(data)
        return max(0, budget - -(-skipped // _SKIP_FACTOR))

    def _read(self, source: Source, size: int) -> bytes:
        """
        Read from C{source}; a compressed file that cannot be decompressed
        further ends there (logged and counted).
        """
        if source.broken:
            return b""
        try:
            return source.read(size)
        except (EOFError, zlib.error, gzip.BadGzipFile) as e:
            source.broken = True
            self.counters.corrupt_files += 1
            self._log.error(
                "Cannot decompress {name} after {position} bytes ({error}): "
                "the rest of it is lost.",
                follow_event="corrupt",
                path=str(self._path),
                name=str(source.name),
                position=source.position,
                error=str(e),
            )
            return b""

    def _consume(self, source: Source, data: bytes, out: list[Line]) -> None:
        """
        Cut C{data} (read at C{source.position}) into lines.
        """
        source.fingerprint.extend(source.position, data)
        source.position += len(data)
        keep = self._fingerprint_size
        source.tail = data[-keep:] if len(data) >= keep else (source.tail + data)[-keep:]
        buffer = self._carry + data if self._carry else data
        parts = buffer.split(b"\n")
        rest = parts.pop()
        limit = self._max_line
        file = self._file
        # The buffer starts at the offset (the carry is not counted in it).
        at = self._offset
        self.counters.lines += len(parts)
        if max(map(len, parts), default=0) <= limit:
            # each line starts after the previous one and its LF
            starts = accumulate(map(_plus_one, map(len, parts)), initial=at)
            out.extend(map(Line, parts, repeat(True), starts, repeat(file)))
            at += len(buffer) - len(rest)
        else:
            for part in parts:
                if len(part) <= limit:
                    out.append(Line(part, True, at, file))
                else:
                    self._pieces(part, at, out, ended=True)
                at += len(part) + 1
        if len(rest) > limit:
            # Keep 1..limit bytes: the line's last piece is cut the same way
            # whether its LF is already here or not.
            cut = (len(rest) - 1) // limit * limit
            self._pieces(rest[:cut], at, out, ended=False)
            rest = rest[cut:]
        consumed = len(buffer) - len(rest)
        self._offset += consumed
        self.counters.bytes += consumed
        self._carry = rest

    def _pieces(self, line: bytes, at: int, out: list[Line], *, ended: bool) -> None:
        """
        Append C{line} (which starts at offset C{at}) in pieces of
        C{max_line}; the last is C{ended}.
        """
        limit = self._max_line
        count = len(line)
        for start in range(0, count, limit):
            last = start + limit >= count
            if not (ended and last):
                self.counters.pieces += 1
            out.append(Line(line[start : start + limit], ended and last, at + start, self._file))

    # -- identity checks and rotations -----------------------------------

    def _check(self, source: PlainSource) -> _Verdict:
        """
        Whether the open plain file is still the file read so far.

        Checked when its size or mtime changed, and every few polls anyway
        (times are coarse: a truncation and a rewrite to the same size can
        fall in one tick).

        @return: C{_Verdict.SAME}; C{TRUNCATED} (copytruncate: it shrank
            below what was read, or its first bytes or the bytes before the
            read position changed, or -- for a young file, whose fingerprint
            covers all that was read -- a copy of it appeared); or
            C{ROTATED_WHILE_EMPTY} (nothing read yet, and rotated files
            appeared after the previous file: copytruncate took what it
            held).
        """
        result = os.fstat(source.fd)
        key = (result.st_size, result.st_mtime_ns)
        if key == source.last_key and self._polls - source.checked_at < _RECHECK_POLLS:
            return _Verdict.SAME
        source.last_key = key
        source.checked_at = self._polls
        source.seen_size = max(source.seen_size, result.st_size)
        if source.rewritten(result.st_size):
            return _Verdict.TRUNCATED
        length = source.fingerprint.length
        if source.position <= length or length == 0:
            # What was read is also the start of the file now: a
            # copytruncate followed by the same bytes again would go
            # unseen, but for the copy it left.
            copied = self._copies(source)
            if copied:
                if length == 0:
                    self.counters.truncations += 1
                    self._log.info(
                        "{path} was rotated before its first byte was read; "
                        "reading {copies} first.",
                        follow_event="truncated",
                        path=str(self._path),
                        copies=[str(c.path) for c in copied],
                    )
                    return _Verdict.ROTATED_WHILE_EMPTY
                return _Verdict.TRUNCATED
        return _Verdict.SAME

    def _copies(self, source: PlainSource) -> list[Candidate]:
        """
        Rotated files after the previous file that start like C{source}
        (any non-empty one if nothing was read), if C{source} is the live
        file: copies that copytruncate left.
        """
        if not self._is_live(source):
            return []
        rotated = scan_generations(self._path, include_live=False)
        identity = source.identity()
        return [
            c
            for c in rotated[self._window_start(rotated) :]
            if (c.dev, c.inode) != (source.dev, source.inode)
            and c.matches(identity)
            and (identity.fingerprint_length or c.head(1))
        ]

    def _is_live(self, source: PlainSource) -> bool:
        try:
            result = os.stat(self._path)
        except FileNotFoundError:
            return False
        return (result.st_dev, result.st_ino) == (source.dev, source.inode)

    def _on_truncation(self, source: PlainSource) -> None:
        """
        The open file shrank or changed its start: find the copy of what it
        held (copytruncate), read it from our offset, then what follows.
        """
        identity = source.identity()
        offset = self._offset
        seen = max(source.seen_size, source.position)
        self.counters.truncations += 1
        self._close_source()
        candidates = scan_generations(self._path)
        found = locate(
            candidates,
            identity,
            offset,
            self._window_start(candidates),
            exclude=(source.dev, source.inode),
        )
        if found is None or not self._open(candidates[found], offset):
            self._report_lost(
                str(source.name), offset, seen, "truncated, and no copy was found"
            )
            self._resume = True
            return
        self._log.info(
            "{name} was truncated (copytruncate); reading its copy {copy} "
            "from offset {offset}.",
            follow_event="truncated",
            path=str(self._path),
            name=str(source.name),
            copy=str(candidates[found].path),
            offset=offset,
        )

    def _next_file(self, source: Source) -> Candidate | None:
        """
        At the end of C{source}: the file to read next, or C{None} to stay
        (the path still names it, or the next file is not ready).
        """
        try:
            live = os.stat(self._path)
        except FileNotFoundError:
            live = None
        if (
            isinstance(source, PlainSource)
            and live is not None
            and (live.st_dev, live.st_ino) == (source.dev, source.inode)
        ):
            self._detached_since = None
            return None
        if self._detached_since is None:
            self._detached_since = self._polls
        key = self._directory_key()
        cache = self._wait_cache
        if (
            cache is not None
            and cache[0] == key
            and self._polls - cache[1] < _RECHECK_POLLS
        ):
            following = cache[2]
        else:
            candidates = scan_generations(self._path)
            start = self._window_start(candidates)
            itself = (source.dev, source.inode)
            # An open file keeps its inode (no other file can get it while
            # it is open): look for that first, then for a compressed copy.
            found = next(
                (i for i, c in enumerate(candidates) if (c.dev, c.inode) == itself),
                None,
            )
            if found is None:
                found = locate(candidates, source.identity(), source.position, start)
            if found is not None:
                # Where it is now, for the state and the log.
                source.name = candidates[found].path
            rest = candidates[start:] if found is None else candidates[found + 1 :]
            rest = [c for c in rest if (c.dev, c.inode) != itself]
            following = rest[0] if rest else None
            self._wait_cache = (key, self._polls, following)
        if following is None:
            return None
        if (
            following.live
            and following.size == 0
            and self._polls - self._detached_since < self._rotate_wait
        ):
            # The writer may not have reopened yet: its last lines could
            # still go to the old file.
            return None
        return following

    def _finish(self, source: Source, out: list[Line], following: Candidate) -> None:
        """
        Leave C{source} (read to its end) for C{following}.
        """
        if self._carry:
            # A last line without LF: its file is complete.
            out.append(Line(self._carry, True, self._offset, self._file))
            self.counters.lines += 1
            self._offset += len(self._carry)
            self.counters.bytes += len(self._carry)
            self._carry = b""
        self.counters.files_finished += 1
        identity = source.identity()
        if identity.fingerprint_length:
            # An empty file is known by its inode only, which the file
            # system gives to another file once this one is deleted; keep
            # the older previous file instead (reading an empty file again
            # is harmless).
            self._previous = identity
        self._log.info(
            "Finished {name} at offset {offset}; continuing with {following}.",
            follow_event="rotated",
            path=str(self._path),
            name=str(source.name),
            offset=self._offset,
            following=str(following.path),
        )
        self._next_number(self._offset)
        self._close_source()
        if not self._open(following, 0):
            self._resume = True

    def _next_number(self, offset: int) -> None:
        """
        Leaving a file at C{offset}: the next file gets the next number,
        unless nothing was read from this one (an empty file cannot be told
        from its copies, so a re-read after a restart may not meet it; it
        gave no line, so its successor may take its number).
        """
        if offset:
            self._file += 1

    def _report_lost(
        self, name: str, offset: int, size: int | None, reason: str
    ) -> None:
        """
        Log and count a file that cannot be found again.
        """
        lost = None if size is None else max(0, size - offset)
        self.counters.files_lost += 1
        self._next_number(offset)
        if lost:
            self.counters.bytes_lost += lost
        self._log.warn(
            "Lost track of {name} ({reason}) after offset {offset}: "
            "{lost_text} may be lost.  Continuing with the next file.",
            follow_event="file_lost",
            path=str(self._path),
            name=name,
            reason=reason,
            offset=offset,
            lost_bytes=lost,
            lost_text=(
                "an unknown number of bytes (size unknown)"
                if lost is None
                else f"at least {lost} bytes"
            ),
        )

    # -- listing ----------------------------------------------------------------

    def _window_start(self, candidates: list[Candidate]) -> int:
        """
        Index of the first candidate after the previous file (0 if unknown:
        if it was deleted, so were all older ones).
        """
        previous = self._previous
        if previous is None:
            return 0
        found = locate(
            candidates,
            previous,
            0,
            0,
            trust_inode=previous.fingerprint_length >= self._fingerprint_size,
        )
        return 0 if found is None else found + 1

    def _directory_key(self) -> object:
        """
        Something that changes when the directory or the path changes.
        """
        try:
            directory = os.stat(self._path.parent).st_mtime_ns
        except OSError:
            directory = None
        try:
            live = os.stat(self._path)
        except OSError:
            return (directory, None)
        return (directory, live.st_dev, live.st_ino, live.st_size, live.st_mtime_ns)
