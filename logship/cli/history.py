"""The C{logship history} command: ask the porter for a history index.

    logship history --from T --to T [--env NAME] [--expire-hours 24]
        [--porter http://127.0.0.1:4490] [--no-wait]

It POSTs the request to the porter's API (C{docs/porter.md}, "API"),
then shows the job's progress on stderr until the index is ready, and
prints the index name on stdout (search it with
C{logship search --index URL --name NAME}).  Exit status: 0 ready (or
queued, with C{--no-wait}), 1 failed or unreachable porter, 2 a bad
request (the porter's 400 answer, naming the parameter).
"""

from __future__ import annotations

import argparse
import json
from typing import Any, BinaryIO, TextIO

from twisted.internet.task import deferLater

from logship.porter.state import FINAL_STATES, JobState

DEFAULT_PORTER = "http://127.0.0.1:4490"
#: Seconds between two looks at the job's status.
POLL_SECONDS = 0.5


class HistoryFailed(Exception):
    """
    The history request failed; C{status} is the exit status.
    """

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


def add_history_arguments(sub: argparse.ArgumentParser) -> None:
    """
    The arguments of C{logship history}.
    """
    sub.add_argument("--from", dest="start", required=True, metavar="T",
                     help="start of the range: ISO 8601, epoch seconds, or relative (-2d)")
    sub.add_argument("--to", dest="end", default="now", metavar="T",
                     help="end of the range (default: now)")
    sub.add_argument("--env", default="default", help="the environment (default: default)")
    sub.add_argument("--expire-hours", type=float, default=24.0,
                     help="hours until the index is dropped (default: 24)")
    sub.add_argument("--porter", default=DEFAULT_PORTER, metavar="URL",
                     help=f"the porter's API (default: {DEFAULT_PORTER})")
    sub.add_argument("--no-wait", action="store_true",
                     help="print the job and return without waiting for it")


async def request_history(
    reactor: Any, args: argparse.Namespace, out: BinaryIO, err: TextIO
) -> int:
    """
    Request the history index and follow it (see the module docstring).

    @raise HistoryFailed: on a refused request, a failed job, or an
        unreachable porter.
    """
    import treq

    base = args.porter.rstrip("/")
    body = {"from": args.start, "to": args.end, "env": args.env,
            "expire_hours": args.expire_hours}
    try:
        response = await treq.post(
            f"{base}/api/history", json=body, reactor=reactor, timeout=30
        )
        document = await response.json()
    except Exception as e:  # connection refused, timeout, not JSON ...
        raise HistoryFailed(f"cannot reach the porter at {base}: {e}", 1) from None
    if response.code == 400:
        raise HistoryFailed(f"--{document.get('parameter')}: {document.get('error')}", 2)
    if response.code != 202:
        raise HistoryFailed(f"the porter answered {response.code}: {document}", 1)
    err.write(f"history {document['id']}: queued as index {document['index']}\n")
    if not args.no_wait:
        document = await _follow(reactor, f"{base}{document['status']}", err)
    out.write(json.dumps(document).encode() + b"\n")
    return 0


async def _follow(reactor: Any, url: str, err: TextIO) -> dict[str, Any]:
    import treq

    shown = None
    while True:
        try:
            response = await treq.get(url, reactor=reactor, timeout=30)
            job: dict[str, Any] = await response.json()
        except Exception as e:
            raise HistoryFailed(f"lost the porter at {url}: {e}", 1) from None
        progress = (job["state"], job["buckets_done"], job["buckets_total"])
        if progress != shown:
            shown = progress
            err.write(
                f"history {job['id']}: {job['state']}, {job['buckets_done']} of"
                f" {job['buckets_total']} buckets, {job['events']} events\n"
            )
        if job["state"] == JobState.READY:
            return job
        if job["state"] in FINAL_STATES:
            raise HistoryFailed(f"history {job['id']} {job['state']}: {job['error']}", 1)
        await deferLater(reactor, POLL_SECONDS, lambda: None)

