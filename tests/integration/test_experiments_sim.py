"""bench/experiments/replication.py and queue_order.py (issue 15, experiments
2 and 3) in quick mode: each runs to its end and writes its figures.

The figures themselves are not checked (tests assert no timings, and the
numbers are the experiments' results, docs/experiments.md).
"""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent.parent


@pytest.mark.parametrize("name", ["replication", "queue_order"])
def test_quick_run_writes_its_outputs(name: str, tmp_path: Path) -> None:
    """
    C{bench/experiments/NAME.py --quick --out DIR} exits 0 and writes
    NAME.json (with rows), NAME.csv (a header and rows) and NAME.png.
    """
    done = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "experiments" / f"{name}.py"), "--quick",
         "--out", str(tmp_path)],
        capture_output=True, text=True, timeout=300,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert json.loads((tmp_path / f"{name}.json").read_text())["rows"]
    with open(tmp_path / f"{name}.csv", newline="") as f:
        assert len(list(csv.DictReader(f))) >= 1
    assert (tmp_path / f"{name}.png").read_bytes().startswith(b"\x89PNG")
