"""The incident tools as processes against real stores: Ctrl-C in a reindex, Elasticsearch, S3.

  - C{logship reindex} interrupted by SIGINT mid-way, then run again,
    gives the index the porter would have (the original).
  - C{reindex} into and C{export} out of the Elasticsearch backend, over
    HTTP to the tests' fake cluster (L{FakeCluster}) answering from
    documents it keeps (L{MemoryCluster}); the round trip is byte-equal.
  - C{export} to, C{cat} of and C{reindex} from an S3 archive on moto's
    server.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import pytest_twisted
from twisted.internet import reactor
from twisted.internet.utils import getProcessOutputAndValue
from twisted.web.server import Site

from logship.core.bucket import list_buckets
from logship.core.pack import pack
from logship.core.sample import sample_lines
from logship.porter.merge import merge
from logship.porter.service import archive_key
from logship.cli.reading import read_bucket
from tests.cli.incident import (
    RANGE,
    index_contents,
    make_archive,
    make_buckets,
    make_index,
    records,
)
from tests.cli.test_main import logship
from tests.integration.archive.test_s3 import (  # noqa: F401 (fixtures)
    client,
    endpoint,
    fake_credentials,
)
from tests.integration.index.test_elasticsearch import FakeCluster
from tests.integration.processes import sigint_as_from_a_terminal
from tests.integration.waiting import wait_until_blocking

#: The buckets of the Ctrl-C test: 10 s each, many objects.
SMALL_BUCKETS = 10


def command(*args: str) -> list[str]:
    return [sys.executable, "-m", "logship", *args]


#: The x86-64 number of the futex system call (/proc/PID/syscall).
FUTEX = 202

#: Objects the interrupted reindex loads before the one it blocks on.
BEFORE_BLOCK = 24


def test_interrupted_reindex_resumes(tmp_path: Path) -> None:
    """
    SIGINT during a reindex: exit status 130 and a line saying how to
    resume; the same command then loads only what was left, and the index
    is the original's (same identities, events and counts).

    Where the interruption falls does not depend on how busy the machine
    is: object 25 is a named pipe, so the reindex waits there (its read,
    on a thread, blocks until a writer comes).  Once 24 objects are done,
    the test sends SIGINT, waits until the reactor stopped (the main
    thread then waits for the blocked thread: a futex), and lets the read
    end (an empty pipe).
    """
    log = tmp_path / "sample.log"
    log.write_bytes(b"\n".join(sample_lines(12000, start=1795685820, rate=4)) + b"\n")
    buckets = tmp_path / "buckets"
    result = logship("import", "--tz", "UTC", "--year", "2026", "--host", "h", str(log),
                     "--buckets", str(buckets), "--bucket-seconds", str(SMALL_BUCKETS))
    assert result.returncode == 0, result.stderr
    make_index(buckets, tmp_path / "original")
    archive = tmp_path / "archive"
    objects = list_buckets(buckets)
    for start, path in objects:
        target = archive / archive_key(start, SMALL_BUCKETS)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(pack(merge([read_bucket(path, print)])))
    blocker = archive / archive_key(objects[BEFORE_BLOCK][0], SMALL_BUCKETS)
    content = blocker.read_bytes()
    blocker.unlink()
    os.mkfifo(blocker)
    state = tmp_path / "rebuilt" / "recent.reindex.json"
    argv = command("reindex", "--archive", f"dir:{archive}", "--from", "2026-01-01",
                   "--to", "2027-01-01", "--index", f"sqlite:{tmp_path / 'rebuilt'}")
    process = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               preexec_fn=sigint_as_from_a_terminal)

    def done_before_block() -> bool:
        try:
            return len(json.loads(state.read_text())["done"]) == BEFORE_BLOCK
        except (OSError, ValueError):
            return False

    def stopped() -> bool:
        return Path(f"/proc/{process.pid}/syscall").read_text().split()[0] == str(FUTEX)

    try:
        wait_until_blocking(done_before_block, 120, f"{BEFORE_BLOCK} objects loaded")
        process.send_signal(signal.SIGINT)
        wait_until_blocking(stopped, 60, "the reactor stopped, waiting for the blocked read")
        os.close(os.open(blocker, os.O_WRONLY | os.O_NONBLOCK))
        _, err = process.communicate(timeout=60)
    finally:
        process.kill()
        process.wait()
    assert process.returncode == 130, err
    assert b"Traceback" not in err
    assert len(json.loads(state.read_text())["done"]) == BEFORE_BLOCK
    message = f"interrupted after {BEFORE_BLOCK} of {len(objects)} objects; the same command resumes"
    assert message.encode() in err
    blocker.unlink()
    blocker.write_bytes(content)
    again = subprocess.run(argv, capture_output=True, timeout=300)
    assert again.returncode == 0, again.stderr
    assert f"{BEFORE_BLOCK} objects done before".encode() in again.stderr
    assert index_contents(tmp_path / "rebuilt") == index_contents(tmp_path / "original")
    assert not state.exists()


class MemoryCluster:
    """
    The part of Elasticsearch the index backend uses, answered from
    documents kept in memory: index templates, bulk C{create}, C{_search}
    (range filters on C{logship.point}, the sort, C{search_after}) and
    C{_count}.  A C{default} for L{FakeCluster}.
    """

    def __init__(self) -> None:
        self.docs: dict[str, dict[str, Any]] = {}

    def __call__(self, method: str, path: str, body: bytes) -> tuple[int, Any]:
        if path.startswith("/_index_template/"):
            return 200, {"acknowledged": True}
        if path == "/_bulk":
            return 200, {"items": self._bulk(body)}
        name, _, api = path.lstrip("/").partition("/")
        assert name.endswith("*"), path
        docs = [(i, d) for i, d in self.docs.items() if d["_index"].startswith(name[:-1])]
        request = json.loads(body)
        docs = [(i, d) for i, d in docs if self._matches(d["_source"], request["query"])]
        if api == "_count":
            return 200, {"count": len(docs)}
        assert api == "_search", path
        hits = sorted(([d["_source"]["logship"]["point"], i], d) for i, d in docs)[::-1]
        if "search_after" in request:
            hits = [h for h in hits if h[0] < request["search_after"]]
        page = hits[: request["size"]]
        return 200, {"hits": {"total": {"value": len(hits), "relation": "eq"}, "hits": [
            {"_id": i, "_index": d["_index"], "_source": d["_source"], "sort": sort}
            for sort, d in page for i in [sort[1]]]}}

    def _bulk(self, body: bytes) -> list[dict[str, Any]]:
        lines = body.splitlines()
        items = []
        for action, source in zip(lines[0::2], lines[1::2]):
            create = json.loads(action)["create"]
            status = 409 if create["_id"] in self.docs else 201
            if status == 201:
                self.docs[create["_id"]] = {"_index": create["_index"], "_source": json.loads(source)}
            items.append({"create": {**create, "status": status}})
        return items

    @staticmethod
    def _matches(source: dict[str, Any], query: dict[str, Any]) -> bool:
        point = source["logship"]["point"]
        for condition in query["bool"]["filter"]:
            (kind, field), = ((k, v) for k, v in condition.items())
            assert kind == "range" and list(field) == ["logship.point"], condition
            bounds = field["logship.point"]
            if point < bounds.get("gte", 0) or point >= bounds.get("lt", 1 << 64):
                return False
        return True


@pytest.fixture
def elasticsearch() -> Iterator[tuple[MemoryCluster, str]]:
    """
    A fake cluster keeping documents, on 127.0.0.1, and its index URL.
    """
    fake = FakeCluster()
    memory = MemoryCluster()
    fake.default = memory
    port = reactor.listenTCP(0, Site(fake), interface="127.0.0.1")
    yield memory, f"elasticsearch:http://127.0.0.1:{port.getHost().port}"
    port.stopListening()


async def run(*args: str) -> tuple[int, str]:
    """
    Run C{logship ARGS} as a process while the reactor serves the fake
    cluster: its status and stderr.
    """
    out, err, code = await getProcessOutputAndValue(
        sys.executable, ["-m", "logship", *args], env=dict(os.environ), reactor=reactor)
    assert b"Traceback" not in err, err
    return code, err.decode()


@pytest_twisted.ensureDeferred
async def test_elasticsearch_reindex_and_export(
    tmp_path: Path, elasticsearch: tuple[MemoryCluster, str]
) -> None:
    """
    Reindex a dir archive into Elasticsearch, export it back as bucket
    files: byte-equal to the originals; a second reindex creates nothing.
    """
    memory, index = elasticsearch
    buckets = make_buckets(tmp_path, logship)
    make_archive(buckets, tmp_path / "archive")
    reindex = ("reindex", "--archive", f"dir:{tmp_path / 'archive'}", *RANGE, "--index", index,
               "--state", str(tmp_path / "state.json"))
    code, err = await run(*reindex)
    assert code == 0, err
    assert "4000 events loaded (4000 new)" in err
    assert len(memory.docs) == 4000
    code, err = await run("export", "--index", index, *RANGE, "--out", str(tmp_path / "out"))
    assert code == 0, err
    assert records(tmp_path / "out") == records(buckets)
    code, err = await run(*reindex)
    assert code == 0 and "4000 events loaded (0 new)" in err, err


@pytest.mark.usefixtures("fake_credentials")
def test_s3_export_cat_reindex(tmp_path: Path, endpoint: str) -> None:  # noqa: F811
    """
    Export a sqlite index to an S3 archive, read one object back with
    cat, reindex the archive into a new index: the original's events.
    """
    client(endpoint).create_bucket(Bucket="incident")
    archive = f"s3://incident/env1?endpoint={endpoint}"
    buckets = make_buckets(tmp_path, logship)
    make_index(buckets, tmp_path / "original")
    result = logship("export", "--index", f"sqlite:{tmp_path / 'original'}", *RANGE,
                     "--out", archive, "--quiet")
    assert result.returncode == 0, result.stderr
    [(_, first), *_] = list_buckets(buckets)
    relpath = first.relative_to(buckets).as_posix()
    shown = logship("cat", archive, "--key", relpath)
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout == logship("cat", str(first)).stdout
    missing = logship("cat", archive, "--key", "2020/01/01/00/00")
    assert missing.returncode == 1
    assert b"buckets/2020/01/01/00/00.lsp: no such object in the archive" in missing.stderr
    result = logship("reindex", "--archive", archive, *RANGE,
                     "--index", f"sqlite:{tmp_path / 'rebuilt'}")
    assert result.returncode == 0, result.stderr
    assert index_contents(tmp_path / "rebuilt") == index_contents(tmp_path / "original")
