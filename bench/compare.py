"""Side by side: logship against rsyslog and syslog-ng on one input file, one command.

    .venv/bin/python bench/compare.py                     # 1,000,000 lines, every contender (tens of minutes)
    .venv/bin/python bench/compare.py --lines 300000
    .venv/bin/python bench/compare.py --quick             # 20,000 lines, the main contenders (under a minute)
    .venv/bin/python bench/compare.py --contender syslog-ng-disk --contender logship-ack2

It makes one input file of N generated syslog lines with JSON bodies
(about 215 bytes a line: L{json_lines}), then ships it with each contender
in turn, on 127.0.0.1 only (C{bench/peers.py} has the configurations and
how each figure is taken):

  - rsyslog: RELP (window 4096) plain, behind a disk-assisted queue, and
    behind a disk queue; plain TCP without acknowledgements;
  - syslog-ng: TCP with C{flags(flow-control)}, and with
    C{disk-buffer(reliable(yes))};
  - logship: a tailer following the file and 3 bucks, as twistd processes,
    at C{live}, C{ack1}, C{ack2} and C{ack2+fsync}.

It prints, per contender, lines/s, CPU µs per line of each process (utime +
stime from C{/proc/PID/stat}), peak RSS (C{VmHWM}), lines lost and
duplicated (counted from each receiver's output), then logship's ratio to
each peer: lines/s (above 1: logship is faster) and CPU per line (below 1:
logship spends less).

What it needs, it installs when missing (as root; C{--no-install} only
reports it): Debian's C{rsyslog} and C{rsyslog-relp} with C{apt-get
install}, and C{syslog-ng-core}, which conflicts with rsyslog, by C{apt-get
download} and C{dpkg-deb -x} into the cache directory (its libraries with
C{apt-get install}), run from there.  Installing does not start the
system's daemons (a C{policy-rc.d} refuses it while apt runs, unless one is
there already), and this script never uses them: every daemon runs in the
foreground with configuration files of its own, and is stopped by its
process id.

The machine is shared and noisy: the load average before and after each
run is printed with it; CPU per line is the steadier figure.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

from delivery import DURABILITIES, load, write_once
from peers import PEERS, RSYSLOG_MODULES, Programs, run_logship, run_peer

#: The contenders: the peers, then logship at each durability.
CONTENDERS = [*PEERS, *(f"logship-{d}" for d in DURABILITIES)]
#: The contenders of C{--quick}: the issue's three peers and logship.
QUICK = ["rsyslog-relp-da", "syslog-ng-disk", "rsyslog-tcp",
         *(f"logship-{d}" for d in DURABILITIES)]
QUICK_LINES = 20_000

START = 1795685820  # 2026-11-26T09:37:00Z
RATE = 2000  # lines per second of log time

# --- the input ------------------------------------------------------------------

_HOSTS = ["web1", "web2", "api1", "api2", "db1", "worker3"]
_APPS = ["checkout", "catalog", "auth", "payments", "search"]
_USERS = ["alice", "bob", "carol", "deploy", "svc-batch", "mallory", "erin"]
_MESSAGES = [
    ("info", "request served"), ("info", "order placed"), ("info", "user logged in"),
    ("debug", "cache miss"), ("warn", "slow query"), ("warn", "retrying upstream"),
    ("error", "payment declined"), ("error", "upstream timeout"),
]
_PATHS = ["/api/v1/items/", "/api/v1/orders/", "/api/v2/users/", "/cart/", "/search?q="]


def json_lines(count: int, *, start: float = START, rate: float = RATE,
               seed: int = 0) -> Iterator[bytes]:
    """
    C{count} RFC 3164 file-format lines whose messages are JSON objects, as
    an application logging structured events to syslog writes them (about
    215 bytes a line), deterministically from C{seed}.

    @param start: the time of the first line (shown in local time).
    @param rate: lines per second of log time.
    """
    rng = random.Random(seed)
    pids = {host: rng.randrange(300, 30000) for host in _HOSTS}
    stamps: dict[int, tuple[str, str]] = {}
    dumps = json.JSONEncoder(separators=(",", ":")).encode
    for i in range(count):
        when = start + i / rate
        second = int(when)
        stamp = stamps.get(second)
        if stamp is None:
            stamps.clear()
            stamp = stamps[second] = (
                time.strftime("%b %e %H:%M:%S", time.localtime(second)),
                time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second)),
            )
        host = rng.choice(_HOSTS)
        level, msg = rng.choice(_MESSAGES)
        body = dumps({
            "ts": f"{stamp[1]}.{int(when * 1000) % 1000:03d}Z",
            "level": level,
            "svc": rng.choice(_APPS),
            "msg": msg,
            "user": rng.choice(_USERS),
            "ip": f"10.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(1, 255)}",
            "path": f"{rng.choice(_PATHS)}{rng.randrange(100000)}",
            "status": rng.choice((200, 200, 200, 201, 304, 404, 500)),
            "bytes": rng.randrange(100, 90000),
            "ms": round(rng.expovariate(1 / 40), 3),
        })
        yield f"{stamp[0]} {host} app[{pids[host] + rng.randrange(20)}]: {body}".encode()


def make_input(path: Path, count: int) -> int:
    """
    Write C{count} lines of L{json_lines} to C{path}, unless it is there.

    @return: its size in bytes.
    """
    return write_once(path, json_lines(count))


# --- installing what is missing ---------------------------------------------------

POLICY = Path("/usr/sbin/policy-rc.d")


def apt_get(args: Sequence[str], cwd: Path | None = None) -> None:
    """
    Run C{apt-get ARGS}; if it fails, run C{apt-get update} once and try
    again (a fresh machine's package lists may be missing or old).  No
    service is started meanwhile: a C{policy-rc.d} that refuses all is put
    in place for the time, unless there is one already.

    @raise RuntimeError: it failed twice.
    """
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    command = ["apt-get", "-y", "-qq", *args]
    placed = not POLICY.exists()
    if placed:
        POLICY.write_text("#!/bin/sh\n# bench/compare.py: start no service while installing\nexit 101\n")
        POLICY.chmod(0o755)
    try:
        for attempt in range(2):
            done = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True)
            if done.returncode == 0:
                return
            if attempt == 0:
                subprocess.run(["apt-get", "update", "-qq"], env=env, capture_output=True)
        raise RuntimeError(f"{' '.join(command)} failed: {done.stderr.strip()[-500:]}")
    finally:
        if placed:
            POLICY.unlink()


def installed(package: str) -> bool:
    """
    Whether Debian's C{package} is installed.
    """
    done = subprocess.run(["dpkg-query", "-W", "-f", "${Status}", package],
                          capture_output=True, text=True)
    return done.returncode == 0 and done.stdout.endswith(" installed")


def ensure_rsyslog(install: bool, say: Callable[[str], None]) -> None:
    """
    Install C{rsyslog} and C{rsyslog-relp} if C{rsyslogd} or omrelp is
    missing (not over an installed C{syslog-ng-core}, which apt would
    remove).
    """
    if shutil.which("rsyslogd") and (RSYSLOG_MODULES / "omrelp.so").exists():
        return
    if not install:
        return
    if installed("syslog-ng-core"):
        say("rsyslog: not installed: syslog-ng-core is, and apt would remove it")
        return
    say("installing rsyslog rsyslog-relp (apt-get install)")
    apt_get(["install", "--no-install-recommends", "rsyslog", "rsyslog-relp"])


def unpacked_syslog_ng(cache: Path, install: bool, say: Callable[[str], None]) -> Path | None:
    """
    The root of an unpacked C{syslog-ng-core} in C{cache}, unpacked there
    first (with its libraries installed) if it is not yet; None when
    syslog-ng is on C{PATH} already (it is used then) or nothing may be
    installed.
    """
    if shutil.which("syslog-ng"):
        return None
    root = cache / "syslog-ng-core"
    if (root / "usr" / "sbin" / "syslog-ng").exists():
        return root
    if not install:
        return None
    cache.mkdir(parents=True, exist_ok=True)
    debs = sorted(cache.glob("syslog-ng-core_*.deb"))
    if not debs:
        say(f"downloading syslog-ng-core into {cache} (apt-get download)")
        apt_get(["download", "syslog-ng-core"], cwd=cache)
        debs = sorted(cache.glob("syslog-ng-core_*.deb"))
    deb = debs[-1]
    depends = subprocess.run(["dpkg-deb", "-f", str(deb), "Depends"], capture_output=True,
                             text=True, check=True).stdout
    # "libc6 (>= 2.34), libcap2 (...), sysvinit-utils (...) | lsb-base": the
    # first of each alternative, libraries only (nothing else is needed to run it)
    libraries = [part.split("|")[0].split()[0] for part in depends.split(",")]
    missing = [name for name in libraries if name.startswith("lib") and not installed(name)]
    if missing:
        say(f"installing syslog-ng's libraries: {' '.join(missing)}")
        apt_get(["install", "--no-install-recommends", *missing])
    temporary = cache / "syslog-ng-core.tmp"
    shutil.rmtree(temporary, ignore_errors=True)
    subprocess.run(["dpkg-deb", "-x", str(deb), str(temporary)], check=True)
    temporary.rename(root)
    say(f"syslog-ng-core unpacked into {root}")
    return root


# --- the tables ----------------------------------------------------------------------


def cpu_cells(result: dict[str, Any]) -> tuple[str, str]:
    """
    CPU µs per line of the sender (tailer) and of the receivers (each
    buck), as table cells.
    """
    per_line = {k: 1e6 * v / result["lines"] for k, v in result["cpu"].items()}
    sender = per_line.pop("sender", None)
    if sender is None:
        sender = per_line.pop("tailer")
    return f"{sender:.1f}", " / ".join(f"{v:.1f}" for v in per_line.values())


def row(result: dict[str, Any]) -> str:
    """
    One Markdown table row of a result.
    """
    stalled = " (stalled)" if result["stalled"] else ""
    sender, receivers = cpu_cells(result)
    foreign = f" / {result['foreign']:,} foreign" if result["foreign"] else ""
    return (
        f"| {result['name']} | {result['lines_per_s']:,.0f}{stalled}"
        f" | {sender} | {receivers} | **{result['cpu_us_per_line']:.1f}**"
        f" | {result['rss_sender']:.0f} / {result['rss_receiver']:.0f}"
        f" | {result['lost']:,} / {result['dup']:,}{foreign} | {result['order']}"
        f" | {result['load']} |"
    )


HEADER = (
    "| contender | lines/s | CPU µs/line sender | CPU µs/line receiver(s) | CPU µs/line, all"
    " | peak RSS MiB sender / receiver | lost / dup | output | load before -> after |\n"
    "| --- | ---: | ---: | ---: | ---: | ---: | ---: | --- | --- |"
)


def ratios(results: list[dict[str, Any]]) -> list[str]:
    """
    The table of logship's ratios to each peer: lines/s, then CPU per line.
    """
    ours = [r for r in results if r["name"].startswith("logship-")]
    theirs = [r for r in results if not r["name"].startswith("logship-")]
    if not ours or not theirs:
        return []
    lines = [
        "| logship ÷ peer: lines/s, CPU µs/line | " + " | ".join(r["name"] for r in theirs) + " |",
        "| --- |" + " ---: |" * len(theirs),
    ]
    for mine in ours:
        cells = [
            f"{mine['lines_per_s'] / peer['lines_per_s']:.2f}×,"
            f" {mine['cpu_us_per_line'] / peer['cpu_us_per_line']:.2f}×"
            for peer in theirs
        ]
        lines.append(f"| {mine['name']} | " + " | ".join(cells) + " |")
    return lines


# --- the command ------------------------------------------------------------------------


def default_cache() -> Path:
    """
    Where the unpacked syslog-ng is kept between runs.
    """
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "logship-bench"


def main(argv: list[str] | None = None) -> int:
    """
    Install what is missing, make the input, run the contenders one after
    the other and print the tables.

    @return: the exit status: 1 if a contender was skipped.
    """
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        epilog=__doc__[__doc__.index("It makes one input"):],
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--lines", type=int, help="lines in the input (1,000,000; --quick: 20,000)")
    parser.add_argument("--quick", action="store_true",
                        help=f"{QUICK_LINES:,} lines and only {', '.join(QUICK)} (under a minute)")
    parser.add_argument("--contender", action="append", choices=CONTENDERS,
                        help="a contender to run (repeatable; default: all)")
    parser.add_argument("--no-install", dest="install", action="store_false",
                        help="install nothing: skip a contender whose programs are missing")
    parser.add_argument("--cache", type=Path, default=default_cache(),
                        help="where syslog-ng-core is downloaded and unpacked (%(default)s)")
    parser.add_argument("--workdir", type=Path, help="where to run (default: a temporary directory)")
    parser.add_argument("--keep", action="store_true", help="keep the work directory")
    parser.add_argument("--stall", type=float,
                        help="seconds without progress after which a peer's run ends (30; --quick: 10)")
    parser.add_argument("--timeout", type=float, default=1800, help="seconds per run at most")
    args = parser.parse_args(argv)
    lines = args.lines or (QUICK_LINES if args.quick else 1_000_000)
    stall = args.stall or (10 if args.quick else 30)
    chosen = args.contender or (QUICK if args.quick else CONTENDERS)

    def say(text: str) -> None:
        print(text, flush=True)

    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="logship-compare-"))
    workdir.mkdir(parents=True, exist_ok=True)
    say(f"{time.strftime('%Y-%m-%d %H:%M:%S %Z')}, {os.cpu_count()} CPUs, load {load()},"
        f" workdir {workdir}")
    if any(name.startswith("rsyslog") for name in chosen):
        ensure_rsyslog(args.install, say)
    syslog_ng_root = None
    if any(name.startswith("syslog-ng") for name in chosen):
        syslog_ng_root = unpacked_syslog_ng(args.cache, args.install, say)
    programs = Programs(syslog_ng_root)
    skipped = []
    results = []
    try:
        input_path = workdir / f"input-json-{lines}.log"
        t = time.monotonic()
        size = make_input(input_path, lines)
        say(f"input: {lines:,} lines, {size / 1e6:.1f} MB ({size / lines:.0f} B/line),"
            f" made in {time.monotonic() - t:.1f} s")
        for name in chosen:
            if name.startswith("logship-"):
                result = run_logship(workdir, input_path, lines, name[len("logship-"):],
                                     args.timeout)
            else:
                peer = PEERS[name]
                why = peer.missing(programs)
                if why is not None:
                    say(f"{name}: skipped: {why}")
                    skipped.append(name)
                    continue
                result = run_peer(peer, programs, workdir, input_path, lines, stall, args.timeout)
            results.append(result)
            say(f"{result['name']}: {result['what']}: {result['seconds']:.2f} s")
            say(row(result))
    finally:
        if not args.keep and args.workdir is None:
            shutil.rmtree(workdir, ignore_errors=True)
    say("")
    say(HEADER)
    for result in results:
        say(row(result))
    table = ratios(results)
    if table:
        say("")
        say("\n".join(table))
    if skipped:
        say(f"\nskipped (programs missing): {', '.join(skipped)}")
    return 1 if skipped else 0


if __name__ == "__main__":
    sys.exit(main())
