"""Experiment 3: a partially sorted queue (time buckets) against an append-only log sorted later.

Run: C{.venv/bin/python bench/experiments/queue_order.py [--quick] [--out DIR]
[--events N] [--late-rates 0,0.01,0.05,0.2]} (docs/experiments.md, section 3).

The same input, real events (L{logship.core.sample} lines encoded by
L{logship.core.ingest.LineEncoder}), arrives out of order: a fraction
C{late} of the events is delayed by an exponential lateness (mean
C{--late-mean} seconds), and a tenth of those by 1 to 10 minutes (across
bucket boundaries).  Both designs write it in batches of 1,000 in arrival
order into a temporary directory:

  - B{bucketed} (logship's buck): L{logship.buck.store.BucketStore.write_batch},
    each event appended to the file of its point's bucket (partially sorted
    on write; the copies on different bucks differ in order: inconsistent);
  - B{log}: one append-only log, rolled into segments of C{--segment-mb},
    written with the same L{logship.core.bucket.BucketWriter} after the
    same checks (L{BucketStore.check_batch}), with a sparse index of each
    segment's smallest and largest point (consistent: one order for all).

Measured for each: write CPU per event, bytes and files written; reading
one bucket-long time range (bytes read, CPU, events scanned per event
returned); the porter's merge and sort (logship's L{logship.porter.merge.merge}):
per bucket over the R = 2 bucks' copies for the bucketed store, and over
the log's one copy (grouped into buckets while streaming it, each bucket
held until the log has moved C{--wait} seconds past its end) for the log;
its CPU per event and peak memory (tracemalloc), and how many buckets got
events after the porter had taken them (to be taken again).

Outputs in C{--out} (default docs/experiments/): C{queue_order.json},
C{queue_order.csv} and C{queue_order.png}.
"""

from __future__ import annotations

import argparse
import random
import struct
import sys
import tempfile
import time
import tracemalloc
from datetime import timezone
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent.parent
sys.path.insert(0, str(ROOT))

from twisted.internet.task import Clock  # noqa: E402

from logship.buck.store import BucketStore  # noqa: E402
from logship.core.bucket import BucketWriter, bucket_start, iter_records, list_buckets  # noqa: E402
from logship.core.event import decode, encode  # noqa: E402
from logship.core.ingest import LineEncoder  # noqa: E402
from logship.core.parse import TICKS_PER_SECOND  # noqa: E402
from logship.core.sample import sample_lines  # noqa: E402
from logship.porter.merge import merge  # noqa: E402
from outputs import say_row, write_outputs  # noqa: E402

BATCH = 1000
START = 1795685820.0  # 2026-11-26T09:37:00Z
_POINT = struct.Struct(">Q")


def point_of(event: bytes) -> int:
    """
    The point of a serialized event (bytes 1 to 9 of the layout).
    """
    return _POINT.unpack_from(event, 1)[0]


def make_input(count: int, rate: float, late: float, late_mean: float,
               seed: int) -> list[bytes]:
    """
    C{count} serialized events in arrival order, a fraction C{late} of them late.
    """
    rng = random.Random(seed)
    encoder = LineEncoder(host=b"bench", tz=timezone.utc, source=1)
    arrivals = []
    for at, line in enumerate(sample_lines(count, start=START, rate=rate, seed=seed)):
        for event in encoder.events(line, START, at * 200):
            delay = 0.0
            if rng.random() < late:
                delay = rng.uniform(60, 600) if rng.random() < 0.1 else rng.expovariate(1 / late_mean)
            arrivals.append((event.point / TICKS_PER_SECOND + delay, len(arrivals), encode(event)))
    arrivals.sort()
    return [data for _, _, data in arrivals]


def measured(run: Callable[[], Any]) -> tuple[Any, float, int]:
    """
    C{run()}'s result, its CPU seconds and its peak traced memory in bytes.
    """
    tracemalloc.start()
    started = time.process_time()
    result = run()
    cpu = time.process_time() - started
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return result, cpu, peak


class Log:
    """
    The alternative: one append-only log in segments, with each segment's
    smallest and largest point.
    """

    def __init__(self, root: Path, segment_bytes: int) -> None:
        self.root = root
        self.segment_bytes = segment_bytes
        self.segments: list[tuple[Path, int, int]] = []  # path, min point, max point
        self._writer: BucketWriter | None = None
        self._bounds = (0, 0)
        self.bytes_written = 0
        self.writes = 0

    def append(self, events: list[bytes], points: list[int]) -> None:
        """
        Append a batch (checked already) at the end of the log.
        """
        if self._writer is None or self._writer.written >= self.segment_bytes:
            self._roll()
        assert self._writer is not None
        self._writer.append_all(events)
        self._writer.flush()
        self.writes += 1
        low, high = self._bounds
        self._bounds = (min(low, *points), max(high, *points))
        self.segments[-1] = (self._writer.path, *self._bounds)

    def _roll(self) -> None:
        if self._writer is not None:
            self.bytes_written += self._writer.written
            self._writer.close()
        path = self.root / f"{len(self.segments):08d}.log"
        self._writer = BucketWriter(path)
        self._bounds = (2**64, 0)
        self.segments.append((path, *self._bounds))

    def close(self) -> None:
        """
        Close the last segment.
        """
        if self._writer is not None:
            self.bytes_written += self._writer.written
            self._writer.close()


def write_bucketed(root: Path, events: list[bytes], seconds: int) -> BucketStore:
    """
    The buck's way: every batch to the bucket files of its points.
    """
    store = BucketStore(root, seconds, Clock())
    for i in range(0, len(events), BATCH):
        store.write_batch(events[i : i + BATCH], sync=False)
    store.close()
    return store


def write_log(root: Path, events: list[bytes], seconds: int, segment_bytes: int) -> Log:
    """
    The log's way: the same checks, then append in arrival order.
    """
    store = BucketStore(root / "checks", seconds, Clock())  # for check_batch only
    log = Log(root, segment_bytes)
    for i in range(0, len(events), BATCH):
        batch = events[i : i + BATCH]
        log.append(batch, store.check_batch(batch))
    log.close()
    store.close()
    return log


def read_range_bucketed(root: Path, low: int, high: int, seconds: int) -> tuple[int, int, int]:
    """
    The events of [low, high) from bucket files: (returned, scanned, bytes read).
    """
    return _count_in([
        path for start, path in list_buckets(root / "buckets")
        if start * TICKS_PER_SECOND < high and (start + seconds) * TICKS_PER_SECOND > low
    ], low, high)


def read_range_log(log: Log, low: int, high: int) -> tuple[int, int, int]:
    """
    The events of [low, high) from the log: every segment whose points overlap.
    """
    return _count_in(
        [path for path, first, last in log.segments if first < high and last >= low], low, high
    )


def _count_in(paths: list[Path], low: int, high: int) -> tuple[int, int, int]:
    """
    Read every record of C{paths}: (events in [low, high), events scanned, bytes read).
    """
    found = scanned = size = 0
    for path in paths:
        size += path.stat().st_size
        with open(path, "rb") as f:
            for _, event in iter_records(f):
                scanned += 1
                found += low <= point_of(event) < high
    return found, scanned, size


def porter_bucketed(roots: list[Path]) -> int:
    """
    logship's porter: each bucket, its copies from every buck, merged and sorted.
    """
    merged = 0
    starts = sorted({start for root in roots for start, _ in list_buckets(root / "buckets")})
    for start in starts:
        copies = []
        for root in roots:
            for s, path in list_buckets(root / "buckets"):
                if s == start:
                    with open(path, "rb") as f:
                        copies.append([decode(e) for _, e in iter_records(f)])
        merged += len(merge(copies))
    return merged


def porter_log(log: Log, seconds: int, wait: float) -> tuple[int, int]:
    """
    The log's consumer: stream the one copy, group by bucket, take a bucket
    (merge and sort it) once the log has moved C{wait} seconds past its end.

    @return: events taken, buckets taken again (late events after their take).
    """
    open_buckets: dict[int, list[Any]] = {}
    taken: set[int] = set()
    again = merged = 0
    newest = 0
    for path, _, _ in log.segments:
        with open(path, "rb") as f:
            for _, data in iter_records(f):
                event = decode(data)
                start = bucket_start(event.point, seconds)
                open_buckets.setdefault(start, []).append(event)
                newest = max(newest, event.point // TICKS_PER_SECOND)
                for s in [s for s in open_buckets if s + seconds + wait <= newest]:
                    merged += len(merge([open_buckets.pop(s)]))
                    again += s in taken
                    taken.add(s)
    for s in list(open_buckets):
        merged += len(merge([open_buckets.pop(s)]))
        again += s in taken
    return merged, again


def late_buckets(events: list[bytes], seconds: int, wait: float) -> int:
    """
    Buckets that get an event after the newest arrival is C{wait} seconds
    past their end (the porter took them already: they are taken again).
    """
    newest = 0
    again: set[int] = set()
    for data in events:
        point = point_of(data) // TICKS_PER_SECOND
        newest = max(newest, point)
        start = point - point % seconds
        if start + seconds + wait <= newest:
            again.add(start)
    return len(again)


def run(late: float, args: argparse.Namespace) -> dict[str, Any]:
    """
    Both designs on one input.
    """
    events = make_input(args.events, args.rate, late, args.late_mean, args.seed)
    n = len(events)
    row: dict[str, Any] = {"late": late, "events": n}
    with tempfile.TemporaryDirectory(prefix="queue-order-") as tmp:
        root = Path(tmp)
        bucks = [root / "buck0", root / "buck1"]
        store, cpu, peak = measured(lambda: write_bucketed(bucks[0], events, args.seconds))
        write_bucketed(bucks[1], events, args.seconds)  # the second replica
        row.update(bucketed_write_us=1e6 * cpu / n, bucketed_write_peak_mb=peak / 2**20,
                   bucketed_bytes=store.stats.bytes_written,
                   bucketed_files=len(list_buckets(bucks[0] / "buckets")),
                   bucketed_files_opened=store.stats.files_opened)
        (root / "log").mkdir()
        log, cpu, peak = measured(lambda: write_log(root / "log", events, args.seconds,
                                                    int(args.segment_mb * 2**20)))
        row.update(log_write_us=1e6 * cpu / n, log_write_peak_mb=peak / 2**20,
                   log_bytes=log.bytes_written, log_files=len(log.segments),
                   log_files_opened=len(log.segments))
        # One bucket-long range in the middle of the input.
        middle = point_of(sorted(events, key=point_of)[n // 2])
        low = bucket_start(middle, args.seconds) * TICKS_PER_SECOND
        high = low + args.seconds * TICKS_PER_SECOND
        (found, scanned, size), cpu, _ = measured(
            lambda: read_range_bucketed(bucks[0], low, high, args.seconds))
        row.update(range_events=found, bucketed_range_scanned=scanned,
                   bucketed_range_bytes=size, bucketed_range_ms=1e3 * cpu)
        (found_log, scanned, size), cpu, _ = measured(lambda: read_range_log(log, low, high))
        assert found_log == found, (found_log, found)
        row.update(log_range_scanned=scanned, log_range_bytes=size, log_range_ms=1e3 * cpu)
        merged, cpu, peak = measured(lambda: porter_bucketed(bucks))
        assert merged == n, (merged, n)
        row.update(bucketed_porter_us=1e6 * cpu / n, bucketed_porter_peak_mb=peak / 2**20)
        (merged, again), cpu, peak = measured(lambda: porter_log(log, args.seconds, args.wait))
        row.update(log_porter_us=1e6 * cpu / n, log_porter_peak_mb=peak / 2**20,
                   log_buckets_again=again,
                   bucketed_buckets_again=late_buckets(events, args.seconds, args.wait))
    return row


def plot(rows: list[dict[str, Any]], path: Path) -> None:
    """
    Each cost of both designs against the rate of late events.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = [
        ("write_us", "write CPU µs/event"),
        ("files", "files written"),
        ("range_bytes", "bytes read for one bucket-long range"),
        ("range_ms", "CPU ms to read that range"),
        ("porter_us", "porter merge+sort CPU µs/event"),
        ("porter_peak_mb", "porter peak memory MiB (tracemalloc)"),
    ]
    fig, axes = plt.subplots(2, 3, figsize=(14, 7.5))
    rates = [100 * r["late"] for r in rows]
    for ax, (key, title) in zip(axes.flat, panels):
        for design in ("bucketed", "log"):
            ax.plot(rates, [r[f"{design}_{key}"] for r in rows], marker="o",
                    label="time buckets (logship)" if design == "bucketed" else "append-only log")
        ax.set_title(title)
        ax.set_xlabel("% of events late")
        ax.grid(alpha=0.3)
    axes.flat[0].legend(fontsize=8)
    fig.suptitle(f"Experiment 3: partially sorted vs append-only, {rows[0]['events']:,} events")
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="a small input, seconds")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "experiments")
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--rate", type=float, default=200.0, help="events per second of log time")
    parser.add_argument("--late-rates", default="0,0.01,0.05,0.2",
                        help="fractions of late events (experiment 4 measures the real ones)")
    parser.add_argument("--late-mean", type=float, default=5.0, help="mean lateness, s")
    parser.add_argument("--seconds", type=int, default=60, help="bucket interval")
    parser.add_argument("--segment-mb", type=float, default=4.0)
    parser.add_argument("--wait", type=float, default=60.0,
                        help="s the log's consumer waits past a bucket's end")
    parser.add_argument("--seed", type=int, default=3)
    args = parser.parse_args(argv)
    if args.quick:
        args.events, args.late_rates, args.segment_mb, args.rate = 3000, "0,0.05", 0.1, 20.0
    args.out.mkdir(parents=True, exist_ok=True)
    rows = []
    for late in (float(x) for x in args.late_rates.split(",")):
        row = run(late, args)
        rows.append(row)
        say_row(row)
    write_outputs(args.out, "queue_order", {
        "params": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
    }, rows)
    plot(rows, args.out / "queue_order.png")
    print(f"wrote {args.out}/queue_order.{{json,csv,png}}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
