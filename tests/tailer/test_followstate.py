"""Tests for L{logship.tailer.followstate}: the saved state and its JSON form."""

from __future__ import annotations

import json

from twisted.trial.unittest import SynchronousTestCase

from logship.tailer.followstate import STATE_VERSION, FileIdentity, FollowState


class FollowStateFormatTests(SynchronousTestCase):
    """
    L{FollowState.to_json} writes the layout of C{docs/rotation.md}.
    """

    def test_layout(self) -> None:
        """
        Every field, under its documented key, with the version; the
        previous file as a nested identity.
        """
        state = FollowState(
            "/var/log/app.log", 2049, 1183, "ab" * 32, 1024, 52311, 60000,
            "/var/log/app.log.1", FileIdentity(2049, 1170, "cd" * 32, 1024),
            {"seq": [1, 2]}, 7,
        )
        self.assertEqual(
            json.dumps(state.to_json()),
            '{"version": 2, "path": "/var/log/app.log", "dev": 2049, '
            '"inode": 1183, "fingerprint": "' + "ab" * 32 + '", '
            '"fingerprint_length": 1024, "offset": 52311, "size": 60000, '
            '"name": "/var/log/app.log.1", "previous": {"dev": 2049, '
            '"inode": 1170, "fingerprint": "' + "cd" * 32 + '", '
            '"fingerprint_length": 1024}, "extra": {"seq": [1, 2]}, "file": 7}',
        )
        self.assertEqual(STATE_VERSION, 2)

    def test_version_1(self) -> None:
        """
        A state of version 1 (before file numbers) reads as file number 0.
        """
        data = FollowState("/a", 1, 2, "f", 3, 4, file=9).to_json()
        del data["file"]
        data["version"] = 1
        self.assertEqual(FollowState.from_json(data), FollowState("/a", 1, 2, "f", 3, 4))

    def test_round_trip(self) -> None:
        """
        L{FollowState.from_json} gives back the state L{FollowState.to_json}
        wrote, through JSON text.
        """
        state = FollowState(
            "/a", 1, 2, "f", 3, 4, None, None, FileIdentity(5, 6, "g", 7), {}
        )
        self.assertEqual(
            FollowState.from_json(json.loads(json.dumps(state.to_json()))), state
        )


class FollowStateJSONTests(SynchronousTestCase):
    """
    L{FollowState.from_json} refuses what L{FollowState.to_json} did not
    write.
    """

    def valid(self) -> dict[str, object]:
        return FollowState("/x", 1, 2, "f", 3, 4, None, None, None, {"k": "v"}).to_json()

    def test_valid(self) -> None:
        state = FollowState.from_json(self.valid())
        self.assertEqual(state.extra, {"k": "v"})
        self.assertEqual(state.identity, FileIdentity(1, 2, "f", 3))

    def test_invalid(self) -> None:
        for key, value in [
            ("version", 3),
            ("file", -1),
            ("file", None),
            ("offset", -1),
            ("offset", "3"),
            ("offset", True),
            ("path", None),
            ("size", -5),
            ("name", 3),
            ("extra", []),
            ("previous", {"dev": 1}),
        ]:
            data = self.valid()
            data[key] = value
            self.assertRaises(ValueError, FollowState.from_json, data)
        self.assertRaises(ValueError, FollowState.from_json, [])

    def test_with_extra(self) -> None:
        state = FollowState.from_json(self.valid())
        self.assertEqual(state.with_extra({"a": 1}).extra, {"a": 1})
        self.assertEqual(state.extra, {"k": "v"})
