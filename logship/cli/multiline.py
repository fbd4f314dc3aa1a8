"""The multi-line options of C{logship parse} and C{logship import}, checked into rules.

C{--multiline PRESET} or C{--multiline-start REGEX} and/or
C{--multiline-continue REGEX} (with C{--multiline-negate}), and the limits
C{--multiline-max-lines}, C{--multiline-max-bytes}: the rules of a
C{[[source]]} table of the tailer (L{logship.core.multiline},
C{docs/multiline.md}), without the timeout (a file read whole has none).
"""

from __future__ import annotations

import argparse

from logship.core.multiline import (
    DEFAULT_MAX_BYTES,
    DEFAULT_MAX_LINES,
    PRESETS,
    MultilineRules,
    make_rules,
)


def add_multiline_arguments(parser: argparse.ArgumentParser) -> None:
    """
    Add the multi-line options to a command's parser.
    """
    group = parser.add_argument_group(
        "multi-line events", "join lines into one event (docs/multiline.md); off by default"
    )
    group.add_argument(
        "--multiline", choices=sorted(PRESETS), metavar="PRESET",
        help=f"a preset: {', '.join(sorted(PRESETS))}",
    )
    group.add_argument(
        "--multiline-start", metavar="REGEX", help="a line matching it begins an event"
    )
    group.add_argument(
        "--multiline-continue", metavar="REGEX",
        help="a line matching it continues the event before it",
    )
    group.add_argument(
        "--multiline-negate", action="store_true",
        help="lines NOT matching --multiline-continue continue",
    )
    group.add_argument(
        "--multiline-max-lines", type=int, default=DEFAULT_MAX_LINES, metavar="N",
        help=f"at most N lines an event (default: {DEFAULT_MAX_LINES})",
    )
    group.add_argument(
        "--multiline-max-bytes", type=int, default=DEFAULT_MAX_BYTES, metavar="N",
        help=f"at most N bytes an event (default: {DEFAULT_MAX_BYTES})",
    )


def multiline_rules(args: argparse.Namespace) -> MultilineRules | None:
    """
    The rules the options give, or C{None} if none was given.

    @raise ValueError: rules that cannot be taken (the message says why).
    """
    if args.multiline is None and args.multiline_start is None and args.multiline_continue is None:
        if args.multiline_negate:
            raise ValueError("--multiline-negate needs --multiline-continue")
        return None
    return make_rules(
        preset=args.multiline,
        start=args.multiline_start,
        continuation=args.multiline_continue,
        negate=args.multiline_negate,
        max_lines=args.multiline_max_lines,
        max_bytes=args.multiline_max_bytes,
    )
