"""The C{--from} and C{--to} arguments of the commands that read a time range (and C{--index}).

Shared by C{search}, C{cat}, C{export} and C{reindex}: the same words,
the same help, and the same parsing (L{logship.core.query.parse_time}:
ISO 8601, epoch seconds, C{now}, C{-15m}/C{-2h}/C{-7d}).  The range is
C{[from, to)}: C{--to} is excluded.
"""

from __future__ import annotations

import argparse

from logship.core.query import parse_time

TIME_HELP = "ISO 8601 (2026-11-26T09:37:00Z, 2026-11-26), epoch seconds, now, -15m, -2h, -7d"


def add_index_arguments(sub: argparse.ArgumentParser) -> None:
    """
    Add C{--index} (a URL, required) and C{--name} (C{recent} by default)
    to C{sub}: the index a command reads or writes.
    """
    sub.add_argument("--index", required=True, metavar="URL",
                     help="sqlite:DIR or elasticsearch:http://HOST:PORT")
    sub.add_argument("--name", default="recent", help="index name (default: recent)")


def add_range_arguments(
    sub: argparse.ArgumentParser, *, from_required: bool = False, to_default: str | None = None
) -> None:
    """
    Add C{--from} (C{args.start}) and C{--to} (C{args.end}) to C{sub}.

    @param from_required: C{--from} must be given.
    @param to_default: the default of C{--to} (e.g. C{"now"}), or C{None}.
    """
    sub.add_argument("--from", dest="start", metavar="T", required=from_required,
                     help=f"first time: {TIME_HELP}")
    default = "" if to_default is None else f" (default: {to_default})"
    sub.add_argument("--to", dest="end", metavar="T", default=to_default,
                     help=f"end time, excluded{default}")


def parse_range(args: argparse.Namespace, now: float) -> tuple[int | None, int | None]:
    """
    The points of C{--from} and C{--to} (C{None} where not given).

    @param now: the time the command started, for C{now} and relative times.
    @raise ValueError: a bad time, or C{--to} not after C{--from}; the
        message names the argument.
    """
    start = _point("--from", args.start, now)
    end = _point("--to", args.end, now)
    if start is not None and end is not None and end <= start:
        raise ValueError(f"--to {args.end} is not after --from {args.start}: the range is empty")
    return start, end


def _point(option: str, text: str | None, now: float) -> int | None:
    if text is None:
        return None
    try:
        return parse_time(text, now)
    except ValueError as e:
        raise ValueError(f"{option}: {e}") from None
