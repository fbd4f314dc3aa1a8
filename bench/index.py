"""Benchmark of the sqlite index: loading events/s, and query latency.

    .venv/bin/python bench/index.py --events 1000000 [--dir /tmp/logship-bench] [--keep]

Events are generated lines (L{logship.core.sample}, a small fleet's syslog, 500
lines per second of log time by default) parsed as a tailer would, and
serialized as a buck holds them (all outside the timing).  They are loaded
in batches (like the porter's buckets) through L{prepare_serialized} (the
path of C{load_serialized}; C{--events-api}: decoded Events through
L{prepare}, the path of C{load}), then each query is run several times and
the median is reported, first page (100 events, newest first) and count
separately.  Prints one JSON object; C{cpu_us_per_event} is the process's
CPU time per loaded event (all threads), C{cpu_us_per_event_by_thread} its
share: the writing thread, the preparing thread (C{--sequential}: none) and
the others (the index's trigram thread), and
C{events_per_s_busiest_thread} the rate the busiest of them allows when
each has a core of its own (what a loaded machine cannot show in wall time).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from logship.core.ingest import LineEncoder  # noqa: E402
from logship.core.event import encode  # noqa: E402
from logship.index.sqlite import (  # noqa: E402
    LOAD_CHUNK,
    SqliteStore,
    prepare,
    prepare_serialized,
)
from logship.core.query import Query  # noqa: E402
from logship.core.sample import sample_lines  # noqa: E402

START = 1_780_000_000.0
#: A postfix queue id that the generator gives once in the first 100,000 lines.
RARE = "5DC2D29D62"


def events(count: int, rate: float, seed: int):
    """
    C{count} events, in batches as lists.
    """
    encoder = LineEncoder(host=b"bench", tz=timezone.utc, year=2026, source=seed)
    at = 0
    for line in sample_lines(count, start=START, rate=rate, seed=seed):
        yield from encoder.events(line, START, at)
        at += len(line) + 1


def batches(count: int, rate: float, batch: int):
    """
    The generated events in lists of C{batch}.
    """
    chunk = []
    for event in events(count, rate, 0):
        chunk.append(event)
        if len(chunk) == batch:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def load(store: SqliteStore, count: int, rate: float, batch: int, pipeline: bool,
         serialized: bool) -> dict:
    """
    Load C{count} events (generated beforehand, batch by batch, outside
    the timing; with C{serialized}, also encoded outside the timing, as
    the porter receives them from bucks, and loaded with
    L{SqliteStore.load_serialized}'s preparation).  With C{pipeline},
    each chunk of L{LOAD_CHUNK} is prepared on a second thread while the
    one before is written; each batch is one transaction, as
    L{SqliteIndex.load} does.
    """
    spent = 0.0
    cpu = 0.0
    writer = 0.0
    preparing = [0.0]
    new = 0
    prepare_chunk = (lambda c: prepare_serialized(c)[0]) if serialized else prepare

    def prep(chunk: list) -> list:
        started = time.thread_time()
        try:
            return prepare_chunk(chunk)
        finally:
            preparing[0] += time.thread_time() - started
    with ThreadPoolExecutor(1) as helper:
        for chunk in batches(count, rate, batch):
            if serialized:
                chunk = [encode(e) for e in chunk]
            t, c, w = time.perf_counter(), time.process_time(), time.thread_time()
            parts = [chunk[i : i + LOAD_CHUNK] for i in range(0, len(chunk), LOAD_CHUNK)]
            store.begin()
            if pipeline:
                pending = helper.submit(prep, parts[0])
                for i in range(len(parts)):
                    rows = pending.result()
                    if i + 1 < len(parts):
                        pending = helper.submit(prep, parts[i + 1])
                    new += store.write(rows)
            else:
                for part in parts:
                    new += store.write(prep(part))
            store.commit()
            spent += time.perf_counter() - t
            cpu += time.process_time() - c
            writer += time.thread_time() - w
    per_event = 1e6 / max(new, 1)
    threads = {"writer": writer, "prepare": preparing[0] if pipeline else 0.0}
    threads["others"] = max(cpu - sum(threads.values()), 0.0)
    busiest = max(threads.values())
    return {"events": new, "seconds": round(spent, 1), "events_per_s": round(new / spent),
            "cpu_us_per_event": round(cpu * per_event, 1),
            "cpu_us_per_event_by_thread": {k: round(v * per_event, 1) for k, v in threads.items()},
            "events_per_s_busiest_thread": round(new / busiest) if busiest else None,
            "pipeline": pipeline, "serialized": serialized}


def timed(fn, repeat: int) -> float:
    """
    The median time of C{fn()} in milliseconds (after one warm-up run).
    """
    fn()
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return round(statistics.median(times) * 1000, 2)


def queries(count: int, rate: float) -> dict[str, Query]:
    """
    The queries measured, over the generated time span.
    """
    first = int(START * 10**8)
    end = int((START + count / rate) * 10**8)
    middle = (first + end) // 2
    hour = 3600 * 10**8
    return {
        "term common (sshd pid-less word 'password')": Query(terms=("password",)),
        "term rare (a queue id)": Query(terms=(RARE,)),
        "two terms (Failed alice)": Query(terms=("Failed", "alice")),
        "substring 'Failed password for invalid user'": Query(
            substrings=("Failed password for invalid user",)
        ),
        "substring rare 'SHA256:00ab'": Query(substrings=("SHA256:00ab",)),
        "time range (one hour, middle)": Query(start=middle - hour // 2, end=middle + hour // 2),
        "term + host + last hour": Query(terms=("root",), hosts=(b"db1",), start=end - hour),
        "no condition (newest 100)": Query(),
    }


def remove(files: list[str]) -> None:
    """
    Remove database files with their WAL and shared-memory files.
    """
    for name in files:
        for suffix in ("", "-wal", "-shm"):
            if os.path.exists(name + suffix):
                os.remove(name + suffix)


def main() -> None:
    """
    Run the benchmark and print its figures as JSON.
    """
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--rate", type=float, default=500.0, help="lines per second of log time")
    parser.add_argument("--batch", type=int, default=20_000)
    parser.add_argument("--dir", type=Path, default=Path("/tmp/logship-bench-index"))
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--keep", action="store_true", help="keep and reuse the database")
    parser.add_argument("--synchronous", default="FULL")
    parser.add_argument("--sequential", action="store_true",
                        help="prepare and write on one thread (default: two)")
    parser.add_argument("--automerge", type=int, help="FTS5 automerge of a new database")
    parser.add_argument("--events-api", action="store_true",
                        help="load decoded Events (SqliteStore.load's path) instead of"
                             " serialized events (load_serialized's path, the default)")
    args = parser.parse_args()
    args.dir.mkdir(parents=True, exist_ok=True)
    path = args.dir / f"bench-{args.events}.sqlite"
    out: dict = {"events": args.events, "rate": args.rate, "batch": args.batch,
                 "automerge": args.automerge}
    files = [str(path), str(path) + "-trigrams"]  # the trigram table's file (schema 4)
    if not (args.keep and path.exists()):
        remove(files)
        store = SqliteStore(path, synchronous=args.synchronous)
        if args.automerge is not None:
            for table in ("tokens", "trigrams"):
                store._db.execute(f"INSERT INTO {table} ({table}, rank) VALUES ('automerge', ?)",
                                  (args.automerge,))
        out["load"] = load(store, args.events, args.rate, args.batch, not args.sequential,
                           not args.events_api)
        store.close()
    out["file_bytes"] = sum(os.path.getsize(f) for f in files if os.path.exists(f))
    out["bytes_per_event"] = round(out["file_bytes"] / args.events)
    store = SqliteStore(path, create=False)
    results = {}
    for name, query in queries(args.events, args.rate).items():
        results[name] = {
            "first_page_ms": timed(lambda: store.search(query, total=False), args.repeat),
            "count_ms": timed(lambda: store.count(query), args.repeat),
            "matches": store.count(query),
        }
    out["queries"] = results
    out["disk_free_after"] = shutil.disk_usage(args.dir).free
    store.close()
    if not args.keep:
        remove(files)
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
