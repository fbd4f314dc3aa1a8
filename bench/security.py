"""What per-node credentials cost: the handshake, the per-message checks, and ack2 end to end.

Run it by hand (it is not part of C{make test}):

    .venv/bin/python bench/security.py handshake              # handshakes/s, lab key vs credentials
    .venv/bin/python bench/security.py checks                 # host checks on 1,000-event batches
    .venv/bin/python bench/security.py ab --main DIR          # ack2 end to end, before/after, alternating

C{handshake} connects a client and a server L{WireProtocol} in memory
(the tests' iosim pairs) N times and reports CPU microseconds per
connection (both sides together), with the cluster key and with
credentials (X25519, two credential checks, two proofs).

C{checks} times what the buck adds per batch in credential mode: the
decode of 1,000 real events as the store does it, without and with the
credential's host patterns (L{BucketStore.decode_batch}), and the role
check of the dispatcher.

C{ab} runs C{bench/delivery.py --durability ack2} alternately on the code
of another tree (C{--main DIR}: a checkout or C{git archive} of main; its
own C{bench/delivery.py}, its C{logship} first on C{PYTHONPATH}, so its
twistd processes run its code) and on this tree with the cluster key and
with per-node credentials, C{--rounds} times, and prints each run's
lines/s and CPU per line, then the median of each.
"""

from __future__ import annotations

import argparse
import itertools
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # the tests' helpers

from twisted.internet.task import Clock  # noqa: E402

from logship.buck.service import ROLE_MESSAGES  # noqa: E402
from logship.buck.store import BucketStore  # noqa: E402
from logship.core.event import encode  # noqa: E402
from logship.core.ingest import LineEncoder  # noqa: E402
from logship.core.sample import sample_lines  # noqa: E402
from logship.core.zones import parse_zone  # noqa: E402
from logship.wire.messages import Batch  # noqa: E402
from tests.credentials import credentials  # noqa: E402
from tests.wire.common import RecordingHandler, client_factory, connect_pair, server_factory  # noqa: E402

REPORT = re.compile(r"ack2\s+[\d,]+ lines\s+[\d.]+ s\s+([\d,]+) lines/s.*= ([\d.]+) µs/line")


def handshakes(count: int) -> None:
    """
    CPU microseconds per handshake (both sides), lab key vs credentials.
    """
    clock = Clock()
    modes = {
        "cluster key": (
            server_factory(clock, RecordingHandler()),
            client_factory(clock, RecordingHandler()),
        ),
        "credentials": (
            server_factory(clock, RecordingHandler(), key=None,
                           credentials=credentials("buck-1", "buck"), accept_roles=("tailer",)),
            client_factory(clock, RecordingHandler(), key=None,
                           credentials=credentials("web-1", "tailer", ["web-*"]),
                           accept_roles=("buck",)),
        ),
    }
    for name, (server, client) in modes.items():
        best = float("inf")
        for _ in range(3):
            started = time.process_time()
            for _ in range(count):
                pair = connect_pair(server, client, clock)
                assert pair.server.peer is not None
                pair.client_transport.loseConnection()
                pair.flush()
            best = min(best, time.process_time() - started)
        print(f"{name:12}  {1e6 * best / count:8.0f} µs CPU per connection"
              f" (handshake + connect + close, both sides; best of 3 x {count})")


def checks(batches: int) -> None:
    """
    CPU per 1,000-event batch: decoding without and with the host check.
    """
    encoder = LineEncoder(host=b"web1", tz=parse_zone("UTC"), source=1)
    lines = list(sample_lines(batches * 1000, start=1795685820, rate=2000))
    offsets = itertools.accumulate((len(line) + 1 for line in lines), initial=0)
    events = [
        encode(e)
        for line, offset in zip(lines, offsets)
        for e in encoder.events(line, 1795685820.0, offset)
    ]
    chunks = [events[i : i + 1000] for i in range(0, len(events), 1000)]
    tmp = Path(tempfile.mkdtemp())
    try:
        store = BucketStore(tmp / "data", 60, Clock())
        hosts = credentials("relay", "tailer", ["web*", "db*", "mail", "gw", "build*"])
        allow = hosts.identity.credential.host_patterns().allows
        for label, check in (("no host check", None), ("host patterns", allow)):
            best = float("inf")
            for _ in range(5):
                started = time.process_time()
                for chunk in chunks:
                    store.decode_batch(chunk, check)
                best = min(best, time.process_time() - started)
            print(f"{label:14}  {1e3 * best / len(chunks):6.3f} ms CPU per 1,000-event batch"
                  f" (decode, as the buck does before writing)")
        message = Batch(1, "ack2", [])
        started = time.process_time()
        for _ in range(100_000):
            isinstance(message, ROLE_MESSAGES.get("tailer", ()))
        print(f"role check      {1e9 * (time.process_time() - started) / 100_000:6.0f} ns"
              " per message (the dispatcher's table)")
        store.close()
    finally:
        shutil.rmtree(tmp)


def ab(main: Path, rounds: int, lines: int) -> None:
    """
    ack2 end to end, alternating: main's code, this tree with the cluster
    key, this tree with credentials.
    """
    runs = {
        "main (cluster key)": ([sys.executable, str(main / "bench" / "delivery.py")],
                               {"PYTHONPATH": str(main)}),
        "this (cluster key)": ([sys.executable, str(ROOT / "bench" / "delivery.py")], {}),
        "this (credentials)": ([sys.executable, str(ROOT / "bench" / "delivery.py"),
                                "--credentials"], {}),
    }
    results: dict[str, list[tuple[float, float]]] = {name: [] for name in runs}
    workdir = Path(tempfile.mkdtemp(prefix="logship-ab-"))
    try:
        for round_number in range(1, rounds + 1):
            for name, (command, env) in runs.items():
                out = subprocess.run(
                    [*command, "--lines", str(lines), "--durability", "ack2",
                     "--workdir", str(workdir / name.split()[0])],
                    capture_output=True, text=True, env={**os.environ, **env}, timeout=3600,
                )
                match = REPORT.search(out.stdout)
                if match is None:
                    print(f"{name}: no result\n{out.stdout[-2000:]}\n{out.stderr[-2000:]}")
                    continue
                rate, cpu = float(match[1].replace(",", "")), float(match[2])
                results[name].append((rate, cpu))
                load = "/".join(f"{x:.2f}" for x in os.getloadavg())
                print(f"round {round_number}  {name:20} {rate:>9,.0f} lines/s"
                      f"  {cpu:5.1f} µs CPU/line  (load {load})", flush=True)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    for name, figures in results.items():
        if figures:
            print(f"median  {name:20} {statistics.median(r for r, _ in figures):>9,.0f} lines/s"
                  f"  {statistics.median(c for _, c in figures):5.1f} µs CPU/line"
                  f"  ({len(figures)} runs)")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    sub = commands.add_parser("handshake", help="handshakes in memory")
    sub.add_argument("--count", type=int, default=500)
    sub = commands.add_parser("checks", help="per-batch host checks")
    sub.add_argument("--batches", type=int, default=200)
    sub = commands.add_parser("ab", help="ack2 end to end, main vs this tree")
    sub.add_argument("--main", type=Path, required=True, metavar="DIR",
                     help="a tree of main's code (git archive main | tar -x -C DIR)")
    sub.add_argument("--rounds", type=int, default=3)
    sub.add_argument("--lines", type=int, default=300_000)
    args = parser.parse_args(argv)
    print(f"{time.strftime('%Y-%m-%d %H:%M:%S %Z')}, {os.cpu_count()} CPUs,"
          f" load {'/'.join(f'{x:.2f}' for x in os.getloadavg())}", flush=True)
    if args.command == "handshake":
        handshakes(args.count)
    elif args.command == "checks":
        checks(args.batches)
    else:
        ab(args.main, args.rounds, args.lines)
    return 0


if __name__ == "__main__":
    sys.exit(main())
