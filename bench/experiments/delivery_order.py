"""Experiment 4: how far out of order events arrive at a buck, per cause.

    .venv/bin/python bench/experiments/delivery_order.py           # a few minutes
    .venv/bin/python bench/experiments/delivery_order.py --quick   # the suite's short run

One cluster (3 bucks and a tailer as twistd processes on 127.0.0.1,
C{realcluster.start_cluster}: C{ack2}, R = 2, C{--bucket} second buckets)
takes stamped lines (their write time, to the microsecond, is their point)
at C{--rate} lines/s in four segments of C{--seconds} each, one per cause:

  - C{normal}: nothing else happens;
  - C{buck restart}: buck1 is killed (SIGKILL) a third into the segment
    and started again 2 s later;
  - C{tailer restart}: the tailer likewise;
  - C{rotation}: the log is rotated (renamed, a new one created, as
    logrotate does) a third and two thirds into the segment.

After each segment it waits until the tailer caught up, and at the end
one bucket interval and a half more for the whole-bucket uploads.  Each
buck's arrival order is what its live tail published
(C{realcluster.Subscriber}: a buck publishes each batch right after
writing it); events that are in a buck's files but were never published
there came by a whole-bucket upload, which is merged without being
published: their arrival is the time of the buck's "Merged bucket START"
log line (to the second), or unknown if there is none (counted apart).

For every first arrival of an event at a buck: it is I{out of order} if an
event with a later point arrived at that buck before it, by
C{lateness = (latest point arrived before) - point} seconds; and its
I{delay past its bucket's end} is C{arrival - end of its bucket} (positive:
the bucket changed after it ended, which is what the porter must wait
for).  An event's segment (its sequence number) is its cause.

It writes C{delivery_order.json}, C{delivery_order.csv} (per cause) and
C{delivery_order.png} (CDFs of lateness and of the delay past the bucket's
end, per cause) to C{--out} (C{docs/experiments/} by default).
"""

from __future__ import annotations

import argparse
import calendar
import csv
import json
import os
import re
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import realcluster as rc  # noqa: E402
from delivery import load  # noqa: E402

from tests.integration.delivery import rotate  # noqa: E402

CAUSES = ("normal", "buck restart", "tailer restart", "rotation")
#: A buck's log line of a merged whole-bucket upload.
MERGED = re.compile(r"^(\S+) \[.*Merged bucket (\d+) from")


def percentile(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def segment(cluster: rc.LiveCluster, cause: str, rate: float, seconds: float, first: int) -> int:
    """
    Write one segment, with its cause's disturbance; the next sequence
    number.
    """
    writer = rc.Writer(cluster.log, rate, first)
    writer.start()
    third = seconds / 3
    time.sleep(third)
    if cause == "buck restart":
        cluster.bucks[1].kill()
        time.sleep(2)
        cluster.restart_buck(1)
    elif cause == "tailer restart":
        assert cluster.tailer is not None
        cluster.tailer.kill()
        time.sleep(2)
        cluster.start_tailer()
    elif cause == "rotation":
        rotate(cluster.log)
        time.sleep(third)
        rotate(cluster.log)
    remaining = first + rate * seconds
    while writer.next < remaining:
        time.sleep(0.05)
    return writer.stop()


def merges(cluster: rc.LiveCluster, buck: int) -> dict[int, float]:
    """
    When buck C{buck} (every run of it) merged each bucket's upload
    (the first time; the log's second plus a half).
    """
    found: dict[int, float] = {}
    for path in sorted(cluster.bucks[buck].workdir.glob("*twistd.log")):
        for line in path.read_text(errors="replace").splitlines():
            match = MERGED.match(line)
            if match:
                when = calendar.timegm(time.strptime(match.group(1)[:19], "%Y-%m-%dT%H:%M:%S"))
                found.setdefault(int(match.group(2)), when + 0.5)
    return found


def analyse(arrivals: list[rc.Arrival], held: list[dict[int, int]], merged: list[dict[int, float]],
            points: dict[int, int], causes: list[tuple[int, int, str]], bucket: int) -> dict[str, Any]:
    """
    Lateness and delay past the bucket's end of every first arrival, per
    cause (see the module docstring).
    """
    def cause_of(seq: int) -> str:
        for lo, hi, cause in causes:
            if lo <= seq < hi:
                return cause
        return "?"

    per: dict[str, dict[str, Any]] = {c: {"arrivals": 0, "repeats": 0, "by_upload": 0, "unknown": 0,
                                          "late": [], "late_batch": [], "past_end": []} for _, _, c in causes}
    for buck in range(3):
        seen: dict[int, tuple[float, int]] = {}
        repeats: dict[int, int] = {}
        for a in arrivals:
            if a.buck != buck:
                continue
            if a.seq in seen:
                repeats[a.seq] = repeats.get(a.seq, 0) + 1
            else:
                seen[a.seq] = (a.at, a.point)
        order = [(at, seq, point, "feed") for seq, (at, point) in seen.items()]
        for seq in held[buck]:
            if seq in seen or seq not in points:
                continue
            start = points[seq] // rc.TICKS // bucket * bucket
            when = merged[buck].get(start)
            if when is None:
                per[cause_of(seq)]["unknown"] += 1
            else:
                order.append((when, seq, points[seq], "upload"))
        order.sort()
        latest = 0
        for at, seq, point, how in order:
            entry = per[cause_of(seq)]
            entry["arrivals"] += 1
            entry["by_upload"] += how == "upload"
            entry["late"].append(max(0, latest - point) / rc.TICKS)
            if how == "feed":
                entry["late_batch"].append(max(0, latest - point) / rc.TICKS)
            latest = max(latest, point)
            end = (point // rc.TICKS // bucket + 1) * bucket
            entry["past_end"].append(at - end)
        for seq, n in repeats.items():
            per[cause_of(seq)]["repeats"] += n
    summary = {}
    for cause, entry in per.items():
        late = [x for x in entry["late"] if x > 0]
        late_batch = [x for x in entry["late_batch"] if x > 0]
        summary[cause] = {
            "arrivals": entry["arrivals"],
            "repeated_arrivals": entry["repeats"],
            "by_upload": entry["by_upload"],
            "arrival_unknown": entry["unknown"],
            "out_of_order": len(late),
            "out_of_order_fraction": len(late) / max(1, entry["arrivals"]),
            "lateness_s": {f"p{p}": percentile(late, p) for p in (50, 90, 99, 100)},
            "batch_arrivals": len(entry["late_batch"]),
            "batch_out_of_order": len(late_batch),
            "batch_out_of_order_fraction": len(late_batch) / max(1, len(entry["late_batch"])),
            "batch_lateness_s": {f"p{p}": percentile(late_batch, p) for p in (50, 90, 99, 100)},
            "past_end_s": {f"p{p}": percentile(entry["past_end"], p) for p in (50, 99, 99.9, 100)},
            "changed_after_end": sum(1 for x in entry["past_end"] if x > 0),
            "changed_after_one_interval": sum(1 for x in entry["past_end"] if x > bucket),
            "_late": sorted(late),
            "_past_end": sorted(entry["past_end"]),
        }
    return summary


def plot(summary: dict[str, Any], bucket: int, path: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(12, 4.5))
    for cause, s in summary.items():
        late = s["_late"]
        if late:
            n = s["arrivals"]
            # the CDF over every arrival: in-order ones are at 0
            xs = late
            ys = [(n - len(late) + i + 1) / n for i in range(len(late))]
            axes[0].step(xs, ys, where="post",
                         label=f"{cause} ({100 * s['out_of_order_fraction']:.1f}% out of order;"
                         f" batches only {100 * s['batch_out_of_order_fraction']:.2f}%)")
        else:
            axes[0].plot([], [], label=f"{cause} (none out of order)")
        past = s["_past_end"]
        if past:
            axes[1].step(past, [(i + 1) / len(past) for i in range(len(past))], where="post", label=cause)
    axes[0].set_xscale("symlog", linthresh=0.01)
    axes[0].set_xlabel("lateness (s): latest point arrived before - own point")
    axes[0].set_ylabel("fraction of arrivals at a buck")
    axes[0].set_title("CDF of lateness per cause (batches and uploads)")
    axes[0].legend(fontsize=8, loc="lower right")
    axes[1].axvline(0, color="grey", lw=0.8)
    axes[1].axvline(bucket, color="red", lw=0.8, ls="--", label=f"porter loads at end + 1 interval ({bucket} s)")
    axes[1].set_xlabel("arrival - end of the event's bucket (s)")
    axes[1].set_ylabel("fraction of arrivals at a buck")
    axes[1].set_title(f"CDF of arrival after the bucket's end ({bucket} s buckets)")
    axes[1].legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="short segments")
    parser.add_argument("--rate", type=float, default=1000, help="lines per second")
    parser.add_argument("--seconds", type=float, default=30, help="per cause")
    parser.add_argument("--bucket", type=int, default=5, help="the bucket interval, seconds")
    parser.add_argument("--out", type=Path, default=HERE.parent.parent / "docs" / "experiments")
    parser.add_argument("--workdir", type=Path, default=None)
    args = parser.parse_args(argv)
    if args.quick:
        args.seconds, args.rate, args.bucket = 3.5, 500, 2
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="logship-exp-order-"))
    began = time.monotonic()
    print(f"delivery order: {args.rate:g} lines/s, {args.seconds:g} s per cause, {args.bucket} s buckets;"
          f" {os.cpu_count()} CPUs, load {load()}", flush=True)
    group, cluster = rc.start_cluster(workdir / "cluster", "ack2", args.bucket)
    subscriber = None
    try:
        subscriber = rc.Subscriber(cluster, workdir / "arrivals.txt")
        causes = []
        nxt = 0
        for cause in CAUSES:
            first = nxt
            nxt = segment(cluster, cause, args.rate, args.seconds, first)
            causes.append((first, nxt, cause))
            cluster.wait_caught_up(120)
            print(f"  {cause}: lines {first}..{nxt - 1}, load {load()}", flush=True)
        # the last buckets' whole-bucket uploads: one interval after their
        # end, plus a random delay of up to one interval
        time.sleep(2.5 * args.bucket + 1)
        subscriber.stop()
        held = rc.bucket_seqs(cluster)
        merged = [merges(cluster, i) for i in range(3)]
        arrivals = subscriber.arrivals()
        points = {a.seq: a.point for a in arrivals}
        summary = analyse(arrivals, held, merged, points, causes, args.bucket)
        missing = [s for s in range(nxt) if s not in points]
        skipped = subscriber.skipped()
    finally:
        if subscriber is not None:
            subscriber.stop()
        group.stop_all()
        if args.workdir is None:
            shutil.rmtree(workdir, ignore_errors=True)
    args.out.mkdir(parents=True, exist_ok=True)
    for cause, s in summary.items():
        print(f"{cause:>15}: {s['arrivals']} arrivals ({s['by_upload']} by upload, {s['arrival_unknown']} unknown,"
              f" {s['repeated_arrivals']} repeated), batches out of order"
              f" {100 * s['batch_out_of_order_fraction']:.3f}% (max {s['batch_lateness_s']['p100']:.3f} s), all out of order {100 * s['out_of_order_fraction']:.3f}%,"
              f" lateness p50/p99/max {s['lateness_s']['p50']:.3f}/{s['lateness_s']['p99']:.3f}/"
              f"{s['lateness_s']['p100']:.3f} s; past the bucket's end p99/p99.9/max"
              f" {s['past_end_s']['p99']:.2f}/{s['past_end_s']['p99.9']:.2f}/{s['past_end_s']['p100']:.2f} s,"
              f" {s['changed_after_one_interval']} arrivals after end + 1 interval")
    meta = {"command": " ".join(["bench/experiments/delivery_order.py", *(argv or sys.argv[1:])]),
            "quick": args.quick, "rate": args.rate, "seconds_per_cause": args.seconds,
            "bucket_seconds": args.bucket, "lines": nxt, "never_published": len(missing),
            "live_skipped": skipped, "seconds": time.monotonic() - began, "load_at_end": load()}
    public = {c: {k: v for k, v in s.items() if not k.startswith("_")} for c, s in summary.items()}
    (args.out / "delivery_order.json").write_text(json.dumps({"meta": meta, "causes": public}, indent=1))
    with open(args.out / "delivery_order.csv", "w", newline="") as f:
        out = csv.writer(f)
        out.writerow(["cause", "arrivals", "by_upload", "batch_out_of_order_pct", "batch_lateness_max_s", "out_of_order_pct", "lateness_p50_s", "lateness_p99_s",
                      "lateness_max_s", "past_end_p99_s", "past_end_max_s", "after_end_plus_interval"])
        for cause, s in summary.items():
            out.writerow([cause, s["arrivals"], s["by_upload"], round(100 * s["batch_out_of_order_fraction"], 3),
                          round(s["batch_lateness_s"]["p100"], 3), round(100 * s["out_of_order_fraction"], 3),
                          round(s["lateness_s"]["p50"], 3), round(s["lateness_s"]["p99"], 3),
                          round(s["lateness_s"]["p100"], 3), round(s["past_end_s"]["p99"], 2),
                          round(s["past_end_s"]["p100"], 2), s["changed_after_one_interval"]])
    plot(summary, args.bucket, args.out / "delivery_order.png")
    print(f"wrote {args.out}/delivery_order.{{json,csv,png}} in {time.monotonic() - began:.0f} s"
          f" ({len(missing)} lines never published by any buck, {skipped} skipped by the live tail)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
