"""The real cluster of experiments 1 and 4: stamped lines in, each buck's arrivals out.

Shared by C{bench/experiments/durability.py} and
C{bench/experiments/delivery_order.py} (docs/experiments.md).  It adds to
the integration tests' harness (C{tests/integration/delivery.py}'s
L{Cluster}: 3 bucks and a tailer as twistd processes on 127.0.0.1) what
the experiments need:

  - L{LiveCluster}: each buck also serves its live tail on a fixed port,
    so that a restarted buck is found again;
  - L{Writer}: a thread appending lines at a steady rate, each carrying a
    sequence number and the time it was written (an ISO timestamp to the
    microsecond, which becomes the event's point);
  - L{Subscriber}: a child process (this file run as a script) connected to
    every buck's C{/live} WebSocket, reconnecting after a restart, writing
    one row per event a buck published: which buck, when it arrived, its
    point and sequence number.  A buck publishes a batch right after it
    wrote it (acked levels) or received it (C{live}), in arrival order
    (C{logship/buck/ingest.py}): the rows are each buck's arrival order,
    without any change to the services.  Whole-bucket uploads are merged
    without being published: L{bucket_seqs} reads what the bucks' files
    hold, for the difference;
  - L{strace_fsyncs}, L{proc_io}: fsync calls counted by strace, and
    C{/proc/PID/io}.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
for _path in (ROOT, ROOT / "bench"):
    if str(_path) not in sys.path:
        sys.path.insert(0, str(_path))

from tests.integration.delivery import Cluster  # noqa: E402
from tests.integration.processes import ProcessGroup, free_port  # noqa: E402
from tests.integration.waiting import wait_until_blocking  # noqa: E402

#: The experiments' lines: "... exp seq=N ...".
SEQ = re.compile(r"exp seq=(\d+) ")
#: Ticks of an event's point per second (logship.core.parse.TICKS_PER_SECOND).
TICKS = 100_000_000
#: Padding, for lines of about the sample lines' length (110 B).
PAD = b"x" * 48


def stamped(seq: int, when: float) -> bytes:
    """
    The line of sequence number C{seq}, written at C{when} (UTC, to the
    microsecond).
    """
    whole = int(when)
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(whole)).encode()
    return b"%s.%06dZ exphost expapp[7]: exp seq=%d %s" % (
        stamp, int((when - whole) * 1e6), seq, PAD)


class Writer(threading.Thread):
    """
    Appends stamped lines to a file at C{rate} lines a second, in chunks
    every 10 ms, until stopped; sequence numbers go on from C{first}.

    @ivar next: the next sequence number (the lines written are
        C{first .. next - 1}).
    """

    TICK = 0.01

    def __init__(self, path: Path, rate: float, first: int = 0) -> None:
        super().__init__(daemon=True)
        self.path = path
        self.rate = rate
        self.first = self.next = first
        self._stop_event = threading.Event()

    def run(self) -> None:
        began = time.monotonic()
        due = 0.0
        n = 0
        while not self._stop_event.is_set():
            due += self.rate * self.TICK
            count = int(due)
            due -= count
            if count:
                now = time.time()
                data = b"".join(stamped(s, now) + b"\n" for s in range(self.next, self.next + count))
                # Opened for each chunk: a rotation renames the file under us.
                with open(self.path, "ab") as f:
                    f.write(data)
                self.next += count
            n += 1
            delay = began + n * self.TICK - time.monotonic()
            if delay > 0:
                time.sleep(delay)

    def stop(self) -> int:
        """
        Stop writing; the next sequence number.
        """
        self._stop_event.set()
        self.join()
        return self.next


def write_for(path: Path, rate: float, seconds: float, first: int) -> int:
    """
    Run a L{Writer} for C{seconds}; the next sequence number.
    """
    writer = Writer(path, rate, first)
    writer.start()
    time.sleep(seconds)
    return writer.stop()


@dataclass
class LiveCluster(Cluster):
    """
    A L{Cluster} whose bucks serve their live tail, each on a port of its
    own that it keeps across restarts.
    """

    live_ports: list[int] = field(default_factory=lambda: [free_port() for _ in range(3)])

    def start_buck(self, i: int, port: int | None = None, *, ready: bool = True) -> Any:
        common = self.buck_args
        self.buck_args = [*common, "--live", f"tcp:{self.live_ports[i]}:interface=127.0.0.1",
                          "--live-clients-per-address", "64"]
        try:
            return super().start_buck(i, port, ready=ready)
        finally:
            self.buck_args = common


def start_cluster(root: Path, durability: str, bucket_seconds: int,
                  tailer_args: list[str] | None = None) -> tuple[ProcessGroup, LiveCluster]:
    """
    Start a L{LiveCluster} in C{root} at C{durability}, every node on a
    bucket interval of C{bucket_seconds}, and wait until the tailer is
    connected to the 3 bucks.
    """
    root.mkdir(parents=True, exist_ok=True)
    group = ProcessGroup(root)
    cluster = LiveCluster.start(
        group,
        tailer_args=["--durability", durability, "--bucket-seconds", str(bucket_seconds),
                     "--stats-interval", "0.2", *(tailer_args or [])],
        buck_args=["--bucket-seconds", str(bucket_seconds)],
    )
    cluster.wait_stats(lambda s: s["connected"] == 3, "3 bucks connected", after=0)
    return group, cluster


def restart_dead(cluster: Cluster) -> list[str]:
    """
    Start again every process of C{cluster} that is not running (the
    bucks together first, then the tailer); their names.
    """
    bucks = [i for i, b in enumerate(cluster.bucks) if not b.running]
    if bucks:
        cluster.restart_bucks(bucks)
    names = [f"buck{i}" for i in bucks]
    assert cluster.tailer is not None
    if not cluster.tailer.running:
        cluster.start_tailer()
        names.append("tailer")
    return names


# -- what the bucks received


@dataclass
class Arrival:
    """
    One event published by a buck, as the subscriber saw it.
    """

    buck: int
    at: float
    point: int
    seq: int


class Subscriber:
    """
    The child process that listens to every buck's live tail (see the
    module docstring), and what it wrote.
    """

    def __init__(self, cluster: LiveCluster, out: Path) -> None:
        self.out = out
        self.popen = subprocess.Popen(
            [sys.executable, __file__, "subscribe", str(out),
             *(str(p) for p in cluster.live_ports)],
            stdout=subprocess.DEVNULL, stderr=open(out.with_suffix(".err"), "wb"),
        )
        wait_until_blocking(lambda: self._connected() >= 3, 20, "subscriber connected to 3 bucks")

    def _connected(self) -> int:
        if self.popen.poll() is not None:
            raise RuntimeError(f"subscriber exited: {self.out.with_suffix('.err').read_text()[-2000:]}")
        try:
            text = self.out.read_text()
        except FileNotFoundError:
            return 0
        return len({line.split()[1] for line in text.splitlines() if line.startswith("C ")})

    def rows(self) -> list[str]:
        try:
            return self.out.read_text().splitlines()
        except FileNotFoundError:
            return []

    def arrivals(self) -> list[Arrival]:
        """
        Every event received so far, in the order received per buck.
        """
        found = []
        for line in self.rows():
            if line.startswith("E "):
                _, buck, at, point, seq = line.split()
                found.append(Arrival(int(buck), float(at), int(point), int(seq)))
        return found

    def skipped(self) -> int:
        """
        Events the bucks said they skipped for this subscriber (too slow).
        """
        return sum(int(line.split()[2]) for line in self.rows() if line.startswith("S "))

    def wait_quiet(self, want: Any, timeout: float, quiet: float = 3.0) -> None:
        """
        Wait until C{want()} holds, or nothing arrived for C{quiet} seconds,
        or C{timeout} passed.
        """
        began = last_change = time.monotonic()
        size = -1
        while time.monotonic() - began < timeout:
            if want():
                return
            now_size = self.out.stat().st_size
            if now_size != size:
                size, last_change = now_size, time.monotonic()
            elif time.monotonic() - last_change > quiet:
                return
            time.sleep(0.2)

    def stop(self) -> None:
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGTERM)
            try:
                self.popen.wait(10)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait()


def bucket_seqs(cluster: Cluster) -> list[dict[int, int]]:
    """
    Per buck, the sequence numbers its bucket files hold (read with
    C{logship cat --json}, a torn last record allowed), with how many
    times.
    """
    held: list[dict[int, int]] = []
    running = []
    for buck in cluster.bucks:
        path = buck.workdir / "data" / "buckets"
        running.append(None if not path.exists() else subprocess.Popen(
            [sys.executable, "-m", "logship", "cat", "--json", str(path)],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL))
    for popen in running:
        counts: dict[int, int] = defaultdict(int)
        if popen is not None:
            out, _ = popen.communicate(timeout=600)
            for line in out.splitlines():
                match = SEQ.search(json.loads(line)["message"])
                if match:
                    counts[int(match.group(1))] += 1
        held.append(dict(counts))
    return held


# -- the processes' costs


def proc_io(pid: int) -> dict[str, int]:
    """
    C{/proc/PID/io}: C{write_bytes} (bytes this process caused to be
    written to storage), C{syscw} (write system calls), and the rest.
    """
    with open(f"/proc/{pid}/io") as f:
        return {k: int(v) for k, v in (line.split(": ") for line in f)}


def strace_available() -> str | None:
    """
    The strace program, if installed.
    """
    for path in ("/usr/bin/strace", "/bin/strace"):
        if os.access(path, os.X_OK):
            return path
    return None


class StraceFsyncs:
    """
    strace attached to processes (C{-f -c -e trace=fsync,fdatasync}),
    counting their fsync and fdatasync calls (every thread) until
    L{stop}.
    """

    def __init__(self, strace: str, pids: dict[str, int], workdir: Path) -> None:
        self.files = {name: workdir / f"strace-{name}.txt" for name in pids}
        self.popens = {
            name: subprocess.Popen(
                [strace, "-f", "-c", "-e", "trace=fsync,fdatasync", "-o", str(self.files[name]),
                 "-p", str(pid)],
                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
            for name, pid in pids.items()}
        # strace says "Process N attached" once it is (on stderr).
        for name, popen in self.popens.items():
            assert popen.stderr is not None
            line = popen.stderr.readline()
            if b"attached" not in line:
                raise RuntimeError(f"strace on {name}: {line!r}")

    def stop(self) -> dict[str, int]:
        """
        Detach; the calls counted per process.
        """
        counts = {}
        for name, popen in self.popens.items():
            popen.send_signal(signal.SIGINT)
            popen.wait(30)
            calls = 0
            for line in self.files[name].read_text().splitlines():
                fields = line.split()
                if fields and fields[-1] in ("fsync", "fdatasync"):
                    calls += int(fields[3])
            counts[name] = calls
        return counts


# -- the subscriber process


def _subscribe(out_path: str, ports: list[int]) -> None:
    from autobahn.twisted.websocket import WebSocketClientFactory, WebSocketClientProtocol
    from twisted.internet import reactor, task
    from twisted.internet.endpoints import TCP4ClientEndpoint

    out = open(out_path, "a", buffering=1 << 16)
    flusher = task.LoopingCall(out.flush)

    def connect(buck: int) -> None:
        factory = WebSocketClientFactory(f"ws://127.0.0.1:{ports[buck]}/live", reactor=reactor)

        class Client(WebSocketClientProtocol):
            def onOpen(self) -> None:
                self.sendMessage(json.dumps({"type": "filter", "rate": 5000,
                                             "substring": "exp seq="}).encode())
                out.write(f"C {buck} {time.time():.6f}\n")

            def onMessage(self, payload: bytes, isBinary: bool) -> None:
                now = time.time()
                message = json.loads(payload)
                if message["type"] == "events":
                    for event in message["events"]:
                        match = SEQ.search(event["message"])
                        if match:
                            out.write(f"E {buck} {now:.6f} {event['point']} {match.group(1)}\n")
                elif message["type"] == "skipped":
                    out.write(f"S {buck} {message['count']}\n")

            def onClose(self, wasClean: bool, code: Any, reason: Any) -> None:
                out.write(f"D {buck} {time.time():.6f}\n")
                reactor.callLater(0.1, connect, buck)

        factory.protocol = Client
        factory.setProtocolOptions(utf8validateIncoming=False)
        d = TCP4ClientEndpoint(reactor, "127.0.0.1", ports[buck]).connect(factory)
        d.addErrback(lambda _: reactor.callLater(0.1, connect, buck))

    for buck in range(len(ports)):
        connect(buck)
    flusher.start(0.2)
    signal.signal(signal.SIGTERM, lambda *_: reactor.callFromThread(reactor.stop))
    reactor.run()
    out.flush()


if __name__ == "__main__" and sys.argv[1:2] == ["subscribe"]:
    _subscribe(sys.argv[2], [int(p) for p in sys.argv[3:]])
