"""Tests for L{logship.tailer.follow}: lines, rotations, restarts, crashes.

Real files in temporary directories.  L{LogFile} plays the writer (appending
with C{O_APPEND}) and logrotate (rename-and-create or copytruncate, numbered
or dated names, C{compress} with or without C{delaycompress}), and keeps
what was written per generation.  L{Tailer} plays the tailer service: it
polls, "stores" the lines, then persists the state (through JSON), and it
can crash (drop what was not persisted) and restart from the saved state.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from twisted.logger import globalLogPublisher
from twisted.internet.testing import EventLoggingObserver
from twisted.trial.unittest import SynchronousTestCase

from logship.tailer.follow import Follower, Line
from logship.tailer.followstate import FollowState
from logship.tailer.sources import FINGERPRINT_SIZE, scan_generations

MiB = 1 << 20


class LogFile:
    """
    A log file, its writer and its logrotate, with a record of what was
    written to each generation.

    @ivar generations: the content of each generation, oldest first; the
        last one is the live file.
    """

    def __init__(
        self,
        directory: Path,
        name: str = "app.log",
        *,
        dated: bool = False,
        compress: bool = False,
        delaycompress: bool = False,
    ) -> None:
        self.directory = directory
        self.path = directory / name
        self.dated = dated
        self.compress = compress
        self.delaycompress = delaycompress
        self.generations: list[bytearray] = [bytearray()]
        self._day = 0
        self.path.write_bytes(b"")

    def append(self, data: bytes) -> None:
        """
        Append like a writer with C{O_APPEND}.
        """
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, data)
        finally:
            os.close(fd)
        self.generations[-1] += data

    def rotate(self, copytruncate: bool = False) -> Path:
        """
        Rotate like logrotate: rename-and-create, or copytruncate.

        @return: where the rotated file went (before compression).
        """
        target = self._make_room()
        if copytruncate:
            shutil.copyfile(self.path, target)
            os.truncate(self.path, 0)
        else:
            os.rename(self.path, target)
            self.path.write_bytes(b"")
        self.generations.append(bytearray())
        if self.compress:
            plain = [p for p in self.rotated() if not p.name.endswith(".gz")]
            if self.delaycompress:
                plain = plain[:-1]
            for path in plain:
                gzip_file(path)
        return target

    def rotated(self) -> list[Path]:
        """
        The rotated files, oldest first (as the test knows them).
        """
        if self.dated:
            return sorted(self.directory.glob(self.path.name + "-*"))
        found = []
        for path in self.directory.glob(self.path.name + ".*"):
            number = path.name[len(self.path.name) + 1 :].split(".")[0]
            found.append((-int(number), path))
        return [path for _, path in sorted(found)]

    def _make_room(self) -> Path:
        if self.dated:
            self._day += 1
            return self.directory / f"{self.path.name}-202401{self._day:02d}"
        for path in self.rotated():  # oldest (highest number) first
            name = path.name[len(self.path.name) + 1 :]
            number, _, rest = name.partition(".")
            new = f"{self.path.name}.{int(number) + 1}" + (f".{rest}" if rest else "")
            os.rename(path, self.directory / new)
        return self.directory / f"{self.path.name}.1"

    def expected(self) -> list[bytes]:
        """
        The lines written, in order: each generation's lines, a last line
        without LF counting as a line.
        """
        lines: list[bytes] = []
        for content in self.generations:
            parts = bytes(content).split(b"\n")
            if parts[-1] == b"":
                parts.pop()
            lines.extend(parts)
        return lines

    def end_line(self) -> None:
        """
        Finish the live file's last line, if it is unfinished.
        """
        if self.generations[-1] and not self.generations[-1].endswith(b"\n"):
            self.append(b"\n")


def gzip_file(path: Path) -> Path:
    """
    Compress like gzip: write C{path.gz}, then remove C{path}.
    """
    target = path.with_name(path.name + ".gz")
    with open(path, "rb") as src, gzip.open(target, "wb") as dst:
        shutil.copyfileobj(src, dst)
    os.unlink(path)
    return target


def join_lines(pieces: list[Line]) -> list[bytes]:
    """
    Put the pieces of long lines back together.
    """
    lines: list[bytes] = []
    current: list[bytes] = []
    for piece in pieces:
        current.append(piece.data)
        if piece.ended:
            lines.append(b"".join(current))
            current = []
    assert not current, "unfinished line at the end"
    return lines


class Tailer:
    """
    Plays the tailer service around one L{Follower}: poll, store, persist.

    A new follower does nothing before its first poll, so a restart followed
    by rotations and then a poll is a restart after rotations that happened
    while the tailer was stopped.

    @ivar stored: the lines stored (with their pieces), in order.  Lines
        stored but not yet covered by a persisted state are dropped on a
        crash: the replay stores them again.
    @ivar returned: every line any poll returned, those dropped in crashes
        included: what a tailer sends, duplicates and all, which the bucks
        and the porter collapse by the lines' C{(file, offset)}
        (L{occurrences}).
    """

    def __init__(self, path: Path, **options: Any) -> None:
        self.path = path
        self.options = options
        self.saved: dict[str, Any] | None = None
        self.stored: list[Line] = []
        self.returned: list[Line] = []
        self._persisted = 0
        self.follower = Follower(path, None, **options)

    def poll(self, persist: bool = True) -> list[Line]:
        result = self.follower.poll()
        self.stored.extend(result.lines)
        self.returned.extend(result.lines)
        if persist:
            self._persist(result.state)
        return result.lines

    def _persist(self, state: FollowState) -> None:
        self.saved = json.loads(json.dumps(state.to_json()))
        self._persisted = len(self.stored)

    def crash(self) -> None:
        """
        Start again from the saved state, dropping what it does not cover.
        """
        self.follower.close()
        del self.stored[self._persisted :]
        state = None if self.saved is None else FollowState.from_json(self.saved)
        self.follower = Follower(self.path, state, **self.options)

    def restart(self) -> None:
        """
        A clean restart: persist, stop, start from the saved state.
        """
        self._persist(self.follower.state)
        self.crash()

    def drain(self) -> None:
        """
        Poll until nothing more comes (rotate_wait included).
        """
        quiet = 0
        while quiet < self.follower._rotate_wait + 10:
            result = self.follower.poll()
            self.stored.extend(result.lines)
            self.returned.extend(result.lines)
            self._persist(result.state)
            quiet = 0 if result.lines or result.more else quiet + 1

    def lines(self) -> list[bytes]:
        return join_lines(self.stored)

    def occurrences(self) -> list[bytes]:
        """
        The lines returned, one per C{(file, offset)}: the occurrences a
        store keeps.  A key seen again must come with the same bytes (a
        re-read), never with another line.
        """
        first: dict[tuple[int, int], Line] = {}
        for line in self.returned:
            known = first.setdefault((line.file, line.offset), line)
            assert known == line, f"{known} and {line} share a (file, offset)"
        return join_lines(list(first.values()))


def numbered_lines(start: int, count: int, width: int = 30) -> bytes:
    """
    C{count} distinct lines (each starts and ends with its number).
    """
    return b"".join(
        b"%06d %s %06d\n" % (i, b"x" * (i % width), i) for i in range(start, start + count)
    )


class FollowTestCase(SynchronousTestCase):
    """
    A temporary directory per test.
    """

    def setUp(self) -> None:
        self.directory = Path(tempfile.mkdtemp())
        self.addCleanup(shutil.rmtree, self.directory)
        self.path = self.directory / "app.log"

    def follower(self, state: FollowState | None = None, **options: Any) -> Follower:
        follower = Follower(self.path, state, **options)
        self.addCleanup(follower.close)
        return follower


def data(lines: list[Line]) -> list[bytes]:
    return [line.data for line in lines]


class GrowthTests(FollowTestCase):
    """
    A file that only grows.
    """

    def test_lines(self) -> None:
        """
        Complete lines are returned without their LF; the state's offset
        counts them.
        """
        self.path.write_bytes(b"one\ntwo\n")
        follower = self.follower()
        result = follower.poll()
        self.assertEqual(result.lines, [Line(b"one", True, 0), Line(b"two", True, 4)])
        self.assertEqual(result.state.offset, 8)
        self.assertFalse(result.more)
        self.assertEqual(follower.poll().lines, [])
        with open(self.path, "ab") as f:
            f.write(b"three\n\n")
        self.assertEqual(data(follower.poll().lines), [b"three", b""])
        self.assertEqual(follower.counters.lines, 4)
        self.assertEqual(follower.counters.bytes, 15)

    def test_partial_line(self) -> None:
        """
        A last line without LF is not returned nor counted in the offset
        until it ends.
        """
        self.path.write_bytes(b"one\ntw")
        follower = self.follower()
        result = follower.poll()
        self.assertEqual(data(result.lines), [b"one"])
        self.assertEqual(result.state.offset, 4)
        with open(self.path, "ab") as f:
            f.write(b"o")
        result = follower.poll()
        self.assertEqual(result.lines, [])
        self.assertEqual(result.state.offset, 4)
        with open(self.path, "ab") as f:
            f.write(b"\nthr")
        result = follower.poll()
        self.assertEqual(data(result.lines), [b"two"])
        self.assertEqual(result.state.offset, 8)

    def test_partial_line_after_restart(self) -> None:
        """
        The partial line is read again by a follower built from the state.
        """
        self.path.write_bytes(b"one\ntw")
        state = self.follower().poll().state
        with open(self.path, "ab") as f:
            f.write(b"o\n")
        self.assertEqual(data(self.follower(state).poll().lines), [b"two"])

    def test_crlf(self) -> None:
        """
        A CR before the LF is kept (the encoder strips it); a lone CR is
        not a line end.
        """
        self.path.write_bytes(b"one\r\ntwo\rthree\n\r\n")
        self.assertEqual(data(self.follower().poll().lines), [b"one\r", b"two\rthree", b"\r"])

    def test_long_line_pieces(self) -> None:
        """
        A line longer than C{max_line} comes in pieces of C{max_line}, the
        last one C{ended}.
        """
        long = bytes(range(256)).replace(b"\n", b"N") * (3 * MiB // 256)
        self.assertEqual(len(long), 3 * MiB)
        self.path.write_bytes(b"short\n" + long + b"\n" + long + b"+\nend\n")
        follower = self.follower(max_line=MiB, max_read=16 * MiB)
        lines = follower.poll().lines
        self.assertEqual(
            [(len(line.data), line.ended) for line in lines],
            [(5, True), (MiB, False), (MiB, False), (MiB, True),
             (MiB, False), (MiB, False), (MiB, False), (1, True), (3, True)],
        )
        self.assertEqual(join_lines(lines), [b"short", long, long + b"+", b"end"])
        self.assertEqual(follower.counters.lines, 4)
        self.assertEqual(follower.counters.pieces, 5)

    def test_long_line_arriving_slowly(self) -> None:
        """
        A long line written in parts comes in the same pieces as when
        written at once, and memory stays bounded: the pieces are returned
        (and counted in the offset) before the line ends.
        """
        long = b"y" * (3 * MiB)
        follower = self.follower(max_line=MiB, max_read=16 * MiB)
        self.path.write_bytes(b"")
        pieces: list[Line] = []
        offsets = []
        for start in range(0, len(long), 700_000):
            with open(self.path, "ab") as f:
                f.write(long[start : start + 700_000])
            result = follower.poll()
            pieces.extend(result.lines)
            offsets.append(result.state.offset)
        self.assertEqual(offsets, [0, MiB, 2 * MiB, 2 * MiB, 2 * MiB])
        self.assertLessEqual(len(follower._carry), MiB)
        with open(self.path, "ab") as f:
            f.write(b"\n")
        pieces.extend(follower.poll().lines)
        self.assertEqual(
            [(len(p.data), p.ended) for p in pieces],
            [(MiB, False), (MiB, False), (MiB, True)],
        )

    def test_long_line_resumed(self) -> None:
        """
        A follower restarted in the middle of a long line continues with
        the same pieces.
        """
        long = b"z" * 2500
        self.path.write_bytes(long)
        first = self.follower(max_line=1000)
        lines = first.poll().lines
        self.assertEqual([len(p.data) for p in lines], [1000, 1000])
        state = first.state
        with open(self.path, "ab") as f:
            f.write(b"\n")
        lines = self.follower(state, max_line=1000).poll().lines
        self.assertEqual([(len(p.data), p.ended) for p in lines], [(500, True)])

    def test_max_read(self) -> None:
        """
        One poll reads at most C{max_read} bytes and says there is more.
        """
        self.path.write_bytes(numbered_lines(0, 100))
        size = self.path.stat().st_size
        follower = self.follower(max_read=1000)
        polls = 0
        lines: list[Line] = []
        while True:
            before = follower.state.offset if polls else 0
            result = follower.poll()
            polls += 1
            lines.extend(result.lines)
            self.assertLessEqual(result.state.offset - before, 1000)
            if not result.more:
                break
        self.assertEqual(polls, -(-size // 1000))
        self.assertEqual(b"".join(line.data + b"\n" for line in lines), numbered_lines(0, 100))

    def test_start_at_end(self) -> None:
        """
        C{start_at_end} skips what a file holds on a first start, up to its
        last line end: an unfinished last line is read when it ends.
        """
        self.path.write_bytes(b"old\nolder\nnew")
        follower = self.follower(start_at_end=True)
        self.assertEqual(follower.poll().lines, [])
        with open(self.path, "ab") as f:
            f.write(b"est\nnext\n")
        self.assertEqual(data(follower.poll().lines), [b"newest", b"next"])

    def test_start_at_end_without_line_end(self) -> None:
        """
        A file without any LF is one unfinished line: read when it ends.
        """
        self.path.write_bytes(b"partial")
        follower = self.follower(start_at_end=True)
        self.assertEqual(follower.poll().lines, [])
        with open(self.path, "ab") as f:
            f.write(b"\n")
        self.assertEqual(data(follower.poll().lines), [b"partial"])

    def test_start_at_end_only_first_start(self) -> None:
        """
        C{start_at_end} has no effect with a saved state.
        """
        self.path.write_bytes(b"a\n")
        state = self.follower().poll().state
        with open(self.path, "ab") as f:
            f.write(b"b\n")
        self.assertEqual(data(self.follower(state, start_at_end=True).poll().lines), [b"b"])

    def test_first_start_ignores_rotated(self) -> None:
        """
        A first start reads the live file only: rotated files are history.
        """
        (self.directory / "app.log.1").write_bytes(b"history\n")
        self.path.write_bytes(b"now\n")
        self.assertEqual(data(self.follower().poll().lines), [b"now"])

    def test_started_file_rotated_before_first_poll(self) -> None:
        """
        Once started, the file at the path is the one followed: renamed
        before the first poll, it is read under its new name, then the new
        file; and a state saved right after the start finds it too.
        """
        self.path.write_bytes(b"before\n")
        follower = self.follower()
        follower.start()
        started = follower.state
        self.path.rename(self.directory / "app.log.1")
        self.path.write_bytes(b"after\n")
        tailer = Tailer(self.path)
        tailer.follower = follower
        tailer.drain()
        self.assertEqual(tailer.lines(), [b"before", b"after"])
        restarted = Tailer(self.path)
        restarted.follower = self.follower(started)
        restarted.drain()
        self.assertEqual(restarted.lines(), [b"before", b"after"])

    def test_state_path_mismatch(self) -> None:
        """
        A state saved for another path is refused.
        """
        state = FollowState("/elsewhere", 1, 2, "", 0, 0)
        self.assertRaises(ValueError, Follower, self.path, state)


class MissingPathTests(FollowTestCase):
    """
    A path that does not exist (yet, or for a while).
    """

    def test_never_existed(self) -> None:
        """
        A path that does not exist is waited for quietly (logged once), and
        read from its start when it appears.
        """
        events = EventLoggingObserver.createWithCleanup(self, globalLogPublisher)
        follower = self.follower(start_at_end=True)
        for _ in range(30):
            result = follower.poll()
            self.assertEqual(result.lines, [])
        waiting = [e for e in events if e.get("follow_event") == "waiting"]
        self.assertEqual(len(waiting), 1)
        self.assertEqual(waiting[0]["path"], str(self.path))
        self.assertEqual(result.state.inode, 0)
        self.path.write_bytes(b"hello\n")
        self.assertEqual(data(follower.poll().lines), [b"hello"])

    def test_waiting_state_restarts(self) -> None:
        """
        The state saved while waiting leads a new follower to the file.
        """
        state = self.follower().poll().state
        self.path.write_bytes(b"hello\n")
        self.assertEqual(data(self.follower(state).poll().lines), [b"hello"])

    def test_missing_between_rename_and_create(self) -> None:
        """
        Between the rename and the create, the old file is drained through
        the open descriptor, and the new one is read when it appears.
        """
        self.path.write_bytes(b"a\n")
        follower = self.follower()
        self.assertEqual(data(follower.poll().lines), [b"a"])
        with open(self.path, "ab") as f:
            f.write(b"b\n")
        os.rename(self.path, self.directory / "app.log.1")
        with open(self.directory / "app.log.1", "ab") as f:
            f.write(b"c\n")
        self.assertEqual(data(follower.poll().lines), [b"b", b"c"])
        for _ in range(30):
            self.assertEqual(follower.poll().lines, [])
        self.path.write_bytes(b"d\n")
        self.assertEqual(data(follower.poll().lines), [b"d"])
        self.assertEqual(follower.counters.files_finished, 1)

    def test_deleted_and_recreated(self) -> None:
        """
        A file deleted and created again (perhaps with the same inode) is a
        new file: read from its start.
        """
        self.path.write_bytes(b"first file line\n")
        follower = self.follower()
        self.assertEqual(data(follower.poll().lines), [b"first file line"])
        os.unlink(self.path)
        # ext4 usually gives the freed inode to the new file (the follower
        # still holds the old one open here); either way it is new.
        self.path.write_bytes(b"second file, longer line\n")
        lines = []
        for _ in range(30):
            lines.extend(follower.poll().lines)
        self.assertEqual(data(lines), [b"second file, longer line"])


    def test_unreadable(self) -> None:
        """
        A file that cannot be opened is logged once and retried every poll.
        """
        events = EventLoggingObserver.createWithCleanup(self, globalLogPublisher)
        # A directory: cannot be read, whoever runs the test (even root).
        self.path.mkdir()
        follower = self.follower()
        for _ in range(30):
            self.assertEqual(follower.poll().lines, [])
        failed = [e for e in events if e.get("follow_event") == "open_failed"]
        self.assertEqual(len(failed), 1)
        self.assertEqual(failed[0]["name"], str(self.path))
        self.path.rmdir()
        self.path.write_bytes(b"readable\n")
        self.assertEqual(data(follower.poll().lines), [b"readable"])


class InodeReuseTests(FollowTestCase):
    """
    The fingerprint tells a new file from an old one with the same inode.
    """

    def test_same_inode_other_content_after_restart(self) -> None:
        """
        A saved state whose inode is now another file's (other first bytes)
        does not resume in it: the old file is reported lost, the new one
        read from its start.
        """
        events = EventLoggingObserver.createWithCleanup(self, globalLogPublisher)
        self.path.write_bytes(b"first file line\n")
        follower = self.follower()
        follower.poll()
        state = follower.state
        follower.close()
        os.unlink(self.path)
        self.path.write_bytes(b"second file, longer line\nmore\n")
        result = self.follower(state).poll()
        self.assertEqual(data(result.lines), [b"second file, longer line", b"more"])
        lost = [e for e in events if e.get("follow_event") == "file_lost"]
        self.assertEqual(len(lost), 1)

    def test_simulated_inode_reuse(self) -> None:
        """
        Whatever the file system does with inodes: a state with this file's
        inode but another fingerprint is not this file.
        """
        self.path.write_bytes(b"0123456789\nabcdefghij\n")
        result = os.stat(self.path)
        state = FollowState(
            str(self.path), result.st_dev, result.st_ino,
            "00" * 32, 11, 11, 11, None, None, {},
        )
        follower = self.follower(state)
        self.assertEqual(data(follower.poll().lines), [b"0123456789", b"abcdefghij"])
        self.assertEqual(follower.counters.files_lost, 1)
        self.assertEqual(follower.counters.bytes_lost, 0)


    def test_young_state_inode_reused(self) -> None:
        """
        A young saved state (short fingerprint) whose file was compressed,
        and whose inode went to a newer file starting with the same bytes,
        resumes in the right file: the oldest match after the previous one.
        """
        older = self.directory / "app.log.3.gz"
        with gzip.open(older, "wb") as f:
            f.write(b"history line\n")
        ours = self.directory / "app.log.2.gz"
        with gzip.open(ours, "wb") as f:
            f.write(b"1 one\n2 two\n")
        newer = self.directory / "app.log.1.gz"
        with gzip.open(newer, "wb") as f:
            f.write(b"10 ten\n")
        self.path.write_bytes(b"11 eleven\n")
        reused = os.stat(newer)
        previous = scan_generations(self.path)[0].identity(FINGERPRINT_SIZE)
        state = FollowState(
            str(self.path), reused.st_dev, reused.st_ino,
            hashlib.sha256(b"1").hexdigest(), 1, 0, 1, None, previous, {},
        )
        tailer = Tailer(self.path)
        tailer.follower = self.follower(state)
        tailer.drain()
        self.assertEqual(tailer.lines(), [b"1 one", b"2 two", b"10 ten", b"11 eleven"])


class LostFileTests(FollowTestCase):
    """
    The saved file cannot be found anywhere.
    """

    def test_deleted_while_stopped(self) -> None:
        """
        A file deleted while stopped is reported (with the bytes that may be
        lost), counted, and the current file is read from its start.
        """
        events = EventLoggingObserver.createWithCleanup(self, globalLogPublisher)
        log = LogFile(self.directory)
        log.append(b"a\nb\nlost line\n")
        tailer = Tailer(self.path, max_read=4)
        tailer.poll()
        tailer.restart()
        os.unlink(self.path)
        self.path.write_bytes(b"c\n")
        tailer.poll()
        self.assertEqual(tailer.lines(), [b"a", b"b", b"c"])
        [event] = [e for e in events if e.get("follow_event") == "file_lost"]
        # Seen 14 bytes, read 4: at least 10 lost.
        self.assertEqual(event["lost_bytes"], 10)
        self.assertEqual(event["log_level"].name, "warn")
        self.assertIn("at least 10 bytes", event["lost_text"])
        self.assertEqual(tailer.follower.counters.files_lost, 1)
        self.assertEqual(tailer.follower.counters.bytes_lost, 10)

    def test_size_unknown(self) -> None:
        """
        Without a known size, the warning says the loss is unknown.
        """
        events = EventLoggingObserver.createWithCleanup(self, globalLogPublisher)
        self.path.write_bytes(b"new\n")
        state = FollowState(str(self.path), 1, 1, "00" * 32, 5, 5, None, None, None, {})
        self.assertEqual(data(self.follower(state).poll().lines), [b"new"])
        [event] = [e for e in events if e.get("follow_event") == "file_lost"]
        self.assertIsNone(event["lost_bytes"])
        self.assertIn("unknown", event["lost_text"])

    def test_rotated_file_deleted_while_stopped(self) -> None:
        """
        The saved file was rotated, then deleted; the newer rotated file and
        the live file are still read.
        """
        log = LogFile(self.directory)
        log.append(numbered_lines(0, 5))
        tailer = Tailer(self.path)
        tailer.poll()
        log.rotate()
        log.append(numbered_lines(5, 5))
        log.rotate()
        log.append(numbered_lines(10, 5))
        tailer.restart()
        os.unlink(self.directory / "app.log.2")
        tailer.drain()
        self.assertEqual(tailer.lines(), log.expected())
        # It was read to its end, but the follower cannot know that nothing
        # was added before it went.
        self.assertEqual(tailer.follower.counters.files_lost, 1)
        self.assertEqual(tailer.follower.counters.bytes_lost, 0)


class RotationScenarios(FollowTestCase):
    """
    Each rotation scheme several times during a stream, and while stopped:
    the lines stored are exactly the lines written, in order.
    """

    schemes: list[dict[str, Any]] = [
        {},
        {"compress": True},
        {"compress": True, "delaycompress": True},
        {"dated": True},
        {"dated": True, "compress": True},
        {"dated": True, "compress": True, "delaycompress": True},
    ]

    def each(self, test: Any) -> None:
        for copytruncate in (False, True):
            for scheme in self.schemes:
                directory = Path(tempfile.mkdtemp(dir=self.directory))
                log = LogFile(directory, **scheme)
                tailer = Tailer(log.path)
                tailer.poll()
                test(log, tailer, copytruncate)
                log.end_line()
                tailer.drain()
                self.assertEqual(
                    tailer.lines(), log.expected(), f"copytruncate={copytruncate} {scheme}"
                )
                tailer.follower.close()

    def test_stream(self) -> None:
        """
        Append, poll, rotate, again and again.
        """

        def stream(log: LogFile, tailer: Tailer, copytruncate: bool) -> None:
            n = 0
            for round in range(6):
                log.append(numbered_lines(n, 20))
                n += 20
                tailer.poll()
                log.append(numbered_lines(n, 3))
                n += 3
                log.rotate(copytruncate)
                tailer.poll()
                log.append(numbered_lines(n, 3))
                n += 3
                tailer.poll()

        self.each(stream)

    def test_rotate_before_poll(self) -> None:
        """
        Rotations with new data on both sides before the follower looks,
        and two rotations between two polls.
        """

        def stream(log: LogFile, tailer: Tailer, copytruncate: bool) -> None:
            n = 0
            for round in range(4):
                log.append(numbered_lines(n, 10))
                n += 10
                log.rotate(copytruncate)
                log.append(numbered_lines(n, 10))
                n += 10
                if round % 2:
                    log.rotate(copytruncate)
                    log.append(numbered_lines(n, 10))
                    n += 10
                tailer.poll()

        self.each(stream)

    def test_stopped(self) -> None:
        """
        Rotated once, and twice, while stopped: the rest of the saved file,
        the generations never read, then the live file.
        """

        def stopped(log: LogFile, tailer: Tailer, copytruncate: bool) -> None:
            n = 0
            for times in (1, 2, 1, 2):
                log.append(numbered_lines(n, 10))
                n += 10
                tailer.poll()
                log.append(numbered_lines(n, 10))
                n += 10
                tailer.restart()
                for _ in range(times):
                    log.append(numbered_lines(n, 10))
                    n += 10
                    log.rotate(copytruncate)
                    log.append(numbered_lines(n, 5))
                    n += 5
                tailer.crash()
                tailer.poll()

        self.each(stopped)

    def test_partial_line_at_rotation(self) -> None:
        """
        A rotated file ending with an unfinished line: that part is a line
        of its own (the writer finishes it in the new file).
        """

        def partial(log: LogFile, tailer: Tailer, copytruncate: bool) -> None:
            log.append(b"complete\nunfinis")
            tailer.poll()
            log.rotate(copytruncate)
            log.append(b"hed\nnext\n")
            tailer.poll()
            log.append(b"half")
            tailer.restart()
            log.rotate(copytruncate)
            log.append(b" two\n")

        self.each(partial)

    def test_crash_in_rotated_file(self) -> None:
        """
        A crash while reading a rotated file: the same lines again, from the
        saved offset in that file.
        """

        def crash(log: LogFile, tailer: Tailer, copytruncate: bool) -> None:
            tailer.follower.close()
            tailer.options = {"max_read": 200}
            tailer.crash()
            log.append(numbered_lines(0, 30))
            tailer.poll()
            tailer.restart()
            log.rotate(copytruncate)
            log.append(numbered_lines(30, 30))
            log.rotate(copytruncate)
            log.append(numbered_lines(60, 30))
            tailer.crash()
            tailer.poll()
            tailer.poll()
            # Not persisted: lost in the crash, read again after it.  The
            # same lines, though not necessarily cut into the same polls
            # (a partial line read before the crash is read again).
            again: list[Line] = []
            for _ in range(4):
                again += tailer.poll(persist=False)
            self.assertTrue(again)
            tailer.crash()
            replay: list[Line] = []
            while len(replay) < len(again):
                replay += tailer.poll(persist=False)
            self.assertEqual(replay[: len(again)], again)
            tailer.crash()

        self.each(crash)


class CrashTests(FollowTestCase):
    """
    A poll whose state is not persisted is read again by the next follower.
    """

    def test_same_lines_again(self) -> None:
        """
        Poll, do not persist, build a follower from the previous state: it
        returns the same lines, byte for byte, and reaches the same state.
        """
        self.path.write_bytes(numbered_lines(0, 10))
        first = self.follower()
        first.poll()
        first.set_extra({"sequencer": [1, 2, 3]})
        persisted = first.state
        with open(self.path, "ab") as f:
            f.write(numbered_lines(10, 10) + b"unfinished")
        lost = first.poll()
        replay = self.follower(FollowState.from_json(persisted.to_json())).poll()
        self.assertEqual(replay.lines, lost.lines)
        self.assertEqual(len(replay.lines), 10)
        self.assertEqual(replay.state.offset, lost.state.offset)
        self.assertEqual(replay.state.identity, lost.state.identity)
        self.assertEqual(replay.state.extra, {"sequencer": [1, 2, 3]})

    def test_extra_follows_set_extra(self) -> None:
        """
        The state carries the caller's C{extra}: the saved one until
        L{Follower.set_extra} replaces it.
        """
        self.path.write_bytes(b"a\n")
        state = FollowState(str(self.path), 0, 0, "", 0, 0, extra={"n": 1})
        follower = self.follower(state)
        self.assertEqual(follower.state.extra, {"n": 1})
        self.assertEqual(follower.poll().state.extra, {"n": 1})
        follower.set_extra({"n": 2})
        self.assertEqual(follower.poll().state.extra, {"n": 2})


class RenameTests(FollowTestCase):
    """
    Rename-and-create details.
    """

    def test_writer_still_writing_old_file(self) -> None:
        """
        After the rename, the old file is followed until the new one has
        data: lines its writer wrote before reopening are not lost.
        """
        log = LogFile(self.directory)
        tailer = Tailer(self.path)
        log.append(b"1\n")
        tailer.poll()
        log.rotate()
        tailer.poll()
        with open(self.directory / "app.log.1", "ab") as f:
            f.write(b"2\n")
        tailer.poll()
        with open(self.directory / "app.log.1", "ab") as f:
            f.write(b"3\n")
        log.generations[-2] += b"2\n3\n"
        log.append(b"4\n")
        tailer.poll()
        self.assertEqual(tailer.lines(), [b"1", b"2", b"3", b"4"])

    def test_rotate_wait(self) -> None:
        """
        A new file that stays empty is taken after C{rotate_wait} polls.
        """
        log = LogFile(self.directory)
        tailer = Tailer(self.path, rotate_wait=3)
        log.append(b"1\n")
        tailer.poll()
        log.rotate()
        names = []
        for _ in range(5):
            tailer.poll()
            names.append(Path(tailer.saved["name"]).name)
        self.assertEqual(names, ["app.log.1"] * 3 + ["app.log"] * 2)

    def test_finished_logged_and_counted(self) -> None:
        """
        Leaving a finished file is logged with both names.
        """
        events = EventLoggingObserver.createWithCleanup(self, globalLogPublisher)
        log = LogFile(self.directory)
        tailer = Tailer(self.path)
        log.append(b"1\n")
        tailer.poll()
        log.rotate()
        log.append(b"2\n")
        tailer.poll()
        [event] = [e for e in events if e.get("follow_event") == "rotated"]
        self.assertEqual(event["name"], str(self.directory / "app.log.1"))
        self.assertEqual(event["following"], str(self.path))
        self.assertEqual(tailer.follower.counters.files_finished, 1)

    def test_previous_in_state(self) -> None:
        """
        The state names the previous file: what comes after it is unread.
        """
        log = LogFile(self.directory)
        tailer = Tailer(self.path)
        log.append(b"1\n")
        tailer.poll()
        self.assertIsNone(tailer.saved["previous"])
        log.rotate()
        log.append(b"2\n")
        tailer.poll()
        previous = tailer.saved["previous"]
        self.assertEqual(previous["inode"], os.stat(self.directory / "app.log.1").st_ino)


class CopytruncateTests(FollowTestCase):
    """
    Copytruncate details.
    """

    def test_regrown_past_offset(self) -> None:
        """
        Truncated and written again past the offset before the follower
        looks: the changed first bytes tell.
        """
        log = LogFile(self.directory)
        tailer = Tailer(self.path)
        log.append(b"first generation line\n")
        tailer.poll()
        log.append(b"copied line\n")
        log.rotate(copytruncate=True)
        log.append(b"a much longer line of the second generation\n")
        tailer.poll()
        self.assertEqual(tailer.lines(), log.expected())
        self.assertEqual(tailer.follower.counters.truncations, 1)

    def test_truncated_before_first_read(self) -> None:
        """
        A file empty at the last poll, written, copytruncated and written
        again: the copy is read first.
        """
        log = LogFile(self.directory)
        tailer = Tailer(self.path)
        tailer.poll()
        log.append(b"in the copy\n")
        log.rotate(copytruncate=True)
        log.append(b"after truncation\n")
        tailer.poll()
        self.assertEqual(tailer.lines(), [b"in the copy", b"after truncation"])

    def test_rewritten_with_the_same_start(self) -> None:
        """
        A young file, copytruncated and written again starting with the very
        bytes already read: neither its size nor its fingerprint changed,
        but the copy it left is found and read first.
        """
        log = LogFile(self.directory)
        tailer = Tailer(self.path, max_read=4)
        tailer.poll()  # opened while empty: the fingerprint grows as read
        log.append(b"1 first\n2 second\n")
        tailer.poll()
        self.assertEqual(tailer.follower.state.fingerprint_length, 4)
        self.assertEqual(tailer.saved["offset"], 0)
        log.rotate(copytruncate=True)
        log.append(b"1 firstborn of the new generation\n")
        tailer.drain()
        self.assertEqual(tailer.lines(), log.expected())
        self.assertEqual(tailer.follower.counters.truncations, 1)

    def test_rewritten_with_the_same_start_while_stopped(self) -> None:
        """
        The same while stopped: the saved young state resumes in the copy,
        not in the live file that still starts like it.
        """
        log = LogFile(self.directory)
        tailer = Tailer(self.path, max_read=4)
        tailer.poll()  # opened while empty: the fingerprint grows as read
        log.append(b"1 first\n2 second\n")
        tailer.poll()
        self.assertEqual(tailer.follower.state.fingerprint_length, 4)
        tailer.restart()
        log.rotate(copytruncate=True)
        log.append(b"1 firstborn of the new generation\n")
        tailer.drain()
        self.assertEqual(tailer.lines(), log.expected())

    def test_truncated_without_copy(self) -> None:
        """
        A file truncated in place (no copy): what was unread is reported
        lost, and the file is read again from its start.
        """
        events = EventLoggingObserver.createWithCleanup(self, globalLogPublisher)
        log = LogFile(self.directory)
        tailer = Tailer(self.path)
        log.append(b"one\n")
        tailer.poll()
        os.truncate(self.path, 0)
        log.append(b"two\n")
        tailer.poll()
        self.assertEqual(tailer.lines(), [b"one", b"two"])
        [event] = [e for e in events if e.get("follow_event") == "file_lost"]
        self.assertEqual(event["lost_bytes"], 0)

    def test_copy_logged(self) -> None:
        """
        Reading the copy is logged.
        """
        events = EventLoggingObserver.createWithCleanup(self, globalLogPublisher)
        log = LogFile(self.directory)
        tailer = Tailer(self.path)
        log.append(b"one\n")
        tailer.poll()
        log.append(b"two\n")
        log.rotate(copytruncate=True)
        tailer.poll()
        [event] = [e for e in events if e.get("follow_event") == "truncated"]
        self.assertEqual(event["copy"], str(self.directory / "app.log.1"))
        self.assertEqual(event["offset"], 4)
        self.assertEqual(tailer.lines(), [b"one", b"two"])


class CompressedTests(FollowTestCase):
    """
    Reading compressed generations.
    """

    def test_skip_is_bounded(self) -> None:
        """
        Resuming deep into a compressed file skips a bounded amount per
        poll, then reads from the saved offset.
        """
        log = LogFile(self.directory, compress=True)
        tailer = Tailer(self.path, max_read=1000)
        log.append(numbered_lines(0, 2000))
        while tailer.poll():
            pass
        offset = tailer.saved["offset"]
        self.assertGreater(offset, 50_000)
        log.append(numbered_lines(2000, 10))
        tailer.restart()
        log.rotate()
        log.append(numbered_lines(2010, 10))
        tailer.crash()
        polls = 0
        while not tailer.poll():
            polls += 1
        self.assertGreaterEqual(polls, offset // 8000 - 1)
        tailer.drain()
        self.assertEqual(tailer.lines(), log.expected())

    def test_corrupt_gzip(self) -> None:
        """
        A compressed generation that cannot be decompressed to its end is
        read as far as possible, logged and counted; the next one follows.
        """
        events = EventLoggingObserver.createWithCleanup(self, globalLogPublisher)
        log = LogFile(self.directory)
        tailer = Tailer(self.path)
        log.append(b"a\n")
        tailer.poll()
        tailer.restart()
        log.append(numbered_lines(0, 1000))
        rotated = log.rotate()
        log.append(b"z\n")
        compressed = gzip_file(rotated)
        raw = compressed.read_bytes()
        compressed.write_bytes(raw[: len(raw) // 2])
        tailer.crash()
        tailer.drain()
        lines = tailer.lines()
        self.assertEqual(lines[0], b"a")
        self.assertEqual(lines[-1], b"z")
        self.assertEqual(tailer.follower.counters.corrupt_files, 1)
        self.assertTrue([e for e in events if e.get("follow_event") == "corrupt"])

    def test_unreadable_gzip_is_left(self) -> None:
        """
        A C{.gz} that is no gzip at all (so it has no fingerprint) is left
        for the next file, not taken for its own successor.
        """
        older = self.directory / "app.log.2"
        older.write_bytes(b"older\n")
        (self.directory / "app.log.1.gz").write_bytes(b"not gzip at all\n")
        self.path.write_bytes(b"live\n")
        result = os.stat(older)
        follower = self.follower(
            FollowState(
                str(self.path), 0, 0, "", 0, 0,
                previous=scan_generations(self.path)[0].identity(FINGERPRINT_SIZE),
            )
        )
        self.assertEqual(result.st_ino, follower.state.previous.inode)
        result_poll = follower.poll()
        self.assertEqual(data(result_poll.lines), [b"live"])
        self.assertFalse(result_poll.more)
        self.assertEqual(follower.counters.corrupt_files, 1)


# -- property test ----------------------------------------------------------

_line_text = st.binary(max_size=40).map(lambda b: b.replace(b"\n", b"|"))

_operation = st.one_of(
    st.tuples(st.just("append"), st.lists(_line_text, min_size=1, max_size=6), st.booleans()),
    st.tuples(st.just("append_old"), st.lists(_line_text, min_size=1, max_size=3)),
    st.tuples(st.just("poll"), st.booleans()),
    st.tuples(st.just("rotate")),
    st.tuples(st.just("compress")),
    st.tuples(st.just("restart")),
    st.tuples(st.just("crash")),
)


#: One random scenario: a logrotate configuration, follower options, and
#: the operations in order.
scenarios = st.fixed_dictionaries(
    {
        "copytruncate": st.booleans(),
        "dated": st.booleans(),
        "compress": st.sampled_from([None, "compress", "delaycompress"]),
        "fingerprint_size": st.sampled_from([16, FINGERPRINT_SIZE]),
        "max_read": st.sampled_from([64, 1000, MiB]),
        "max_line": st.sampled_from([16, MiB]),
        "operations": st.lists(_operation, max_size=40),
    }
)


def run_scenario(scenario: dict[str, Any]) -> tuple[list[bytes], list[bytes], list[bytes]]:
    """
    Play C{scenario}, drain, and return (lines stored, the occurrences among
    all the lines returned, lines written).

    Copytruncate happens only between writes (as in this single-threaded
    test it must): the copy holds everything written before the truncation.
    After a rename, the writer may go on writing to the old file until it
    reopens: while the new file is empty, within C{rotate_wait} polls, and
    before the old file is compressed.
    """
    directory = Path(tempfile.mkdtemp())
    try:
        compress = scenario["compress"]
        log = LogFile(
            directory,
            dated=scenario["dated"],
            compress=compress is not None,
            delaycompress=compress == "delaycompress",
        )
        tailer = Tailer(
            log.path,
            max_read=scenario["max_read"],
            max_line=scenario["max_line"],
            fingerprint_size=scenario["fingerprint_size"],
            rotate_wait=3,
        )
        tailer.poll()
        counter = 0
        partial = b""
        polls_since_rotation: int | None = None
        for operation in scenario["operations"]:
            kind = operation[0]
            if kind == "append":
                # Lines unique by their number, as timestamps make real
                # ones; optionally leave the last one unfinished.
                texts, finish = operation[1], operation[2]
                chunk = partial
                for text in texts:
                    counter += 1
                    chunk += b"%d %s %d\n" % (counter, text, counter)
                if finish:
                    partial = b""
                else:
                    cut = len(chunk) - 1 - len(texts[-1]) // 2
                    chunk, partial = chunk[:cut], chunk[cut:]
                log.append(chunk)
            elif kind == "append_old":
                if (
                    polls_since_rotation is not None
                    and polls_since_rotation < 3
                    and not scenario["copytruncate"]
                    and not log.generations[-1]
                    and not log.rotated()[-1].name.endswith(".gz")
                ):
                    chunk = b""
                    for text in operation[1]:
                        counter += 1
                        chunk += b"%d %s %d\n" % (counter, text, counter)
                    with open(log.rotated()[-1], "ab") as f:
                        f.write(chunk)
                    log.generations[-2] += chunk
            elif kind == "poll":
                tailer.poll(persist=operation[1])
                if polls_since_rotation is not None:
                    polls_since_rotation += 1
            elif kind == "rotate":
                log.rotate(scenario["copytruncate"])
                # The writer does not finish a line across files.
                partial = b""
                polls_since_rotation = 0
            elif kind == "compress":
                plain = [p for p in log.rotated() if not p.name.endswith(".gz")]
                if plain:
                    gzip_file(plain[0])
            elif kind == "restart":
                tailer.restart()
            elif kind == "crash":
                tailer.crash()
        log.end_line()
        tailer.drain()
        tailer.follower.close()
        return tailer.lines(), tailer.occurrences(), log.expected()
    finally:
        shutil.rmtree(directory)


class PropertyTests(SynchronousTestCase):
    """
    Random writes, rotations, compressions, restarts and crashes: after
    draining, the lines stored are exactly the lines written; and all the
    lines returned, collapsed by C{(file, offset)}, are exactly the lines
    written too (a crash's re-reads collapse, nothing else does).
    """

    @settings(
        max_examples=200,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow],
    )
    @given(scenarios)
    def test_nothing_lost_nothing_twice(self, scenario: dict[str, Any]) -> None:
        stored, occurrences, written = run_scenario(scenario)
        self.assertEqual(stored, written)
        self.assertEqual(occurrences, written)
