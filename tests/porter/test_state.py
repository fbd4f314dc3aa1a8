"""Tests for L{logship.porter.state}: the porter's state database."""

from __future__ import annotations

import shutil
import sqlite3
import tempfile
from pathlib import Path

from twisted.trial.unittest import SynchronousTestCase

from logship.porter.state import HistoryJob, JobState, LoadedTail, ManifestEntry, PorterState


class PorterStateTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.tmp = Path(tempfile.mkdtemp())
        self.addCleanup(shutil.rmtree, self.tmp)

    def open(self) -> PorterState:
        state = PorterState(self.tmp / "state")
        self.addCleanup(state.close)
        return state

    def test_copies_survive_reopening(self) -> None:
        """
        Loaded and archived sizes per buck are kept across a restart;
        forgotten copies are gone.
        """
        state = self.open()
        state.set_loaded(60, "b1", 100)
        state.set_loaded(60, "b2", 50)
        state.set_loaded(60, "b1", 150)
        entry = ManifestEntry(60, "buckets/x.lsp", 3, 99, "ab" * 32, 1000.0)
        state.archived(60, entry, {"b1": 150, "b3": 10})
        state.close()
        again = self.open()
        self.assertEqual(
            again.copies(60), {"b1": (150, 150), "b2": (50, None), "b3": (0, 10)}
        )
        again.forget_copies(60, ["b1", "b3"])
        self.assertEqual(again.copies(60), {"b2": (50, None)})
        self.assertEqual(again.manifest_entry(60), entry)
        self.assertIsNone(again.manifest_entry(120))
        self.assertEqual(again.manifest_range(0, 61), [entry])
        self.assertEqual(again.manifest_range(61, 1000), [])
        self.assertEqual(again.archived_count(), 1)

    def test_tails(self) -> None:
        """
        The last record loaded is kept with the loaded offset, replaced by
        the next load's, and gone with the copy.
        """
        state = self.open()
        state.set_loaded(60, "b1", 100, LoadedTail(40, b"a" * 32))
        state.set_loaded(60, "b2", 0)
        self.assertEqual(state.tails(60), {"b1": LoadedTail(40, b"a" * 32)})
        state.set_loaded(60, "b1", 150, LoadedTail(50, b"b" * 32))
        state.close()
        again = self.open()
        self.assertEqual(again.tails(60), {"b1": LoadedTail(50, b"b" * 32)})
        self.assertEqual(again.copies(60), {"b1": (150, None), "b2": (0, None)})
        again.forget_copies(60, ["b1"])
        self.assertEqual(again.tails(60), {})

    def test_forget_absent(self) -> None:
        """
        A buck's copies of the buckets its listing does not show are
        forgotten; other bucks' copies stay.
        """
        state = self.open()
        for start in (60, 120, 180):
            state.set_loaded(start, "b1", 10)
            state.set_loaded(start, "b2", 10)
        self.assertEqual(state.forget_absent("b1", {120, 240}), [60, 180])
        self.assertEqual(state.forget_absent("b1", {120}), [])
        self.assertEqual([set(state.copies(s)) for s in (60, 120, 180)],
                         [{"b2"}, {"b1", "b2"}, {"b2"}])

    def test_state_of_an_earlier_version(self) -> None:
        """
        A state written before the tails were kept gets their columns; its
        copies have none.
        """
        (self.tmp / "state").mkdir()
        db = sqlite3.connect(self.tmp / "state" / "porter.sqlite")
        db.executescript(
            "CREATE TABLE copies (start INTEGER NOT NULL, node TEXT NOT NULL,"
            " loaded INTEGER NOT NULL DEFAULT 0, archived INTEGER, PRIMARY KEY (start, node));"
            "INSERT INTO copies VALUES (60, 'b1', 100, NULL);"
        )
        db.commit()
        db.close()
        state = self.open()
        self.assertEqual((state.copies(60), state.tails(60)), ({"b1": (100, None)}, {}))
        state.set_loaded(60, "b1", 150, LoadedTail(50, b"b" * 32))
        self.assertEqual(state.tails(60), {"b1": LoadedTail(50, b"b" * 32)})

    def test_history(self) -> None:
        state = self.open()
        job = HistoryJob("abc", 1, 2, 10.0, 20.0, "queued", 0, 0, 0, None)
        state.add_history(job)
        state.update_history("abc", state="loading", total=4)
        loaded = state.history("abc")
        assert loaded is not None
        self.assertEqual((loaded.state, loaded.total, loaded.index), ("loading", 4, "history-abc"))
        self.assertIs(loaded.state, JobState.LOADING)
        self.assertEqual(state.histories(), [loaded])
        self.assertIsNone(state.history("nope"))
        with self.assertRaises(ValueError):
            state.update_history("abc", start=5)
