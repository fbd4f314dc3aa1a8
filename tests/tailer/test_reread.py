"""Tests for L{logship.tailer.reread}: which spooled events a restart reads again."""

from __future__ import annotations

import os
from pathlib import Path

from logship.core.bucket import encode_record
from logship.core.event import Event, encode, origin_of_identity, pack_origin
from logship.tailer.reread import MTIME_SLACK, spooled_since


def spool_file(path: Path, origins: list[bytes]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"".join(
        encode_record(encode(Event(10**17, 1, b"h", b"a", None, b"m", origin=o)))
        for o in origins
    ))


def test_after_the_saved_position(tmp_path: Path) -> None:
    """
    Of the followed sources, the origins at or after the saved position
    (file numbers compared modulo 2**16); other sources, version-1 events
    and files older than the checkpoint are left out.
    """
    root = tmp_path / "spool"
    at = [
        pack_origin(7, 3, 99),      # before the position: stored before the checkpoint
        pack_origin(7, 3, 100),     # the position itself
        pack_origin(7, 4, 0),       # the next file
        pack_origin(8, 0, 5),       # a source not followed
        b"",                         # format version 1
        pack_origin(9, 2, 0),       # file 65538 saved: 2 is at it, modulo 2**16
        pack_origin(9, 65535, 9),   # before it
    ]
    spool_file(root / "2026/11/26/09/37.b", at)
    spool_file(root / "2026/11/26/09/30.b", [pack_origin(7, 5, 0)])
    old = root / "2026/11/26/09/30.b"
    since = os.stat(root / "2026/11/26/09/37.b").st_mtime
    os.utime(old, (since - MTIME_SLACK - 10, since - MTIME_SLACK - 10))
    found = {origin_of_identity(i) for i in spooled_since([root], since, {7: (3, 100), 9: (65538, 0)})}
    assert found == {pack_origin(7, 3, 100), pack_origin(7, 4, 0), pack_origin(9, 2, 0)}
    assert spooled_since([root], since, {}) == set()
    assert spooled_since([tmp_path / "absent"], since, {7: (0, 0)}) == set()
