"""The chaos harness (bench/chaos.py, docs/reliability.md): two fixed short schedules.

Each schedule starts 3 bucks, the tailer(s) and the porter as twistd
processes, writes replayed, out-of-order, identical, long and non-UTF-8
lines while its seed's faults strike, and checks that every line is once in
the index and the archive and was on enough copies until archived
(L{tests.integration.chaos.runner}).  The two seeds were picked so that,
between them, every fault kind is drawn.  Any loss (identical lines
merged included), any extra event, a crash or a run that does not settle
fails the test.

The harness's own arithmetic (the schedule, the accounting, the copy
check) is tested first, without processes.
"""

from __future__ import annotations

from collections import Counter
from datetime import timezone
from pathlib import Path

import pytest

from logship.core.bucket import encode_record
from logship.core.event import Event, encode
from logship.core.ingest import LineEncoder
from logship.core.pack import pack
from tests.integration.chaos import schedule as S
from tests.integration.chaos.inputs import ACCESS_LOG, APP_LOG, CORPUS, HEADERLESS, KINDS, Line, plan_inputs
from tests.integration.chaos.ledger import account, expected, key_of, snapshot
from tests.integration.chaos.runner import report, run

#: The seeds of the two schedules run by `make test` (quick mode).
SEEDS = (13, 306)

HOSTS = {APP_LOG: b"chaos-a", ACCESS_LOG: b"chaos-a"}


@pytest.mark.parametrize("seed", SEEDS)
def test_schedule(seed: int, tmp_path: Path) -> None:
    """
    A short schedule: nothing lost, nothing extra, every copy check
    passed, the run settled (everything archived).
    """
    said: list[str] = []
    result = run(seed, tmp_path / f"seed-{seed}", quick=True, keep=True, say=said.append)
    text = report(result)
    print("\n".join(said))
    print(text)
    assert result.ok, text


def test_seeds_draw_every_kind() -> None:
    """
    Between them, the two schedules of L{test_schedule} draw every fault kind.
    """
    drawn = set().union(*(S.draw(seed, quick=True).kinds() for seed in SEEDS))
    assert drawn == set(S.DRAWN)


def test_schedule_is_the_seeds() -> None:
    """
    The same seed gives the same schedule and the same lines; disk faults
    always hit the victim; a phase never has more than 2 bucks down.
    """
    for seed in range(40):
        schedule = S.draw(seed, quick=False)
        assert schedule == S.draw(seed, quick=False)
        for phase in schedule.phases:
            down = {n for f in phase.faults if f.kind in S.DOWN_KINDS for n in (f.target, f.other)}
            assert len({n for n in down if n.startswith("buck")}) <= 2
            for fault in phase.faults:
                if fault.kind in (S.WIPE, S.TORN):
                    assert fault.target == f"buck{schedule.victim}"
    assert plan_inputs(3, 6, False, 1.8e9) == plan_inputs(3, 6, False, 1.8e9)
    kinds = {line.kind for phase in plan_inputs(3, 3, True, 1.8e9) for line in phase}
    assert kinds == set(KINDS)


def _events(lines: list[Line]) -> list[Event]:
    """
    The events a tailer reading C{lines} in one go makes (one sequencer).
    """
    encoder = LineEncoder(host=b"chaos-a", tz=timezone.utc, source=1)
    return [e for at, line in enumerate(lines) for e in encoder.events(line.data, 1.8e9, at)]


def test_account_sorts_shortfalls() -> None:
    """
    Identical lines at the same second missing: merged; a distinct line
    missing: other; missing but seen on a buck: downstream; one too many
    of a line without a timestamp: reread.
    """
    same = Line(CORPUS, APP_LOG, b"Jan 15 08:00:00 web1 app[1]: same", 0)
    lines = [same, same, same,
             Line(CORPUS, APP_LOG, b"Jan 15 08:00:01 web1 app[1]: alone", 0),
             Line(CORPUS, APP_LOG, b"Jan 15 08:00:02 web1 app[1]: seen", 1),
             Line(HEADERLESS, APP_LOG, b"no time here", 1)]
    want = expected(lines, HOSTS, timezone.utc)
    events = _events(lines)
    index = [events[0], events[1], events[5], events[5]]  # 'same' twice, the headerless one twice
    seen = {key_of(events[4]): {events[4].identity}}
    result = account(want, index, None, seen)
    causes = Counter((s.key[1], s.cause, len(s.lines)) for s in result.shortfalls)
    assert causes == Counter({
        (b"same", "merged", 1): 1,
        (b"alone", "other", 1): 1,
        (b"seen", "downstream", 1): 1,
        (b"no time here", "reread", 1): 1,
    })
    assert result.real_losses == 2


def test_account_puts_extras_down_to_the_phase_that_read_them() -> None:
    """
    Extra events of a line without a timestamp go to the phase whose time
    their points fall in, when it holds more of them than it wrote.
    """
    lines = [Line(HEADERLESS, APP_LOG, b"tick", phase) for phase in (0, 0, 1, 1, 2)]
    want = expected(lines, HOSTS, timezone.utc)
    encoder = LineEncoder(host=b"chaos-a", tz=timezone.utc, source=1)
    # read at 100 s (phase 0), 200 s (phase 1: once more, after a crash), 300 s
    index = [e for when, count in ((100, 2), (200, 3), (300, 1))
             for e in (encoder.events(b"tick", when, i)[0] for i in range(count))]
    result = account(want, index, None, {}, lambda e: e.point // 10**8 // 100 - 1)
    assert [(s.cause, [lines[n].phase for n in s.lines]) for s in result.shortfalls] == [
        ("reread", [1])]


def test_account_compares_the_archive() -> None:
    """
    A settled run's archive must hold what the index holds.
    """
    lines = [Line(CORPUS, APP_LOG, b"Jan 15 08:00:0%d web1 app[1]: line %d" % (i, i), 0)
             for i in range(3)]
    events = _events(lines)
    result = account(expected(lines, HOSTS, timezone.utc), events, events[:2], {})
    assert result.shortfalls == []
    assert result.archive_mismatch == [(key_of(events[2]), 1, 0)]


def _write_bucket(path: Path, events: list[Event]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"".join(encode_record(encode(e)) for e in events))


def test_snapshot_finds_thin_copies(tmp_path: Path) -> None:
    """
    An event is safe in the archive, on 2 bucks, or in a spool and on 1
    buck; on 1 buck alone it is reported.
    """
    lines = [Line(CORPUS, APP_LOG, b"Jan 15 08:00:0%d web1 app[1]: line %d" % (i, i), 0)
             for i in range(5)]
    a, b, c, d, e = _events(lines)
    spool, archive = tmp_path / "spool", tmp_path / "archive"
    bucks = [tmp_path / f"buck{i}" for i in range(3)]
    _write_bucket(spool / "x.b", [a, b])
    _write_bucket(bucks[0] / "x.b", [a, c, d, e])
    _write_bucket(bucks[1] / "x.b", [c])
    (archive / "buckets").mkdir(parents=True)
    (archive / "buckets" / "x.lsp").write_bytes(pack([d]))
    found = snapshot([spool], bucks, archive)
    # a: spool + buck0; b: spool alone; c: 2 bucks; d: archived; e: buck0 alone
    assert sorted((k[1], where) for k, where in found.thin) == [
        (b"line 1", "spool"), (b"line 4", "buck0")]
    assert set(found.seen) == {key_of(x) for x in (a, b, c, d, e)}
