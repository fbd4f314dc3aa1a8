"""Tests of L{open_index}: index URLs, names and directories (the threaded
sqlite wrapper on the real reactor is in C{tests/integration/index})."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from logship.index import IndexUnavailable, check_name, open_index


@pytest.mark.parametrize(
    "url",
    ["", "sqlite:", "sqlite", "dir:/tmp", "elasticsearch:", "elasticsearch:ftp://x",
     "elasticsearch:http://", "elasticsearch:http://h:9200/path", "Sqlite:/tmp"],
)  # fmt: skip
def test_bad_url(url: str) -> None:
    """
    Anything but sqlite:DIR and elasticsearch:http(s)://HOST[:PORT] is a
    ValueError naming the URL.
    """
    with pytest.raises(ValueError, match="bad index URL"):
        open_index(url, "recent")


@pytest.mark.parametrize("name", ["", "Recent", "-x", "a_b", "a/b", "x" * 64, "é", "a.b"])
def test_bad_name(name: str, tmp_path: Path) -> None:
    """
    Names are lowercase letters, digits and dashes.
    """
    with pytest.raises(ValueError, match="bad index name"):
        open_index(f"sqlite:{tmp_path}", name)


def test_good_names() -> None:
    """
    The porter's names pass.
    """
    for name in ["recent", "history-0f3a", "h", "9" * 63]:
        assert check_name(name) == name


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads every directory")
def test_unreadable_dir(tmp_path: Path) -> None:
    """
    A directory that cannot be written, or created, is refused at once.
    """
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o500)
    with pytest.raises(IndexUnavailable, match="readable and writable"):
        open_index(f"sqlite:{locked}", "recent")
    with pytest.raises(IndexUnavailable, match="cannot create"):
        open_index(f"sqlite:{locked}/sub", "recent")


def test_missing_without_create(tmp_path: Path) -> None:
    """
    A reader (create=False) is told the index does not exist.
    """
    with pytest.raises(IndexUnavailable, match="no such directory"):
        open_index(f"sqlite:{tmp_path}/none", "recent", create=False)
    with pytest.raises(IndexUnavailable, match="no such index"):
        open_index(f"sqlite:{tmp_path}", "recent", create=False)


def test_dir_is_a_file(tmp_path: Path) -> None:
    """
    A file where the directory should be is refused (also as root).
    """
    plain = tmp_path / "plain"
    plain.write_bytes(b"x")
    with pytest.raises(IndexUnavailable, match="plain"):
        open_index(f"sqlite:{plain}", "recent")
    with pytest.raises(IndexUnavailable, match="cannot create"):
        open_index(f"sqlite:{plain}/sub", "recent")
