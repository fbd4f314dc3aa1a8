"""One chaos run from seed to verdict, and the tables it prints.

L{run} draws the schedule and the input of a seed, starts a
L{ChaosCluster}, and goes through the phases.  A phase:

  1. takes down the two copy holders of "2 of 3 copy holders down" and
     fills the full-disk buck's disk;
  2. writes the phase's lines in parts, one of its other faults between
     two parts (rotations and clock steps at once; kills at a random or
     keyed moment, and the victim buck's wipe or tear, on a thread while
     the next part is written);
  3. keeps what is down down a moment longer, then brings everything back
     (frees the disk, restarts what was killed or taken down);
  4. waits until every tailer caught up and checks the copies
     (L{ledger.snapshot}).

At the end it waits until the run is settled (every bucket archived),
stops everything, and compares the index and the archive with what was
written (L{ledger.account}).  The verdict is L{RunResult}: a table per
fault kind and per input kind, the failures, and the command that replays
the seed.
"""

from __future__ import annotations

import random
import re
import shlex
import shutil
import sys
import time
import traceback
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from logship.core.event import Event
from logship.core.parse import TICKS_PER_SECOND
from logship.core.zones import local_zone
from tests.integration.chaos import schedule as S
from tests.integration.chaos.cluster import (
    ChaosCluster,
    LogWatch,
    TailerSpec,
    find_libfaketime,
    poll_until,
    rotate_log,
)
from tests.integration.chaos.inputs import ACCESS_LOG, APP_LOG, KINDS, Line, plan_inputs
from tests.integration.chaos.ledger import (
    Account,
    Identity,
    Key,
    account,
    expected,
    read_archive,
    read_index,
    snapshot,
)
from tests.integration.delivery import append_lines
from tests.integration.processes import ProcessFailed, ProcessGroup

#: Seconds a bucket lasts in a run, and its quiet period before archiving.
BUCKET_SECONDS = 2
QUIET = {True: 8.0, False: 15.0}
#: Seconds the tailers may take to catch up after a phase, and the run to settle.
CATCH_UP = {True: 60.0, False: 180.0}
SETTLE = {True: 60.0, False: 180.0}

Say = Callable[[str], None]

#: How a failure of each cause of L{ledger.Shortfall} reads.
CAUSES = {
    "downstream": "lost (seen on a buck, in a spool or in the archive; not in the index)",
    "other": "lost",
    "extra": "extra",
    "reread": "extra (no timestamp: read again after a tailer restart, at a new time)",
}


@dataclass
class Row:
    """
    One row of a table: how often, and what it cost.
    """

    injected: int = 0
    lost: int = 0
    merged: int = 0
    extra: int = 0

    def add(self, other: Row) -> None:
        self.injected += other.injected
        self.lost += other.lost
        self.merged += other.merged
        self.extra += other.extra


@dataclass
class RunResult:
    """
    What one run found.

    @ivar faults: per fault kind: times injected, lines lost (not counting
        merged identical lines), identical lines merged, extra events,
        counted over the lines written in the phases where it was injected.
    @ivar inputs: per input kind: lines written, lost, merged, extra.
    @ivar failures: what makes the run fail (real losses, extras, copies
        short, crashes, not settling), one line each.
    @ivar merged: events lost because identical lines at the same second
        were merged (occurrence identity broken): a failure too, listed apart.
    @ivar notes: what was done and skipped, for the log.
    @ivar moments: keyed kills, by whether their trigger fired in time.
    @ivar causes: the failures, counted by cause.
    @ivar account: the count of the index and the archive, once made.
    """

    seed: int
    quick: bool
    seconds: float = 0.0
    faults: dict[str, Row] = field(default_factory=lambda: {k: Row() for k in S.TABLE_ROWS})
    inputs: dict[str, Row] = field(default_factory=lambda: {k: Row() for k in KINDS})
    failures: list[str] = field(default_factory=list)
    merged: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    moments: Counter[str] = field(default_factory=Counter)
    causes: Counter[str] = field(default_factory=Counter)
    account: Account | None = None

    @property
    def ok(self) -> bool:
        """
        Every line exactly once, and nothing else went wrong.
        """
        return not self.failures and not self.merged

    @property
    def only_merged(self) -> bool:
        """
        The run failed only because identical lines were merged.
        """
        return not self.failures and bool(self.merged)

    def replay(self) -> str:
        """
        The command that runs this schedule again.
        """
        return (f"{shlex.quote(sys.executable)} bench/chaos.py --seed {self.seed}"
                + (" --quick" if self.quick else ""))


def table(rows: dict[str, Row], *, faults: bool = True) -> str:
    """
    A table of faults (kind, times injected) or of inputs (kind, lines
    written), with what they cost: lost, merged, extra.
    """
    first, count = ("fault kind", "injected") if faults else ("input kind", "lines")
    out = [f"{first:32} {count:>8} {'lost':>6} {'merged*':>8} {'extra':>6}"]
    for kind, row in rows.items():
        out.append(f"{kind:32} {row.injected:8d} {row.lost:6d} {row.merged:8d} {row.extra:6d}")
    return "\n".join(out)


def report(result: RunResult) -> str:
    """
    The per-run report: verdict, tables, failures, the replay command.
    """
    verdict = ("PASS" if result.ok else
               "FAIL (only identical lines merged: occurrence identity broken)" if result.only_merged else "FAIL")
    parts = [f"seed {result.seed}: {verdict} in {result.seconds:.0f} s",
             table(result.faults), table(result.inputs, faults=False),
             "(* merged: identical lines at the same second made one event (occurrence identity broken);"
             " lost counts the other losses)"]
    if result.moments:
        parts.append("keyed kills (mid-fsync, mid-load, mid-archive, at a log line): "
                     + ", ".join(f"{n} {what}" for what, n in sorted(result.moments.items())))
    if result.account is not None:
        a = result.account
        archived = "not compared (not settled)" if a.archived < 0 else a.archived
        parts.append(f"events written {a.written}, in the index {a.indexed},"
                     f" in the archive {archived}")
    parts += [f"failure: {f}" for f in result.failures[:30]]
    if len(result.failures) > 30:
        parts.append(f"failure: ... {len(result.failures) - 30} more")
    parts += [f"merged: {m}" for m in result.merged[:20]]
    if len(result.merged) > 20:
        parts.append(f"merged: ... {len(result.merged) - 20} more")
    if not result.ok:
        parts.append(f"replay: {result.replay()}")
    return "\n".join(parts)


class Run:
    """
    The state of one run while it goes (see the module docstring).
    """

    def __init__(self, seed: int, workdir: Path, quick: bool, say: Say) -> None:
        began = time.monotonic()
        self.say = lambda text: say(f"{time.monotonic() - began:6.1f} {text}")
        self.result = RunResult(seed, quick)
        self.faketime = find_libfaketime()
        if not self.faketime:
            self.note(f"skipped fault kind '{S.CLOCK_BACK}': libfaketime is not"
                      " installed (apt-get install faketime)")
        self.schedule = S.draw(seed, quick)
        self.quick = quick
        self.rng = random.Random(seed * 31 + 7)
        self.start = time.time()
        self.inputs = plan_inputs(seed, len(self.schedule.phases), quick, self.start)
        self.written: list[Line] = []
        self.logs = workdir / "logs"
        self.logs.mkdir(parents=True)
        specs = self._specs()
        self.followers = {path.name: spec.name for spec in specs for path, _ in spec.files}
        self.hosts = {path.name: spec.host.encode() for spec in specs for path, _ in spec.files}
        self.cluster = ChaosCluster(
            ProcessGroup(workdir), specs, bucket_seconds=BUCKET_SECONDS, quiet=QUIET[quick],
            tmpfs_buck=self.schedule.full_buck if S.FULL_DISK in self.schedule.kinds() else -1,
            faketime=self.faketime,
        )
        self.seen: dict[Key, set[Identity]] = {}
        self.stamps: dict[str, int] = {}
        self.phase_faults: list[list[str]] = []
        #: when each phase began, by the clock of the tailer of app.log
        self.windows: list[float] = []

    def fail(self, cause: str, text: str) -> None:
        self.result.failures.append(text)
        self.result.causes[cause] += 1

    def note(self, text: str) -> None:
        self.result.notes.append(text)
        self.say(text)

    def _specs(self) -> list[TailerSpec]:
        app, access = self.logs / APP_LOG, self.logs / ACCESS_LOG
        for path in (app, access):
            path.touch()
        if self.schedule.tailers == 1:
            return [TailerSpec("tailer-a", "chaos-a", [(app, "ack2"), (access, "ack2+fsync")])]
        return [TailerSpec("tailer-a", "chaos-a", [(app, "ack2")]),
                TailerSpec("tailer-b", "chaos-b", [(access, "ack2+fsync")])]

    # -- the run

    def go(self) -> RunResult:
        began = time.monotonic()
        self.say(self.schedule.describe())
        try:
            self.cluster.start()
            if self.cluster.tmpfs_error is not None:
                self.note(f"skipped fault kind '{S.FULL_DISK}': cannot mount a tmpfs for"
                          f" buck{self.schedule.full_buck}'s data ({self.cluster.tmpfs_error})")
            for number, phase in enumerate(self.schedule.phases):
                self.phase(number, phase)
            self.say("settling: every tailer ships its buckets, the porter archives them")
            left = self.cluster.wait_settled(SETTLE[self.quick])
            self.say("settled" if not left else f"not settled: {left[:3]}")
            if left:
                self.fail("not settled",
                    f"not settled in {SETTLE[self.quick]:g} s: {len(left)} left, e.g. {left[:3]}")
        except ProcessFailed as e:
            self.fail("stuck", f"stuck: {str(e).splitlines()[0]}")
            self.say(str(e))
        except Exception as e:
            self.fail("harness error", f"harness error: {e!r}")
            self.say(traceback.format_exc())
        finally:
            self.cluster.close()
        for name, status, tail in self.cluster.exits:
            self.fail("crash", f"{name} exited by itself with status {status}")
            self.say(f"{name} exited by itself with status {status}; its log:\n{tail}")
        self.judge(settled=not self.result.failures)
        self.result.seconds = time.monotonic() - began
        return self.result

    def phase(self, number: int, phase: S.Phase) -> None:
        self.say(f"phase {number}: " + "; ".join(f.describe() for f in phase.faults))
        self.windows.append(time.time() + self.cluster.clock_offset(self.followers[APP_LOG]))
        done: list[str] = []
        self.phase_faults.append(done)
        lines = self.inputs[number]
        others = [f for f in phase.faults if f.kind not in (S.TWO_DOWN, S.FULL_DISK)]
        for fault in phase.faults:
            if fault.kind == S.TWO_DOWN:
                self.cluster.kill(fault.target)
                self.cluster.kill(fault.other)
                self.say(f"  {fault.target} and {fault.other} killed")
                done.append(fault.kind)
        full = any(f.kind == S.FULL_DISK for f in phase.faults) and self.cluster.tmpfs_error is None
        if full:
            taken = self.cluster.fill_disk()
            self.say(f"  buck{self.schedule.full_buck}'s disk filled ({taken} bytes)")
            done.append(S.FULL_DISK)
        parts = [lines[len(lines) * i // (len(others) + 1) : len(lines) * (i + 1) // (len(others) + 1)]
                 for i in range(len(others) + 1)]
        self.write(parts[0])
        # A process killed by one fault comes back once the next fault is
        # done (a rotation may find the tailer down); WIPE and TORN keep
        # the victim down to the end of the phase.
        pending: list[str] = []
        with ThreadPoolExecutor(max_workers=1) as pool:
            for fault, part in zip(others, parts[1:]):
                killed = None
                if fault.kind in (S.ROTATE_RENAME, S.ROTATE_COPYTRUNCATE):
                    self.rotate(fault, done)
                    self.write(part)
                elif fault.kind == S.CLOCK_BACK and self.faketime is None:
                    self.write(part)
                elif fault.kind == S.CLOCK_BACK:
                    offset = self.cluster.step_clock_back(fault.target, fault.seconds)
                    self.say(f"  {fault.target}'s clock stepped back {fault.seconds} s"
                             f" (now {offset:+d} s)")
                    done.append(fault.kind)
                    self.write(part)
                else:
                    # kills strike while the next part is read and delivered
                    strike = pool.submit(self.strike, fault, time.time())
                    self.write(part, slices=20)
                    killed = strike.result()
                    if killed is not None:
                        done.append(fault.kind)
                self.bring_back(pending)
                pending = [] if killed is None or fault.kind in (S.WIPE, S.TORN) else [killed]
        self.bring_back(pending)
        time.sleep(phase.downtime)
        self.free_disk()
        self.cluster.check_alive()
        down = sorted(self.cluster.down)
        self.rng.shuffle(down)
        if down:
            self.say(f"  restarting {', '.join(down)}")
            self.cluster.restart(down)
        try:
            self.cluster.wait_caught_up(CATCH_UP[self.quick])
        except ProcessFailed as e:
            self.fail("stuck", f"phase {number}: {str(e).splitlines()[0]}")
            self.say(str(e))
            return
        found = snapshot([self.cluster.spool_dir(t) for t in self.cluster.tailers],
                         [self.cluster.buckets_dir(b) for b in self.cluster.bucks],
                         self.cluster.archive_dir)
        for key, ids in found.seen.items():
            self.seen.setdefault(key, set()).update(ids)
        if found.thin:
            self.fail("copies short",
                f"phase {number}: {len(found.thin)} events on too few copies, e.g."
                f" {[(k[0].decode(), k[1][:60], w) for k, w in found.thin[:3]]}")

    def bring_back(self, names: list[str]) -> None:
        """
        Start C{names} again after a short while (those still down).
        """
        names = [n for n in names if n in self.cluster.down]
        if f"buck{self.cluster.tmpfs_buck}" in names and self.cluster.filler().exists():
            # A buck does not start on a full disk ("data: No space left on
            # device"): an operator frees it first.
            self.say(f"  buck{self.cluster.tmpfs_buck}'s disk freed to start it again")
            self.free_disk()
        if names:
            time.sleep(self.rng.uniform(0.2, 1.5))
            self.say(f"  restarting {', '.join(names)}")
            self.cluster.restart(names)

    def free_disk(self) -> None:
        if self.cluster.tmpfs_buck >= 0 and self.cluster.tmpfs_error is None:
            self.cluster.free_disk()

    def write(self, lines: list[Line], slices: int = 1) -> None:
        """
        Append C{lines} to their files, in C{slices} writes 20 ms apart (a
        logger writing over time: a strike has something to hit).
        """
        for i in range(slices):
            if i:
                time.sleep(0.02)
            part = lines[len(lines) * i // slices : len(lines) * (i + 1) // slices]
            for name in (APP_LOG, ACCESS_LOG):
                mine = [line.data for line in part if line.file == name]
                if mine:
                    append_lines(self.logs / name, mine)
        self.written += lines

    def strike(self, fault: S.Fault, since: float) -> str | None:
        """
        Kill the target of C{fault} at its moment (in a thread, while the
        main one writes); for L{S.WIPE} and L{S.TORN}, once the victim
        wrote what was written since C{since}, and then wipe or tear it.

        @return: the process killed, or C{None} if none was.
        """
        target = fault.target
        if fault.kind in (S.WIPE, S.TORN):
            if target not in self.cluster.down:
                fresh = self.cluster.wait_bucket_write(target, since, fault.delay)
                self.cluster.kill(target)
                self.say(f"  {target} killed ({'after' if fresh else 'no sign of'} a write)")
            if fault.kind == S.WIPE:
                self.cluster.wipe(target)
                self.say(f"  {target}'s data wiped")
                return target
            cut = self.cluster.tear(target)
            self.say(f"  {target}: {cut or 'no bucket file to tear (all archived)'}")
            return target if cut else None
        if target in self.cluster.down:
            self.say(f"  {fault.describe()}: {target} is down already, skipped")
            return None
        hit = self.trigger(fault)
        if not self.cluster.processes[target].running:
            self.say(f"  {fault.describe()}: {target} is not running, skipped")
            return None
        self.cluster.kill(target)
        if hit is not None:
            self.result.moments["at their moment" if hit else "at the deadline"] += 1
        self.say(f"  {target} killed" + ("" if hit is None else
                                          f" ({'at' if hit else 'no sign of'} {fault.moment or 'fsync'}"
                                          f"{'' if hit else ': at the deadline'})"))
        return target

    def trigger(self, fault: S.Fault) -> bool | None:
        """
        Wait for the moment of a kill.

        @return: C{None} for a random moment; else whether the trigger fired
            before the deadline (the kill comes at the deadline if not).
        """
        kind, target = fault.kind, fault.target
        if kind in (S.KILL_TAILER, S.KILL_BUCK, S.KILL_PORTER):
            time.sleep(fault.delay)
            return None
        if kind == S.KILL_FSYNC:
            return self.cluster.wait_fsync(target, fault.delay)
        if kind == S.KILL_PORTER_LOAD:
            return self.cluster.wait_index_write(fault.delay)
        if kind == S.KILL_PORTER_ARCHIVE:
            if fault.moment == "archive object being written":
                return self.cluster.wait_archive_write(fault.delay)
            if fault.moment == "porter says archived":
                return self.cluster.wait_log("porter", r"Archived bucket \d+ as", fault.delay)
            watches = [LogWatch(self.cluster.processes[b]) for b in self.cluster.bucks
                       if b not in self.cluster.down]
            pattern = re.compile(r"Bucket \d+ archived by porter")
            return poll_until(lambda: any(w.seen(pattern) for w in watches), fault.delay)
        return self.cluster.wait_log(target, fault.moment, fault.delay)

    def rotate(self, fault: S.Fault, done: list[str]) -> None:
        name = fault.target
        dated = name in self.schedule.dateext
        stamp = self.stamps[name] = max(self.stamps.get(name, 0) + 1, int(time.time()))
        log = self.logs / name
        before = set(self.logs.glob("*.gz"))
        what = rotate_log(log, copytruncate=fault.kind == S.ROTATE_COPYTRUNCATE,
                          compress=fault.compress, dated=dated, stamp=stamp)
        done.append(fault.kind)
        if dated:
            done.append(S.ROTATE_DATEEXT)
        if set(self.logs.glob("*.gz")) - before:
            done.append(S.ROTATE_GZ)
        follower = self.followers[name]
        if follower in self.cluster.down:
            done.append(S.ROTATE_TAILER_DOWN)
        self.say(f"  rotated ({fault.kind.split(': ')[1]}): {what}"
                 f"{' (gzip)' if S.ROTATE_GZ in done[-2:] else ''}"
                 f"{f' while {follower} is down' if follower in self.cluster.down else ''}")

    # -- the verdict

    def judge(self, settled: bool) -> None:
        try:
            index = read_index(self.cluster.index_dir / "recent.sqlite")
            archive = read_archive(self.cluster.archive_dir)
        except Exception as e:  # a damaged index or archive is a finding too
            self.fail("unreadable", f"cannot read the index or the archive: {e!r}")
            return
        want = expected(self.written, self.hosts, local_zone())
        result = account(want, index, archive if settled else None, self.seen, self.phase_of)
        self.result.account = result
        for fault_kinds in self.phase_faults:
            for kind in fault_kinds:
                self.result.faults[kind].injected += 1
        for line in self.written:
            self.result.inputs[line.kind].injected += 1
        for short in result.shortfalls:
            for number in short.lines:
                line = self.written[number] if number >= 0 else None
                row = Row()
                if short.cause in ("extra", "reread"):
                    row.extra = 1
                elif short.cause == "merged":
                    row.merged = 1
                else:
                    row.lost = 1
                if line is not None:
                    self.result.inputs[line.kind].add(row)
                    for kind in set(self.phase_faults[line.phase]):
                        self.result.faults[kind].add(Row(0, row.lost, row.merged, row.extra))
                text = self.describe(short.key, line)
                if short.cause == "merged":
                    self.result.merged.append(text)
                elif settled or short.cause in ("extra", "reread"):
                    self.fail(CAUSES[short.cause], f"{CAUSES[short.cause]}: {text}")
        if not settled and result.count("downstream") + result.count("other"):
            self.fail("not settled",
                f"{result.count('downstream') + result.count('other')} events missing from the"
                " index, perhaps only late: the run did not settle (above)")
        for key, indexed, archived in result.archive_mismatch[:20]:
            self.fail("archive differs from the index",
                f"archive holds {archived} of {key[0].decode()} {key[1][:60]!r}, the index {indexed}")

    def phase_of(self, event: Event) -> int | None:
        """
        The phase during which the tailer read C{event} of a line without a
        timestamp (its point is the tailer's clock, perhaps stepped back).
        """
        second = event.point // TICKS_PER_SECOND  # the parser floors to the second
        for number in range(len(self.windows) - 1, -1, -1):
            if second >= int(self.windows[number]):
                return number
        return None

    def describe(self, key: Key, line: Line | None) -> str:
        host, message = key
        where = "never written" if line is None else f"{line.kind}, {line.file}, phase {line.phase}"
        return f"{host.decode(errors='replace')} {message[:80]!r} ({where})"


def run(seed: int, workdir: Path, *, quick: bool = False, keep: bool = False,
        say: Say = print) -> RunResult:
    """
    Run the schedule of C{seed} in C{workdir} (created; removed afterwards
    unless C{keep} or the run failed).
    """
    workdir.mkdir(parents=True, exist_ok=False)
    result = Run(seed, workdir, quick, say).go()
    if result.ok and not keep:
        shutil.rmtree(workdir, ignore_errors=True)
    return result


def totals(results: list[RunResult]) -> tuple[dict[str, Row], dict[str, Row], Counter[str]]:
    """
    The fault and input tables of several runs, summed, and their keyed
    kills by whether the trigger fired.
    """
    faults = {k: Row() for k in S.TABLE_ROWS}
    inputs = {k: Row() for k in KINDS}
    moments: Counter[str] = Counter()
    for result in results:
        for kind, row in result.faults.items():
            faults[kind].add(row)
        for kind, row in result.inputs.items():
            inputs[kind].add(row)
        moments += result.moments
    return faults, inputs, moments


