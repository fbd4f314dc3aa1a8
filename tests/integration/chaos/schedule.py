"""A seed drawn into a fault schedule: phases, each with one to three faults.

Pure: the same seed (and mode) always gives the same schedule, so a failing
run can be replayed with C{bench/chaos.py --seed N}.  The fault kinds are
dealt from a shuffled deck (reshuffled when it runs out), so a run meets
many kinds and 25 runs meet every kind many times.

Faults that destroy data on a buck's disk (L{WIPE}, L{TORN}) always hit the
same buck of a run, the I{victim}: the design keeps every event on the
tailer and two bucks until the archive has it, which survives the loss of
one buck's disk, not of two.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

KILL_TAILER = "SIGKILL tailer"
KILL_BUCK = "SIGKILL buck"
KILL_PORTER = "SIGKILL porter"
KILL_FSYNC = "SIGKILL mid-fsync"
KILL_PORTER_LOAD = "SIGKILL porter mid-load"
KILL_PORTER_ARCHIVE = "SIGKILL porter mid-archive"
KILL_AT_LOG = "SIGKILL at a log line"
TWO_DOWN = "2 of 3 copy holders down"
WIPE = "buck data wiped while down"
TORN = "torn last record"
FULL_DISK = "full disk (ENOSPC)"
ROTATE_RENAME = "rotate: rename"
ROTATE_COPYTRUNCATE = "rotate: copytruncate"
CLOCK_BACK = "tailer clock stepped back"

#: What a rotation adds to its method in the table (not drawn on their own).
ROTATE_DATEEXT = "rotate: dateext"
ROTATE_GZ = "rotate: .gz"
ROTATE_TAILER_DOWN = "rotate while tailer down"

#: The kinds a schedule draws from.
DRAWN = (KILL_TAILER, KILL_BUCK, KILL_PORTER, KILL_FSYNC, KILL_PORTER_LOAD,
         KILL_PORTER_ARCHIVE, KILL_AT_LOG, TWO_DOWN, WIPE, TORN, FULL_DISK,
         ROTATE_RENAME, ROTATE_COPYTRUNCATE, CLOCK_BACK)

#: Every row of the fault table, in order.
TABLE_ROWS = (*DRAWN[:11], ROTATE_RENAME, ROTATE_COPYTRUNCATE, ROTATE_DATEEXT, ROTATE_GZ,
              ROTATE_TAILER_DOWN, CLOCK_BACK)

#: Faults that keep a process down until the end of the phase.
DOWN_KINDS = frozenset({TWO_DOWN, WIPE, TORN})

#: The triggers of L{KILL_AT_LOG}: (process kind, what its log says).
LOG_TRIGGERS = (
    ("tailer", r"Shipped \S+ to"),
    ("buck", r"Merged bucket \d+ from"),
    ("porter", r"Archived bucket \d+ as"),
    ("buck", r"Bucket \d+ archived by"),
)

#: The moments of L{KILL_PORTER_ARCHIVE}.
ARCHIVE_MOMENTS = ("archive object being written", "porter says archived",
                   "a buck says archived")


@dataclass(frozen=True)
class Fault:
    """
    One fault of a phase.

    @ivar kind: one of L{DRAWN}.
    @ivar target: the process it hits (C{buck1}, C{tailer-a}, C{porter}),
        or the log file it rotates; for L{TWO_DOWN} the first of the two.
    @ivar other: the second process of L{TWO_DOWN}.
    @ivar delay: seconds to wait before a kill at a random moment, or the
        most to wait for a trigger.
    @ivar moment: which trigger a keyed kill waits for.
    @ivar compress: a rotation gzips the generation before the newest.
    @ivar seconds: how far a clock step goes back.
    """

    kind: str
    target: str = ""
    other: str = ""
    delay: float = 0.0
    moment: str = ""
    compress: bool = False
    seconds: int = 0

    def describe(self) -> str:
        parts = [self.kind]
        if self.target:
            parts.append(self.target + (f"+{self.other}" if self.other else ""))
        if self.moment:
            parts.append(f"at '{self.moment}'")
        if self.kind in (KILL_TAILER, KILL_BUCK, KILL_PORTER):
            parts.append(f"after {self.delay:.2f} s")
        if self.compress:
            parts.append("+gzip")
        if self.seconds:
            parts.append(f"by {self.seconds} s")
        return " ".join(parts)


@dataclass
class Phase:
    """
    One phase: its faults, and how long its downed processes stay down.
    """

    faults: list[Fault] = field(default_factory=list)
    downtime: float = 0.0


@dataclass
class Schedule:
    """
    A whole run's plan.

    @ivar seed: the seed it was drawn from.
    @ivar quick: the short mode (fewer phases and lines).
    @ivar tailers: 1 or 2.
    @ivar victim: the buck whose disk faults hit (L{WIPE}, L{TORN}).
    @ivar full_buck: the buck whose disk L{FULL_DISK} fills (on a small
        filesystem, mounted only when the schedule has that fault).
    @ivar dateext: the log files rotated with dated names.
    @ivar phases: the phases, in order.
    """

    seed: int
    quick: bool
    tailers: int
    victim: int
    full_buck: int
    dateext: frozenset[str]
    phases: list[Phase]

    def kinds(self) -> set[str]:
        return {f.kind for p in self.phases for f in p.faults}

    def describe(self) -> str:
        lines = [f"seed {self.seed} ({'quick' if self.quick else 'full'}): {self.tailers} tailer(s),"
                 f" victim buck{self.victim}, full-disk buck"
                 f" buck{self.full_buck},"
                 f" dateext for {', '.join(sorted(self.dateext)) or 'none'}"]
        for i, phase in enumerate(self.phases):
            lines.append(f"  phase {i}: " + "; ".join(f.describe() for f in phase.faults))
        return "\n".join(lines)


class _Deck:
    """
    The fault kinds in a shuffled order, dealt one by one, reshuffled when
    exhausted.
    """

    def __init__(self, rng: random.Random, kinds: tuple[str, ...]) -> None:
        self._rng = rng
        self._kinds = kinds
        self._cards: list[str] = []

    def deal(self) -> str:
        if not self._cards:
            self._cards = list(self._kinds)
            self._rng.shuffle(self._cards)
        return self._cards.pop()


def tailer_names(count: int) -> list[str]:
    return ["tailer-a", "tailer-b"][:count]


def draw(seed: int, quick: bool) -> Schedule:
    """
    The schedule of C{seed} (the same on every machine: a kind this one
    cannot do is skipped when the run comes to it, not left out here).

    @param quick: 3 phases instead of 6, shorter waits.
    """
    rng = random.Random(seed)
    tailers = rng.choice([1, 2])
    victim = rng.randrange(3)
    full_buck = rng.choice([b for b in range(3) if b != victim])
    dateext = frozenset(f for f in ("app.log", "access.log") if rng.random() < 0.5)
    deck = _Deck(rng, DRAWN)
    phases = []
    for _ in range(3 if quick else 6):
        phase = Phase(downtime=rng.uniform(0.5, 2.0 if quick else 4.0))
        for _ in range(rng.choice([2, 3] if quick else [1, 2, 3])):
            kind = deck.deal()
            fault = _fault(rng, kind, quick, tailers, victim)
            if _fits(phase, fault):
                phase.faults.append(fault)
        if not phase.faults:
            phase.faults.append(_fault(rng, KILL_PORTER, quick, tailers, victim))
        phases.append(phase)
    return Schedule(seed, quick, tailers, victim, full_buck, dateext, phases)


def _fault(rng: random.Random, kind: str, quick: bool, tailers: int, victim: int) -> Fault:
    tailer = rng.choice(tailer_names(tailers))
    buck = f"buck{rng.randrange(3)}"
    wait = 6.0 if quick else 12.0
    if kind == KILL_TAILER:
        return Fault(kind, tailer, delay=rng.uniform(0.0, 1.5))
    if kind == KILL_BUCK:
        return Fault(kind, buck, delay=rng.uniform(0.0, 1.5))
    if kind == KILL_PORTER:
        return Fault(kind, "porter", delay=rng.uniform(0.0, 2.0))
    if kind == KILL_FSYNC:
        return Fault(kind, rng.choice([tailer, buck, "porter"]), delay=wait)
    if kind == KILL_PORTER_LOAD:
        return Fault(kind, "porter", delay=wait, moment="index being written")
    if kind == KILL_PORTER_ARCHIVE:
        return Fault(kind, "porter", delay=wait, moment=rng.choice(ARCHIVE_MOMENTS))
    if kind == KILL_AT_LOG:
        role, pattern = rng.choice(LOG_TRIGGERS)
        target = {"tailer": tailer, "buck": buck, "porter": "porter"}[role]
        return Fault(kind, target, delay=wait, moment=pattern)
    if kind == TWO_DOWN:
        # a tailer and one buck, or two bucks
        first, second = rng.sample([tailer, "buck0", "buck1", "buck2"], 2)
        return Fault(kind, first, other=second)
    if kind in (WIPE, TORN):
        return Fault(kind, f"buck{victim}", delay=wait)
    if kind == FULL_DISK:
        return Fault(kind)
    if kind in (ROTATE_RENAME, ROTATE_COPYTRUNCATE):
        return Fault(kind, rng.choice(["app.log", "access.log"]), compress=rng.random() < 0.5)
    if kind == CLOCK_BACK:
        return Fault(kind, tailer, seconds=rng.randint(2, 4 if quick else 10))
    raise ValueError(f"unknown fault kind {kind!r}")


def _fits(phase: Phase, fault: Fault) -> bool:
    """
    Whether C{fault} can join C{phase}: at most two bucks down before the
    writing, one porter kill, no fault twice.
    """
    if any(f.kind == fault.kind for f in phase.faults):
        return False
    porter = {KILL_PORTER, KILL_PORTER_LOAD, KILL_PORTER_ARCHIVE}
    if fault.kind in porter and any(f.kind in porter for f in phase.faults):
        return False
    down = set()
    for f in [*phase.faults, fault]:
        if f.kind in DOWN_KINDS:
            down |= {f.target, f.other} - {""}
    return len({d for d in down if d.startswith("buck")}) <= 2
