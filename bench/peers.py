"""Side by side on this machine: logship against rsyslog and syslog-ng, same input.

Run it by hand (it is not part of C{make test}; a few minutes):

    .venv/bin/python bench/peers.py --lines 200000
    .venv/bin/python bench/peers.py --lines 1000000 --peer syslog-ng --peer logship
    .venv/bin/python bench/peers.py --syslog-ng-root /opt/syslog-ng   # an unpacked syslog-ng-core

One input file of N lines (L{logship.core.sample.sample_lines}, the same
file C{bench/delivery.py} makes) is shipped by each contender in turn, on
127.0.0.1 only:

  - C{rsyslog-relp}: rsyslog reads the file (imfile) and sends every line
    over RELP (omrelp, C{windowSize="4096"}: librelp's default window of 128
    stalls on loopback) to a second rsyslogd (imrelp), which writes it to a
    file (omfile);
  - C{rsyslog-relp-disk}: the same with the sending action behind a disk
    queue (C{queue.type="Disk"}): every line is on the sender's disk first;
  - C{rsyslog-tcp}: the same over plain TCP (omfwd / imtcp): no
    application-level acknowledgement at all;
  - C{syslog-ng}: syslog-ng reads the file (C{file()}) and sends over TCP
    (C{network()}) with C{flags(flow-control)} (without it, syslog-ng drops
    lines when its output queue is full) to a second syslog-ng writing a
    file;
  - C{syslog-ng-disk}: the same with C{disk-buffer(reliable(yes))} on the
    sending side;
  - C{logship}: a tailer following the file and 3 bucks, as twistd
    processes, at C{ack2} (every event on 2 bucks' disks and in the
    tailer's local copy), through C{bench/delivery.py}.

The peers send each line as C{<133>} and the line, and their receivers write
the message back without the priority, so the output file can be compared
with the input line by line.  Each peer's daemons run in the foreground with
configuration files written by this script into the work directory (nothing
of the system's configuration is read), and are stopped by their process id.

Measured, per contender:

  - lines/s: N over the time from the sender's start (the peers; the file is
    already complete) or the first byte appended (logship; its tailer is
    already running) until the receiver's file holds N lines (the peers) or
    the tailer says every line is acknowledged by 2 bucks (logship);
  - CPU seconds: utime + stime (all threads, C{/proc/PID/stat}) of every
    process of the contender at that moment (sender and receiver; for
    logship the tailer and the 3 bucks), and their sum per line in
    microseconds: the steadiest figure on a busy machine;
  - peak RSS (C{VmHWM}) of the sending and of the (largest) receiving process;
  - lines lost and duplicated: the peers' output against the input, as
    multisets (and whether it is the input, byte for byte, or the same lines
    in another order); for logship, the events in the bucks' bucket files,
    by identity: lost = lines without an event on any buck, duplicated =
    events a buck holds twice, and how many events are on fewer than 2 bucks.

This script installs nothing.  It needs Debian's C{rsyslog} and
C{rsyslog-relp} for the rsyslog contenders and C{syslog-ng-core} for the
syslog-ng ones; a contender whose programs are missing is skipped with a
line that says what to install, and the exit status is then 1.  Debian's
rsyslog and syslog-ng-core conflict (both provide C{system-log-daemon}), so
to have both, install rsyslog and unpack syslog-ng-core without installing
it: C{apt-get install libcap2 libglib2.0-0 libivykis0 libjson-c5 libnet1
libpcre3 libwrap0} (its libraries), C{apt-get download syslog-ng-core}, C{dpkg-deb -x
syslog-ng-core_*.deb DIR}, then C{--syslog-ng-root DIR}.  Installing the
packages must not start the system's daemons (on Debian, a
C{/usr/sbin/policy-rc.d} that exits 101 prevents it); this script never
uses them.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from delivery import Cluster, cpu_seconds, load, make_input, peak_rss_mib, run_durability

from logship.core.bucket import TornRecord, iter_records, list_buckets
from logship.core.event import decode

#: rsyslog's loadable modules (Debian's multiarch path).
RSYSLOG_MODULES = Path("/usr/lib/x86_64-linux-gnu/rsyslog")

#: What the receivers of every peer write: the message as it was read, so
#: the output compares with the input.  rsyslog's C{rawmsg-after-pri} and
#: syslog-ng's raw message minus its first 5 bytes (C{<133>}).
RSYSLOG_LINE = 'template(name="asread" type="string" string="%rawmsg-after-pri%\\n")'
SYSLOG_NG_LINE = 'template("$(substr \\"${RAWMSG}\\" 5)\\n")'


# --- configuration files ---------------------------------------------------


def rsyslog_sender(work: Path, input_path: Path, port: int, protocol: str) -> str:
    """
    An rsyslogd that reads C{input_path} with imfile and forwards each line.

    @param protocol: C{relp}, C{relp-disk} or C{tcp}.
    """
    common = f'target="127.0.0.1" port="{port}" template="ship" action.resumeRetryCount="-1"'
    if protocol == "tcp":
        action = f'action(type="omfwd" protocol="tcp" {common})'
    else:
        action = f'action(type="omrelp" windowSize="4096" {common}'
        if protocol == "relp-disk":
            action += (f' queue.type="Disk" queue.filename="relp-queue"'
                       f' queue.spoolDirectory="{work}/sender-state" queue.maxDiskSpace="4g"'
                       ' queue.saveOnShutdown="on"')
        action += ")"
    lines = [
        f'global(workDirectory="{work}/sender-state" processInternalMessages="on")',
        'module(load="imfile")',
        *(['module(load="omrelp")'] if protocol != "tcp" else []),
        'template(name="ship" type="string" string="<133>%rawmsg%")',
        f'ruleset(name="ship") {{ {action} }}',
        f'input(type="imfile" file="{input_path}" tag="bench" ruleset="ship")',
        # rsyslog's own messages go to a file of their own, not to the data.
        f'*.* action(type="omfile" file="{work}/sender-internal.log")',
    ]
    return "\n".join(lines) + "\n"


def rsyslog_receiver(work: Path, output: Path, port: int, protocol: str) -> str:
    """
    An rsyslogd that listens on C{port} (RELP or TCP) and writes each
    message to C{output}.
    """
    module = "imtcp" if protocol == "tcp" else "imrelp"
    lines = [
        f'global(workDirectory="{work}/receiver-state" processInternalMessages="on")',
        f'module(load="{module}")',
        RSYSLOG_LINE,
        f'ruleset(name="write") {{ action(type="omfile" file="{output}" template="asread") }}',
        f'input(type="{module}" address="127.0.0.1" port="{port}" ruleset="write")',
        f'*.* action(type="omfile" file="{work}/receiver-internal.log")',
    ]
    return "\n".join(lines) + "\n"


def syslog_ng_sender(work: Path, input_path: Path, port: int, disk: bool) -> str:
    """
    A syslog-ng that reads C{input_path} and forwards each line over TCP,
    with flow control (and a reliable disk buffer if C{disk}).
    """
    buffer = ""
    if disk:
        buffer = (f' disk-buffer(reliable(yes) dir("{work}/sender-state")'
                  ' disk-buf-size(4294967296) mem-buf-size(16777216))')
    return (
        "@version: 3.38\n"
        "options { stats-freq(0); };\n"
        f'source s_file {{ file("{input_path}" flags(no-parse)); }};\n'
        f'destination d_net {{ network("127.0.0.1" port({port}) transport("tcp")'
        f' template("<133>${{MSG}}\\n"){buffer}); }};\n'
        "log { source(s_file); destination(d_net); flags(flow-control); };\n"
        f'log {{ source {{ internal(); }}; destination {{ file("{work}/sender-internal.log"); }}; }};\n'
    )


def syslog_ng_receiver(work: Path, output: Path, port: int) -> str:
    """
    A syslog-ng that listens on C{port} (TCP) and writes each message to
    C{output}, with flow control.
    """
    return (
        "@version: 3.38\n"
        "options { stats-freq(0); };\n"
        f'source s_net {{ network(ip("127.0.0.1") port({port}) transport("tcp")'
        " flags(store-raw-message)); };\n"
        f'destination d_file {{ file("{output}" {SYSLOG_NG_LINE}); }};\n'
        "log { source(s_net); destination(d_file); flags(flow-control); };\n"
        f'log {{ source {{ internal(); }}; destination {{ file("{work}/receiver-internal.log"); }}; }};\n'
    )


# --- the programs -----------------------------------------------------------


@dataclass
class Programs:
    """
    Where the peers' programs are, and what is missing.

    @ivar syslog_ng_root: an unpacked syslog-ng-core (C{dpkg-deb -x}), or
        None for the one on C{PATH}.
    """

    syslog_ng_root: Path | None

    def rsyslog_missing(self, protocol: str) -> str | None:
        """
        Why the rsyslog contender of C{protocol} cannot run, or None.
        """
        if shutil.which("rsyslogd") is None:
            return "rsyslogd not found: apt-get install rsyslog rsyslog-relp"
        if protocol != "tcp" and not (RSYSLOG_MODULES / "omrelp.so").exists():
            return f"no omrelp in {RSYSLOG_MODULES}: apt-get install rsyslog-relp"
        return None

    def rsyslog(self, conf: Path, pidfile: Path) -> tuple[list[str], dict[str, str]]:
        """
        The command line (and environment) of one rsyslogd in the foreground.
        """
        return ["rsyslogd", "-n", "-f", str(conf), "-i", str(pidfile)], dict(os.environ)

    def syslog_ng_binary(self) -> Path | None:
        """
        The syslog-ng program to run, or None if there is none.
        """
        if self.syslog_ng_root is not None:
            binary = self.syslog_ng_root / "usr" / "sbin" / "syslog-ng"
            return binary if binary.exists() else None
        found = shutil.which("syslog-ng")
        return Path(found) if found else None

    def syslog_ng_missing(self) -> str | None:
        """
        Why the syslog-ng contenders cannot run, or None.
        """
        if self.syslog_ng_binary() is not None:
            return None
        if self.syslog_ng_root is not None:
            return f"no usr/sbin/syslog-ng under {self.syslog_ng_root} (see --help: unpack syslog-ng-core)"
        return ("syslog-ng not found: apt-get install syslog-ng-core, or, beside rsyslog,"
                " unpack it and give --syslog-ng-root (see --help)")

    def syslog_ng(self, conf: Path, work: Path, role: str) -> tuple[list[str], dict[str, str]]:
        """
        The command line (and environment) of one syslog-ng in the
        foreground, with its pid, persist and control files in C{work}.
        """
        binary = self.syslog_ng_binary()
        assert binary is not None
        env = dict(os.environ)
        extra = []
        if self.syslog_ng_root is not None:
            libraries = self.syslog_ng_root / "usr" / "lib" / "syslog-ng"
            env["LD_LIBRARY_PATH"] = str(libraries)
            modules = sorted(p for p in libraries.iterdir() if p.is_dir() and p.name[:1].isdigit())
            if modules:
                extra = [f"--module-path={modules[-1]}"]
        return [str(binary), *extra, "--no-caps", "--foreground", "-f", str(conf),
                "-p", str(work / f"{role}.pid"), "-R", str(work / f"{role}.persist"),
                "-c", str(work / f"{role}.ctl")], env


# --- one peer run -------------------------------------------------------------


def free_port() -> int:
    """
    A TCP port on 127.0.0.1 that nothing listens on now.
    """
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def listens(port: int) -> bool:
    """
    Whether some socket listens on C{port} on 127.0.0.1 (read from
    C{/proc/net/tcp}, so that checking opens no connection).
    """
    wanted = f"0100007F:{port:04X}"
    with open("/proc/net/tcp") as table:
        next(table)
        return any(
            fields[1] == wanted and fields[3] == "0A"
            for fields in (line.split() for line in table)
        )


def stop(process: subprocess.Popen[bytes]) -> None:
    """
    Stop one daemon by its pid: SIGTERM, SIGKILL after 15 s.
    """
    if process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(15)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


class LineCounter:
    """
    Counts the complete lines of a file that is being written, reading only
    what was added since the last look.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self.lines = 0
        self._file: Any = None

    def update(self) -> int:
        """
        Read what was added; return the line count so far.
        """
        if self._file is None:
            if not self.path.exists():
                return 0
            self._file = open(self.path, "rb")
        while chunk := self._file.read(1 << 22):
            self.lines += chunk.count(b"\n")
        return self.lines

    def close(self) -> None:
        """
        Close the file, if it was opened.
        """
        if self._file is not None:
            self._file.close()


def compare(input_path: Path, output: Path) -> dict[str, Any]:
    """
    The output of a run against its input: lost, duplicated and foreign
    lines (as multisets), and whether it is the input byte for byte.
    """
    data = input_path.read_bytes()
    got = output.read_bytes() if output.exists() else b""
    if got == data:
        return {"lost": 0, "dup": 0, "foreign": 0, "order": "exact"}
    wanted = Counter(data.splitlines(keepends=True))
    have = Counter(got.splitlines(keepends=True))
    extra = have - wanted
    result: dict[str, Any] = {
        "lost": sum((wanted - have).values()),
        "dup": sum(n for line, n in extra.items() if line in wanted),
        "foreign": sum(n for line, n in extra.items() if line not in wanted),
    }
    result["order"] = "reordered" if not any(result.values()) else "differs"
    return result


#: Writes a peer's configuration files into its work directory and returns
#: the receiver's command line and environment, then the sender's.
Configure = Callable[
    [Programs, Path, Path, Path, int], tuple[list[str], dict[str, str], list[str], dict[str, str]]
]


@dataclass
class Peer:
    """
    One peer contender: how to configure and start its sender and receiver.

    @ivar missing: why its programs cannot run here, or None.
    @ivar configure: arguments: the programs, the work directory, the input
        file, the output file, the receiver's port.
    """

    name: str
    what: str
    missing: Callable[[Programs], str | None]
    configure: Configure


def rsyslog_peer(name: str, what: str, protocol: str) -> Peer:
    """
    An rsyslog contender over C{protocol} (see L{rsyslog_sender}).
    """

    def configure(
        programs: Programs, work: Path, input_path: Path, output: Path, port: int
    ) -> tuple[list[str], dict[str, str], list[str], dict[str, str]]:
        (work / "sender.conf").write_text(rsyslog_sender(work, input_path, port, protocol))
        (work / "receiver.conf").write_text(rsyslog_receiver(work, output, port, protocol))
        receiver = programs.rsyslog(work / "receiver.conf", work / "receiver.pid")
        sender = programs.rsyslog(work / "sender.conf", work / "sender.pid")
        return (*receiver, *sender)

    return Peer(name, what, lambda programs: programs.rsyslog_missing(protocol), configure)


def syslog_ng_peer(name: str, what: str, disk: bool) -> Peer:
    """
    A syslog-ng contender, with a reliable disk buffer if C{disk}.
    """

    def configure(
        programs: Programs, work: Path, input_path: Path, output: Path, port: int
    ) -> tuple[list[str], dict[str, str], list[str], dict[str, str]]:
        (work / "sender.conf").write_text(syslog_ng_sender(work, input_path, port, disk))
        (work / "receiver.conf").write_text(syslog_ng_receiver(work, output, port))
        receiver = programs.syslog_ng(work / "receiver.conf", work, "receiver")
        sender = programs.syslog_ng(work / "sender.conf", work, "sender")
        return (*receiver, *sender)

    return Peer(name, what, lambda programs: programs.syslog_ng_missing(), configure)


PEERS = {
    peer.name: peer
    for peer in [
        rsyslog_peer("rsyslog-relp", "rsyslog imfile -> RELP (window 4096) -> omfile", "relp"),
        rsyslog_peer("rsyslog-relp-disk", "as rsyslog-relp, sending action behind a disk queue",
                     "relp-disk"),
        rsyslog_peer("rsyslog-tcp", "rsyslog imfile -> plain TCP (no acks) -> omfile", "tcp"),
        syslog_ng_peer("syslog-ng", "syslog-ng file() -> TCP, flow-control -> file()", False),
        syslog_ng_peer("syslog-ng-disk", "as syslog-ng, with disk-buffer(reliable(yes))", True),
    ]
}
CONTENDERS = [*PEERS, "logship"]


def run_peer(
    peer: Peer, programs: Programs, workdir: Path, input_path: Path, count: int,
    stall: float, timeout: float,
) -> dict[str, Any]:
    """
    One run of a peer: receiver, then sender, until the receiver's file
    holds C{count} lines (or nothing moved for C{stall} seconds); figures
    taken then; both stopped after one more second; output compared.
    """
    work = workdir / peer.name
    shutil.rmtree(work, ignore_errors=True)
    for sub in ("sender-state", "receiver-state"):
        (work / sub).mkdir(parents=True)
    output = work / "out.log"
    port = free_port()
    receiver_cmd, receiver_env, sender_cmd, sender_env = peer.configure(
        programs, work, input_path, output, port)
    processes: list[subprocess.Popen[bytes]] = []
    counter = LineCounter(output)

    def start(cmd: list[str], env: dict[str, str], role: str) -> subprocess.Popen[bytes]:
        with open(work / f"{role}.out", "wb") as out:
            process = subprocess.Popen(cmd, env=env, stdout=out, stderr=subprocess.STDOUT,
                                       start_new_session=True)
        processes.append(process)
        return process

    def check_running() -> None:
        for process, role in zip(processes, ("receiver", "sender")):
            if process.poll() is not None:
                raise RuntimeError(f"{peer.name}: the {role} exited ({process.returncode});"
                                   f" see {work / (role + '.out')}")

    try:
        receiver = start(receiver_cmd, receiver_env, "receiver")
        deadline = time.monotonic() + 15
        while not listens(port):
            check_running()
            if time.monotonic() > deadline:
                raise RuntimeError(f"{peer.name}: the receiver does not listen on {port}")
            time.sleep(0.01)
        load_before = load()
        started = time.monotonic()
        sender = start(sender_cmd, sender_env, "sender")
        moved = started  # when the output last grew
        seen = 0
        stalled = False
        while seen < count:
            time.sleep(0.01)
            check_running()
            now = time.monotonic()
            if counter.update() != seen:
                seen, moved = counter.lines, now
            elif now - moved > stall or now - started > timeout:
                stalled = True
                break
        elapsed = moved - started
        cpu = {"sender": cpu_seconds(sender.pid), "receiver": cpu_seconds(receiver.pid)}
        rss = {"sender": peak_rss_mib(sender.pid), "receiver": peak_rss_mib(receiver.pid)}
        settle = time.monotonic() + 1.0  # late or extra lines
        while time.monotonic() < settle:
            time.sleep(0.05)
        delivered = min(seen, count)
    finally:
        for process in reversed(processes):
            stop(process)
        counter.close()
    result = {
        "name": peer.name,
        "what": peer.what,
        "lines": count,
        "seconds": elapsed,
        "lines_per_s": delivered / elapsed,
        "cpu_sender": cpu["sender"],
        "cpu_receivers": cpu["receiver"],
        "cpu_us_per_line": 1e6 * sum(cpu.values()) / count,
        "rss_sender": rss["sender"],
        "rss_receiver": rss["receiver"],
        "stalled": stalled,
        "load": f"{load_before} -> {load()}",
        **compare(input_path, output),
    }
    output.unlink(missing_ok=True)
    return result


# --- logship ------------------------------------------------------------------


def buck_holdings(cluster: Cluster) -> dict[str, Any]:
    """
    What the bucks hold, by event identity: distinct events, events some
    buck holds twice, events on fewer than 2 bucks.
    """
    copies: Counter[tuple[bytes, bytes, int, int]] = Counter()
    duplicates = 0
    for buck in cluster.bucks:
        held: set[tuple[bytes, bytes, int, int]] = set()
        for _, path in list_buckets(buck.workdir / "data" / "buckets"):
            with open(path, "rb") as f:
                try:
                    for _, data in iter_records(f):
                        identity = decode(data).identity
                        if identity in held:
                            duplicates += 1
                        held.add(identity)
                except TornRecord:
                    pass  # a buck still writing; what is whole counts
        copies.update(held)
    return {
        "distinct_events": len(copies),
        "buck_duplicates": duplicates,
        "under_2_copies": sum(1 for n in copies.values() if n < 2),
    }


def run_logship(
    workdir: Path, input_path: Path, count: int, durability: str, timeout: float
) -> dict[str, Any]:
    """
    One run of logship (tailer and 3 bucks, C{bench/delivery.py}), with
    what the bucks hold counted before they stop.
    """
    load_before = load()
    run = run_durability(workdir, durability, input_path, count, timeout, None,
                         inspect=buck_holdings)
    cpu, rss = run["cpu"], run["rss_mib"]
    return {
        "name": f"logship-{durability}",
        "what": f"logship tailer -> 3 bucks, {durability} (R = 2)",
        "lines": count,
        "seconds": run["seconds"],
        "lines_per_s": run["lines_per_s"],
        "cpu_sender": cpu["tailer"],
        "cpu_receivers": sum(v for k, v in cpu.items() if k != "tailer"),
        "cpu_us_per_line": run["cpu_us_per_line"],
        "rss_sender": rss["tailer"],
        "rss_receiver": max(v for k, v in rss.items() if k != "tailer"),
        "stalled": False,
        "load": f"{load_before} -> {load()}",
        "lost": max(count - run["distinct_events"], 0),
        "dup": run["buck_duplicates"],
        "foreign": max(run["distinct_events"] - count, 0),
        "order": f"{run['under_2_copies']} events on < 2 bucks",
    }


# --- the table ------------------------------------------------------------------


def row(result: dict[str, Any]) -> str:
    """
    One Markdown table row of a result.
    """
    stalled = " (stalled)" if result["stalled"] else ""
    return (
        f"| {result['name']} | {result['lines_per_s']:,.0f}{stalled}"
        f" | {result['cpu_sender']:.2f} / {result['cpu_receivers']:.2f}"
        f" | **{result['cpu_us_per_line']:.1f}**"
        f" | {result['rss_sender']:.0f} / {result['rss_receiver']:.0f}"
        f" | {result['lost']} / {result['dup']}"
        + (f" / {result['foreign']} foreign" if result["foreign"] else "")
        + f" | {result['order']} | {result['load']} |"
    )


HEADER = (
    "| contender | lines/s | CPU s sender / receivers | CPU µs per line | peak RSS MiB"
    " sender / receiver | lost / dup | output | load before -> after |\n"
    "| --- | ---: | ---: | ---: | ---: | ---: | --- | --- |"
)


def main(argv: list[str] | None = None) -> int:
    """
    Run the chosen contenders one after the other and print the table.

    @return: the exit status: 1 if a contender was skipped.
    """
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        epilog=__doc__[__doc__.index("This script installs nothing"):],
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--lines", type=int, default=200_000, help="lines in the input (200,000)")
    parser.add_argument("--peer", action="append", choices=CONTENDERS,
                        help="a contender to run (repeatable; default: all)")
    parser.add_argument("--durability", default="ack2",
                        choices=("live", "ack1", "ack2", "ack2+fsync"),
                        help="logship's durability (ack2)")
    parser.add_argument("--syslog-ng-root", type=Path,
                        help="an unpacked syslog-ng-core (dpkg-deb -x), instead of syslog-ng on PATH")
    parser.add_argument("--workdir", type=Path, help="where to run (default: a temporary directory)")
    parser.add_argument("--keep", action="store_true", help="keep the work directory")
    parser.add_argument("--stall", type=float, default=30,
                        help="seconds without progress after which a peer's run ends (30)")
    parser.add_argument("--timeout", type=float, default=1800, help="seconds per run at most")
    args = parser.parse_args(argv)

    programs = Programs(args.syslog_ng_root)
    chosen = args.peer or CONTENDERS
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="logship-peers-"))
    workdir.mkdir(parents=True, exist_ok=True)
    skipped = []
    results = []
    print(f"{time.strftime('%Y-%m-%d %H:%M:%S %Z')}, {os.cpu_count()} CPUs, load {load()},"
          f" workdir {workdir}", flush=True)
    try:
        input_path = workdir / f"input-{args.lines}.log"
        size = make_input(input_path, args.lines)
        print(f"input: {args.lines:,} lines, {size / 1e6:.1f} MB ({size / args.lines:.0f} B/line)",
              flush=True)
        for name in chosen:
            if name == "logship":
                result = run_logship(workdir, input_path, args.lines, args.durability, args.timeout)
            else:
                peer = PEERS[name]
                why = peer.missing(programs)
                if why is not None:
                    print(f"{name}: skipped: {why}", flush=True)
                    skipped.append(name)
                    continue
                result = run_peer(peer, programs, workdir, input_path, args.lines,
                                  args.stall, args.timeout)
            results.append(result)
            print(f"{result['name']}: {result['what']}: {result['seconds']:.2f} s", flush=True)
            print(row(result), flush=True)
    finally:
        if not args.keep and args.workdir is None:
            shutil.rmtree(workdir, ignore_errors=True)
    print()
    print(HEADER)
    for result in results:
        print(row(result))
    if skipped:
        print(f"\nskipped (programs missing): {', '.join(skipped)}")
    return 1 if skipped else 0


if __name__ == "__main__":
    sys.exit(main())
