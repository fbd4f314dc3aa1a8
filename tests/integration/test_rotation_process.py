"""Log rotation with real processes: 3 bucks and a tailer (issue 3).

The two schemes docs/design.md and C{docs/rotation.md} support, done as
logrotate does them (L{rotate}: shift C{.N} to C{.N+1}, rotate, and
gzip C{.2} as with C{compress} + C{delaycompress}; nothing is deleted):

  - rename-and-create, several times while lines stream in;
  - copytruncate, likewise (nothing is written between the copy and the
    truncation: that race is logrotate's, see C{docs/rotation.md});
  - each twice while the tailer is stopped, cleanly (SIGTERM) or not
    (SIGKILL), with unread lines in the file rotated away: it must finish
    that file (by then C{app.log.2.gz}) when it comes back.

Nothing is lost: the distinct identities are the lines written, every one
on at least 2 bucks.  Nothing is read twice: the spool holds no duplicate,
except after a SIGKILL (re-read from the last checkpoint; counted).
"""

from __future__ import annotations

import signal

import pytest

from tests.integration.delivery import Cluster, append_lines, recent_lines, rotate
from tests.integration.processes import ProcessGroup

#: Parts written during the stream; a rotation between two parts.
STREAM_PARTS = 7
STREAM_LINES = 21_000


def parts(count: int, sizes: list[int]) -> list[list[bytes]]:
    lines = recent_lines(count)
    assert sum(sizes) == count
    result, at = [], 0
    for size in sizes:
        result.append(lines[at : at + size])
        at += size
    return result


@pytest.mark.parametrize("copytruncate", [False, True], ids=["rename", "copytruncate"])
def test_rotation_during_stream(group: ProcessGroup, copytruncate: bool) -> None:
    """
    Six rotations while lines stream in: every other one once the tailer
    has read all written so far (it waits at the end of the file when the
    rotation comes), the others while it is behind (it finds its file
    again among the rotated ones, perhaps gzipped by then, and reads the
    generations after it in order).
    """
    cluster = Cluster.start(group)
    written = 0
    for i, part in enumerate(parts(STREAM_LINES, [STREAM_LINES // STREAM_PARTS] * STREAM_PARTS)):
        if i:
            if i % 2:
                cluster.wait_stats(lambda s, done=written: s["lines"] >= done,
                                   f"{written} lines read", after=0)
            rotate(cluster.log, copytruncate=copytruncate, compress=True)
        append_lines(cluster.log, part)
        written += len(part)
    cluster.wait_delivered(STREAM_LINES)
    counts = cluster.check(STREAM_LINES)
    assert counts.spool_duplicates == 0, counts
    rotated = sorted(p.name for p in cluster.log.parent.glob("app.log.*"))
    assert len(rotated) == STREAM_PARTS - 1, rotated


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGKILL], ids=["sigterm", "sigkill"])
@pytest.mark.parametrize("copytruncate", [False, True], ids=["rename", "copytruncate"])
def test_rotated_twice_while_stopped(group: ProcessGroup, copytruncate: bool, signum: int) -> None:
    """
    The tailer stopped while it reads; lines written after it stopped;
    then two rotations (the file it was reading ends as C{app.log.2.gz},
    the next generation as C{app.log.1}), a third part in the new live
    file; restarted, it finishes the file it was reading from its saved
    offset, reads C{app.log.1}, then the live file.
    """
    a, b, c, d, e = parts(20_000, [5_000, 5_000, 3_000, 4_000, 3_000])
    cluster = Cluster.start(group)
    append_lines(cluster.log, a)
    cluster.wait_stats(lambda s: s["lines"] >= len(a), "the first part read", after=0)
    append_lines(cluster.log, b)
    cluster.wait_stats(lambda s: s["lines"] > len(a), "reading the second part", after=0)
    cluster.stop_tailer(signum)
    stopped_at = cluster.checkpoint()["offset"]
    append_lines(cluster.log, c)  # unread, in the file about to be rotated
    rotate(cluster.log, copytruncate=copytruncate, compress=True)
    append_lines(cluster.log, d)
    rotate(cluster.log, copytruncate=copytruncate, compress=True)
    append_lines(cluster.log, e)  # shorter than what was read: see read_to_end
    assert cluster.log.with_name("app.log.2.gz").exists()
    # the file rotated away held unread lines (at least the third part)
    assert stopped_at < sum(len(line) + 1 for line in a + b + c)
    cluster.start_tailer()
    cluster.wait_caught_up()
    result = cluster.check_replicas(20_000)
    if signum == signal.SIGTERM:
        assert result.spool_duplicates == 0, str(result)
    print(f"stopped at offset {stopped_at}: {result}")
