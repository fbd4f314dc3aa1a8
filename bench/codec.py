"""Benchmark of the codec: parse+encode and decode lines/s, and sizes.

Run: C{make bench}, or C{.venv/bin/python bench/codec.py [--repeat N] [FILE...]}.
Without files it reads the project's test corpus (C{tests/data/*.log}).

It reports, per file and for all files together:
  - parse+encode lines/s: raw line -> L{LineEncoder} (parse, points, split)
    -> L{encode}, on one core;
  - decode lines/s: record bytes -> L{decode} (message rebuilt, crc checked);
  - a reference: a plain regex match and split per line (a minimal parser);
  - bytes per event against the raw line length;
  - zlib level 6 of the raw lines and of the bucket file (records as
    written), and the packed bucket (L{logship.core.pack}: templates and LZMA2,
    the archive's form), as a fraction of the raw size.
"""

from __future__ import annotations

import argparse
import io
import re
import sys
import time
import zlib
from itertools import accumulate
from datetime import timezone
from pathlib import Path

from logship.core.bucket import encode_record, iter_records
from logship.core.event import decode, encode
from logship.core.ingest import LineEncoder, split_lines
from logship.core.pack import pack

CORPUS = Path(__file__).resolve().parent.parent / "tests" / "data"
NOW = 1795685820.0  # 2026-11-26T09:37:00Z, the reading time for year inference
_REFERENCE = re.compile(rb"^(\w{3}) +(\d+) (\d\d):(\d\d):(\d\d) (\S+) ([^:\[]+)")


def best_rate(count: int, run, repeat: int) -> float:
    """
    The best of C{repeat} runs of C{run()}, as C{count} items per second.
    """
    best = float("inf")
    for _ in range(repeat):
        started = time.perf_counter()
        run()
        best = min(best, time.perf_counter() - started)
    return count / best


def measure(name: str, lines: list[bytes], repeat: int) -> dict[str, float]:
    """
    All figures for one set of lines.
    """
    offsets = list(accumulate((len(line) + 1 for line in lines), initial=0))

    def parse_encode() -> list[bytes]:
        encoder = LineEncoder(host=b"bench", tz=timezone.utc, source=1)
        return [
            encode(e) for at, line in zip(offsets, lines) for e in encoder.events(line, NOW, at)
        ]

    def reference() -> None:
        for line in lines:
            _REFERENCE.match(line)
            line.split()

    encoded = parse_encode()
    records = b"".join(encode_record(e) for e in encoded)

    def decode_all() -> None:
        for data in encoded:
            decode(data)

    events = [decode(data) for data in encoded]
    raw = b"\n".join(lines) + b"\n"
    raw_z = len(zlib.compress(raw, 6))
    assert [d for _, d in iter_records(io.BytesIO(records))] == encoded
    return {
        "lines": len(lines),
        "parse_encode": best_rate(len(lines), parse_encode, repeat),
        "decode": best_rate(len(encoded), decode_all, repeat),
        "reference": best_rate(len(lines), reference, repeat),
        "bytes_per_event": len(records) / len(encoded),
        "raw_per_line": len(raw) / len(lines),
        "zlib_raw": raw_z / len(raw),
        "zlib_records": len(zlib.compress(records, 6)) / len(raw),
        "packed": len(pack(events)) / len(raw),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("files", nargs="*", type=Path)
    parser.add_argument("--repeat", type=int, default=5, help="runs per figure; the best counts")
    args = parser.parse_args()
    files = args.files or sorted(CORPUS.glob("*.log"))
    if not files:
        sys.exit(f"no input: give files (no *.log in {CORPUS})")
    sets = {f.name: list(split_lines([f.read_bytes()])) for f in files}
    sets["all"] = [line for lines in list(sets.values()) for line in lines]
    header = (
        f"{'file':18} {'lines':>6} {'parse+enc/s':>11} {'decode/s':>10} {'regex/s':>9}"
        f" {'B/event':>7} {'B/line':>6} {'z raw':>6} {'z recs':>6} {'packed':>6}"
    )
    print(header)
    for name, lines in sets.items():
        m = measure(name, lines, args.repeat)
        print(
            f"{name:18} {m['lines']:6d} {m['parse_encode']:11,.0f} {m['decode']:10,.0f}"
            f" {m['reference']:9,.0f} {m['bytes_per_event']:7.1f} {m['raw_per_line']:6.1f}"
            f" {m['zlib_raw']:6.3f} {m['zlib_records']:6.3f} {m['packed']:6.3f}"
        )


if __name__ == "__main__":
    main()
