"""SIGHUP reloads a real tailer's config file (issue 13): a file added to
it is followed, its lines reach the bucks; a bad file is refused."""

from __future__ import annotations

import re
import signal

from tests.integration.delivery import Cluster, append_lines, recent_lines
from tests.integration.processes import ProcessGroup


def test_sighup_follows_a_file_added_to_the_config(group: ProcessGroup) -> None:
    """
    A tailer whose config file names app.log; other.log is added to the
    file, a bad version first (refused, logged with its line, the tailer
    goes on), then a good one: after SIGHUP the lines of both files are on
    2 bucks each, none lost, none twice.
    """
    config = group.root / "tailer.toml"
    app = group.root / "app.log"
    other = group.root / "other.log"
    config.write_text(f'files = ["{app}"]\n')
    cluster = Cluster.start(
        group, tailer_args=["--config", str(config)], tailer_files=[], credentials=True
    )
    assert cluster.tailer is not None
    tailer = cluster.tailer
    first = recent_lines(2000)
    append_lines(app, first)
    cluster.wait_delivered(len(first))
    later = recent_lines(3000)
    append_lines(other, later[:1000])

    config.write_text(f'files = ["{app}", "{other}"]\nreplicas = "two"\n')
    tailer.signal(signal.SIGHUP)
    tailer.wait_for_log_blocking(re.compile(r"Reload refused.*tailer\.toml line 2: .*replicas"), 30)

    config.write_text(f'files = ["{app}", "{other}"]\n')
    tailer.signal(signal.SIGHUP)
    tailer.wait_for_log_blocking(re.compile(r"Reloaded .*tailer\.toml"), 30)
    tailer.wait_for_log_blocking(re.compile(r"Following \S*other\.log"), 30)
    append_lines(other, later[1000:])
    cluster.wait_delivered(len(first) + len(later))
    assert tailer.running
    cluster.check(len(first) + len(later))
