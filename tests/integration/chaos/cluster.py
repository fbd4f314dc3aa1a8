"""The processes of a chaos run, the faults done to them, and the waits.

L{ChaosCluster} runs, as real twistd processes on 127.0.0.1 (through
L{tests.integration.processes.ProcessGroup}): 3 bucks, 1 or 2 tailers and
the porter (sqlite index, dir archive, short buckets and quiet period, so
that archiving happens within the run).  It knows which processes the
harness took down, so that any other exit is reported as a failure.

Faults from outside, no seam in the product:

  - kills: C{SIGKILL}, at once or when a trigger fires: a log line
    (L{LogWatch}), a write to the index's WAL (the porter loading), a
    temporary archive object (the porter archiving), a thread of the
    process inside C{fsync}/C{fdatasync} (C{/proc/PID/task/*/syscall});
  - a buck's data directory wiped, or its newest bucket file cut in the
    middle of its last record, while the buck is down;
  - a full disk: the buck's data directory is a small tmpfs (mounted
    when the run starts, as root), filled with a file until C{ENOSPC};
  - rotation (L{rotate_log}): numbered or dated names, rename or
    copytruncate, with or without gzip;
  - the tailer's clock: each tailer runs under libfaketime with
    C{FAKETIME_TIMESTAMP_FILE} (re-read at every call,
    C{FAKETIME_NO_CACHE=1}; the monotonic clock stays true), and a step
    back rewrites that file.
"""

from __future__ import annotations

import glob
import gzip
import json
import os
import re
import shutil
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from logship.core.bucket import TornRecord, iter_records
from logship.core.keys import write_new_key
from tests.integration.delivery import STATS, rotate
from tests.integration.processes import LISTENING, ProcessFailed, ProcessGroup, TwistdProcess

PORTER_READY = re.compile(r"logship-porter listening on (?P<host>\S+):(?P<port>\d+)")
TAILER_READY = re.compile(r"Following ")

#: x86_64 system call numbers of fsync and fdatasync (C{/proc/PID/task/TID/syscall}).
FSYNC_CALLS = frozenset({74, 75})

#: Seconds between two looks while waiting for a trigger.
TRIGGER_POLL = 0.002

TMPFS_SIZE = "256m"


def find_libfaketime() -> str | None:
    """
    The path of Debian's libfaketime, or C{None} when it is not installed.
    """
    found = sorted(glob.glob("/usr/lib/*/faketime/libfaketime.so.1"))
    return found[0] if found else None


@dataclass
class TailerSpec:
    """
    One tailer: its name, its host for lines naming none, what it follows.

    @ivar files: C{(path, durability)} of each followed file.
    """

    name: str
    host: str
    files: list[tuple[Path, str]]


class LogWatch:
    """
    New lines of one process's log, from the moment the watch is made.
    """

    def __init__(self, process: TwistdProcess) -> None:
        self._path = process.log_path
        try:
            self._offset = self._path.stat().st_size
        except FileNotFoundError:
            self._offset = 0
        self._rest = b""

    def seen(self, pattern: re.Pattern[str]) -> bool:
        """
        Whether a line logged since the last look matches C{pattern}.
        """
        try:
            with open(self._path, "rb") as f:
                f.seek(self._offset)
                data = f.read()
        except FileNotFoundError:
            return False
        self._offset += len(data)
        lines = (self._rest + data).split(b"\n")
        self._rest = lines.pop()
        return any(pattern.search(line.decode(errors="replace")) for line in lines)


def poll_until(condition: Callable[[], bool], timeout: float, interval: float = TRIGGER_POLL) -> bool:
    """
    Look at C{condition} until it holds or C{timeout} seconds pass.

    @return: whether it held.
    """
    deadline = time.monotonic() + timeout
    while True:
        if condition():
            return True
        if time.monotonic() > deadline:
            return False
        time.sleep(interval)


def in_fsync(pid: int) -> bool:
    """
    Whether a thread of process C{pid} is inside fsync or fdatasync now.
    """
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return False
    for tid in tasks:
        try:
            with open(f"/proc/{pid}/task/{tid}/syscall", "rb") as f:
                first = f.read(8).split(b" ", 1)[0]
        except OSError:
            continue
        if first.isdigit() and int(first) in FSYNC_CALLS:
            return True
    return False


class ChaosCluster:
    """
    3 bucks, the tailers of C{specs} and the porter, in C{group}'s
    directory.

    @ivar processes: each process by name (C{buck0}, C{tailer-a}, C{porter}).
    @ivar down: the processes the harness took down and has not restarted.
    @ivar exits: processes found exited without the harness taking them
        down: C{(name, status, log tail)}.
    @ivar tmpfs_error: why the small filesystem of the full-disk buck could
        not be mounted, or C{None}.
    """

    def __init__(
        self,
        group: ProcessGroup,
        specs: list[TailerSpec],
        *,
        bucket_seconds: int,
        quiet: float,
        tmpfs_buck: int = -1,
        faketime: str | None = None,
    ) -> None:
        self.group = group
        self.root = group.root
        self.specs = {spec.name: spec for spec in specs}
        self.bucket_seconds = bucket_seconds
        self.quiet = quiet
        self.tmpfs_buck = tmpfs_buck
        self.faketime = faketime
        self.key = self.root / "cluster.key"
        self.processes: dict[str, TwistdProcess] = {}
        self.down: set[str] = set()
        self.exits: list[tuple[str, int | None, str]] = []
        self.tmpfs_error: str | None = None
        self._mounted: Path | None = None
        self._ports: dict[str, int] = {}
        self._clock_offsets: dict[str, int] = {}

    # -- paths

    def data_dir(self, buck: str) -> Path:
        return self.root / buck / "data"

    def buckets_dir(self, buck: str) -> Path:
        return self.data_dir(buck) / "buckets"

    def spool_dir(self, tailer: str) -> Path:
        return self.root / tailer / "state" / "spool"

    def checkpoint_path(self, tailer: str) -> Path:
        return self.root / tailer / "state" / "tailer.json"

    @property
    def index_dir(self) -> Path:
        return self.root / "porter" / "index"

    @property
    def archive_dir(self) -> Path:
        return self.root / "porter" / "archive"

    def _faketime_file(self, tailer: str) -> Path:
        return self.root / f"{tailer}.faketime"

    @property
    def bucks(self) -> list[str]:
        return ["buck0", "buck1", "buck2"]

    @property
    def tailers(self) -> list[str]:
        return list(self.specs)

    # -- starting and stopping

    def start(self) -> None:
        """
        Start everything: the bucks together, then the tailers and the porter.
        """
        write_new_key(self.key)
        if self.tmpfs_buck >= 0:
            self._mount(self.data_dir(f"buck{self.tmpfs_buck}"))
        started = [self._launch(buck) for buck in self.bucks]
        for buck, process in zip(self.bucks, started):
            self._ready(buck, process, LISTENING)
        started = [self._launch(name) for name in [*self.tailers, "porter"]]
        for name, process in zip([*self.tailers, "porter"], started):
            self._ready(name, process, PORTER_READY if name == "porter" else TAILER_READY)

    def _mount(self, path: Path) -> None:
        path.mkdir(parents=True, exist_ok=True)
        result = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", f"size={TMPFS_SIZE}", "tmpfs", str(path)],
            capture_output=True, text=True,
        )
        if result.returncode == 0:
            self._mounted = path
        else:
            self.tmpfs_error = (result.stderr or result.stdout).strip() or f"status {result.returncode}"

    def _args(self, name: str) -> tuple[str, list[str], dict[str, str] | None]:
        seconds = ["--bucket-seconds", str(self.bucket_seconds)]
        if name.startswith("buck"):
            port = self._ports.get(name, 0)
            return "logship-buck", [
                "--listen", f"tcp:{port}:interface=127.0.0.1", "--data", "data",
                "--key", str(self.key), "--node", name, "--stats-interval", "1", *seconds,
            ], None
        bucks = [a for buck in self.bucks for a in ("--buck", f"127.0.0.1:{self._ports[buck]}")]
        if name == "porter":
            return "logship-porter", [
                "--key", str(self.key), "--index", "sqlite:index", "--archive", "dir:archive",
                "--state", "state", "--node", "porter", "--quiet", str(self.quiet),
                "--interval", "0.5", "--request-timeout", "10",
                "--api", "tcp:0:interface=127.0.0.1", *seconds, *bucks,
            ], None
        spec = self.specs[name]
        args = ["--state", "state", "--key", str(self.key), "--node", name, "--host", spec.host,
                "--stats-interval", "0.2", "--ack-timeout", "5",
                "--archive-check-interval", "1", *seconds, *bucks]
        for path, durability in spec.files:
            args += ["--source", f"{durability}:{path}"]
        env = None
        if self.faketime is not None:
            clock = self._faketime_file(name)
            if not clock.exists():
                clock.write_text("+0\n")
            env = {"LD_PRELOAD": self.faketime, "FAKETIME_TIMESTAMP_FILE": str(clock),
                   "FAKETIME_NO_CACHE": "1", "FAKETIME_DONT_FAKE_MONOTONIC": "1"}
        return "logship-tailer", args, env

    def _launch(self, name: str) -> TwistdProcess:
        plugin, args, env = self._args(name)
        process = self.group.start_twistd(plugin, args, name=name, ready=None, env=env)
        self.processes[name] = process
        return process

    def _ready(self, name: str, process: TwistdProcess, pattern: re.Pattern[str]) -> None:
        match = process.wait_for_log_blocking(pattern, timeout=60)
        if "port" in match.groupdict():
            process.port = int(match["port"])
            if name.startswith("buck"):
                self._ports[name] = process.port
        self.down.discard(name)

    def restart(self, names: list[str]) -> None:
        """
        Start the stopped processes C{names} again (bucks on their old
        ports, everything with its old data), together, and wait until
        each is ready.
        """
        started = []
        for name in names:
            assert not self.processes[name].running, f"{name} is still running"
            started.append((name, self._launch(name)))
        for name, process in started:
            pattern = (LISTENING if name.startswith("buck")
                       else PORTER_READY if name == "porter" else TAILER_READY)
            self._ready(name, process, pattern)

    def kill(self, name: str) -> None:
        """
        SIGKILL C{name} (it stays down until L{restart}).
        """
        self.down.add(name)
        self.processes[name].kill()

    def check_alive(self) -> None:
        """
        Note, and restart, every process that exited without being taken
        down (a crash of the product: a failure of the run).
        """
        gone = [n for n, p in self.processes.items() if n not in self.down and not p.running]
        for name in gone:
            process = self.processes[name]
            self.exits.append((name, process.popen.returncode, process.tail(40)))
        if gone:
            self.restart(gone)

    def close(self) -> None:
        """
        Stop every process (SIGTERM, then SIGKILL) and unmount the tmpfs.
        """
        try:
            self.group.stop_all()
        finally:
            if self._mounted is not None:
                subprocess.run(["umount", "-l", str(self._mounted)], capture_output=True)
                self._mounted = None

    # -- faults on disks and files

    def wipe(self, buck: str) -> None:
        """
        Remove everything in the data directory of C{buck}, which is down.
        """
        assert not self.processes[buck].running
        data = self.data_dir(buck)
        for child in data.iterdir():
            if child.is_dir():
                shutil.rmtree(child)
            else:
                child.unlink()

    def tear(self, buck: str) -> str | None:
        """
        Cut the newest bucket file of C{buck} (down) in the middle of its
        last record.

        @return: what was cut, or C{None} if no file had a record.
        """
        assert not self.processes[buck].running
        files = sorted(self.buckets_dir(buck).rglob("*.b"), key=lambda p: p.stat().st_mtime_ns)
        for path in reversed(files):
            last = None
            with open(path, "rb") as f:
                try:
                    for last in iter_records(f):
                        pass
                except TornRecord:
                    pass
            if last is None:
                continue
            offset, record = last
            cut = offset + 2 + max(1, len(record) // 2)
            os.truncate(path, cut)
            return f"{path.relative_to(self.root)} cut to {cut} bytes (last record at {offset})"
        return None

    def filler(self) -> Path:
        return self.data_dir(f"buck{self.tmpfs_buck}") / "chaos-filler"

    def fill_disk(self) -> int:
        """
        Fill the full-disk buck's filesystem with one file until ENOSPC.

        @return: the bytes the file took.
        """
        written = 0
        fd = os.open(self.filler(), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        try:
            for size in (1 << 20, 4096, 1):
                chunk = b"\0" * size
                while True:
                    try:
                        written += os.write(fd, chunk)
                    except OSError:
                        break
        finally:
            os.close(fd)
        return written

    def free_disk(self) -> None:
        self.filler().unlink(missing_ok=True)

    def step_clock_back(self, tailer: str, seconds: int) -> int:
        """
        Step the clock of C{tailer} back by C{seconds} (it stays there).

        @return: its total offset now, in seconds.
        """
        offset = self._clock_offsets.get(tailer, 0) - seconds
        self._clock_offsets[tailer] = offset
        self._faketime_file(tailer).write_text(f"{offset:+d}\n")
        return offset

    def clock_offset(self, tailer: str) -> int:
        """
        How far the clock of C{tailer} was stepped back (0 or less), in seconds.
        """
        return self._clock_offsets.get(tailer, 0)

    # -- triggers

    def wait_fsync(self, name: str, timeout: float) -> bool:
        pid = self.processes[name].pid
        return poll_until(lambda: in_fsync(pid), timeout, interval=0.0005)

    def wait_log(self, name: str, pattern: str, timeout: float) -> bool:
        watch = LogWatch(self.processes[name])
        compiled = re.compile(pattern)
        return poll_until(lambda: watch.seen(compiled), timeout)

    def wait_bucket_write(self, buck: str, since: float, timeout: float) -> bool:
        """
        Wait until a bucket file of C{buck} was written after C{since}.
        """
        root = self.buckets_dir(buck)

        def fresh() -> bool:
            for path in root.rglob("*.b"):
                try:
                    if path.stat().st_mtime >= since:
                        return True
                except FileNotFoundError:
                    continue
            return False

        return poll_until(fresh, timeout, 0.02)

    def wait_index_write(self, timeout: float) -> bool:
        """
        Wait until the recent index's write-ahead log changes (a load).
        """
        wal = self.index_dir / "recent.sqlite-wal"

        def stamp() -> tuple[int, int]:
            try:
                st = wal.stat()
            except FileNotFoundError:
                return (0, 0)
            return (st.st_size, st.st_mtime_ns)

        before = stamp()
        return poll_until(lambda: stamp() != before, timeout)

    def wait_archive_write(self, timeout: float) -> bool:
        """
        Wait until an archive object is being written (its temporary file).
        """
        root = self.archive_dir / "buckets"

        def writing() -> bool:
            for directory, _, files in os.walk(root):
                if any(f.endswith(".tmp") for f in files):
                    return True
            return False

        return poll_until(writing, timeout)

    # -- progress

    def checkpoint(self, tailer: str) -> dict[str, Any]:
        try:
            return dict(json.loads(self.checkpoint_path(tailer).read_text()))
        except (FileNotFoundError, json.JSONDecodeError):
            return {}

    def read_to_end(self, tailer: str) -> bool:
        """
        Whether the checkpoint of C{tailer} says it read each of its live
        files to the end.
        """
        files = self.checkpoint(tailer).get("files", {})
        for path, _ in self.specs[tailer].files:
            saved = files.get(str(path), {})
            try:
                st = path.stat()
            except FileNotFoundError:
                return False
            if saved.get("inode") != st.st_ino or saved.get("offset") != st.st_size:
                return False
        return True

    def stats_lines(self, tailer: str) -> list[dict[str, int]]:
        return [
            {k: int(v) for k, v in m.groupdict().items()}
            for m in STATS.finditer(self.processes[tailer].log_text())
        ]

    def wait_caught_up(self, timeout: float) -> None:
        """
        Wait until every tailer read its files to the end and then had
        nothing undelivered.

        @raise ProcessFailed: if that does not happen in time.
        """
        deadline = time.monotonic() + timeout
        for tailer in self.tailers:
            def read() -> bool:
                self.check_alive()
                return self.read_to_end(tailer)

            if not poll_until(read, max(0.0, deadline - time.monotonic()), 0.05):
                raise ProcessFailed(
                    f"{tailer} did not read its files to the end in {timeout:g} s:"
                    f" checkpoint {self.checkpoint(tailer).get('files')}\n"
                    f"{self.processes[tailer].tail()}")
            after = len(self.stats_lines(tailer))

            def delivered() -> bool:
                self.check_alive()
                return any(s["undelivered"] == 0 for s in self.stats_lines(tailer)[after:])

            if not poll_until(delivered, max(0.0, deadline - time.monotonic()), 0.05):
                raise ProcessFailed(f"{tailer} did not deliver everything in {timeout:g} s\n"
                                    f"{self.processes[tailer].tail()}")

    def unsettled(self) -> list[str]:
        """
        What keeps the run from being settled: bucket files on the bucks
        (not archived yet), and local buckets of the tailers not shipped
        whole at their present size.
        """
        left = [str(p.relative_to(self.root)) for buck in self.bucks
                for p in self.buckets_dir(buck).rglob("*.b")]
        for tailer in self.tailers:
            # the checkpoint's "shipped": {relpath: [size shipped, buck]}
            shipped = self.checkpoint(tailer).get("shipped", {})
            root = self.spool_dir(tailer)
            for path in root.rglob("*.b"):
                key = str(path.relative_to(root))
                size = path.stat().st_size
                if shipped.get(key, [None])[0] != size:
                    left.append(f"{tailer}: {key} not shipped at {size} bytes")
        return left

    def wait_settled(self, timeout: float) -> list[str]:
        """
        Wait until every tailer caught up, shipped every local bucket, and
        the porter archived every bucket (no bucket file is left on any buck).

        @return: what was still unsettled at the deadline (empty when settled).
        """
        deadline = time.monotonic() + timeout
        self.wait_caught_up(timeout)
        left: list[str] = []

        def settled() -> bool:
            nonlocal left
            self.check_alive()
            try:
                left = self.unsettled()
            except FileNotFoundError:  # a file deleted while looked at
                return False
            return not left

        poll_until(settled, max(0.0, deadline - time.monotonic()), 0.2)
        return left


def rotate_log(log: Path, *, copytruncate: bool, compress: bool, dated: bool, stamp: int) -> str:
    """
    Rotate C{log} as logrotate does (nothing is written meanwhile).

    @param dated: C{dateext} names (C{NAME-YYYYMMDDHHMMSS}), else numbered
        ones (C{NAME.1}, shifted; L{tests.integration.delivery.rotate}).
    @param compress: gzip the generation before the newest (as with
        C{delaycompress}).
    @param stamp: the time in the dated name (must grow from one rotation
        of C{log} to the next).
    @return: a short description.
    """
    if not dated:
        rotate(log, copytruncate=copytruncate, compress=compress)
        return f"{log.name} -> {log.name}.1"
    name = f"{log.name}-{time.strftime('%Y%m%d%H%M%S', time.gmtime(stamp))}"
    target = log.with_name(name)
    previous = sorted(p for p in log.parent.glob(log.name + "-*") if not p.name.endswith(".gz"))
    if copytruncate:
        shutil.copyfile(log, target)
        os.truncate(log, 0)
    else:
        log.rename(target)
        log.touch()
    if compress and previous:
        older = previous[-1]
        with open(older, "rb") as src, gzip.open(older.with_name(older.name + ".gz"), "wb") as dst:
            shutil.copyfileobj(src, dst)
        older.unlink()
    return f"{log.name} -> {name}"

