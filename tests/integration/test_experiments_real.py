"""Experiments 1 and 4 (docs/experiments.md) in --quick mode: they run and write their outputs.

The figures are not checked (tests assert no timings): each script must
exit 0 and leave its JSON, CSV and PNG in the directory given.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent.parent


@pytest.mark.parametrize("name", ["durability", "delivery_order"])
def test_quick_run_writes_its_outputs(name: str, tmp_path: Path) -> None:
    """
    C{bench/experiments/NAME.py --quick --out DIR} exits 0 and writes
    C{NAME.json} (readable), C{NAME.csv} and C{NAME.png}.
    """
    out = tmp_path / "out"
    run = subprocess.Popen(
        [sys.executable, str(ROOT / "bench" / "experiments" / f"{name}.py"), "--quick",
         "--out", str(out), "--workdir", str(tmp_path / "work")],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        start_new_session=True,  # its cluster goes with it if it hangs
    )
    try:
        stdout, stderr = run.communicate(timeout=300)  # a bound for a hang
    except subprocess.TimeoutExpired:
        os.killpg(run.pid, signal.SIGKILL)
        stdout, stderr = run.communicate()
    assert run.returncode == 0, stdout[-3000:] + stderr[-3000:]
    assert json.loads((out / f"{name}.json").read_text())["meta"]["quick"] is True
    assert (out / f"{name}.csv").read_text().count("\n") >= 2
    assert (out / f"{name}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
