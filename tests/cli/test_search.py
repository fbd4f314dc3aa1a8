"""Tests of C{logship search} (L{logship.cli.search})."""

from __future__ import annotations

import argparse
import io
import json
import subprocess
import sys
from pathlib import Path

import pytest

from logship.index.sqlite import SqliteStore
from logship.core.render import event_text
from tests.index.common import corpus_events, sd_events

NOW = 1_790_000_000.0


def parser() -> argparse.ArgumentParser:
    from logship.cli.search import add_search_parser

    top = argparse.ArgumentParser(prog="logship")
    add_search_parser(top.add_subparsers(dest="command", required=True))
    return top


def run(*argv: str) -> tuple[int, bytes, str]:
    args = parser().parse_args(["search", *argv])
    out, err = io.BytesIO(), io.StringIO()
    status = args.run(args, out, NOW, err)
    return status, out.getvalue(), err.getvalue()


@pytest.fixture(scope="module")
def index(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, list]:
    """
    A sqlite index of the OpenSSH corpus log.
    """
    directory = tmp_path_factory.mktemp("idx")
    events = corpus_events("OpenSSH_2k.log")
    store = SqliteStore(directory / "recent.sqlite")
    store.load(events)
    store.close()
    return f"sqlite:{directory}", events


def test_text_newest_first(index: tuple[str, list]) -> None:
    """
    Text lines like logship cat, newest first, at most --limit.
    """
    url, events = index
    status, out, err = run("--index", url, "--term", "Failed", "--limit", "3")
    assert (status, err) == (0, "")
    expected = sorted((e for e in events if b"Failed" in e.message), key=lambda e: -e.point)[:3]
    assert out == b"".join(event_text(e) + b"\n" for e in expected)


def test_json_and_q(index: tuple[str, list]) -> None:
    """
    --json prints one object per line; --q mixes terms and substrings.
    """
    url, events = index
    status, out, _ = run("--index", url, "--q", 'root "Failed password"', "--json",
                         "--limit", "1000")
    objects = [json.loads(line) for line in out.splitlines()]
    wanted = [e for e in events if b"Failed password" in e.message and b"root" in e.message.split()]
    assert status == 0 and len(objects) == len(wanted) > 0
    assert all("Failed password" in o["message"] for o in objects)


def test_count_and_filters(index: tuple[str, list]) -> None:
    """
    --count prints the number of matches; hosts, apps and times filter.
    """
    url, events = index
    points = sorted(e.point for e in events)
    start, end = (f"{p // 10**8}.{p % 10**8:08d}" for p in (points[100], points[200]))
    status, out, _ = run("--index", url, "--count", "--host", "LabSZ", "--app", "sshd",
                         "--from", start, "--to", end)
    expected = sum(1 for e in events if points[100] <= e.point < points[200]
                   and e.shn == b"LabSZ" and e.app == b"sshd")
    assert (status, out) == (0, b"%d\n" % expected)
    assert run("--index", url, "--count", "--host", "nowhere")[1] == b"0\n"


@pytest.mark.parametrize("argv, message", [
    (["--index", "dir:/x"], "bad index URL"),
    (["--name", "Bad_Name"], "bad index name"),
    (["--from", "yesterday"], "'yesterday' is not a time"),
    (["--to", "1969-12-31"], "before 1970"),
    (["--q", '"open'], "unclosed quote"),
    (["--term", "=="], "no word characters"),
    (["--limit", "0"], "limit must be"),
    (["--limit", "ten"], "whole number"),
])  # fmt: skip
def test_bad_arguments(index: tuple[str, list], argv: list[str], message: str) -> None:
    """
    One line on stderr, status 2.
    """
    url, _ = index
    full = ["--index", url, *argv] if argv[0] != "--index" else argv
    status, out, err = run(*full)
    assert status == 2 and out == b""
    assert err.startswith("logship search: ") and message in err and err.count("\n") == 1


def test_missing_index(tmp_path: Path) -> None:
    """
    A missing directory or index is status 1, nothing created.
    """
    for url, name in [(f"sqlite:{tmp_path}/none", "recent"), (f"sqlite:{tmp_path}", "recent")]:
        status, _, err = run("--index", url, "--name", name)
        assert status == 1 and "no such" in err and err.count("\n") == 1
    assert list(tmp_path.iterdir()) == []


def test_unreachable_elasticsearch() -> None:
    """
    An Elasticsearch URL where nothing listens: status 1, one line.
    """
    done = subprocess.run(
        [sys.executable, "-m", "logship", "search", "--index", "elasticsearch:http://127.0.0.1:9",
         "--count"], capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 1, done.stderr
    assert done.stderr.startswith("logship search: ") and done.stderr.count("\n") == 1


def test_sd_terms(tmp_path: Path) -> None:
    """
    C{sd.ID.PARAM:VALUE} terms (in --term and --q, with a quoted value)
    find the events with that SD parameter; --json shows msgid and sd.
    """
    store = SqliteStore(tmp_path / "recent.sqlite")
    store.load(sd_events())
    store.close()
    url = f"sqlite:{tmp_path}"
    status, out, _ = run("--index", url, "--term", "sd.origin.software:rsyslogd", "--json",
                         "--from", "0")
    objects = [json.loads(line) for line in out.splitlines()]
    assert status == 0 and [o["message"] for o in objects] == ["stop", "start"]
    assert objects[0]["sd"] == {"origin": {"software": "rsyslogd"}}
    status, out, _ = run("--index", url, "--q", 'sd.exampleSDID@32473.eventSource:"Application"',
                         "--count", "--from", "0")
    assert (status, out) == (0, b"1\n")
