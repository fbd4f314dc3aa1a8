"""Tests for L{logship.porter.state}: the porter's state database."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from twisted.trial.unittest import SynchronousTestCase

from logship.porter.state import HistoryJob, JobState, ManifestEntry, PorterState


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
