"""A small cluster of real processes for delivery tests: 3 bucks and a tailer.

Used by C{test_delivery_process.py} and the crash, rotation and backlog
tests; the checks read every bucket file with C{python -m logship cat
--json} and compare events by identity (the C{id} it shows).

L{Cluster.check} is the strict check of a run where nothing crashed (no
buck holds an event twice).  L{Cluster.check_replicas} is the check of a
run with crashes: duplicates across a restart are allowed and counted
(docs/design.md), a buck killed mid-write may hold a torn last record, but every
event is still on at least 2 bucks and in the tailer's spool.

A tailer restarted from its checkpoint counts lines again from 0, so
L{Cluster.wait_delivered} (lines read since the start) does not fit a run
with a restart: L{Cluster.wait_caught_up} waits until the checkpoint says
the live file was read to its end and then nothing is undelivered.

C{Cluster.start(group, credentials=True)} runs the cluster with per-node
credentials (L{ClusterCredentials}: an authority, a node key and a
credential per node, a revocation list the nodes read again every 0.2 s)
instead of the lab's shared cluster key; L{Cluster.security_args} gives the
options of any node, the porter's included.
"""

from __future__ import annotations

import gzip
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from logship.core.credentials import (
    Credential,
    CredentialRole,
    issue_credential,
    write_credential,
)
from logship.core.keys import (
    KeyKind,
    public_path,
    read_public_keys,
    read_signing_key,
    write_new_key,
    write_new_signing_key,
)
from logship.core.sample import sample_lines
from tests.integration.processes import (
    LISTENING,
    ProcessFailed,
    ProcessGroup,
    TwistdProcess,
)
from tests.integration.waiting import wait_until_blocking

#: What the tailer logs every stats interval.
STATS = re.compile(
    r"(?P<lines>\d+) lines read, (?P<events>\d+) events stored,"
    r" (?P<undelivered>\d+) bytes undelivered"
)

#: The rest of the tailer's stats line (optional: the line may grow).
STATS_TAIL = re.compile(
    r"bytes undelivered, (?P<in_flight>\d+) batches in flight, bucks connected: (?P<connected>\d+)"
)

#: What a buck logs every stats interval.
BUCK_WRITTEN = re.compile(r"Buck \S+: (\d+) events written")

#: What C{logship cat} says of a bucket file ending in a torn record.
TORN = re.compile(r"torn record at byte \d+ .*\(ignored\)")

#: An event's identity as C{logship cat --json} shows it (its C{id}).
Identity = str


def _cat_command(path: Path) -> list[str]:
    return [sys.executable, "-m", "logship", "cat", "--json", str(path)]


def read_identities(
    paths: Sequence[Path], *, torn_ok: Sequence[Path] = ()
) -> list[list[Identity]]:
    """
    The identities of the events under each of C{paths}, read with one
    C{logship cat --json} per path, all at once (the reads dominate the
    tests' time, and they use one core each).

    @param torn_ok: paths whose files may end in a torn record (a buck
        killed mid-write, not written to since); any other problem C{cat}
        reports fails.
    @return: one list per path, in order (empty for a missing path).
    """
    running: list[tuple[Path, subprocess.Popen[bytes] | None]] = []
    for path in paths:
        if not path.exists():
            running.append((path, None))
            continue
        running.append((path, subprocess.Popen(
            _cat_command(path), stdout=subprocess.PIPE, stderr=subprocess.PIPE)))
    results = []
    try:
        for path, popen in running:
            if popen is None:
                results.append([])
                continue
            out, err = popen.communicate(timeout=300)
            problems = err.decode(errors="replace").splitlines()
            allowed = path in torn_ok and all(TORN.search(p) for p in problems)
            if popen.returncode != 0 and not allowed:
                raise AssertionError(
                    f"logship cat {path} exited {popen.returncode}: {problems[:5]}")
            results.append([
                o["id"]
                for o in map(json.loads, out.splitlines())
            ])
    finally:
        for _, popen in running:
            if popen is not None and popen.poll() is None:
                popen.kill()
                popen.wait()
    return results


@dataclass
class Replicas:
    """
    What L{Cluster.check_replicas} found.

    @ivar distinct: distinct identities in the tailer's spool.
    @ivar spool: events in the spool (C{spool - distinct} were stored twice).
    @ivar buck_events: events held by each buck, duplicates included.
    @ivar buck_duplicates: events each buck holds more than once
        (C{held - distinct held}).
    @ivar copies: distinct (event, buck) pairs.
    """

    distinct: int
    spool: int
    buck_events: list[int]
    buck_duplicates: list[int]
    copies: int

    @property
    def spool_duplicates(self) -> int:
        return self.spool - self.distinct

    def __str__(self) -> str:
        return (
            f"{self.distinct} distinct events; spool {self.spool} records"
            f" ({self.spool_duplicates} duplicates); bucks hold {self.buck_events}"
            f" ({self.buck_duplicates} duplicates); {self.copies} distinct copies"
        )


def recent_lines(count: int, rate: float = 2000) -> list[bytes]:
    """
    C{count} sample lines (L{sample_lines}, C{rate} a second) from an hour
    before now: the processes run on the real time, so the lines must be
    dated from it (lines at a fixed date would age, one day, past the
    tailer's C{--keep-hours} and be pruned while the test reads them).
    """
    return list(sample_lines(count, start=time.time() - 3600, rate=rate))


def syslog_stamp(seconds_ago: float) -> bytes:
    """
    An RFC 3164 timestamp (C{Nov 26 09:37:00}, local time) of
    C{seconds_ago} seconds before now.
    """
    return time.strftime("%b %e %H:%M:%S", time.localtime(time.time() - seconds_ago)).encode()


def append_lines(path: Path, lines: Sequence[bytes]) -> None:
    """
    Append C{lines} to C{path}, LF-terminated, in one write (as a logger
    opening with C{O_APPEND} would, in bigger pieces).
    """
    with open(path, "ab") as f:
        f.write(b"".join(line + b"\n" for line in lines))


def rotate(log: Path, *, copytruncate: bool = False, compress: bool = False) -> None:
    """
    Rotate C{log} as logrotate does: shift C{log.N[.gz]} to C{log.N+1[.gz]}
    (the oldest first), then rename C{log} to C{log.1} and create a new
    empty C{log} (or, with C{copytruncate}, copy C{log} to C{log.1} and
    truncate it to 0: nothing is written in between here, see the race in
    C{docs/rotation.md}), then with C{compress} (and C{delaycompress}),
    gzip C{log.2} to C{log.2.gz}.  Nothing is ever deleted.
    """
    numbered = []
    for path in log.parent.glob(log.name + ".*"):
        number = path.name[len(log.name) + 1 :].removesuffix(".gz")
        if number.isdigit():
            numbered.append((int(number), path))
    for number, path in sorted(numbered, reverse=True):
        suffix = ".gz" if path.name.endswith(".gz") else ""
        path.rename(log.with_name(f"{log.name}.{number + 1}{suffix}"))
    first = log.with_name(log.name + ".1")
    if copytruncate:
        shutil.copyfile(log, first)
        os.truncate(log, 0)
    else:
        log.rename(first)
        log.touch()
    second = log.with_name(log.name + ".2")
    if compress and second.exists():
        # as gzip(1) does: write NAME.gz, then remove NAME
        with open(second, "rb") as src, gzip.open(second.with_name(second.name + ".gz"), "wb") as dst:
            shutil.copyfileobj(src, dst)
        second.unlink()


class ClusterCredentials:
    """
    The credential files of a test cluster, under C{ROOT/credentials}: the
    authority's keys, a revocation list, and per node its key pair and
    credential (made on first use).

    @ivar authority_public: the authority's public key file (C{--authority}).
    @ivar revoked: the revocation list (C{--revoked}), empty at first.
    """

    #: Seconds between two looks at the revocation list, on every node.
    REVOCATION_INTERVAL = 0.2

    def __init__(self, root: Path) -> None:
        self.root = root / "credentials"
        self.root.mkdir()
        self._authority = self.root / "authority.key"
        write_new_signing_key(self._authority, KeyKind.AUTHORITY)
        self.authority_public = public_path(self._authority)
        self.revoked = self.root / "revoked.txt"
        self.revoked.write_text("# revoked credentials\n")
        self.issued: dict[str, Credential] = {}

    def issue(
        self, node: str, role: CredentialRole, hosts: Sequence[str] = (), *,
        expires_in: float = 86400.0,
    ) -> tuple[Path, Path]:
        """
        Make node C{node}'s key pair and credential.

        @return: C{(credential file, node key file)}.
        """
        key = self.root / f"{node}.key"
        write_new_signing_key(key, KeyKind.NODE)
        (public,) = read_public_keys(public_path(key), KeyKind.NODE)
        now = int(time.time())
        credential = issue_credential(
            read_signing_key(self._authority, KeyKind.AUTHORITY),
            node=node, role=role, key=public, hosts=hosts,
            issued=now - 60, expires=now + int(expires_in),
        )
        path = self.root / f"{node}.cred"
        write_credential(path, credential)
        self.issued[node] = credential
        return path, key

    def args(self, node: str, role: CredentialRole, hosts: Sequence[str] = ()) -> list[str]:
        """
        The options of node C{node} (its credential made on first use).
        """
        credential, key = (
            (self.root / f"{node}.cred", self.root / f"{node}.key")
            if node in self.issued
            else self.issue(node, role, hosts)
        )
        return ["--credential", str(credential), "--node-key", str(key),
                "--authority", str(self.authority_public), "--revoked", str(self.revoked),
                "--revocation-interval", str(self.REVOCATION_INTERVAL)]


@dataclass
class Cluster:
    """
    Three bucks and one tailer following C{log}, in C{group}'s directory.

    @ivar credentials: the per-node credentials, or C{None} for the lab's
        cluster key (C{key}).
    @ivar tailer_hosts: the host patterns of the tailer's credential.
    """

    group: ProcessGroup
    key: Path
    log: Path
    bucks: list[TwistdProcess] = field(default_factory=list)
    tailer: TwistdProcess | None = None
    tailer_args: list[str] = field(default_factory=list)
    buck_args: list[str] = field(default_factory=list)
    credentials: ClusterCredentials | None = None
    tailer_hosts: list[str] = field(default_factory=lambda: ["*"])
    tailer_files: list[str] | None = None

    @classmethod
    def start(
        cls, group: ProcessGroup, *, tailer_args: Sequence[str] = (),
        buck_args: Sequence[str] = (), credentials: bool = False,
        tailer_hosts: Sequence[str] = ("*",), tailer_files: Sequence[str] | None = None,
    ) -> Cluster:
        """
        Start 3 bucks and a tailer following C{app.log} in C{group}'s
        directory.

        @param tailer_args: more tailer options (they come after the
            defaults, so they override them).
        @param buck_args: more options for each buck, likewise.
        @param credentials: per-node credentials instead of the cluster key.
        @param tailer_hosts: the hosts the tailer's credential allows.
        @param tailer_files: the tailer's positional arguments (default:
            C{log}; none when a config file names the files).
        """
        key = group.root / "cluster.key"
        write_new_key(key)
        log = group.root / "app.log"
        log.touch()
        cluster = cls(
            group, key, log, tailer_args=list(tailer_args), buck_args=list(buck_args),
            credentials=ClusterCredentials(group.root) if credentials else None,
            tailer_hosts=list(tailer_hosts),
            tailer_files=None if tailer_files is None else list(tailer_files),
        )
        # The three start together (each takes a second or so to import),
        # then each is waited for.
        for i in range(3):
            cluster.bucks.append(cluster.start_buck(i, ready=False))
        for buck in cluster.bucks:
            buck.port = int(buck.wait_for_log_blocking(LISTENING)["port"])
        cluster.start_tailer()
        return cluster

    def security_args(
        self, node: str, role: CredentialRole, hosts: Sequence[str] = ()
    ) -> list[str]:
        """
        How node C{node} secures the wire: its credential options, or the
        cluster key (and its node name) in lab mode.
        """
        if self.credentials is None:
            return ["--key", str(self.key), "--node", node]
        return self.credentials.args(node, role, hosts)

    def start_buck(self, i: int, port: int | None = None, *, ready: bool = True) -> TwistdProcess:
        """
        Start buck C{i} (again: on its old port, with its old data).

        @param ready: wait until it listens (else the caller waits, with
            C{wait_for_log_blocking(LISTENING)}, and sets C{port}).
        """
        return self.group.start_twistd(
            "logship-buck",
            ["--listen", f"tcp:{port or 0}:interface=127.0.0.1", "--data", "data",
             *self.security_args(f"buck{i}", "buck"), "--stats-interval", "1",
             *self.buck_args],
            name=f"buck{i}",
            ready=LISTENING if ready else None,
        )

    def start_tailer(self) -> TwistdProcess:
        """
        Start the tailer (again: with its old state).
        """
        security = (
            ["--key", str(self.key)]
            if self.credentials is None
            else self.credentials.args("tailer", "tailer", self.tailer_hosts)
        )
        args = ["--state", "state", *security, "--stats-interval", "0.2",
                "--ack-timeout", "5", *self.tailer_args]
        for buck in self.bucks:
            args += ["--buck", f"127.0.0.1:{buck.port}"]
        files = [str(self.log)] if self.tailer_files is None else self.tailer_files
        self.tailer = self.group.start_twistd(
            "logship-tailer", [*args, *files], name="tailer",
            ready=re.compile(r"Following "),
        )
        return self.tailer

    def restart_buck(self, i: int) -> TwistdProcess:
        """
        Start buck C{i} again on its old port, with its old data, once it
        has stopped.
        """
        old = self.bucks[i]
        assert not old.running, f"buck{i} is still running"
        self.bucks[i] = self.start_buck(i, old.port)
        return self.bucks[i]

    def restart_bucks(self, indices: Sequence[int]) -> None:
        """
        Start the stopped bucks C{indices} again together, each on its old
        port with its old data, and wait until they listen.
        """
        started = {}
        for i in indices:
            assert not self.bucks[i].running, f"buck{i} is still running"
            started[i] = self.start_buck(i, self.bucks[i].port, ready=False)
        for i, buck in started.items():
            buck.port = int(buck.wait_for_log_blocking(LISTENING)["port"])
            self.bucks[i] = buck

    def stop_tailer(self, signum: int = signal.SIGTERM) -> int:
        """
        Stop the tailer: SIGTERM (a clean stop, state saved) or SIGKILL (a
        crash).

        @return: its exit status.
        """
        assert self.tailer is not None
        if signum == signal.SIGKILL:
            return self.tailer.kill()
        return self.tailer.stop()

    def all_tailer_stats(self) -> list[dict[str, int]]:
        """
        Every stats line the running tailer logged so far, oldest first
        (C{in_flight} and C{connected} are -1 if the line does not say).
        """
        assert self.tailer is not None
        result = []
        for line in self.tailer.log_text().splitlines():
            match = STATS.search(line)
            if match is None:
                continue
            stats = {k: int(v) for k, v in match.groupdict().items()}
            tail = STATS_TAIL.search(line)
            stats["in_flight"] = int(tail["in_flight"]) if tail else -1
            stats["connected"] = int(tail["connected"]) if tail else -1
            result.append(stats)
        return result

    def wait_stats(
        self, condition: Callable[[dict[str, int]], bool], what: str,
        timeout: float = 60.0, after: int | None = None,
    ) -> dict[str, int]:
        """
        Wait until the tailer logs a stats line that meets C{condition}.

        @param after: only the C{after}-th stats line and later count
            (0: every line of this run); by default only lines logged
            from now on.

        @return: that line's figures, with C{index}, its position.
        """
        if after is None:
            after = len(self.all_tailer_stats())

        def found() -> dict[str, int] | None:
            assert self.tailer is not None
            if not self.tailer.running:
                raise ProcessFailed(f"tailer exited while waiting for {what}:\n{self.tailer.tail()}")
            for index, stats in enumerate(self.all_tailer_stats()):
                if index >= after and condition(stats):
                    return {**stats, "index": index}
            return None

        return wait_until_blocking(found, timeout, what, on_timeout=lambda: str(self.tailer_stats()))

    def buck_written(self, i: int) -> int:
        """
        The events buck C{i} (as running now) says it wrote, in its last
        stats line (-1 before its first).
        """
        found = BUCK_WRITTEN.findall(self.bucks[i].log_text())
        return int(found[-1]) if found else -1

    @property
    def spool_root(self) -> Path:
        return self.group.root / "tailer" / "state" / "spool"

    def spool_bytes(self) -> int:
        """
        The size of every local bucket file of the tailer.
        """
        if not self.spool_root.exists():
            return 0
        return sum(p.stat().st_size for p in self.spool_root.rglob("*.b"))

    def checkpoint(self) -> dict[str, Any]:
        """
        The follow state the tailer last saved for C{log} (empty if none).
        """
        path = self.group.root / "tailer" / "state" / "tailer.json"
        try:
            data = json.loads(path.read_text())
        except (FileNotFoundError, json.JSONDecodeError):
            return {}
        return dict(data.get("files", {}).get(str(self.log), {}))

    def read_to_end(self) -> bool:
        """
        Whether the tailer's checkpoint says it read the live C{log} to
        its end (the file it follows is the live one, at its size).
        """
        saved = self.checkpoint()
        try:
            st = os.stat(self.log)
        except FileNotFoundError:
            return False
        return bool(saved) and saved.get("inode") == st.st_ino and saved.get("offset") == st.st_size

    def wait_caught_up(self, timeout: float = 120.0) -> dict[str, int]:
        """
        Wait until the tailer read the live C{log} to its end (whatever
        rotations and restarts came before: the follower reads the older
        generations first) and then delivered everything it stored.  Works
        across tailer restarts, unlike L{wait_delivered}.

        @return: the stats line that showed nothing undelivered.
        """
        assert self.tailer is not None
        tailer = self.tailer

        def caught_up() -> bool:
            self._check_tailer()
            return self.read_to_end()

        wait_until_blocking(caught_up, timeout, "tailer read the log to its end",
                            on_timeout=lambda: f"checkpoint {self.checkpoint()}, size"
                            f" {self.log.stat().st_size}\n{tailer.tail()}")
        # Only a stats line logged after the checkpoint was seen counts.
        after = len(self.all_tailer_stats())
        return self.wait_stats(lambda s: s["undelivered"] == 0, "nothing undelivered",
                               timeout, after=after)

    def _check_tailer(self) -> None:
        assert self.tailer is not None
        if not self.tailer.running:
            raise ProcessFailed(f"tailer exited:\n{self.tailer.tail()}")

    def check_replicas(
        self, expected: int, *, torn_ok: Sequence[int] = ()
    ) -> Replicas:
        """
        The check of a run with crashes: the tailer's spool holds
        C{expected} distinct events (replays after a tailer crash collapse
        by identity), every one of them is on at least 2 bucks, and the
        bucks hold nothing else.  Duplicates (in the spool, on a buck) are
        allowed and counted, for the test to report or bound.

        @param torn_ok: the bucks that were killed, whose files may end in
            a torn record.
        """
        buck_paths = [b.workdir / "data" / "buckets" for b in self.bucks]
        *held, spool = read_identities(
            [*buck_paths, self.spool_root],
            torn_ok=[buck_paths[i] for i in torn_ok],
        )
        distinct = set(spool)
        copies = Counter(i for events in held for i in set(events))
        result = Replicas(
            distinct=len(distinct),
            spool=len(spool),
            buck_events=[len(events) for events in held],
            buck_duplicates=[len(events) - len(set(events)) for events in held],
            copies=sum(copies.values()),
        )
        assert len(distinct) == expected, f"{expected} lines written; {result}"
        missing = [i for i in distinct if copies[i] < 2]
        assert not missing, (
            f"{len(missing)} events on fewer than 2 bucks, e.g. {missing[:3]}; {result}")
        stray = set(copies) - distinct
        assert not stray, f"bucks hold {len(stray)} events the tailer never read; {result}"
        return result

    def tailer_stats(self) -> dict[str, int]:
        """
        The tailer's last stats line (C{undelivered} is -1 before its first).
        """
        found = self.all_tailer_stats()
        return found[-1] if found else {"lines": 0, "events": 0, "undelivered": -1}

    def wait_delivered(self, lines: int, timeout: float = 120.0) -> None:
        """
        Wait until the tailer has read C{lines} lines (since it started)
        and has nothing undelivered.
        """
        self.wait_stats(
            lambda stats: stats["lines"] >= lines and stats["undelivered"] == 0,
            f"{lines} lines read and delivered",
            timeout,
            after=0,
        )

    def check(self, expected: int) -> Replicas:
        """
        The check of a run without crashes: L{check_replicas}, and no buck
        holds an event twice.
        """
        result = self.check_replicas(expected)
        assert result.buck_duplicates == [0, 0, 0], f"a buck holds duplicates; {result}"
        return result
