"""Benchmark of the archived bucket: size against gzip -6, pack and unpack speed.

Run: C{.venv/bin/python bench/archive_ratio.py [--repeat N] [--level L] [FILE...]}.
Without files it reads the project's test corpus (C{tests/data/*.log}).

Each file is read as one source (host C{bench}, UTC, year 2026) by
L{LineEncoder}, the real parser; the events are sorted by point and
de-duplicated by identity, as the porter archives a bucket.  It prints, per
file and for all files together (one bucket of all their events):

  - raw: the file's bytes;
  - gzip6: C{gzip.compress(raw, 6)}, what C{gzip -6} makes;
  - packed: L{logship.core.pack.pack} of the events;
  - ratio: packed / gzip6 (the aim is 0.7 or less);
  - pack/s and unpack/s: events per second on one core (best of N runs).
"""

from __future__ import annotations

import argparse
import gzip
import sys
from datetime import timezone
from pathlib import Path

from logship.core.event import Event
from logship.core.ingest import LineEncoder, lines_at
from logship.core.pack import DEFAULT_LEVEL, pack, unpack

from codec import best_rate  # bench/codec.py, beside this script

CORPUS = Path(__file__).resolve().parent.parent / "tests" / "data"
NOW = 1795685820.0  # 2026-11-26T09:37:00Z, the reading time for year inference


def bucket_events(raw: bytes) -> list[Event]:
    """
    The events of one file, sorted by point and de-duplicated, as archived.
    """
    encoder = LineEncoder(host=b"bench", tz=timezone.utc, year=2026, source=1)
    events = [e for at, line in lines_at([raw]) for e in encoder.events(line, NOW, at)]
    events.sort(key=lambda e: e.point)
    seen: set[tuple[bytes, bytes, int, int]] = set()
    unique = []
    for event in events:
        if event.identity not in seen:
            seen.add(event.identity)
            unique.append(event)
    return unique


def measure(raw: bytes, repeat: int, level: int) -> dict[str, float]:
    """
    All figures for one file's bytes.
    """
    events = bucket_events(raw)
    packed = pack(events, level)
    if unpack(packed) != events:
        raise AssertionError("round trip failed")
    gzip6 = len(gzip.compress(raw, 6, mtime=0))
    return {
        "events": len(events),
        "raw": len(raw),
        "gzip6": gzip6,
        "packed": len(packed),
        "ratio": len(packed) / gzip6,
        "pack": best_rate(len(events), lambda: pack(events, level), repeat),
        "unpack": best_rate(len(events), lambda: unpack(packed), repeat),
    }


def main() -> None:
    """
    Print the table for the files given, or the corpus.
    """
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("files", nargs="*", type=Path)
    parser.add_argument("--repeat", type=int, default=5, help="runs per figure; the best counts")
    parser.add_argument("--level", type=int, default=DEFAULT_LEVEL, help="LZMA preset 0-9")
    args = parser.parse_args()
    files = args.files or sorted(CORPUS.glob("*.log"))
    if not files:
        sys.exit(f"no input: give files (no *.log in {CORPUS})")
    sets = {f.name: f.read_bytes() for f in files}
    sets["all"] = b"".join(sets.values())
    print(
        f"{'file':18} {'events':>6} {'raw':>9} {'gzip6':>8} {'packed':>8} {'ratio':>6}"
        f" {'pack ev/s':>10} {'unpack ev/s':>11}"
    )
    for name, raw in sets.items():
        m = measure(raw, args.repeat, args.level)
        print(
            f"{name:18} {m['events']:6d} {m['raw']:9d} {m['gzip6']:8d} {m['packed']:8d}"
            f" {m['ratio']:6.3f} {m['pack']:10,.0f} {m['unpack']:11,.0f}"
        )


if __name__ == "__main__":
    main()
