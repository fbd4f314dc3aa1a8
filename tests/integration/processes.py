"""Real twistd processes for integration tests: start, wait until ready, stop.

A L{ProcessGroup} starts C{twistd -n PLUGIN ...} processes (the buck now,
the tailer and porter later) in their own directories, with their log in a
file, and stops every one of them when the test ends, whatever happened:

    group = ProcessGroup(tmp_path)
    try:
        buck = group.start_twistd("logship-buck", ["--listen",
            "tcp:0:interface=127.0.0.1", "--data", "data", "--key", key])
        buck.port          # the port it actually listens on
        ...
    finally:
        group.stop_all()   # SIGTERM, then SIGKILL after a deadline

(the C{processes} fixture of C{test_buck_process.py} does exactly that).

Readiness is never a sleep: a service logs the address it listens on
("listening on 127.0.0.1:PORT"), and the group polls the log file for that
line until a deadline, failing early, with the log's tail, if the process
exits first.  Listening on C{tcp:0} and reading the port from the log
avoids the race of picking a free port beforehand; L{free_port} is there
for services that cannot do that.
"""

from __future__ import annotations

import atexit
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.integration.waiting import WaitTimeout, wait_until, wait_until_blocking

#: What a logship service logs once it listens (see C{logship/buck/tap.py}).
#: Not the buck's live tail ("logship-buck live listening on ...") nor a
#: metrics page ("... metrics listening on ..."): the wire's port is the
#: one tests want.
LISTENING = re.compile(r"(?<!live )(?<!metrics )listening on (?P<host>\S+):(?P<port>\d+)")

#: Seconds a process may take to become ready.
START_TIMEOUT = 20.0
#: Seconds a process may take to exit after SIGTERM before it is killed.
STOP_TIMEOUT = 5.0


def twistd_command() -> list[str]:
    """
    The command that runs this environment's twistd.
    """
    script = Path(sys.executable).parent / "twistd"
    if script.exists():
        return [str(script)]
    return [sys.executable, "-c", "from twisted.scripts.twistd import run; run()"]


def sigint_as_from_a_terminal() -> None:
    """
    For C{preexec_fn}: SIGINT at its default, as in a command started from a
    terminal.  A suite started in the background by a shell has SIGINT
    ignored, which its children inherit (Python then installs no
    KeyboardInterrupt handler, and Twisted leaves it ignored): a test that
    sends SIGINT (Ctrl-C) would see nothing happen.
    """
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def free_port(host: str = "127.0.0.1") -> int:
    """
    A TCP port that was free a moment ago (racy: prefer C{tcp:0} and
    L{LISTENING}).
    """
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


class ProcessFailed(AssertionError):
    """
    A process exited, or did not get ready, when a test needed it.
    """


@dataclass
class TwistdProcess:
    """
    One running twistd process.

    @ivar name: a short name for messages (and its directory's name).
    @ivar argv: the command line.
    @ivar workdir: its working directory.
    @ivar log_path: twistd's log file.
    @ivar output_path: its stdout and stderr (tracebacks before logging).
    @ivar popen: the process.
    @ivar port: the port it listens on, once ready (if it says).
    """

    name: str
    argv: list[str]
    workdir: Path
    log_path: Path
    output_path: Path
    popen: subprocess.Popen[bytes]
    port: int | None = None
    _output: Any = field(default=None, repr=False)

    @property
    def pid(self) -> int:
        return self.popen.pid

    @property
    def running(self) -> bool:
        return self.popen.poll() is None

    def log_text(self) -> str:
        """
        Everything the process logged (and printed) so far.
        """
        parts = []
        for path in (self.log_path, self.output_path):
            try:
                parts.append(path.read_text(errors="replace"))
            except FileNotFoundError:
                pass
        return "".join(parts)

    def tail(self, lines: int = 30) -> str:
        return "\n".join(self.log_text().splitlines()[-lines:])

    def find(self, pattern: str | re.Pattern[str]) -> re.Match[str] | None:
        """
        The first match of C{pattern} in the log so far.
        """
        return re.search(pattern, self.log_text())

    def wait_for_log_blocking(
        self, pattern: str | re.Pattern[str], timeout: float = START_TIMEOUT
    ) -> re.Match[str]:
        """
        Poll the log until C{pattern} appears, without a reactor (for
        fixtures).

        @raise ProcessFailed: if the process exits or the deadline passes.
        """
        try:
            return wait_until_blocking(self._found(pattern), timeout, self._awaiting(pattern))  # type: ignore[no-any-return]
        except WaitTimeout as e:
            raise ProcessFailed(f"{e}; log tail:\n{self.tail()}") from None

    async def wait_for_log(
        self,
        pattern: str | re.Pattern[str],
        timeout: float = 10.0,
        reactor: Any = None,
    ) -> re.Match[str]:
        """
        Poll the log until C{pattern} appears, letting the reactor run in
        between (for tests running on the real reactor).

        @raise ProcessFailed: if the process exits or the deadline passes.
        """
        try:
            return await wait_until(  # type: ignore[no-any-return]
                self._found(pattern), timeout, self._awaiting(pattern), reactor=reactor
            )
        except WaitTimeout as e:
            raise ProcessFailed(f"{e}; log tail:\n{self.tail()}") from None

    def _found(self, pattern: str | re.Pattern[str]) -> Callable[[], re.Match[str] | None]:
        """
        A condition: the first match of C{pattern} in the log so far.

        @raise ProcessFailed: (when called) if the process exited.
        """

        def found() -> re.Match[str] | None:
            self._check_alive(pattern)
            return self.find(pattern)

        return found

    def _awaiting(self, pattern: str | re.Pattern[str]) -> str:
        return f"{self.name}: {pattern!r} in its log"

    def _check_alive(self, waiting_for: object) -> None:
        if not self.running:
            raise ProcessFailed(
                f"{self.name} exited with status {self.popen.returncode} while"
                f" waiting for {waiting_for!r}; log tail:\n{self.tail()}"
            )

    def signal(self, signum: int) -> None:
        if self.running:
            try:
                self.popen.send_signal(signum)
            except ProcessLookupError:
                pass

    def stop(self, timeout: float = STOP_TIMEOUT) -> int:
        """
        SIGTERM, wait up to C{timeout}, then SIGKILL.

        @return: the exit status.
        """
        self.signal(signal.SIGTERM)
        try:
            self.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
        return self._reap()

    def kill(self) -> int:
        """
        SIGKILL, and wait for the process to go.
        """
        self.signal(signal.SIGKILL)
        return self._reap()

    def _reap(self) -> int:
        status = self.popen.wait()
        if self._output is not None:
            self._output.close()
            self._output = None
        return status


class ProcessGroup:
    """
    Processes started for one test, all stopped by L{stop_all}.
    """

    def __init__(self, root: Path) -> None:
        """
        @param root: a directory for the processes' directories.
        """
        self.root = root
        self.processes: list[TwistdProcess] = []
        atexit.register(self.kill_all)

    def start_twistd(
        self,
        plugin: str,
        args: Sequence[str],
        *,
        name: str | None = None,
        ready: re.Pattern[str] | str | None = LISTENING,
        timeout: float = START_TIMEOUT,
        env: dict[str, str] | None = None,
    ) -> TwistdProcess:
        """
        Start C{twistd -n PLUGIN ARGS} in a directory of its own (relative
        paths in C{args} are relative to it), with no pid file (several can
        run) and its log in C{twistd.log} there, and wait until it is ready.

        @param plugin: the twistd plugin, e.g. C{"logship-buck"}.
        @param args: the plugin's arguments.
        @param name: a name (default: the plugin and a number).
        @param ready: a pattern whose appearance in the log means ready (a
            C{port} group, if any, sets L{TwistdProcess.port}); C{None} to
            not wait.
        @param timeout: seconds to get ready.
        @param env: extra environment variables.
        @raise ProcessFailed: if it exits or is not ready in time (it is
            stopped then).
        """
        name = name or f"{plugin}-{len(self.processes) + 1}"
        workdir = self.root / name
        workdir.mkdir(parents=True, exist_ok=True)
        log_path = workdir / "twistd.log"
        output_path = workdir / "output.txt"
        # A restart in the same directory: keep the earlier run's log aside,
        # or its readiness line would pass for this run's (twistd appends).
        earlier = sum(1 for p in self.processes if p.workdir == workdir)
        for path in (log_path, output_path):
            if path.exists():
                path.rename(path.with_name(f"earlier-{earlier}.{path.name}"))
        argv = [
            *twistd_command(),
            "--nodaemon",
            "--pidfile=",
            f"--logfile={log_path}",
            plugin,
            *args,
        ]
        output = open(output_path, "wb")
        popen = subprocess.Popen(
            argv,
            cwd=workdir,
            stdin=subprocess.DEVNULL,
            stdout=output,
            stderr=subprocess.STDOUT,
            env={**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})},
        )
        process = TwistdProcess(
            name, argv, workdir, log_path, output_path, popen, _output=output
        )
        self.processes.append(process)
        if ready is not None:
            try:
                match = process.wait_for_log_blocking(ready, timeout)
            except ProcessFailed:
                process.kill()
                raise
            if "port" in match.groupdict():
                process.port = int(match.group("port"))
        return process

    def stop_all(self, timeout: float = STOP_TIMEOUT) -> None:
        """
        Stop every process: SIGTERM to all, then SIGKILL to those still
        running at the deadline.
        """
        for process in self.processes:
            process.signal(signal.SIGTERM)
        deadline = time.monotonic() + timeout
        for process in self.processes:
            try:
                process.popen.wait(max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                pass
            process.kill()
        atexit.unregister(self.kill_all)

    def kill_all(self) -> None:
        """
        SIGKILL every process still running (the last resort at exit).
        """
        for process in self.processes:
            process.kill()
