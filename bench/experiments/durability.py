"""Experiment 1: what each durability level costs, and what it loses under kills.

    .venv/bin/python bench/experiments/durability.py            # a few minutes
    .venv/bin/python bench/experiments/durability.py --quick    # the suite's short run
    .venv/bin/python bench/experiments/durability.py --out DIR --levels live,ack2

For each level (C{live}, C{ack1}, C{ack2}, C{ack2+fsync}) it starts 3 bucks
and a tailer as twistd processes on 127.0.0.1 (C{realcluster.start_cluster},
on the integration tests' L{Cluster}; R = 2, 60 s buckets, defaults
otherwise) and runs four passes on it:

  1. cost: C{--lines} sample lines (L{bench/delivery.py}'s input) appended
     at once, until delivered (acked levels: the tailer's stats say every
     line read and nothing undelivered; C{live}: the bucks counted 2
     copies of every line, or nothing moved for 5 s).  CPU (utime + stime
     from C{/proc/PID/stat}) and C{write_bytes} / C{syscw} from
     C{/proc/PID/io} of each process over the pass, per line;
  2. fsyncs: the same again with C{strace -f -c -e trace=fsync,fdatasync}
     attached to every process (a separate pass: ptrace slows the
     processes, so its CPU is not used);
  3. latency: stamped lines (their write time in them) at C{--rate} lines/s
     for C{--seconds}, with a subscriber on every buck's live tail
     (C{realcluster.Subscriber}): a buck publishes a batch right after
     writing it, and acknowledges it in the same reactor turn, so the time
     from a line's write to its Kth publication is the time from append to
     acknowledgement (K = 1 for C{ack1}, 2 for C{ack2} and C{ack2+fsync}:
     R acks; C{live} has no ack: its second copy received);
  4. loss: the process kills of the fault harness's schedules
     (C{tests/integration/chaos/schedule.py}, the quick schedules of
     C{--seeds}): per phase, stamped lines at C{--rate} for C{--phase}
     seconds while its kills strike (C{SIGKILL tailer}, C{SIGKILL buck}
     after their delay, the tailer or buck targets of C{SIGKILL mid-fsync}
     and C{SIGKILL at a log line} at a random moment, C{2 of 3 copy
     holders down} from the start), then the phase's downtime, then
     everything restarted.  Its other faults (porter, disk, rotation,
     clock) concern later stages and are left out.  Then, once the tailer
     caught up, a line is lost if no buck's files hold it (C{logship cat}
     of every bucket file); for C{live}, which writes nothing, if no buck
     published it.

It writes C{durability.json} (everything), C{durability.csv} (one row per
level) and C{durability.png} (cost against loss) to C{--out}
(C{docs/experiments/} by default), and prints a table.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import random
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import realcluster as rc  # noqa: E402
from delivery import DURABILITIES, buck_total_received, cpu_seconds, load, make_input  # noqa: E402

from tests.integration.chaos import schedule as S  # noqa: E402
from tests.integration.waiting import wait_until_blocking  # noqa: E402

#: The kills of a chaos schedule this experiment replays.
KILLS = (S.KILL_TAILER, S.KILL_BUCK, S.TWO_DOWN, S.KILL_FSYNC, S.KILL_AT_LOG)
#: Copies that make a line acknowledged at each level.
NEEDED = {"live": 2, "ack1": 1, "ack2": 2, "ack2+fsync": 2}


def percentile(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def processes(cluster: rc.LiveCluster) -> dict[str, int]:
    assert cluster.tailer is not None
    return {"tailer": cluster.tailer.pid, **{f"buck{i}": b.pid for i, b in enumerate(cluster.bucks)}}


def append_and_wait(cluster: rc.LiveCluster, level: str, input_path: Path, count: int,
                    timeout: float) -> float:
    """
    Append C{input_path} (C{count} lines) to the followed log and wait
    until it is delivered (see the module docstring); the seconds it took.
    """
    lines_before = cluster.tailer_stats()["lines"]
    received_before = buck_total_received(cluster)
    after = len(cluster.all_tailer_stats())
    started = time.monotonic()
    with open(input_path, "rb") as src, open(cluster.log, "ab") as dst:
        shutil.copyfileobj(src, dst, 1 << 20)
    if level == "live":
        progress = {"n": -1, "at": time.monotonic()}

        def done() -> bool:
            n = buck_total_received(cluster) - received_before
            if n >= 2 * count:
                return True
            if n != progress["n"]:
                progress.update(n=n, at=time.monotonic())
            return time.monotonic() - progress["at"] > 5
    else:
        def done() -> bool:
            stats = cluster.all_tailer_stats()[after:]
            return any(s["lines"] >= lines_before + count and s["undelivered"] == 0 for s in stats)
    wait_until_blocking(done, timeout, f"{level}: delivered", on_timeout=lambda: str(cluster.tailer_stats()))
    return time.monotonic() - started


def cost_pass(cluster: rc.LiveCluster, level: str, input_path: Path, count: int,
              timeout: float) -> dict[str, Any]:
    pids = processes(cluster)
    cpu0 = {n: cpu_seconds(p) for n, p in pids.items()}
    io0 = {n: rc.proc_io(p) for n, p in pids.items()}
    load0 = load()
    seconds = append_and_wait(cluster, level, input_path, count, timeout)
    cpu = {n: cpu_seconds(p) - cpu0[n] for n, p in pids.items()}
    io = {n: {k: v - io0[n][k] for k, v in rc.proc_io(p).items()} for n, p in pids.items()}
    return {
        "lines": count,
        "seconds": seconds,
        "lines_per_s": count / seconds,
        "cpu_us_per_line": {n: 1e6 * c / count for n, c in cpu.items()},
        "cpu_us_per_line_total": 1e6 * sum(cpu.values()) / count,
        "write_bytes_per_line": {n: io[n]["write_bytes"] / count for n in pids},
        "write_bytes_per_line_total": sum(io[n]["write_bytes"] for n in pids) / count,
        "write_calls_per_line": {n: io[n]["syscw"] / count for n in pids},
        "load": f"{load0} -> {load()}",
    }


def fsync_pass(cluster: rc.LiveCluster, level: str, input_path: Path, count: int,
               timeout: float, workdir: Path) -> dict[str, Any]:
    strace = rc.strace_available()
    if strace is None:
        return {"counted_by": "nothing (strace is not installed: apt-get install strace)"}
    tracer = rc.StraceFsyncs(strace, processes(cluster), workdir)
    try:
        append_and_wait(cluster, level, input_path, count, timeout)
    finally:
        calls = tracer.stop()
    return {
        "counted_by": "strace -f -c -e trace=fsync,fdatasync",
        "lines": count,
        "fsyncs": calls,
        "fsyncs_per_line": {n: c / count for n, c in calls.items()},
        "fsyncs_per_line_total": sum(calls.values()) / count,
    }


def latency_pass(cluster: rc.LiveCluster, subscriber: rc.Subscriber, level: str, rate: float,
                 seconds: float, first: int) -> tuple[dict[str, Any], int]:
    nxt = rc.write_for(cluster.log, rate, seconds, first)
    k = NEEDED[level]

    def arrived() -> dict[int, list[float]]:
        times: dict[int, list[float]] = {}
        for a in subscriber.arrivals():
            if first <= a.seq < nxt:
                times.setdefault(a.seq, []).append(a.at - a.point / rc.TICKS)
        return times

    subscriber.wait_quiet(lambda: sum(len(v) >= k for v in arrived().values()) >= nxt - first, 30)
    times = arrived()
    latencies = [sorted(v)[k - 1] for v in times.values() if len(v) >= k]
    return {
        "rate": rate,
        "lines": nxt - first,
        "acked": len(latencies),
        "copies_needed": k,
        "p50_ms": 1e3 * percentile(latencies, 50),
        "p99_ms": 1e3 * percentile(latencies, 99),
        "max_ms": 1e3 * max(latencies, default=float("nan")),
    }, nxt


def kill_plan(seeds: list[int], phase_seconds: float, quick: bool) -> list[dict[str, Any]]:
    """
    The phases of the seeds' quick chaos schedules that have a kill, as
    C{{"seed", "kills": [(delay, [targets])], "downtime"}} (the tailer
    targets of a schedule with two tailers are the one tailer here).
    """
    plan = []
    for seed in seeds:
        rng = random.Random(seed)
        for phase in S.draw(seed, quick=True).phases:
            kills = []
            for fault in phase.faults:
                if fault.kind not in KILLS:
                    continue
                targets = ["tailer" if t.startswith("tailer") else t
                           for t in (fault.target, fault.other) if t]
                if not all(t == "tailer" or t.startswith("buck") for t in targets):
                    continue  # the porter: not here
                if fault.kind == S.TWO_DOWN:
                    delay = 0.0
                elif fault.kind in (S.KILL_TAILER, S.KILL_BUCK):
                    delay = fault.delay
                else:
                    delay = rng.uniform(0, phase_seconds)
                kills.append({"kind": fault.kind, "delay": delay, "targets": targets})
            if kills:
                plan.append({"seed": seed, "kills": kills, "downtime": phase.downtime})
            if quick and plan:
                return plan
    return plan


def loss_pass(cluster: rc.LiveCluster, subscriber: rc.Subscriber, level: str, plan: list[dict[str, Any]],
              rate: float, phase_seconds: float, first: int, timeout: float) -> tuple[dict[str, Any], int]:
    nxt = first
    kills = 0
    for phase in plan:
        def strike(targets: list[str]) -> None:
            nonlocal kills
            for target in targets:
                process = cluster.tailer if target == "tailer" else cluster.bucks[int(target[4:])]
                if process is not None and process.running:
                    process.kill()
                    kills += 1

        # the kills and the writer's end in time order, from this thread
        # (no timed waits on other threads: libfaketime breaks those)
        steps = sorted(
            [(k["delay"], k["targets"]) for k in phase["kills"]] + [(phase_seconds, None)],
            key=lambda step: step[0],
        )
        writer = rc.Writer(cluster.log, rate, nxt)
        writer.start()
        began = time.monotonic()
        for at, targets in steps:
            time.sleep(max(0.0, at - (time.monotonic() - began)))
            if targets is None:
                nxt = writer.stop()
            else:
                strike(targets)
        time.sleep(phase["downtime"])
        rc.restart_dead(cluster)
    written = range(first, nxt)
    if level == "live":
        def seen() -> set[int]:
            return {a.seq for a in subscriber.arrivals() if first <= a.seq < nxt}
        subscriber.wait_quiet(lambda: len(seen()) >= len(written), timeout)
        got = {s: 1 for s in seen()}
        held = [got]
        copies = [sum(1 for a in subscriber.arrivals() if first <= a.seq < nxt)]
    else:
        cluster.wait_caught_up(timeout)
        held = [{s: c for s, c in h.items() if first <= s < nxt} for h in rc.bucket_seqs(cluster)]
        copies = [sum(h.values()) for h in held]
    on = {s: sum(1 for h in held if s in h) for s in written}
    lost = sum(1 for s in written if on[s] == 0)
    return {
        "phases": len(plan),
        "kills": kills,
        "lines": len(written),
        "lost": lost,
        "lost_fraction": lost / max(1, len(written)),
        "short_of_copies": (sum(1 for s in written if 0 < on[s] < NEEDED[level])
                            if level != "live" else None),
        "copies_held": sum(copies),
        "seen_by": "live subscriber (any buck)" if level == "live" else "bucket files (logship cat)",
    }, nxt


def run_level(level: str, args: argparse.Namespace, workdir: Path, input_path: Path,
              plan: list[dict[str, Any]]) -> dict[str, Any]:
    root = workdir / level.replace("+", "-")
    shutil.rmtree(root, ignore_errors=True)
    group, cluster = rc.start_cluster(root / "cluster", level, 60)
    subscriber = None
    try:
        result: dict[str, Any] = {"level": level}
        result["cost"] = cost_pass(cluster, level, input_path, args.lines, args.timeout)
        result["fsync"] = fsync_pass(cluster, level, input_path, args.lines, args.timeout, root)
        subscriber = rc.Subscriber(cluster, root / "arrivals.txt")
        result["latency"], nxt = latency_pass(cluster, subscriber, level, args.rate, args.seconds, 0)
        result["loss"], _ = loss_pass(cluster, subscriber, level, plan, args.rate, args.phase,
                                      nxt, args.timeout)
        result["live_skipped"] = subscriber.skipped()
        return result
    finally:
        if subscriber is not None:
            subscriber.stop()
        group.stop_all()


def plot(results: list[dict[str, Any]], path: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    levels = [r["level"] for r in results]
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.5))
    ax = axes[0]
    bottom = [0.0] * len(results)
    for name in ("tailer", "buck0", "buck1", "buck2"):
        values = [r["cost"]["cpu_us_per_line"][name] for r in results]
        ax.bar(levels, values, bottom=bottom, label=name)
        bottom = [b + v for b, v in zip(bottom, values)]
    ax.set_ylabel("CPU µs per line (all processes)")
    ax.set_title("CPU per line, by process")
    ax.legend(fontsize=8)
    ax = axes[1]
    fsyncs = [r["fsync"].get("fsyncs_per_line_total", float("nan")) * 1000 for r in results]
    writes = [r["cost"]["write_bytes_per_line_total"] for r in results]
    ax.bar([i - 0.2 for i in range(len(levels))], fsyncs, 0.4, label="fsyncs per 1000 lines")
    ax2 = ax.twinx()
    ax2.bar([i + 0.2 for i in range(len(levels))], writes, 0.4, color="tab:orange",
            label="bytes written to disk per line")
    ax.set_xticks(range(len(levels)), levels)
    ax.set_ylabel("fsyncs per 1000 lines")
    ax2.set_ylabel("disk bytes written per line")
    ax.set_title("fsyncs and disk writes")
    ax.legend(loc="upper left", fontsize=8)
    ax2.legend(loc="upper center", fontsize=8)
    ax = axes[2]
    for r in results:
        x = r["cost"]["cpu_us_per_line_total"]
        y = 100 * r["loss"]["lost_fraction"]
        ax.scatter([x], [y], s=60)
        ax.annotate(f"{r['level']}\n{r['fsync'].get('fsyncs_per_line_total', float('nan')) * 1000:.1f}"
                    f" fsync/1000 lines\np99 {r['latency']['p99_ms']:.0f} ms",
                    (x, y), textcoords="offset points", xytext=(6, 4), fontsize=8)
    ax.set_xlabel("CPU µs per line")
    ax.set_ylabel("% of lines lost under the kill schedules")
    ax.set_title("cost against loss")
    ax.margins(0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="tiny passes, one kill phase")
    parser.add_argument("--levels", default=None,
                        help=f"comma-separated ({','.join(DURABILITIES)}; --quick: live,ack2)")
    parser.add_argument("--lines", type=int, default=100_000, help="lines of the cost passes")
    parser.add_argument("--rate", type=float, default=2000, help="lines/s of the latency and loss passes")
    parser.add_argument("--seconds", type=float, default=10, help="of the latency pass")
    parser.add_argument("--phase", type=float, default=3, help="seconds of writing per kill phase")
    parser.add_argument("--seeds", default="13,306",
                        help="chaos schedules whose kills are replayed (their quick form)")
    parser.add_argument("--timeout", type=float, default=300)
    parser.add_argument("--out", type=Path, default=HERE.parent.parent / "docs" / "experiments")
    parser.add_argument("--workdir", type=Path, default=None)
    args = parser.parse_args(argv)
    if args.quick:
        args.lines, args.seconds, args.phase, args.timeout = 3000, 1.0, 1.5, 60
        args.rate = 1000
    levels = (args.levels or ("live,ack2" if args.quick else ",".join(DURABILITIES))).split(",")
    seeds = [int(s) for s in args.seeds.split(",")]
    plan = kill_plan(seeds, args.phase, args.quick)
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="logship-exp-durability-"))
    workdir.mkdir(parents=True, exist_ok=True)
    input_path = workdir / f"input-{args.lines}.log"
    make_input(input_path, args.lines)
    print(f"durability: {levels}, {args.lines} lines per cost pass, latency {args.rate:g} lines/s"
          f" for {args.seconds:g} s, {len(plan)} kill phases ({sum(len(p['kills']) for p in plan)} kills)"
          f" from seeds {seeds}; {os.cpu_count()} CPUs, load {load()}", flush=True)
    results = []
    began = time.monotonic()
    try:
        for level in levels:
            result = run_level(level, args, workdir, input_path, plan)
            results.append(result)
            c, f, lat, loss = result["cost"], result["fsync"], result["latency"], result["loss"]
            print(f"{level:>10}: {c['lines_per_s']:8,.0f} lines/s, {c['cpu_us_per_line_total']:5.1f} CPU µs/line"
                  f" ({', '.join(f'{n} {v:.1f}' for n, v in c['cpu_us_per_line'].items())}),"
                  f" {c['write_bytes_per_line_total']:6.1f} disk B/line,"
                  f" {1000 * f.get('fsyncs_per_line_total', float('nan')):6.2f} fsyncs/1000 lines;"
                  f" append->ack p50 {lat['p50_ms']:.0f} ms p99 {lat['p99_ms']:.0f} ms"
                  f" ({lat['acked']}/{lat['lines']});"
                  f" kills {loss['kills']}: lost {loss['lost']}/{loss['lines']}"
                  f" (short of copies {loss['short_of_copies']}); load {c['load']}", flush=True)
    finally:
        if args.workdir is None:
            shutil.rmtree(workdir, ignore_errors=True)
    args.out.mkdir(parents=True, exist_ok=True)
    meta = {"command": " ".join(["bench/experiments/durability.py", *(argv or sys.argv[1:])]),
            "quick": args.quick, "seconds": time.monotonic() - began, "cpus": os.cpu_count(),
            "load_at_end": load(), "kill_plan": plan}
    (args.out / "durability.json").write_text(json.dumps({"meta": meta, "levels": results}, indent=1))
    with open(args.out / "durability.csv", "w", newline="") as f:
        out = csv.writer(f)
        out.writerow(["level", "lines_per_s", "cpu_us_per_line", "disk_bytes_per_line",
                      "fsyncs_per_1000_lines", "p50_ms", "p99_ms", "kills", "lines_under_kills", "lost"])
        for r in results:
            out.writerow([r["level"], round(r["cost"]["lines_per_s"]), round(r["cost"]["cpu_us_per_line_total"], 1),
                          round(r["cost"]["write_bytes_per_line_total"], 1),
                          round(1000 * r["fsync"].get("fsyncs_per_line_total", float("nan")), 2),
                          round(r["latency"]["p50_ms"]), round(r["latency"]["p99_ms"]),
                          r["loss"]["kills"], r["loss"]["lines"], r["loss"]["lost"]])
    plot(results, args.out / "durability.png")
    print(f"wrote {args.out}/durability.{{json,csv,png}} in {time.monotonic() - began:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
