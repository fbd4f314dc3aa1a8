"""bench/compare.py in quick mode: it runs to its end and prints its tables.

The figures are not checked (tests assert no timings); the benchmark's own
counts of lost and duplicated lines are in its output for a reader.  It
installs rsyslog and unpacks syslog-ng-core when they are missing, as it
does when run by hand.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent.parent


def test_quick_run_prints_its_tables(tmp_path: Path) -> None:
    """
    C{bench/compare.py --quick} exits 0 and prints the contenders' table,
    with a row for each contender of the quick mode, and the ratios.
    """
    done = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "compare.py"), "--quick",
         "--workdir", str(tmp_path / "work")],
        capture_output=True, text=True, timeout=600,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    out = done.stdout
    assert "| contender | lines/s |" in out
    assert "| logship ÷ peer: lines/s, CPU µs/line |" in out
    for name in ("rsyslog-relp-da", "syslog-ng-disk", "rsyslog-tcp", "logship-live",
                 "logship-ack1", "logship-ack2", "logship-ack2+fsync"):
        assert f"\n| {name} |" in out
