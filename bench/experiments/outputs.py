"""What the simulated experiments write: a row said on one line, NAME.json and NAME.csv."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any


def say_row(row: dict[str, Any]) -> None:
    """
    Print one result row as C{key=value, ...} (floats to 4 digits).
    """
    print(", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}"
                    for k, v in row.items()), flush=True)


def write_outputs(out: Path, name: str, document: dict[str, Any], rows: list[dict[str, Any]]) -> None:
    """
    Write C{out/NAME.json} (C{document}, the rows in it) and C{out/NAME.csv}
    (the rows, a column per key of the first).
    """
    (out / f"{name}.json").write_text(json.dumps({**document, "rows": rows}, indent=1))
    with open(out / f"{name}.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
