"""The contenders of C{bench/compare.py}: rsyslog, syslog-ng and logship, one run each.

A library of C{bench/compare.py} (which installs the programs, makes the
input and prints the tables), not a command.  Each run ships one input
file of N lines on 127.0.0.1 only:

  - C{rsyslog-relp}: rsyslog reads the file (imfile) and sends every line
    over RELP (omrelp, C{windowSize="4096"}: librelp's default window of 128
    stalls on loopback) to a second rsyslogd (imrelp), which writes it to a
    file (omfile);
  - C{rsyslog-relp-da}: the same with the sending action behind a
    disk-assisted queue (an in-memory queue with a C{queue.filename}: it
    spills to disk when full, and is saved to disk at shutdown);
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
  - logship (L{run_logship}): a tailer following the file and 3 bucks, as
    twistd processes, at one durability level, through
    C{bench/delivery.py}.

The peers send each line as C{<133>} and the line, and their receivers write
the message back without the priority, so the output file can be compared
with the input line by line.  Each peer's daemons run in the foreground with
configuration files written here into the work directory (nothing of the
system's configuration is read), and are stopped by their process id.

Measured, per run:

  - lines/s: N over the time from the sender's start (the peers; the file is
    already complete) or the first byte appended (logship; its tailer is
    already running) until the receiver's file holds N lines (the peers) or
    the tailer says every line is acknowledged (logship; C{live}: the bucks
    received 2 copies of every line);
  - CPU seconds: utime + stime (all threads, C{/proc/PID/stat}) of every
    process of the contender at that moment (sender and receiver; for
    logship the tailer and each of the 3 bucks);
  - peak RSS (C{VmHWM}) of the sending and of the (largest) receiving process;
  - lines lost and duplicated: the peers' output against the input, as
    multisets (and whether it is the input, byte for byte, or the same lines
    in another order); for logship, the events in the bucks' bucket files,
    by identity: lost = lines without an event on any buck, duplicated =
    events a buck holds twice, and how many events are on fewer than 2
    bucks (C{live} writes nothing: its figures are the copies the bucks
    counted as received, against 2 per line).
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from delivery import Cluster, buck_total_received, cpu_seconds, load, peak_rss_mib, run_durability

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

    @param protocol: C{relp}, C{relp-da} (disk-assisted queue),
        C{relp-disk} (disk queue) or C{tcp}.
    """
    common = f'target="127.0.0.1" port="{port}" template="ship" action.resumeRetryCount="-1"'
    if protocol == "tcp":
        action = f'action(type="omfwd" protocol="tcp" {common})'
    else:
        action = f'action(type="omrelp" windowSize="4096" {common}'
        if protocol in ("relp-da", "relp-disk"):
            kind = "Disk" if protocol == "relp-disk" else "LinkedList"
            action += (f' queue.type="{kind}" queue.filename="relp-queue"'
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
            return "rsyslogd not found (bench/compare.py installs rsyslog unless --no-install)"
        if protocol != "tcp" and not (RSYSLOG_MODULES / "omrelp.so").exists():
            return f"no omrelp in {RSYSLOG_MODULES} (bench/compare.py installs rsyslog-relp)"
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
            return f"no usr/sbin/syslog-ng under {self.syslog_ng_root}"
        return ("syslog-ng not found (bench/compare.py unpacks syslog-ng-core unless"
                " --no-install)")

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
        rsyslog_peer("rsyslog-relp-da",
                     "as rsyslog-relp, sending action behind a disk-assisted queue", "relp-da"),
        rsyslog_peer("rsyslog-relp-disk", "as rsyslog-relp, sending action behind a disk queue",
                     "relp-disk"),
        rsyslog_peer("rsyslog-tcp", "rsyslog imfile -> plain TCP (no acks) -> omfile", "tcp"),
        syslog_ng_peer("syslog-ng", "syslog-ng file() -> TCP, flow-control -> file()", False),
        syslog_ng_peer("syslog-ng-disk", "as syslog-ng, with disk-buffer(reliable(yes))", True),
    ]
}


def real_clock(env: dict[str, str]) -> dict[str, str]:
    """
    C{env} without libfaketime (C{faketime '+400 days' make test} preloads
    it into every child): the peers are not ours to put on a fake clock,
    and syslog-ng aborts under it.
    """
    kept = {k: v for k, v in env.items() if not k.startswith("FAKETIME")}
    preload = [p for p in kept.pop("LD_PRELOAD", "").split(":") if p and "faketime" not in p]
    if preload:
        kept["LD_PRELOAD"] = ":".join(preload)
    return kept


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
            process = subprocess.Popen(cmd, env=real_clock(env), stdout=out,
                                       stderr=subprocess.STDOUT, start_new_session=True)
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
        "cpu": cpu,
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
    One run of logship (tailer and 3 bucks, C{bench/delivery.py}) at
    C{durability}, with what the bucks hold counted before they stop
    (C{live}: what they received, as they write nothing).
    """
    load_before = load()
    live = durability == "live"
    run = run_durability(workdir, durability, input_path, count, timeout, None,
                         inspect=live_copies if live else buck_holdings)
    rss = run["rss_mib"]
    result = {
        "name": f"logship-{durability}",
        "what": f"logship tailer -> 3 bucks, {durability} (R = 2)",
        "lines": count,
        "seconds": run["seconds"],
        "lines_per_s": run["lines_per_s"],
        "cpu": run["cpu"],
        "cpu_us_per_line": run["cpu_us_per_line"],
        "rss_sender": rss["tailer"],
        "rss_receiver": max(v for k, v in rss.items() if k != "tailer"),
        "stalled": False,
        "load": f"{load_before} -> {load()}",
    }
    if live:
        received = run["copies_received"]
        result.update(lost=max(2 * count - received, 0), dup=max(received - 2 * count, 0),
                      foreign=0, order=f"copies received: {received:,} of {2 * count:,}")
    else:
        result.update(lost=max(count - run["distinct_events"], 0), dup=run["buck_duplicates"],
                      foreign=max(run["distinct_events"] - count, 0),
                      order=f"{run['under_2_copies']:,} events on < 2 bucks")
    return result


def live_copies(cluster: Cluster) -> dict[str, Any]:
    """
    The copies the bucks received (and published) in a C{live} run.
    """
    return {"copies_received": buck_total_received(cluster)}
