"""A buck with two data directories, one a small tmpfs that fills up
mid-stream (issue 13): that disk is taken out of service, its buckets are
refused and go to the other bucks, and nothing is lost."""

from __future__ import annotations

import os
import re
import subprocess
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.delivery import Cluster, append_lines, read_identities, recent_lines
from tests.integration.processes import ProcessGroup

#: Far less than what buck0's second disk is sent: it fills mid-stream.
TMPFS_SIZE = "256k"


@pytest.fixture
def small_disk(group: ProcessGroup) -> Iterator[Path]:
    """
    A tmpfs of L{TMPFS_SIZE} where buck0's second data directory goes
    (root only), unmounted once the processes are stopped.
    """
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    path = group.root / "buck0" / "disk2"
    path.mkdir(parents=True)
    result = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={TMPFS_SIZE}", "tmpfs", str(path)],
        capture_output=True, text=True,
    )
    if result.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs: {result.stderr.strip()}")
    try:
        yield path
    finally:
        group.kill_all()
        subprocess.run(["umount", "-l", str(path)], check=False)


def test_full_disk_mid_stream_loses_nothing(group: ProcessGroup, small_disk: Path) -> None:
    """
    Three bucks with two data directories each (1-second buckets, so
    buckets spread over both); buck0's second one is a small tmpfs that
    fills while 30,000 lines stream in: buck0 takes it out of service
    (logged), refuses its buckets, keeps writing on its first disk; in
    the end every line is on at least 2 bucks, whatever disk it is on.
    """
    cluster = Cluster.start(
        group,
        tailer_args=["--bucket-seconds", "1"],
        buck_args=["--bucket-seconds", "1", "--data", "disk2"],
        credentials=True,
    )
    buck0 = cluster.bucks[0]
    lines = recent_lines(30_000, rate=300)
    for start in range(0, len(lines), 3000):
        append_lines(cluster.log, lines[start : start + 3000])
    buck0.wait_for_log_blocking(re.compile(r"Disk \S*disk2 taken out of service"), 120)
    cluster.wait_delivered(len(lines), timeout=300)
    assert buck0.running
    assert re.search(r"No space left on device", buck0.log_text())

    paths = [[b.workdir / d / "buckets" for d in ("data", "disk2")] for b in cluster.bucks]
    *held, spool = read_identities(
        [*(p for pair in paths for p in pair), cluster.spool_root],
        torn_ok=[small_disk / "buckets"],
    )
    distinct = set(spool)
    assert len(distinct) == len(lines)
    copies = Counter(i for k in range(3) for i in set(held[2 * k]) | set(held[2 * k + 1]))
    missing = [i for i in distinct if copies[i] < 2]
    assert not missing, f"{len(missing)} events on fewer than 2 bucks"
    assert not set(copies) - distinct
    assert held[1], "buck0 wrote on its second disk before it filled"
    assert held[0], "buck0 wrote on its first disk"
