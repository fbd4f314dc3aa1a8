"""Tests for L{logship.porter.merge}: records, decoding, merging copies."""

from __future__ import annotations

import random

from hypothesis import given
from hypothesis import strategies as st
from twisted.trial.unittest import SynchronousTestCase

from logship.core.bucket import encode_record
from logship.core.event import decode, encode
from logship.core.event import decode_all
from logship.porter.merge import merge, split_records
from tests.buck import corrupt, make_event
from tests.strategies import events, short_messages


class SplitRecordsTests(SynchronousTestCase):
    def test_whole_and_torn(self) -> None:
        """
        Whole records are split off; a torn one at the end is left, with
        C{consumed} pointing at its start.
        """
        a, b = make_event(1), make_event(2)
        data = encode_record(a) + encode_record(b)
        self.assertEqual(split_records(data).events, [a, b])
        self.assertEqual(split_records(data).consumed, len(data))
        for cut in range(1, len(encode_record(b))):
            torn = split_records(data[:-cut])
            self.assertEqual((torn.events, torn.consumed), ([a], len(encode_record(a))))
        self.assertEqual(split_records(b"").consumed, 0)

    def test_impossible_length_stops(self) -> None:
        """
        A record length below the smallest event is damage: the split
        stops before it.
        """
        a = make_event(1)
        data = encode_record(a) + b"\x00\x03abc" + encode_record(a)
        records = split_records(data)
        self.assertEqual((records.events, records.consumed), ([a], len(encode_record(a))))


class DecodeAllTests(SynchronousTestCase):
    def test_corrupt_skipped_and_counted(self) -> None:
        good = [make_event(i) for i in range(3)]
        decoded = decode_all([good[0], corrupt(good[1]), good[2]])
        self.assertEqual(decoded.events, [decode(good[0]), decode(good[2])])
        self.assertEqual(decoded.corrupt, 1)
        self.assertIn("crc", decoded.first_error or "")


class MergeTests(SynchronousTestCase):
    def test_replicas_collapse_identical_lines_stay(self) -> None:
        """
        The same event from three copies is kept once; two identical lines
        with different points stay two; the result is sorted by point.
        """
        first, second = decode(make_event(1, 5)), decode(make_event(2, 1))
        twin = decode(make_event(1, 5))
        twin.point += 1  # the same text, the next point of the sequence
        merged = merge([[first, second], [second, first], [twin, first]])
        self.assertEqual(merged, [second, first, twin])

    @given(
        st.lists(events(short_messages()), max_size=30),
        st.integers(1, 4),
        st.randoms(use_true_random=False),
    )
    def test_any_replication(self, originals: list, copies: int, rng: random.Random) -> None:
        """
        However the events are spread over copies (each in at least one,
        in any order), the merge is the distinct events sorted by point,
        and equals the merge of a single copy holding them all.
        """
        spread: list[list] = [[] for _ in range(copies)]
        for event in originals:
            for copy in rng.sample(range(copies), rng.randint(1, copies)):
                spread[copy].append(decode(encode(event)))
        for copy in spread:
            rng.shuffle(copy)
        merged = merge(spread)
        distinct = {e.identity: e for e in originals}
        self.assertEqual(len(merged), len(distinct))
        self.assertEqual({e.identity for e in merged}, set(distinct))
        points = [e.point for e in merged]
        self.assertEqual(points, sorted(points))
        self.assertEqual(merged, merge([[e for copy in spread for e in copy]]))
