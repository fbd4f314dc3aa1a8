"""Tests for L{logship.tailer.checkpoint}: atomic JSON checkpoints."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path

from twisted.trial.unittest import SynchronousTestCase

from logship.tailer.checkpoint import (
    CheckpointError,
    discard_temporaries,
    load_checkpoint,
    save_checkpoint,
)
from logship.tailer.followstate import FileIdentity, FollowState


class CheckpointTests(SynchronousTestCase):
    """
    L{save_checkpoint} and L{load_checkpoint}.
    """

    def setUp(self) -> None:
        self.directory = Path(tempfile.mkdtemp())
        self.addCleanup(shutil.rmtree, self.directory)
        self.path = self.directory / "tailer.json"

    def test_absent(self) -> None:
        """
        No checkpoint yet: L{load_checkpoint} returns C{None}.
        """
        self.assertIsNone(load_checkpoint(self.path))

    def test_round_trip(self) -> None:
        """
        What was saved is loaded back; saving again replaces it.
        """
        save_checkpoint(self.path, {"a": 1, "b": [1, 2, "x"], "c": None})
        self.assertEqual(load_checkpoint(self.path), {"a": 1, "b": [1, 2, "x"], "c": None})
        save_checkpoint(self.path, {"a": 2})
        self.assertEqual(load_checkpoint(self.path), {"a": 2})
        self.assertEqual(os.listdir(self.directory), ["tailer.json"])

    def test_without_fsync(self) -> None:
        """
        C{fsync=False} still replaces the file.
        """
        save_checkpoint(self.path, {"a": 1}, fsync=False)
        self.assertEqual(load_checkpoint(self.path), {"a": 1})

    def test_follow_state(self) -> None:
        """
        Follow states of several files go through a checkpoint unchanged.
        """
        states = {
            "/var/log/a.log": FollowState(
                "/var/log/a.log", 1, 2, "ab" * 32, 1024, 5000, 6000, "/var/log/a.log.1",
                FileIdentity(1, 3, "cd" * 32, 1024), {"seq": [1, 2]},
            ),
            "/var/log/b.log": FollowState("/var/log/b.log", 0, 0, "", 0, 0),
        }
        save_checkpoint(self.path, {k: v.to_json() for k, v in states.items()})
        loaded = load_checkpoint(self.path)
        assert loaded is not None
        self.assertEqual({k: FollowState.from_json(v) for k, v in loaded.items()}, states)

    def test_leftover_temporary(self) -> None:
        """
        A temporary file left by a crashed save does not disturb loading,
        and L{discard_temporaries} removes it (and nothing else).
        """
        save_checkpoint(self.path, {"a": 1})
        leftover = self.directory / ".tailer.json.abc123.tmp"
        leftover.write_bytes(b'{"a": 2')
        other = self.directory / ".other.json.x.tmp"
        other.write_bytes(b"")
        self.assertEqual(load_checkpoint(self.path), {"a": 1})
        self.assertEqual(discard_temporaries(self.path), 1)
        self.assertFalse(leftover.exists())
        self.assertTrue(other.exists())
        self.assertEqual(load_checkpoint(self.path), {"a": 1})

    def test_failed_save_keeps_old(self) -> None:
        """
        A save that fails (data not JSON-compatible) leaves the old
        checkpoint and no temporary file.
        """
        save_checkpoint(self.path, {"a": 1})
        self.assertRaises(TypeError, save_checkpoint, self.path, {"a": object()})
        self.assertEqual(load_checkpoint(self.path), {"a": 1})
        self.assertEqual(os.listdir(self.directory), ["tailer.json"])

    def assert_corrupt(self, content: bytes, words: str) -> None:
        self.path.write_bytes(content)
        error = self.assertRaises(CheckpointError, load_checkpoint, self.path)
        self.assertIn(str(self.path), str(error))
        self.assertIn(words, str(error))
        self.assertEqual(error.path, self.path)

    def test_corrupt_json(self) -> None:
        """
        A truncated or garbled file raises L{CheckpointError} naming the
        file and the problem.
        """
        self.assert_corrupt(b'{"a": 1', "not valid JSON")
        self.assert_corrupt(b"", "not valid JSON")

    def test_not_utf8(self) -> None:
        """
        Bytes that are not UTF-8 raise L{CheckpointError}.
        """
        self.assert_corrupt(b'{"a": "\xff"}', "not UTF-8")

    def test_not_an_object(self) -> None:
        """
        Valid JSON that is not an object raises L{CheckpointError}.
        """
        self.assert_corrupt(json.dumps([1, 2]).encode(), "list instead of an object")

    def test_unreadable(self) -> None:
        """
        A checkpoint path that cannot be read (a directory) raises
        L{CheckpointError}.
        """
        self.path.mkdir()
        error = self.assertRaises(CheckpointError, load_checkpoint, self.path)
        self.assertIn(str(self.path), str(error))
