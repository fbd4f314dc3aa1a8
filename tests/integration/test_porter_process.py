"""Integration tests of the porter: 3 bucks, a tailer and a porter as real
twistd processes on 127.0.0.1, 1-second buckets.

- every line ends up exactly once in the recent index, also with a buck
  killed mid-stream and the porter killed during its loads;
- buckets older than the quiet period are archived (to C{dir:} and to a
  real S3 endpoint: moto's server on loopback) exactly once; the bucks and
  the tailer delete their files only afterwards; with every bucket file
  gone, C{logship history} gives back every line;
- lines that arrive an hour late, after their time's buckets were archived,
  are archived (and indexed) exactly once as well.

Every node proves a credential of its own (issue 11): the bucks and the
tailer delete only on the porter's signed receipts.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest

from logship.core.event import Event
from logship.index.sqlite import SqliteStore
from logship.core.pack import unpack
from logship.core.query import Query
from tests.integration.chaos.ledger import read_index
from tests.integration.delivery import Cluster, append_lines
from tests.integration.waiting import wait_until_blocking
from tests.integration.processes import (
    ProcessGroup,
    TwistdProcess,
    free_port,
)

PORTER_READY = r"logship-porter listening on (?P<host>\S+):(?P<port>\d+)"
S3_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
}


def start_porter(
    cluster: Cluster, *, archive: str = "dir:archive", quiet: float = 1e6,
    env: dict[str, str] | None = None, extra: Sequence[str] = (),
) -> TwistdProcess:
    """
    Start (or restart, with its old state) the porter of C{cluster}.

    @param extra: more options (after the defaults, so they override them).
    """
    args = [*cluster.security_args("porter", "porter"),
            "--index", "sqlite:index", "--archive", archive,
            "--state", "state", "--bucket-seconds", "1", "--quiet", str(quiet),
            "--interval", "0.5", "--api", "tcp:0:interface=127.0.0.1", *extra]
    for buck in cluster.bucks:
        args += ["--buck", f"127.0.0.1:{buck.port}"]
    return cluster.group.start_twistd(
        "logship-porter", args, name="porter", ready=PORTER_READY, env=env
    )


def start_cluster(group: ProcessGroup) -> Cluster:
    return Cluster.start(
        group,
        # Lines without a header are web-1's: the tailer may send for web-*.
        tailer_args=["--bucket-seconds", "1", "--archive-check-interval", "1",
                     "--host", "web-1"],
        buck_args=["--bucket-seconds", "1"],
        credentials=True,
        tailer_hosts=["web-*"],
    )


def recent(group: ProcessGroup, name: str = "recent") -> list[Event]:
    """
    Every event of a porter's index, newest first.
    """
    return read_index(group.root / "porter" / "index" / f"{name}.sqlite")


def count(group: ProcessGroup, name: str = "recent") -> int:
    """
    The number of documents in a porter's index (0 before it exists).
    """
    path = group.root / "porter" / "index" / f"{name}.sqlite"
    if not path.exists():
        return 0
    store = SqliteStore(path, create=False)
    try:
        return store.count(Query())
    finally:
        store.close()


def lines(first: int, count: int, tag: str = "line") -> list[bytes]:
    return [b"%s %d of the porter test, token%d" % (tag.encode(), i, i % 97)
            for i in range(first, first + count)]


def syslog(messages: list[bytes], start: float, seconds: float) -> list[bytes]:
    """
    The messages as RFC 5424 lines whose times are spread evenly over
    C{seconds} from C{start}.
    """
    step = seconds / max(1, len(messages))
    return [
        b"<13>1 %s web-1 app - - - %s" % (_iso(start + i * step).encode(), message)
        for i, message in enumerate(messages)
    ]


def _iso(when: float) -> str:
    whole = int(when)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(whole)) + f".{int((when - whole) * 1e6):06d}Z"


def messages(events: list[Event]) -> Counter[bytes]:
    return Counter(e.message for e in events)


def wait_index(group: ProcessGroup, expected: int, porter: TwistdProcess, timeout: float = 120) -> None:
    def done() -> bool:
        if not porter.running:
            raise AssertionError(f"porter exited:\n{porter.tail()}")
        return count(group) == expected

    wait_until_blocking(done, timeout, f"{expected} documents in the recent index",
                        on_timeout=lambda: f"{count(group)} documents\n{porter.tail()}")


def test_recent_exactly_once_through_kills(group: ProcessGroup) -> None:
    """
    N lines written while a buck is killed (and restarted) and the porter
    is killed during its loads (and restarted): the recent index holds
    exactly N documents, one per line, equal to the input.
    """
    cluster = start_cluster(group)
    porter = start_porter(cluster)
    written = lines(0, 6000)
    append_lines(cluster.log, written[:2000])
    cluster.bucks[1].kill()
    append_lines(cluster.log, written[2000:4000])
    cluster.wait_caught_up()
    wait_until_blocking(lambda: count(group) > 0, 60, "the porter loads")
    porter.kill()
    cluster.restart_buck(1)
    porter = start_porter(cluster)
    append_lines(cluster.log, written[4000:])
    cluster.wait_caught_up()
    wait_index(group, len(written), porter)
    assert messages(recent(group)) == Counter(written)


@pytest.fixture
def s3(tmp_path: Path) -> Iterator[str]:
    """
    A moto S3 server on 127.0.0.1 with a bucket, stopped at the end: the
    archive URL.
    """
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env={**os.environ, **S3_ENV},
    )
    try:
        import botocore.session

        session = botocore.session.get_session()
        client = session.create_client(
            "s3", endpoint_url=f"http://127.0.0.1:{port}", region_name="us-east-1",
            aws_access_key_id="testing", aws_secret_access_key="testing",
        )

        def created() -> bool:
            try:
                client.create_bucket(Bucket="logs")
                return True
            except Exception:
                return False

        wait_until_blocking(created, 30, "moto's S3 server")
        yield f"s3://logs/archive?endpoint=http://127.0.0.1:{port}"
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(10)


def archived_events(group: ProcessGroup, archive: str) -> list[Event]:
    """
    Every event of every archived bucket object.
    """
    if archive.startswith("dir:"):
        root = group.root / "porter" / archive[len("dir:"):] / "buckets"
        return [e for path in sorted(root.rglob("*.lsp")) for e in unpack(path.read_bytes())]
    import botocore.session

    endpoint = archive.split("endpoint=")[1]
    client = botocore.session.get_session().create_client(
        "s3", endpoint_url=endpoint, region_name="us-east-1",
        aws_access_key_id="testing", aws_secret_access_key="testing",
    )
    found: list[Event] = []
    for page in client.get_paginator("list_objects_v2").paginate(Bucket="logs", Prefix="archive/buckets/"):
        for item in page.get("Contents", []):
            body = client.get_object(Bucket="logs", Key=item["Key"])["Body"].read()
            found.extend(unpack(body))
    return found


def bucket_files(root: Path) -> list[Path]:
    return sorted(root.rglob("*.b")) if root.exists() else []


@pytest.mark.parametrize("kind", ["dir", "s3"])
def test_archive_delete_history(group: ProcessGroup, kind: str, request: pytest.FixtureRequest) -> None:
    """
    Past the quiet period every bucket is archived exactly once; the bucks
    and the tailer delete their files only after that (never a line that
    the archive lacks); with every bucket file gone, `logship history`
    over the whole range gives back every line; late lines (an hour old)
    are archived once too.
    """
    archive = request.getfixturevalue("s3") if kind == "s3" else "dir:archive"
    cluster = start_cluster(group)
    porter = start_porter(cluster, archive=archive, quiet=2,
                          env=S3_ENV if kind == "s3" else None)
    start = time.time()
    written = lines(0, 3000)
    append_lines(cluster.log, syslog(written, start - 5, 5))  # over several buckets
    cluster.wait_caught_up()

    def all_deleted() -> bool:
        roots = [*(group.root / f"buck{i}" / "data" / "buckets" for i in range(3)),
                 cluster.spool_root]
        return not any(bucket_files(root) for root in roots)

    wait_until_blocking(all_deleted, 120, "every bucket archived and deleted",
                        on_timeout=lambda: porter.tail())
    assert messages(archived_events(group, archive)) == Counter(written)

    # An hour-old line: RFC 5424 with its own time, so its bucket was
    # archived long ago (as far as the porter knows, it is new there).
    late = [b"late line %d" % i for i in range(20)]
    append_lines(cluster.log, syslog(late, start - 3600, 1))
    cluster.wait_caught_up()
    wait_until_blocking(lambda: messages(archived_events(group, archive))[b"late line 0"] == 1
                        and all_deleted(), 120, "the late lines archived",
                        on_timeout=lambda: porter.tail())
    everything = Counter(written) + Counter(late)
    assert messages(archived_events(group, archive)) == everything

    result = subprocess.run(
        [sys.executable, "-m", "logship", "history", "--porter",
         f"http://127.0.0.1:{porter.port}", "--from", str(int(start - 7200)),
         "--to", str(int(time.time() + 1))],
        capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 0, result.stderr
    job = json.loads(result.stdout)
    assert job["state"] == "ready"
    assert "buckets" in result.stderr  # progress was shown
    assert messages(recent(group, job["index"])) == everything
