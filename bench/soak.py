"""Soak: the tailer and 3 bucks at a steady rate for an hour, their memory sampled.

Run it by hand (it is not part of C{make test}):

    .venv/bin/python bench/soak.py                      # 60 minutes at 2,000 lines/s, ack2
    .venv/bin/python bench/soak.py --minutes 5 --rate 500 --csv /tmp/soak.csv

It starts the tailer and 3 bucks as twistd processes on 127.0.0.1 (the
harness of C{bench/delivery.py}), appends C{--rate} sample lines a second to
the followed file, and every C{--every} seconds records each process's
resident set (C{VmRSS}) and the events the bucks wrote.  At the end it
prints, per process, the RSS after the warm-up (the first tenth of the run),
the highest and the last, and the slope of a least-squares line through the
samples after the warm-up, in MiB per hour: a process whose memory is flat
has a slope near 0 (a leak of a few bytes per event shows here as MiB/h).
It also checks that every line was delivered to 2 bucks.
"""

from __future__ import annotations

import argparse
import csv
import shutil
import sys
import tempfile
import time
from pathlib import Path

from delivery import START, load, processes, start_cluster, wait_for

from logship.core.sample import sample_lines
from tests.integration.waiting import WaitTimeout


def rss_mib(pid: int) -> float:
    """
    The resident set size (C{VmRSS}) of a process now, in MiB.
    """
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def slope_per_hour(times: list[float], values: list[float]) -> float:
    """
    The slope of the least-squares line through C{(times, values)}, per
    hour (C{times} in seconds).
    """
    n = len(times)
    if n < 2:
        return float("nan")
    mean_t = sum(times) / n
    mean_v = sum(values) / n
    var = sum((t - mean_t) ** 2 for t in times)
    if var == 0:
        return float("nan")
    cov = sum((t - mean_t) * (v - mean_v) for t, v in zip(times, values))
    return cov / var * 3600


def soak(workdir: Path, minutes: float, rate: int, every: float, csv_path: Path | None) -> int:
    """
    Run the soak (see the module docstring).

    @return: the exit status: 0 when every line was delivered.
    """
    group, cluster = start_cluster(workdir / "cluster", "ack2")
    samples: list[dict[str, float]] = []
    try:
        procs = processes(cluster)
        lines = sample_lines(10**9, start=START, rate=rate)
        started = time.monotonic()
        end = started + minutes * 60
        next_sample = started
        appended = 0
        with open(cluster.log, "ab") as log:
            while (now := time.monotonic()) < end:
                due = int((now - started) * rate) - appended
                if due > 0:
                    log.write(b"".join(next(lines) + b"\n" for _ in range(due)))
                    log.flush()
                    appended += due
                if now >= next_sample:
                    row = {"seconds": now - started, "appended": appended,
                           **{name: rss_mib(p.pid) for name, p in procs.items()}}
                    samples.append(row)
                    print(f"{row['seconds']:7.0f} s  {appended:,} lines  "
                          + "  ".join(f"{name} {row[name]:.1f}" for name in procs)
                          + f"  MiB  load {load()}", flush=True)
                    next_sample += every
                time.sleep(0.05)
        wait_for(lambda: cluster.tailer_stats()["undelivered"] == 0
                 and cluster.tailer_stats()["lines"] >= appended, 600, "soak delivered",
                 on_timeout=lambda: str(cluster.tailer_stats()))

        def written() -> int:
            return sum(max(cluster.buck_written(i), 0) for i in range(len(cluster.bucks)))

        try:  # the bucks' counters come with their stats lines, a moment later
            wait_for(lambda: written() >= 2 * appended, 30, "bucks' counters")
        except WaitTimeout as e:
            print(e)
        copies = written()
    finally:
        group.stop_all()
    if csv_path is not None:
        with open(csv_path, "w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=list(samples[0]))
            writer.writeheader()
            writer.writerows(samples)
    warm = [s for s in samples if s["seconds"] >= minutes * 6]
    print(f"\n{appended:,} lines in {minutes:g} min at {rate:,}/s; bucks wrote {copies:,} "
          f"(2 copies each: {2 * appended:,})")
    print("| process | RSS after warm-up MiB | highest MiB | last MiB | slope MiB/h after warm-up |")
    print("| --- | ---: | ---: | ---: | ---: |")
    for name in procs:
        values = [s[name] for s in warm]
        slope = slope_per_hour([s["seconds"] for s in warm], values)
        print(f"| {name} | {values[0]:.1f} | {max(values):.1f} | {values[-1]:.1f} | {slope:+.2f} |")
    return 0 if copies >= 2 * appended else 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--minutes", type=float, default=60.0, help="how long (60)")
    parser.add_argument("--rate", type=int, default=2000, help="lines a second (2,000)")
    parser.add_argument("--every", type=float, default=30.0, help="seconds between samples (30)")
    parser.add_argument("--csv", type=Path, help="write the samples to this CSV file")
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="logship-soak-"))
    try:
        return soak(workdir, args.minutes, args.rate, args.every, args.csv)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
