"""Delivery with real processes: 3 bucks and a tailer on 127.0.0.1 (issue 3),
each with a credential of its own (issue 11)."""

from __future__ import annotations

import re

from tests.integration.delivery import Cluster, append_lines, recent_lines, syslog_stamp
from tests.integration.processes import ProcessGroup
from tests.integration.waiting import wait_until_blocking


def test_every_event_on_two_bucks(group: ProcessGroup) -> None:
    """
    200,000 lines appended while everything runs: every event is on at
    least 2 bucks, no buck holds one twice, the tailer's spool holds all.
    """
    cluster = Cluster.start(group, credentials=True)
    lines = recent_lines(200_000)
    for start in range(0, len(lines), 20_000):
        append_lines(cluster.log, lines[start : start + 20_000])
    cluster.wait_delivered(len(lines))
    counts = cluster.check(len(lines))
    assert counts.spool_duplicates == 0


def test_identical_lines_in_one_second_stay_two(group: ProcessGroup) -> None:
    cluster = Cluster.start(group, credentials=True, tailer_hosts=["web*"])
    line = syslog_stamp(3600) + b" web1 sshd[1]: Connection closed by 10.0.0.1"
    append_lines(cluster.log, [line, line, line])
    cluster.wait_delivered(3)
    cluster.check(3)


def test_closed_buckets_are_shipped_whole(group: ProcessGroup) -> None:
    """
    With 1-second buckets, each closed local bucket is shipped whole to a
    buck, which merges it: afterwards every event is still on at least 2
    bucks and no buck holds one twice.
    """
    cluster = Cluster.start(
        group,
        tailer_args=["--bucket-seconds", "1", "--tz", "UTC"],
        buck_args=["--bucket-seconds", "1"],
        credentials=True,
    )
    lines = recent_lines(400, rate=50)
    append_lines(cluster.log, lines)
    cluster.wait_delivered(len(lines))
    buckets = len({line[:15] for line in lines})
    assert cluster.tailer is not None
    tailer = cluster.tailer
    wait_until_blocking(
        lambda: len(re.findall(r"Shipped \S+ to", tailer.log_text())) >= buckets, 60,
        f"{buckets} buckets shipped", on_timeout=tailer.tail,
    )
    merged = sum(len(re.findall(r"Merged bucket", b.log_text())) for b in cluster.bucks)
    assert merged == buckets
    cluster.check(len(lines))
