"""Live tail benchmark: a line appended to a tailed file -> a WebSocket client.

Run it by hand (not part of C{make test}; about 3 minutes):

    .venv/bin/python bench/live.py
    .venv/bin/python bench/live.py --seconds 20 --poll-intervals 0.25 --rates 5000

For each tailer poll interval (C{--poll-intervals}, default 0.25 — the
tailer's default — and 0.05) it starts 3 bucks with C{--live
tcp:0:interface=127.0.0.1} and 1 tailer (R = 2, C{ack2}) as real twistd
processes on 127.0.0.1 (the integration tests' harness), connects one
WebSocket client to each buck's C{/live} (filter: rate 5000), and for each
rate (C{--rates}, lines per second: 100 and 5,000) appends lines to the
tailed file for C{--seconds}, each line carrying the time it was written
(C{time.time()}, by a writer thread in this process, in chunks every 10 ms).
The latency of a line is the time from its write until the first of the
3 clients receives it (the page does the same: it connects to every buck
and keeps the first copy).  It reports p50, p99 and the maximum, and how
many lines arrived (a live view may skip; here nothing should).

Then, at the highest rate, it adds C{--clients} (50) more clients on
buck0, run by a child process (C{--load}: they count events and skipped
notices, without decoding the JSON), and reports buck0's CPU (utime +
stime from C{/proc/PID/stat} over the phase, as a share of one core) and
its RSS (C{VmRSS} at the end, C{VmHWM}), with the same figures of buck0
without those clients for comparison, and the latency meanwhile.

The machine is shared and noisy (2 cores for 5 processes and this one):
the load average is printed with each phase.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # the integration tests' process harness

from autobahn.twisted.websocket import WebSocketClientFactory, WebSocketClientProtocol
from twisted.internet import defer, task
from twisted.internet.endpoints import TCP4ClientEndpoint

#: What a buck logs once its live tail listens.
LIVE_LISTENING = re.compile(r"live listening on (?P<host>\S+):(?P<port>\d+)")
#: The bench's lines: "live-bench seq=N t=SECONDS".
LINE = re.compile(r"live-bench seq=(\d+) t=(\d+\.\d+)")
_TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """
    utime + stime of a process, in seconds.
    """
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / _TICKS


def memory_mib(pid: int) -> dict[str, float]:
    """
    C{VmRSS} and C{VmHWM} of a process, in MiB.
    """
    out = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            key = line.split(":")[0]
            if key in ("VmRSS", "VmHWM"):
                out[key] = int(line.split()[1]) / 1024
    return out


def load() -> str:
    return "/".join(f"{x:.2f}" for x in os.getloadavg())


def percentile(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


class Receiver:
    """
    What the latency clients received: the first arrival of each line.
    """

    def __init__(self) -> None:
        self.first: dict[int, float] = {}
        self.copies = 0
        self.skipped = 0

    def events(self, events: list[dict[str, Any]], now: float) -> None:
        for event in events:
            match = LINE.search(event["message"])
            if match is None:
                continue
            self.copies += 1
            seq = int(match.group(1))
            if seq not in self.first:
                self.first[seq] = now - float(match.group(2))


class LatencyClient(WebSocketClientProtocol):
    receiver: Receiver

    def onOpen(self) -> None:
        self.sendMessage(json.dumps({"type": "filter", "rate": 5000}).encode())

    def onMessage(self, payload: bytes, isBinary: bool) -> None:
        now = time.time()
        message = json.loads(payload)
        if message["type"] == "events":
            self.receiver.events(message["events"], now)
        elif message["type"] == "skipped":
            self.receiver.skipped += message["count"]


class CountingClient(WebSocketClientProtocol):
    """
    A load client: counts events and skipped notices, decodes nothing.
    """

    counts = {"events": 0, "skipped": 0, "bytes": 0, "closed": 0}

    def onOpen(self) -> None:
        self.sendMessage(json.dumps({"type": "filter", "rate": 5000}).encode())

    def onMessage(self, payload: bytes, isBinary: bool) -> None:
        self.counts["bytes"] += len(payload)
        if payload.startswith(b'{"type":"events"'):
            self.counts["events"] += payload.count(b'{"id":')
        elif payload.startswith(b'{"type":"skipped"'):
            self.counts["skipped"] += json.loads(payload)["count"]

    def onClose(self, wasClean: bool, code: Any, reason: Any) -> None:
        self.counts["closed"] += 1


async def connect(reactor: Any, port: int, protocol: type) -> WebSocketClientProtocol:
    factory = WebSocketClientFactory(f"ws://127.0.0.1:{port}/live", reactor=reactor)
    factory.protocol = protocol
    factory.setProtocolOptions(utf8validateIncoming=False)
    return await TCP4ClientEndpoint(reactor, "127.0.0.1", port).connect(factory)


def writer(path: Path, rate: int, seconds: float, start_seq: int, stop: threading.Event,
           written: list[int]) -> None:
    """
    Append C{rate} lines per second to C{path} for C{seconds}, in chunks
    every 10 ms, each line stamped with the time it is written.
    """
    tick = 0.01
    per_tick = rate * tick
    began = time.monotonic()
    seq = start_seq
    due = 0.0
    with open(path, "ab", buffering=0) as f:
        n = 0
        while not stop.is_set():
            elapsed = time.monotonic() - began
            if elapsed >= seconds:
                break
            due += per_tick
            count = int(due)
            due -= count
            if count:
                now = time.time()
                lines = b"".join(
                    b"live-bench seq=%d t=%.6f pad=%s\n" % (s, now, b"x" * 60)
                    for s in range(seq, seq + count)
                )
                f.write(lines)
                seq += count
            n += 1
            delay = began + n * tick - time.monotonic()
            if delay > 0:
                time.sleep(delay)
    written.append(seq - start_seq)


async def run_phase(reactor: Any, log: Path, receiver: Receiver, rate: int, seconds: float,
                    start_seq: int, buck0_pid: int) -> dict[str, Any]:
    receiver.first.clear()
    receiver.copies = receiver.skipped = 0
    written: list[int] = []
    stop = threading.Event()
    load_before = load()
    cpu0 = cpu_seconds(buck0_pid)
    wall0 = time.monotonic()
    thread = threading.Thread(
        target=writer, args=(log, rate, seconds, start_seq, stop, written), daemon=True)
    thread.start()
    while thread.is_alive():
        await task.deferLater(reactor, 0.1, lambda: None)
    cpu1 = cpu_seconds(buck0_pid)
    wall1 = time.monotonic()
    count = written[0]
    deadline = time.monotonic() + 10
    while len(receiver.first) < count and time.monotonic() < deadline:
        await task.deferLater(reactor, 0.1, lambda: None)
    latencies = [v for k, v in receiver.first.items() if start_seq <= k < start_seq + count]
    return {
        "rate": rate,
        "written": count,
        "received": len(latencies),
        "copies": receiver.copies,
        "skipped": receiver.skipped,
        "p50_ms": percentile(latencies, 50) * 1000,
        "p99_ms": percentile(latencies, 99) * 1000,
        "max_ms": max(latencies, default=float("nan")) * 1000,
        "buck0_cpu": (cpu1 - cpu0) / (wall1 - wall0),
        "buck0_mem": memory_mib(buck0_pid),
        "load": f"{load_before} -> {load()}",
    }


def show(title: str, r: dict[str, Any]) -> None:
    print(
        f"{title}: {r['rate']:>5} lines/s: {r['received']}/{r['written']} lines"
        f" ({r['copies']} copies, {r['skipped']} skipped): p50 {r['p50_ms']:.0f} ms,"
        f" p99 {r['p99_ms']:.0f} ms, max {r['max_ms']:.0f} ms;"
        f" buck0 {r['buck0_cpu'] * 100:.0f}% CPU, RSS {r['buck0_mem']['VmRSS']:.0f} MiB"
        f" (peak {r['buck0_mem']['VmHWM']:.0f}); load {r['load']}",
        flush=True,
    )


async def bench_poll_interval(reactor: Any, args: argparse.Namespace, poll: float,
                              root: Path) -> None:
    from tests.integration.delivery import Cluster
    from tests.integration.processes import ProcessGroup

    root.mkdir(parents=True, exist_ok=True)
    group = ProcessGroup(root)
    load_process: subprocess.Popen[bytes] | None = None
    try:
        cluster = Cluster.start(
            group,
            tailer_args=["--poll-interval", str(poll), "--stats-interval", "1"],
            # All the clients come from 127.0.0.1: allow them all.
            buck_args=["--live", "tcp:0:interface=127.0.0.1", "--stats-interval", "10",
                       "--live-clients-per-address", "256"],
        )
        ports = []
        for buck in cluster.bucks:
            match = buck.wait_for_log_blocking(LIVE_LISTENING)
            ports.append(int(match["port"]))
        receiver = Receiver()
        LatencyClient.receiver = receiver
        clients = [await connect(reactor, port, LatencyClient) for port in ports]
        await task.deferLater(reactor, 1.0, lambda: None)  # filters in place
        seq = 0
        results = []
        for rate in args.rates:
            result = await run_phase(reactor, cluster.log, receiver, rate, args.seconds, seq,
                                     cluster.bucks[0].pid)
            seq += result["written"]
            show(f"poll {poll:g} s", result)
            results.append(result)
        if args.clients:
            rate = max(args.rates)
            load_process = subprocess.Popen(
                [sys.executable, __file__, "--load", str(ports[0]), str(args.clients),
                 str(args.seconds + 6)],
                stdout=subprocess.PIPE,
            )
            await task.deferLater(reactor, 3.0, lambda: None)  # the clients connect
            result = await run_phase(reactor, cluster.log, receiver, rate, args.seconds, seq,
                                     cluster.bucks[0].pid)
            show(f"poll {poll:g} s, +{args.clients} clients on buck0", result)
            out, _ = load_process.communicate(timeout=60)
            counts = json.loads(out)
            print(f"  the {args.clients} load clients: {counts}", flush=True)
        for client in clients:
            client.dropConnection(abort=True)
    finally:
        if load_process is not None and load_process.poll() is None:
            load_process.kill()
        group.stop_all()


async def run_load(reactor: Any, port: int, count: int, seconds: float) -> None:
    clients = [await connect(reactor, port, CountingClient) for _ in range(count)]
    await task.deferLater(reactor, seconds, lambda: None)
    print(json.dumps({"clients": len(clients), **CountingClient.counts}), flush=True)
    for client in clients:
        client.dropConnection(abort=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=15.0, help="per phase")
    parser.add_argument("--rates", default="100,5000",
                        type=lambda s: [int(x) for x in s.split(",")])
    parser.add_argument("--poll-intervals", default="0.25,0.05",
                        type=lambda s: [float(x) for x in s.split(",")])
    parser.add_argument("--clients", type=int, default=50,
                        help="load clients on buck0 in the last phase (0: none)")
    parser.add_argument("--workdir", type=Path, default=None)
    parser.add_argument("--keep", action="store_true")
    parser.add_argument("--load", nargs=3, metavar=("PORT", "CLIENTS", "SECONDS"),
                        help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.load:
        port, count, seconds = args.load
        task.react(lambda r: defer.ensureDeferred(
            run_load(r, int(port), int(count), float(seconds))))
        return
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="logship-live-bench-"))
    print(f"bench/live.py: {args.seconds:g} s per phase, rates {args.rates},"
          f" poll intervals {args.poll_intervals}, {os.cpu_count()} CPUs, load {load()}",
          flush=True)

    async def everything(reactor: Any) -> None:
        for i, poll in enumerate(args.poll_intervals):
            await bench_poll_interval(reactor, args, poll, workdir / f"run{i}")

    try:
        task.react(lambda r: defer.ensureDeferred(everything(r)))
    finally:
        if not args.keep and args.workdir is None:
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
