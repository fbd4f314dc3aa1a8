"""End-to-end delivery benchmark: a log file -> tailer -> 2 of 3 bucks' disks.

Run it by hand (it is not part of C{make test}; it takes minutes):

    .venv/bin/python bench/delivery.py                        # 1,000,000 lines, every durability
    .venv/bin/python bench/delivery.py --lines 200000 --durability ack2
    .venv/bin/python bench/delivery.py --backlog-mb 1024      # the 1 GB backlog run only
    .venv/bin/python bench/delivery.py --credentials          # per-node credentials, not the cluster key
    .venv/bin/python bench/delivery.py --profile /tmp/pyspy/bin/py-spy   # + where tailer and buck0 spend it

(py-spy is not a dependency: C{pip install --target /tmp/pyspy py-spy}.)

For each durability level (C{live}, C{ack1}, C{ack2}, C{ack2+fsync}) it
starts 3 bucks and 1 tailer as real twistd processes on 127.0.0.1 (the
integration tests' harness, C{tests/integration/}), appends N lines made
by L{logship.core.sample.sample_lines} to the followed file as fast as it can,
and measures:

  - end-to-end lines/s, from the first byte appended until the tailer has
    read every line and has nothing undelivered (C{ack2}: every event on
    2 bucks' disks, i.e. written to their files, fsynced for
    C{ack2+fsync}; C{ack1}: on 1 buck; C{live}: until the bucks' counters
    show 2 copies of every event received, as C{live} has no acks and
    the bucks publish C{live} events without writing them);
  - CPU seconds (utime + stime from C{/proc/PID/stat}) of each process
    during that time, and their sum per line in microseconds, the figure
    to compare with other shippers (C{bench/compare.py} runs them side
    by side);
  - peak RSS (C{VmHWM} from C{/proc/PID/status}) of each process.

With C{--backlog-mb M} it instead stops the bucks, appends M MiB of lines
(the sample lines repeated with later timestamps, so every line is a new
event), lets the tailer read them all into its spool, reports the time and
the tailer's peak RSS, then starts the bucks again and reports the
catch-up time and the peak RSS after it.

The machine is shared and noisy: the load average before and after each
run is printed with it.  Everything is written under C{--workdir} (a
temporary directory by default, removed at the end unless C{--keep}).
"""

from __future__ import annotations

import argparse
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from itertools import islice
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # the integration tests' process harness

from logship.core.sample import sample_lines
from tests.integration.delivery import Cluster
from tests.integration.processes import ProcessGroup
from tests.integration.waiting import wait_until_blocking as wait_for

DURABILITIES = ("live", "ack1", "ack2", "ack2+fsync")
START = 1795685820  # 2026-11-26T09:37:00Z
RATE = 2000  # lines per second of log time
_TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """
    utime + stime of a process (all its threads), in seconds.
    """
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / _TICKS


def peak_rss_mib(pid: int) -> float:
    """
    The peak resident set size (C{VmHWM}) of a process, in MiB.
    """
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def load() -> str:
    return "/".join(f"{x:.2f}" for x in os.getloadavg())


def make_input(path: Path, count: int) -> int:
    """
    Write C{count} sample lines to C{path} (kept for later runs).

    @return: its size in bytes.
    """
    return write_once(path, sample_lines(count, start=START, rate=RATE))


def write_once(path: Path, lines: Iterable[bytes]) -> int:
    """
    Write C{lines} to C{path} unless it is there (through a temporary name,
    10,000 lines at a time), for later runs too.

    @return: its size in bytes.
    """
    if not path.exists():
        temporary = path.with_suffix(".tmp")
        lines = iter(lines)
        with open(temporary, "wb") as f:
            while batch := list(islice(lines, 10_000)):
                f.write(b"\n".join(batch) + b"\n")
        temporary.rename(path)
    return path.stat().st_size


def make_backlog(path: Path, megabytes: int, base_lines: int = 100_000) -> int:
    """
    Write at least C{megabytes} MiB of lines to C{path}: C{base_lines}
    sample lines, repeated with their timestamps moved on each time (the
    same text at another time is another event), in local time as
    L{sample_lines} writes them.

    @return: the number of lines.
    """
    bodies = [line[15:] for line in sample_lines(base_lines, start=START, rate=RATE)]
    wanted = megabytes << 20
    written = lines = 0
    stamps: dict[int, bytes] = {}
    with open(path, "wb") as f:
        while written < wanted:
            out = []
            for body in bodies:
                second = START + lines // RATE
                stamp = stamps.get(second)
                if stamp is None:
                    stamps.clear()
                    stamp = stamps[second] = time.strftime(
                        "%b %e %H:%M:%S", time.localtime(second)).encode()
                out.append(stamp + body)
                lines += 1
            data = b"\n".join(out) + b"\n"
            f.write(data)
            written += len(data)
    return lines


def processes(cluster: Cluster) -> dict[str, Any]:
    assert cluster.tailer is not None
    return {"tailer": cluster.tailer, **{f"buck{i}": b for i, b in enumerate(cluster.bucks)}}


#: What a buck's stats line says it received (C{live} events are
#: received and published, never written).
BUCK_RECEIVED = re.compile(r"events written \(\d+/s\), (\d+) received")


def buck_total_written(cluster: Cluster) -> int:
    return sum(max(cluster.buck_written(i), 0) for i in range(len(cluster.bucks)))


def buck_total_received(cluster: Cluster) -> int:
    total = 0
    for buck in cluster.bucks:
        found = BUCK_RECEIVED.findall(buck.log_text())
        total += int(found[-1]) if found else 0
    return total


def start_cluster(
    root: Path, durability: str, tailer_args: Sequence[str] = (), credentials: bool = False
) -> tuple[ProcessGroup, Cluster]:
    root.mkdir(parents=True, exist_ok=True)
    group = ProcessGroup(root)
    cluster = Cluster.start(
        group,
        tailer_args=["--durability", durability, "--ack-timeout", "60",
                     "--stats-interval", "0.1", *tailer_args],
        buck_args=["--stats-interval", "0.2"],
        credentials=credentials,
    )
    cluster.wait_stats(lambda s: s["connected"] == 3, "3 bucks connected", after=0)
    return group, cluster


def start_profiler(py_spy: str | None, pid: int, out: Path) -> subprocess.Popen[bytes] | None:
    if not py_spy:
        return None
    return subprocess.Popen(
        [py_spy, "record", "--pid", str(pid), "--rate", "100", "--format", "raw",
         "--output", str(out), "--nonblocking"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )


def stop_profiler(profiler: subprocess.Popen[bytes] | None, out: Path) -> None:
    if profiler is None:
        return
    profiler.send_signal(signal.SIGINT)
    try:
        _, err = profiler.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        profiler.kill()
        profiler.wait()
        return
    if not out.exists():
        print(f"  py-spy wrote nothing: {err.decode(errors='replace')[-500:]}")
        return
    summarize_profile(out)


def summarize_profile(path: Path, top: int = 16) -> None:
    """
    Print where the tailer's samples fall: by leaf function (self time)
    and by logship function on the stack (inclusive time).
    """
    own: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    total = 0
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not count.isdigit():
            continue
        n = int(count)
        total += n
        frames = [f for f in stack.split(";") if f]
        if not frames:
            continue
        own[_short(frames[-1])] += n
        for frame in {_short(f) for f in frames if "logship" in f or "wire" in f}:
            inclusive[frame] += n
    if not total:
        print("  py-spy: no samples")
        return
    print(f"  py-spy: {total} samples of {path.name.split('.')[0]}")
    print("  self time (leaf function):")
    for name, n in own.most_common(top):
        print(f"    {100 * n / total:5.1f}%  {name}")
    print("  inclusive time (logship functions on the stack):")
    for name, n in inclusive.most_common(top):
        print(f"    {100 * n / total:5.1f}%  {name}")


def _short(frame: str) -> str:
    # "function (path/to/module.py:123)" -> "function (module.py)"
    name, _, where = frame.partition(" (")
    where = where.rstrip(")").rsplit(":", 1)[0]
    return f"{name} ({'/'.join(Path(where).parts[-2:])})"


def run_durability(
    workdir: Path, durability: str, input_path: Path, count: int, timeout: float,
    py_spy: str | None, tailer_args: Sequence[str] = (),
    inspect: Callable[[Cluster], dict[str, Any]] | None = None,
    credentials: bool = False,
) -> dict[str, Any]:
    """
    One end-to-end run (see the module docstring).

    @param inspect: called with the cluster once the figures are taken,
        before it is stopped; what it returns is added to the result.
    @param credentials: run with per-node credentials (the nodes' default
        here is the lab's cluster key).
    """
    root = workdir / durability.replace("+", "-")
    shutil.rmtree(root, ignore_errors=True)
    group, cluster = start_cluster(root, durability, tailer_args, credentials)
    try:
        procs = processes(cluster)
        cpu_before = {name: cpu_seconds(p.pid) for name, p in procs.items()}
        load_before = load()
        profiles = {name: root / f"{name}.pyspy.txt" for name in ("tailer", "buck0")}
        profilers = {name: start_profiler(py_spy, procs[name].pid, out)
                     for name, out in profiles.items()}
        started = time.monotonic()
        with open(input_path, "rb") as src, open(cluster.log, "ab") as dst:
            shutil.copyfileobj(src, dst, 1 << 20)
        appended = time.monotonic() - started

        if durability == "live":
            # No acks, no disk: done when the bucks received (and
            # published) 2 copies of every line, or nothing moved for
            # 10 s (live may lose: the count is reported).
            progress = {"written": -1, "at": time.monotonic()}

            def done() -> bool:
                written = buck_total_received(cluster)
                if written >= 2 * count:
                    return True
                if written != progress["written"]:
                    progress.update(written=written, at=time.monotonic())
                return time.monotonic() - progress["at"] > 10 and cluster.tailer_stats()["lines"] >= count
        else:
            def done() -> bool:
                stats = cluster.tailer_stats()
                return stats["lines"] >= count and stats["undelivered"] == 0

        wait_for(done, timeout, f"{durability}: delivered",
                 on_timeout=lambda: str(cluster.tailer_stats()))
        elapsed = time.monotonic() - started
        cpu = {name: cpu_seconds(p.pid) - cpu_before[name] for name, p in procs.items()}
        rss = {name: peak_rss_mib(p.pid) for name, p in procs.items()}
        for name, profiler in profilers.items():
            stop_profiler(profiler, profiles[name])
        written = buck_total_written(cluster)
        if durability == "live":
            written = buck_total_received(cluster)
        extra = inspect(cluster) if inspect is not None else {}
        return {
            "durability": durability,
            "lines": count,
            "seconds": elapsed,
            "append_seconds": appended,
            "lines_per_s": count / elapsed,
            "cpu": cpu,
            "cpu_us_per_line": 1e6 * sum(cpu.values()) / count,
            "rss_mib": rss,
            "bucks_written": written,
            "load": f"{load_before} -> {load()}",
            **extra,
        }
    finally:
        group.stop_all()


def run_backlog(workdir: Path, megabytes: int, timeout: float) -> dict[str, Any]:
    """
    The backlog run (see the module docstring), at C{ack2}.
    """
    root = workdir / "backlog"
    shutil.rmtree(root, ignore_errors=True)
    root.mkdir(parents=True)
    input_path = workdir / f"backlog-{megabytes}MiB.log"
    t = time.monotonic()
    if not input_path.exists():
        temporary = input_path.with_suffix(".tmp")
        count = make_backlog(temporary, megabytes)
        temporary.rename(input_path)
        (workdir / f"backlog-{megabytes}MiB.lines").write_text(str(count))
    count = int((workdir / f"backlog-{megabytes}MiB.lines").read_text())
    size = input_path.stat().st_size
    print(f"backlog input: {count:,} lines, {size / 2**20:,.0f} MiB"
          f" (made in {time.monotonic() - t:.0f} s)", flush=True)
    group, cluster = start_cluster(root, "ack2")
    try:
        for buck in cluster.bucks:
            buck.stop()
        cluster.wait_stats(lambda s: s["connected"] == 0, "no buck connected")
        tailer = cluster.tailer
        assert tailer is not None
        cpu_before = cpu_seconds(tailer.pid)
        load_before = load()
        started = time.monotonic()
        with open(input_path, "rb") as src, open(cluster.log, "ab") as dst:
            shutil.copyfileobj(src, dst, 1 << 20)
        wait_for(lambda: cluster.tailer_stats()["lines"] >= count, timeout,
                 "backlog read", on_timeout=lambda: str(cluster.tailer_stats()))
        read_seconds = time.monotonic() - started
        read_cpu = cpu_seconds(tailer.pid) - cpu_before
        rss_read = peak_rss_mib(tailer.pid)
        stats = cluster.tailer_stats()
        spool = cluster.spool_bytes()
        print(f"  read into the spool: {read_seconds:.1f} s ({count / read_seconds:,.0f} lines/s,"
              f" tailer CPU {read_cpu:.1f} s), undelivered {stats['undelivered'] / 2**20:,.0f} MiB,"
              f" spool {spool / 2**20:,.0f} MiB, tailer peak RSS {rss_read:.1f} MiB; load {load_before}",
              flush=True)
        load_mid = load()
        caught_from = time.monotonic()
        cluster.restart_bucks([0, 1, 2])
        procs = processes(cluster)
        cpu_mid = {name: cpu_seconds(p.pid) for name, p in procs.items()}
        cpu_mid["tailer"] = cpu_seconds(tailer.pid)
        wait_for(lambda: cluster.tailer_stats()["undelivered"] == 0, timeout, "backlog delivered",
                 on_timeout=lambda: str(cluster.tailer_stats()))
        catch_up = time.monotonic() - caught_from
        cpu = {name: cpu_seconds(p.pid) - cpu_mid[name] for name, p in procs.items()}
        rss = {name: peak_rss_mib(p.pid) for name, p in procs.items()}
        return {
            "lines": count,
            "mib": size / 2**20,
            "read_seconds": read_seconds,
            "read_cpu": read_cpu,
            "rss_after_read": rss_read,
            "spool_mib": spool / 2**20,
            "catch_up_seconds": catch_up,
            "catch_up_lines_per_s": count / catch_up,
            "catch_up_cpu": cpu,
            "rss_mib": rss,
            "load": f"{load_mid} -> {load()}",
        }
    finally:
        group.stop_all()


def report(result: dict[str, Any]) -> None:
    cpu = result["cpu"]
    rss = result["rss_mib"]
    print(
        f"{result['durability']:<11} {result['lines']:>9,} lines  {result['seconds']:7.1f} s"
        f"  {result['lines_per_s']:>8,.0f} lines/s  CPU s tailer {cpu['tailer']:.1f},"
        f" bucks {cpu['buck0']:.1f}/{cpu['buck1']:.1f}/{cpu['buck2']:.1f}"
        f"  = {result['cpu_us_per_line']:.1f} µs/line"
        f"  peak RSS MiB tailer {rss['tailer']:.0f}, bucks"
        f" {rss['buck0']:.0f}/{rss['buck1']:.0f}/{rss['buck2']:.0f}"
        f"  (append {result['append_seconds']:.1f} s; bucks {'received' if result['durability'] == 'live' else 'wrote'}"
        f" {result['bucks_written']:,};"
        f" load {result['load']})",
        flush=True,
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--lines", type=int, default=1_000_000, help="lines per run (default 1,000,000)")
    parser.add_argument("--durability", action="append", choices=DURABILITIES,
                        help="a level to run (repeatable; default: all four)")
    parser.add_argument("--repeat", type=int, default=1, help="runs per level")
    parser.add_argument("--backlog-mb", type=int, default=0,
                        help="run the backlog benchmark with this many MiB instead")
    parser.add_argument("--workdir", type=Path, help="where to run (default: a temporary directory)")
    parser.add_argument("--keep", action="store_true", help="keep the work directory")
    parser.add_argument("--timeout", type=float, default=1800, help="seconds per phase at most")
    parser.add_argument("--profile", metavar="PY_SPY",
                        help="sample the tailer and buck0 with this py-spy binary and print"
                        " where their time goes")
    parser.add_argument("--credentials", action="store_true",
                        help="per-node credentials (an authority, a credential per node)"
                        " instead of the shared cluster key")
    parser.add_argument("--tailer-args", default="",
                        help="more tailer options, e.g. '--max-in-flight 32' (for experiments)")
    args = parser.parse_args(argv)
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="logship-bench-"))
    workdir.mkdir(parents=True, exist_ok=True)
    print(f"{time.strftime('%Y-%m-%d %H:%M:%S %Z')}, {os.cpu_count()} CPUs, load {load()},"
          f" workdir {workdir}", flush=True)
    try:
        if args.backlog_mb:
            result = run_backlog(workdir, args.backlog_mb, args.timeout)
            cpu = result["catch_up_cpu"]
            rss = result["rss_mib"]
            print(
                f"  caught up in {result['catch_up_seconds']:.1f} s"
                f" ({result['catch_up_lines_per_s']:,.0f} lines/s); CPU s tailer {cpu['tailer']:.1f},"
                f" bucks {cpu['buck0']:.1f}/{cpu['buck1']:.1f}/{cpu['buck2']:.1f};"
                f" peak RSS MiB tailer {rss['tailer']:.1f} (after reading {result['rss_after_read']:.1f}),"
                f" bucks {rss['buck0']:.0f}/{rss['buck1']:.0f}/{rss['buck2']:.0f}; load {result['load']}",
                flush=True,
            )
            return 0
        input_path = workdir / f"input-{args.lines}.log"
        t = time.monotonic()
        size = make_input(input_path, args.lines)
        print(f"input: {args.lines:,} lines, {size / 1e6:.1f} MB ({size / args.lines:.0f} B/line),"
              f" ready in {time.monotonic() - t:.0f} s", flush=True)
        for _ in range(args.repeat):
            for durability in args.durability or DURABILITIES:
                report(run_durability(workdir, durability, input_path, args.lines,
                                      args.timeout, args.profile, shlex.split(args.tailer_args),
                                      credentials=args.credentials))
    finally:
        if not args.keep and args.workdir is None:
            shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
