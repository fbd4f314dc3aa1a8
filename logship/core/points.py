"""Give the events of one source distinct points in their order, deterministically.

Pure code, no I/O.  A source gives times with some resolution (whole
seconds for RFC 3164 syslog, milliseconds for many Java logs ...); the parser
sets the digits the source did not give to zero and says how many ticks
(10^-8 s) one unit of the last given digit is: the C{resolution}.  The
L{PointSequencer} of one source (one file of one host) fills those digits
with a sequence number:

  - the I{base} of an event is C{(point, resolution)} as parsed;
  - events with the same base in a row get C{point + 0}, C{point + 1},
    C{point + 2} ...: two identical lines in the same second get two points,
    and the order of the lines is kept;
  - an event whose base differs from the previous event's starts at
    C{point + 0}, unless its base is one of the last L{RECENT_BASES} bases
    seen: then it goes on after the last number that base got (time going
    back, C{A, B, A}, gives the third line C{A + 1}, so it never takes the
    point of the first; only a base older than the last 16 starts at 0
    again, which keeps the state small);
  - a point never leaves C{[point, point + resolution)}: when a run of one
    base is longer than C{resolution} events, the rest of the run gets the
    last point of the range, C{point + resolution - 1}, and L{overflows}
    counts them (with C{resolution == 1}, every event after the first of a
    run of the same full-precision point is such an overflow);
  - the parts of one long line split by L{logship.core.event.split_message} are
    sequenced one call per part, so they get successive points.

The points depend only on the sequence of bases and on the state the
sequencer started from: the tailer saves L{PointSequencer.state} together
with the file offset it reached, and after a crash restores the sequencer
with L{PointSequencer.from_state}; re-reading the same lines then gives the
same points, so the replayed events land where their first copies did.
Points order events; they are not what identifies them (an event's origin
is: L{logship.core.event.Event.identity}).
"""

from __future__ import annotations

from dataclasses import dataclass


#: How many earlier bases a sequencer remembers (see L{SequencerState}).
RECENT_BASES = 16


@dataclass(frozen=True, slots=True)
class SequencerState:
    """
    What a L{PointSequencer} needs to go on exactly where it was.

    @ivar point: the parsed point (base) of the last event, or C{-1} before
        the first event.
    @ivar resolution: the resolution of the last event's base (C{0} before
        the first event).
    @ivar seq: the sequence number given to the last event (C{0} for the
        first of a run).
    @ivar recent: C{(point, resolution, seq)} of the bases seen before the
        last one, oldest first, at most L{RECENT_BASES}: the last sequence
        number each got, so that a base coming back goes on from there.
    """

    point: int = -1
    resolution: int = 0
    seq: int = 0
    recent: tuple[tuple[int, int, int], ...] = ()

    def as_tuple(self) -> tuple[int, ...]:
        """
        The state as plain integers, for a checkpoint file.

        @return: C{(point, resolution, seq)} followed by the three integers
            of each recent base.
        """
        return (self.point, self.resolution, self.seq, *(v for r in self.recent for v in r))

    @classmethod
    def from_tuple(cls, values: tuple[int, ...] | list[int]) -> SequencerState:
        """
        The state saved by L{as_tuple}.

        @param values: C{(point, resolution, seq, ...)}.
        @return: the state.
        @raise ValueError: not 3 + 3k integers in range.
        """
        numbers = [int(v) for v in values]
        if len(numbers) < 3 or len(numbers) % 3 or len(numbers) > 3 * (RECENT_BASES + 1):
            raise ValueError(f"not a sequencer state: {values!r}")
        triples = [
            (numbers[i], numbers[i + 1], numbers[i + 2]) for i in range(0, len(numbers), 3)
        ]
        for point, resolution, seq in triples:
            if point < -1 or resolution < 0 or seq < 0:
                raise ValueError(f"not a sequencer state: {values!r}")
        (point, resolution, seq), *recent = triples
        return cls(point, resolution, seq, tuple(recent))


class PointSequencer:
    """
    Give the events of one source unique points, in order (see the module
    docstring for the rule).

    @ivar overflows: how many events got a clamped point because their run
        was longer than their resolution allows, since this object was made
        (a metric; not part of the state).
    """

    __slots__ = ("_point", "_resolution", "_seq", "_recent", "overflows")

    def __init__(self, state: SequencerState | None = None) -> None:
        """
        @param state: where to start; by default, before the first event.
        """
        if state is None:
            state = SequencerState()
        self._point = state.point
        self._resolution = state.resolution
        self._seq = state.seq
        self._recent = {(p, r): q for p, r, q in state.recent}
        self.overflows = 0

    @classmethod
    def from_state(cls, state: SequencerState | tuple[int, int, int]) -> PointSequencer:
        """
        A sequencer that goes on from a saved state.

        @param state: a L{SequencerState} or its L{SequencerState.as_tuple}.
        @return: the sequencer.
        """
        if not isinstance(state, SequencerState):
            state = SequencerState.from_tuple(state)
        return cls(state)

    def state(self) -> SequencerState:
        """
        The state to save with the file offset after the last event given.

        @return: the state.
        """
        return SequencerState(
            self._point,
            self._resolution,
            self._seq,
            tuple((p, r, q) for (p, r), q in self._recent.items()),
        )

    def next(self, point: int, resolution: int) -> int:
        """
        The unique point of the next event.

        @param point: the parsed point, with the digits the source did not
            give set to zero.
        @param resolution: ticks per unit of the last digit given (C{10**8}
            for whole seconds, C{10**5} for milliseconds, C{1} for full
            precision); at least 1.
        @return: a point in C{[point, point + resolution)}.
        @raise ValueError: C{resolution < 1}.
        """
        if point == self._point and resolution == self._resolution:
            seq = self._seq + 1
            if seq >= resolution:
                self.overflows += 1
                seq = resolution - 1
        else:
            if resolution < 1:
                raise ValueError(f"resolution must be at least 1, not {resolution}")
            recent = self._recent
            if self._resolution:
                recent[(self._point, self._resolution)] = self._seq
                if len(recent) > RECENT_BASES:
                    del recent[next(iter(recent))]
            last = recent.pop((point, resolution), None)
            self._point = point
            self._resolution = resolution
            if last is None:
                seq = 0
            else:
                seq = last + 1
                if seq >= resolution:
                    self.overflows += 1
                    seq = resolution - 1
        self._seq = seq
        return point + seq
