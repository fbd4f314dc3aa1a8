"""Tests for L{logship.core.points}: unique, ordered, deterministic points."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from logship.core.points import RECENT_BASES, PointSequencer, SequencerState
from tests import strategies

SECOND = 10**8
MS = 10**5
T0 = 1_796_885_746 * SECOND


def test_same_second_twice() -> None:
    """
    Two identical lines in the same second get two different points.
    """
    seq = PointSequencer()
    assert [seq.next(T0, SECOND) for _ in range(3)] == [T0, T0 + 1, T0 + 2]


def test_new_base_starts_at_zero_and_a_recent_one_goes_on() -> None:
    """
    A new base starts its sequence at 0; a base seen among the last
    L{RECENT_BASES} goes on after the last number it got, so that time
    going back (A, B, A) never gives two events the same point.
    """
    seq = PointSequencer()
    got = [
        seq.next(T0, SECOND),
        seq.next(T0, SECOND),
        seq.next(T0 + SECOND, SECOND),
        seq.next(T0, SECOND),
        seq.next(T0, MS),
        seq.next(T0, MS),
    ]
    assert got == [T0, T0 + 1, T0 + SECOND, T0 + 2, T0, T0 + 1]


def test_recent_bases_are_bounded() -> None:
    """
    Only the last L{RECENT_BASES} bases are remembered: the state stays
    small, and a base older than that starts at 0 again.
    """
    seq = PointSequencer()
    seq.next(T0, SECOND)
    for i in range(1, RECENT_BASES + 2):
        seq.next(T0 + i * SECOND, SECOND)
    assert len(seq.state().recent) == RECENT_BASES
    assert seq.next(T0, SECOND) == T0
    restored = PointSequencer.from_state(seq.state().as_tuple())
    assert restored.state() == seq.state()


def test_overflow_clamps_and_counts() -> None:
    """
    A run longer than the resolution keeps the last point of the range and
    counts the overflows; full precision overflows at the second event.
    """
    seq = PointSequencer()
    assert [seq.next(T0, 3) for _ in range(5)] == [T0, T0 + 1, T0 + 2, T0 + 2, T0 + 2]
    assert seq.overflows == 2
    assert [seq.next(T0 + 10, 1) for _ in range(3)] == [T0 + 10] * 3
    assert seq.overflows == 4
    assert seq.next(T0 + 11, 1) == T0 + 11
    assert seq.overflows == 4


def test_parts_of_a_long_line() -> None:
    """
    One call per part: the parts of a long line get successive points.
    """
    seq = PointSequencer()
    parts = 3
    assert [seq.next(T0, SECOND) for _ in range(parts)] == [T0, T0 + 1, T0 + 2]


def test_state_round_trip() -> None:
    """
    A sequencer restored from a saved state gives the points the original
    would have given.
    """
    seq = PointSequencer()
    seq.next(T0, SECOND)
    seq.next(T0, SECOND)
    state = seq.state()
    assert state == SequencerState(T0, SECOND, 1)
    assert SequencerState.from_tuple(state.as_tuple()) == state
    restored = PointSequencer.from_state(state.as_tuple())
    assert restored.next(T0, SECOND) == seq.next(T0, SECOND) == T0 + 2
    assert PointSequencer.from_state(state).state() == state
    assert PointSequencer().state() == SequencerState()


@pytest.mark.parametrize("values", [(-2, 1, 0), (0, -1, 0), (0, 1, -1), (1, 2)])
def test_bad_state(values: tuple[int, ...]) -> None:
    """
    A saved state that is not one is refused.
    """
    with pytest.raises(ValueError):
        SequencerState.from_tuple(values)  # type: ignore[arg-type]


def test_bad_resolution() -> None:
    """
    A resolution below 1 is refused.
    """
    with pytest.raises(ValueError):
        PointSequencer().next(T0, 0)


@given(strategies.bases())
def test_points_in_range_unique_ordered(bases: list[tuple[int, int]]) -> None:
    """
    Each point lies in [point, point + resolution); within a run of one
    base, points strictly increase until the range is used up.
    """
    seq = PointSequencer()
    previous: tuple[int, int] | None = None
    last = -1
    for point, resolution in bases:
        got = seq.next(point, resolution)
        assert point <= got < point + resolution
        if previous == (point, resolution):
            assert got > last or got == point + resolution - 1
        previous = (point, resolution)
        last = got


@given(strategies.bases(), st.data())
def test_deterministic_across_restart(bases: list[tuple[int, int]], data: st.DataObject) -> None:
    """
    Stopping anywhere, saving the state and resuming from it gives the same
    points as running straight through (a re-read after a crash collapses).
    """
    straight = PointSequencer()
    expected = [straight.next(p, r) for p, r in bases]
    cut = data.draw(st.integers(0, len(bases)), label="cut")
    first = PointSequencer()
    got = [first.next(p, r) for p, r in bases[:cut]]
    saved = first.state().as_tuple()
    second = PointSequencer.from_state(saved)
    got += [second.next(p, r) for p, r in bases[cut:]]
    assert got == expected


@given(strategies.sequencer_states(), strategies.bases())
def test_state_determines_points(state: SequencerState, bases: list[tuple[int, int]]) -> None:
    """
    Two sequencers from the same state give the same points.
    """
    a = PointSequencer(state)
    b = PointSequencer.from_state(state)
    assert [a.next(p, r) for p, r in bases] == [b.next(p, r) for p, r in bases]
    assert a.state() == b.state()


@given(st.lists(st.integers(0, RECENT_BASES - 1), max_size=300))
def test_time_going_back_never_repeats_a_point(seconds: list[int]) -> None:
    """
    Lines whose seconds jump back and forth among a few values (as a file
    written by several threads does) all get different points: identical
    lines in one second stay distinct events whatever came between them.
    """
    seq = PointSequencer()
    points = [seq.next(T0 + s * SECOND, SECOND) for s in seconds]
    assert len(set(points)) == len(points)
