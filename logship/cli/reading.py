"""Reading bucket files for the commands that show or check them (cat, verify)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

from logship.core.bucket import TornRecord, iter_records, list_buckets
from logship.core.event import CorruptEvent, Event, decode


def bucket_files(paths: Sequence[Path]) -> list[Path]:
    """
    The bucket files named by C{paths} (files, or directories searched for
    bucket files), directories' files in time order.

    @raise FileNotFoundError: a path does not exist (the message names it).
    """
    files: list[Path] = []
    for path in paths:
        if not path.exists():
            raise FileNotFoundError(f"{path}: no such file or directory")
        if path.is_dir():
            files.extend(p for _, p in list_buckets(path))
        else:
            files.append(path)
    return files


def read_bucket(path: Path, report: Callable[[str], None]) -> list[Event]:
    """
    The events of one bucket file in point order; problems (a corrupt
    record, a torn last record, a read error) go to C{report}, and the
    events that could be read are returned.
    """
    events = []
    try:
        with open(path, "rb") as f:
            for offset, data in iter_records(f):
                try:
                    events.append(decode(data))
                except CorruptEvent as e:
                    report(f"{path}: record at byte {offset}: {e}")
    except TornRecord as e:
        report(f"{path}: {e} (ignored)")
    except OSError as e:
        report(f"{path}: {e.strerror}")
    events.sort(key=lambda e: e.point)
    return events
