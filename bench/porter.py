"""Benchmark of the porter's own work on one bucket: merge + dedup + sort,
and packing for the archive.

Run: C{.venv/bin/python bench/porter.py [--events N] [--repeat R]}.
(The index side, loading and query latency at 1, 10 and 50 million events,
is C{bench/index.py}.)

The events are realistic sample lines (L{logship.core.sample}) parsed as a
tailer parses them, in one bucket.  As delivery leaves them, each event is
on 2 of 3 bucks, and the tailer's whole-bucket upload put a third copy on
one of them: the porter reads three files holding 3 copies of each event,
in arrival order, and merges them.  Reported, best of R runs:

  - read: bucket file bytes -> records -> decoded events (all copies);
  - merge: one event per identity, sorted by point (L{merge});
  - pack: the merged events packed for the archive (L{pack}), and its size;
  - the whole bucket (read + merge + pack), as events/s of distinct events.
"""

from __future__ import annotations

import argparse
import random
import time
from datetime import timezone

from logship.core.bucket import encode_record
from logship.core.event import encode
from logship.core.ingest import LineEncoder
from logship.core.pack import pack
from logship.core.event import decode_all
from logship.porter.merge import merge, split_records
from logship.core.sample import sample_lines

NOW = 1795685820.0


def bucket_copies(count: int, seed: int = 0) -> list[bytes]:
    """
    Three bucks' files of one bucket holding C{count} distinct events
    (each on 2 random bucks, plus all of them once more on one buck).
    """
    encoder = LineEncoder(host=b"bench", tz=timezone.utc, source=seed)
    lines = sample_lines(count, start=NOW, rate=count / 50, seed=seed)
    serialized = [encode(e) for i, line in enumerate(lines) for e in encoder.events(line, NOW + 60, i)]
    rng = random.Random(seed)
    files: list[list[bytes]] = [[], [], []]
    for data in serialized:
        for buck in rng.sample(range(3), 2):
            files[buck].append(data)
    upload = list(serialized)
    files[rng.randrange(3)].extend(upload)
    return [b"".join(encode_record(d) for d in f) for f in files]


def best(run, repeat: int) -> tuple[float, object]:
    """
    The best time of C{repeat} runs of C{run()}, and its last result.
    """
    fastest = float("inf")
    result = None
    for _ in range(repeat):
        started = time.perf_counter()
        result = run()
        fastest = min(fastest, time.perf_counter() - started)
    return fastest, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=100_000, help="distinct events in the bucket")
    parser.add_argument("--repeat", type=int, default=3, help="runs per figure; the best counts")
    args = parser.parse_args()
    files = bucket_copies(args.events)
    copies_bytes = sum(map(len, files))

    def read() -> list:
        return [decode_all(split_records(data).events).events for data in files]

    read_s, copies = best(read, args.repeat)
    total_copies = sum(map(len, copies))  # type: ignore[arg-type]
    merge_s, merged = best(lambda: merge(copies), args.repeat)  # type: ignore[arg-type]
    pack_s, packed = best(lambda: pack(merged), args.repeat)  # type: ignore[arg-type]
    distinct = len(merged)  # type: ignore[arg-type]
    assert distinct == args.events, (distinct, args.events)
    print(f"bucket: {distinct:,} distinct events, {total_copies:,} copies in 3 files"
          f" of {copies_bytes / 1e6:.1f} MB")
    print(f"read + decode : {total_copies / read_s:12,.0f} copies/s   ({read_s:.2f} s)")
    print(f"merge + sort  : {total_copies / merge_s:12,.0f} copies/s   ({merge_s:.2f} s)")
    print(f"pack (archive): {distinct / pack_s:12,.0f} events/s    ({pack_s:.2f} s),"
          f" {len(packed) / 1e6:.2f} MB")  # type: ignore[arg-type]
    whole = read_s + merge_s + pack_s
    print(f"whole bucket  : {distinct / whole:12,.0f} events/s    ({whole:.2f} s)")


if __name__ == "__main__":
    main()
