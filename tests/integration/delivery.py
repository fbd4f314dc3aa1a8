"""A small cluster of real processes for delivery tests: 3 bucks and a tailer.

Used by C{test_delivery_process.py}; the checks read every bucket file with
C{python -m logship cat --json} and compare events by identity
C{(host, app, point, crc)}.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from logship.keys import write_new_key
from tests.integration.processes import ProcessFailed, ProcessGroup, TwistdProcess

#: What the tailer logs every stats interval.
STATS = re.compile(
    r"(?P<lines>\d+) lines read, (?P<events>\d+) events stored,"
    r" (?P<undelivered>\d+) bytes undelivered"
)

Identity = tuple[str, str, int, int]


def identities(path: Path) -> list[Identity]:
    """
    The identities of every event in the bucket files under C{path}, read
    with C{logship cat --json} (long lines joined).
    """
    if not path.exists():
        return []
    result = subprocess.run(
        [sys.executable, "-m", "logship", "cat", "--json", str(path)],
        capture_output=True,
        check=True,
        timeout=300,
    )
    return [
        (o["host"], o["app"], o["point"], o["crc"])
        for o in map(json.loads, result.stdout.splitlines())
    ]


@dataclass
class Cluster:
    """
    Three bucks and one tailer following C{log}, in C{group}'s directory.
    """

    group: ProcessGroup
    key: Path
    log: Path
    bucks: list[TwistdProcess] = field(default_factory=list)
    tailer: TwistdProcess | None = None
    tailer_args: list[str] = field(default_factory=list)

    @classmethod
    def start(cls, group: ProcessGroup, *, tailer_args: list[str] = ()) -> Cluster:
        key = group.root / "cluster.key"
        write_new_key(key)
        log = group.root / "app.log"
        log.touch()
        cluster = cls(group, key, log, tailer_args=list(tailer_args))
        for i in range(3):
            cluster.bucks.append(cluster.start_buck(i))
        cluster.start_tailer()
        return cluster

    def start_buck(self, i: int, port: int | None = None) -> TwistdProcess:
        """
        Start buck C{i} (again: on its old port, with its old data).
        """
        return self.group.start_twistd(
            "logship-buck",
            ["--listen", f"tcp:{port or 0}:interface=127.0.0.1", "--data", "data",
             "--key", str(self.key), "--node", f"buck{i}", "--stats-interval", "1"],
            name=f"buck{i}",
        )

    def start_tailer(self) -> TwistdProcess:
        """
        Start the tailer (again: with its old state).
        """
        args = ["--state", "state", "--key", str(self.key), "--stats-interval", "0.2",
                "--ack-timeout", "5", *self.tailer_args]
        for buck in self.bucks:
            args += ["--buck", f"127.0.0.1:{buck.port}"]
        self.tailer = self.group.start_twistd(
            "logship-tailer", [*args, str(self.log)], name="tailer",
            ready=re.compile(r"Following "),
        )
        return self.tailer

    def tailer_stats(self) -> dict[str, int]:
        assert self.tailer is not None
        found = STATS.findall(self.tailer.log_text())
        if not found:
            return {"lines": 0, "events": 0, "undelivered": -1}
        lines, events, undelivered = found[-1]
        return {"lines": int(lines), "events": int(events), "undelivered": int(undelivered)}

    def wait_delivered(self, lines: int, timeout: float = 120.0) -> None:
        """
        Wait until the tailer has read C{lines} lines (since it started)
        and has nothing undelivered.
        """
        deadline = time.monotonic() + timeout
        while True:
            assert self.tailer is not None
            if not self.tailer.running:
                raise ProcessFailed(f"tailer exited:\n{self.tailer.tail()}")
            stats = self.tailer_stats()
            if stats["lines"] >= lines and stats["undelivered"] == 0:
                return
            if time.monotonic() > deadline:
                raise ProcessFailed(f"not delivered after {timeout} s: {stats}\n{self.tailer.tail()}")
            time.sleep(0.1)

    def check(self, expected: int) -> dict[str, int]:
        """
        Every event is on at least 2 bucks and in the tailer's spool; no buck
        holds one twice; there are C{expected} distinct events.

        @return: counts, for the test to report.
        """
        held = [identities(b.workdir / "data" / "buckets") for b in self.bucks]
        spool = identities(self.group.root / "tailer" / "state" / "spool")
        for name, events in zip(("buck0", "buck1", "buck2"), held):
            assert len(events) == len(set(events)), f"{name} holds duplicates"
        copies = Counter(i for events in held for i in set(events))
        distinct = set(spool)
        assert len(distinct) == expected, (len(distinct), expected)
        missing = [i for i in distinct if copies[i] < 2]
        assert not missing, f"{len(missing)} events on fewer than 2 bucks, e.g. {missing[:3]}"
        assert set(copies) <= distinct, "bucks hold events the tailer never read"
        return {"spool": len(spool), "spool_duplicates": len(spool) - len(distinct),
                "copies": sum(copies.values())}
