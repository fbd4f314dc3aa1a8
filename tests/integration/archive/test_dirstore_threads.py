"""The dir archive with its default runner: the reactor's thread pool."""

from __future__ import annotations

from pathlib import Path

import pytest_twisted
from twisted.internet import reactor

from logship.archive import MissingObject, open_archive


@pytest_twisted.ensureDeferred
async def test_thread_pool(tmp_path: Path) -> None:
    """
    Opened from its URL, the dir archive does its file I/O in the reactor's
    thread pool and reports through Deferreds.
    """
    archive = open_archive(f"dir:{tmp_path}", reactor)
    await archive.put("buckets/2026/11/26/09/37.lsp", b"packed")
    assert await archive.get("buckets/2026/11/26/09/37.lsp") == b"packed"
    assert await archive.keys("buckets/") == ["buckets/2026/11/26/09/37.lsp"]
    assert await archive.exists("buckets/2026/11/26/09/37.lsp")
    await archive.delete("buckets/2026/11/26/09/37.lsp")
    try:
        await archive.get("buckets/2026/11/26/09/37.lsp")
    except MissingObject:
        pass
    else:
        raise AssertionError("the deleted object is still there")
    await archive.close()
