"""Integration test of shipping again (docs/tailer.md "Whole buckets, and
pruning"): three bucks and a tailer as real twistd processes, 1-second
buckets.  Every bucket shipped whole, then every buck loses its disk: the
tailer hears that its uploads are missing and ships every bucket again, so
that the bucks end up holding every event its spool has.
"""

from __future__ import annotations

import re
import shutil

from tests.integration.delivery import Cluster, append_lines, read_identities, recent_lines
from tests.integration.processes import ProcessGroup
from tests.integration.waiting import wait_until_blocking

SHIPPED = re.compile(r"Shipped (\S+) to ")


def shipped_since(cluster: Cluster, offset: int) -> set[str]:
    """
    The local bucket files the tailer logged as shipped after C{offset}
    characters of its log.
    """
    assert cluster.tailer is not None
    return set(SHIPPED.findall(cluster.tailer.log_text()[offset:]))


def test_wiped_bucks_get_every_bucket_again(group: ProcessGroup) -> None:
    """
    Lines delivered and their buckets shipped; then the three bucks are
    killed, their data directories deleted, and started again: the tailer
    ships every bucket again (the bucks say they do not have the uploads),
    and every event of the spool is on a buck again.
    """
    cluster = Cluster.start(
        group,
        tailer_args=["--bucket-seconds", "1", "--archive-check-interval", "1"],
        buck_args=["--bucket-seconds", "1"],
    )
    append_lines(cluster.log, recent_lines(1500, rate=500))
    cluster.wait_caught_up()
    files = sorted(cluster.spool_root.rglob("*.b"))
    assert len(files) >= 2
    wait_until_blocking(lambda: len(shipped_since(cluster, 0)) == len(files), 60,
                        f"{len(files)} buckets shipped",
                        on_timeout=lambda: str(shipped_since(cluster, 0)))
    for buck in cluster.bucks:
        buck.kill()
        shutil.rmtree(buck.workdir / "data")
    assert cluster.tailer is not None
    mark = len(cluster.tailer.log_text())
    cluster.restart_bucks(range(3))
    wait_until_blocking(lambda: len(shipped_since(cluster, mark)) == len(files), 60,
                        f"{len(files)} buckets shipped again",
                        on_timeout=lambda: cluster.tailer.tail() if cluster.tailer else "")
    assert "does not have" in cluster.tailer.log_text()[mark:]
    *held, spool = read_identities(
        [*(b.workdir / "data" / "buckets" for b in cluster.bucks), cluster.spool_root]
    )
    on_bucks = {i for events in held for i in events}
    assert len(set(spool)) == 1500
    assert set(spool) <= on_bucks, f"{len(set(spool) - on_bucks)} events on no buck"
