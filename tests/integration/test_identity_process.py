"""Every written line is exactly one event, through a tailer crash.

Real processes on 127.0.0.1 (3 bucks, a tailer, the porter with a sqlite
index): a corpus log written three times into the followed file (its time
jumps back by weeks twice, every line recurs with the same text and time),
then an access log whose lines are out of order with identical health
checks in the same second; the tailer is killed with SIGKILL halfway and
started again.  The recent index holds exactly one event per written line,
by C{logship search --count} and by C{logship verify}.
"""

from __future__ import annotations

import random
import signal
import subprocess
import sys
import time

from logship.core.ingest import this_host
from tests.corpus import corpus_lines
from tests.integration.delivery import Cluster, append_lines
from tests.integration.processes import ProcessGroup
from tests.integration.test_porter_process import count, start_porter
from tests.integration.waiting import wait_until_blocking

SECONDS = "10"


def access_log(count: int, start: float, seed: int = 9) -> list[bytes]:
    """
    Lines of a proxy's access log, timed by request start: out of order by
    up to 30 s, and one in four an identical health check in the same
    second as another.
    """
    rng = random.Random(seed)
    lines = []
    for i in range(count):
        when = time.gmtime(start + i // 8 - rng.randint(0, 30))
        stamp = time.strftime("%d/%b/%Y:%H:%M:%S +0000", when).encode()
        if i % 4 == 0:
            request = b'GET /healthz HTTP/1.1" 200 2 "-" "kube-probe/1.29"'
        else:
            request = b'GET /api/items/%d HTTP/1.1" 200 %d "-" "curl/8.5"' % (i, 100 + i)
        lines.append(b'10.0.0.%d - - [%s] "%s' % (i % 3, stamp, request))
    return lines


def test_replayed_and_out_of_order_lines_through_sigkill(group: ProcessGroup) -> None:
    cluster = Cluster.start(
        group,
        tailer_args=["--bucket-seconds", SECONDS, "--archive-check-interval", "1", "--tz", "UTC"],
        buck_args=["--bucket-seconds", SECONDS],
    )
    porter = start_porter(
        cluster, quiet=1e9, extra=["--bucket-seconds", SECONDS, "--recent-days", "100000"])
    corpus = corpus_lines("Linux_2k.log")
    written = corpus * 3 + access_log(3000, time.time() - 3600)
    half = len(written) // 2
    append_lines(cluster.log, written[:half])
    cluster.wait_stats(lambda s: s["lines"] >= half // 2, "the tailer read part of the lines")
    cluster.stop_tailer(signal.SIGKILL)
    append_lines(cluster.log, written[half:])
    cluster.start_tailer()
    cluster.wait_caught_up()

    index = ["--index", f"sqlite:{group.root / 'porter' / 'index'}"]

    def indexed() -> int:
        if not porter.running:
            raise AssertionError(f"porter exited:\n{porter.tail()}")
        return count(group)

    wait_until_blocking(lambda: indexed() >= len(written), 180, f"{len(written)} documents indexed",
             on_timeout=lambda: f"{indexed()} documents\n{porter.tail()}")
    found = subprocess.run(
        [sys.executable, "-m", "logship", "search", *index, "--count"],
        capture_output=True, timeout=120,
    )
    assert found.returncode == 0, found.stderr
    assert int(found.stdout) == len(written)
    verified = subprocess.run(
        [sys.executable, "-m", "logship", "verify", "--tz", "UTC",
         "--host", this_host().decode(), str(cluster.log),
         "--against", index[1], "--slack", "86400"],
        capture_output=True, timeout=120,
    )
    assert verified.returncode == 0, verified.stdout.decode()[-2000:]
    assert verified.stdout.endswith(b": 0 missing, 0 extra\n")
