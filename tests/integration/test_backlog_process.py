"""Flow control with real processes: the tailer's disk is the buffer (issue 3).

With fewer than R (2) bucks reachable, the tailer keeps reading into its
spool and counts nothing delivered; when enough bucks come back it catches
them up, and every event ends on at least 2 bucks.
"""

from __future__ import annotations

from itertools import pairwise

import pytest

from tests.integration.delivery import Cluster, append_lines, recent_lines
from tests.integration.waiting import wait_until_blocking
from tests.integration.processes import ProcessGroup

LINES = 20_000
HALF = LINES // 2


@pytest.fixture(scope="module")
def lines() -> list[bytes]:
    return recent_lines(LINES)


def test_reads_into_spool_while_all_bucks_down(group: ProcessGroup, lines: list[bytes]) -> None:
    """
    All bucks stopped: lines read and bytes undelivered grow together,
    and every byte in the spool is undelivered.  The bucks come back on
    their ports: the backlog drains and every event is on 2 bucks, once.
    """
    cluster = Cluster.start(group)
    for buck in cluster.bucks:
        buck.stop()
    cluster.wait_stats(lambda s: s["connected"] == 0, "no buck connected")
    first_at = len(cluster.all_tailer_stats())
    append_lines(cluster.log, lines[:HALF])
    first = cluster.wait_stats(lambda s: s["lines"] >= HALF, "the first half read")
    append_lines(cluster.log, lines[HALF:])
    second = cluster.wait_stats(lambda s: s["lines"] >= LINES, "all read")
    assert 0 < first["undelivered"] < second["undelivered"], (first, second)
    assert second["undelivered"] == cluster.spool_bytes(), second
    backlog = cluster.all_tailer_stats()[first_at : second["index"] + 1]
    for before, after in pairwise(backlog):
        assert before["lines"] <= after["lines"], backlog
        assert before["undelivered"] <= after["undelivered"], backlog
        assert after["connected"] == 0, backlog
    cluster.restart_bucks([0, 1, 2])
    cluster.wait_delivered(LINES)
    counts = cluster.check(LINES)
    assert counts.spool_duplicates == 0, counts


def test_one_buck_is_not_enough(group: ProcessGroup, lines: list[bytes]) -> None:
    """
    Only 1 of 3 bucks up: it receives and acknowledges copies, but with
    R = 2 nothing counts as delivered (every spooled byte stays
    undelivered) until a second buck comes back.
    """
    lines = lines[:HALF]
    cluster = Cluster.start(group)
    cluster.bucks[1].stop()
    cluster.bucks[2].stop()
    cluster.wait_stats(lambda s: s["connected"] == 1, "one buck connected")
    append_lines(cluster.log, lines)
    cluster.wait_stats(lambda s: s["lines"] >= len(lines), "all read")
    wait_until_blocking(lambda: cluster.buck_written(0) > 0, 30, "buck0 wrote copies")
    # From now on (buck0 has acknowledged copies), five stats lines in a
    # row: not a byte counted delivered.
    after = len(cluster.all_tailer_stats())
    cluster.wait_stats(lambda s: True, "five more stats lines", after=after + 4)
    stuck = cluster.all_tailer_stats()[after:]
    spooled = cluster.spool_bytes()
    assert spooled > 0
    assert all(s["undelivered"] == spooled for s in stuck), (spooled, stuck)
    assert cluster.buck_written(0) > 0
    cluster.restart_buck(1)
    cluster.wait_delivered(len(lines))
    counts = cluster.check(len(lines))
    assert counts.spool_duplicates == 0, counts
