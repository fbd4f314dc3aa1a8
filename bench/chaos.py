"""The randomized fault harness (issue 9): real processes, faults from a seed.

    .venv/bin/python bench/chaos.py                      # 1 full schedule, a random seed
    .venv/bin/python bench/chaos.py --schedules 25       # 25 in a row: seeds N, N+1, ...
    .venv/bin/python bench/chaos.py --seed 1234          # replay one schedule
    .venv/bin/python bench/chaos.py --seed 7 --quick     # a short one (what make test runs)

Each schedule starts 3 bucks, 1 or 2 tailers and the porter (sqlite index,
dir archive) as twistd processes on 127.0.0.1, writes replayed, out of
order, identical, long and non-UTF-8 lines into the followed logs while
injecting the faults its seed draws (SIGKILLs at random and keyed moments,
two copy holders down, a buck's data wiped or torn, a full disk, rotations,
the tailer's clock stepped back), and then checks that every line is
exactly once in the index and the archive, and was on enough copies until
archived.  It prints a table per run and in total, and for a failing run
its seed and the command that replays it.  The exit status is 1 if any run
lost or duplicated a line.  Run as root for the full-disk fault (a tmpfs
is mounted); it is skipped, saying so, otherwise.  docs/reliability.md
describes the harness and records its results.
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # the harness lives with the integration tests

from tests.integration.chaos.runner import report, run, table, totals  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seed", type=int, default=None,
                        help="the first schedule's seed (default: a random one)")
    parser.add_argument("--schedules", type=int, default=1, help="how many schedules, seeds in a row")
    parser.add_argument("--quick", action="store_true", help="short schedules (3 phases, fewer lines)")
    parser.add_argument("--workdir", type=Path, default=None,
                        help="where runs happen (default: a temporary directory)")
    parser.add_argument("--keep", action="store_true", help="keep the directories of passing runs too")
    parser.add_argument("--verbose", action="store_true", help="say every fault as it happens")
    args = parser.parse_args(argv)
    first = args.seed if args.seed is not None else random.randrange(1, 10**6)
    root = args.workdir or Path(tempfile.mkdtemp(prefix="logship-chaos-"))
    root.mkdir(parents=True, exist_ok=True)
    say = print if args.verbose else (lambda text: None)
    print(f"chaos: {args.schedules} schedule(s) from seed {first}"
          f" ({'quick' if args.quick else 'full'}), in {root}; load {os.getloadavg()[0]:.1f}",
          flush=True)
    began = time.monotonic()
    results = []
    for seed in range(first, first + args.schedules):
        result = run(seed, root / f"seed-{seed}", quick=args.quick, keep=args.keep, say=say)
        results.append(result)
        print(report(result), "\n", flush=True)
    faults, inputs, moments = totals(results)
    failed = [r for r in results if not r.ok]
    print(f"== {len(results)} schedule(s), seeds {first}..{first + args.schedules - 1},"
          f" in {time.monotonic() - began:.0f} s; load {os.getloadavg()[0]:.1f}")
    print(table(faults))
    print(table(inputs, faults=False))
    print("keyed kills: " + (", ".join(f"{n} {what}" for what, n in sorted(moments.items())) or "none"))
    print(f"passed {len(results) - len(failed)}, failed {len(failed)}")
    causes: Counter[str] = Counter()
    for result in failed:
        causes.update(set(result.causes) | ({"identical lines merged (occurrence identity broken)"}
                                            if result.merged else set()))
    for cause, runs in causes.most_common():
        print(f"  {runs} run(s): {cause}")
    for result in failed:
        cause = ("only identical lines merged (occurrence identity broken)" if result.only_merged
                 else result.failures[0])
        print(f"  seed {result.seed}: {cause}\n    replay: {result.replay()}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
