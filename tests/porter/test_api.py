"""Tests for L{logship.porter.api}: the porter's JSON API."""

from __future__ import annotations

import json
import shutil
import tempfile
from io import BytesIO
from pathlib import Path
from typing import Any

from twisted.internet.testing import MemoryReactorClock
from twisted.trial.unittest import SynchronousTestCase
from twisted.web.resource import getChildForRequest
from twisted.web.test.requesthelper import DummyRequest

from logship.archive import open_archive
from logship.index import open_index
from logship.plumbing.jsonapi import MAX_BODY
from logship.porter.api import HistoryLimits, api_root
from logship.porter.service import PorterService
from logship.porter.state import JobState, ManifestEntry
from logship.core.parse import TICKS_PER_SECOND

NOW = 1795685820.0


class APITests(SynchronousTestCase):
    def setUp(self) -> None:
        self.tmp = Path(tempfile.mkdtemp())
        self.addCleanup(shutil.rmtree, self.tmp)
        clock = MemoryReactorClock()
        clock.advance(NOW)
        self.index = open_index(f"sqlite:{self.tmp}/index", "recent", clock)
        self.porter = PorterService(
            bucks={}, key=None, node="porter", index=self.index,
            archive=open_archive(f"dir:{self.tmp}/archive", clock),
            open_index=lambda name: self.index, state_dir=self.tmp / "state",
            clock=clock,
        )
        self.addCleanup(self.porter.state.close)
        self.addCleanup(self.index._pool.stop)
        self.clock = clock
        self.root = api_root(self.porter, "prod", clock)

    def limit(self, **limits: Any) -> None:
        """
        Serve the API with these L{HistoryLimits}.
        """
        self.root = api_root(self.porter, "prod", self.clock, HistoryLimits(**limits))

    def archive(self, hours_ago: float, events: int) -> None:
        """
        Record an archived bucket of C{events} events, C{hours_ago} hours
        before NOW, in the manifest.
        """
        start = int(NOW - hours_ago * 3600) // 60 * 60
        entry = ManifestEntry(start, f"buckets/{start}.lsp", events, 100, "00" * 32, NOW)
        self.porter.state.archived(start, entry, {"buck-1": 100})

    def call(self, method: bytes, path: str, body: Any = None) -> tuple[int, Any]:
        request = DummyRequest([p.encode() for p in path.strip("/").split("/")])
        request.method = method
        raw = body if isinstance(body, bytes) else json.dumps(body).encode() if body is not None else b""
        request.content = BytesIO(raw)
        resource = getChildForRequest(self.root, request)
        written = resource.render(request)
        return request.responseCode or 200, json.loads(written)

    def test_request_and_status(self) -> None:
        """
        A valid request queues a job, whose status and listing show it.
        """
        code, job = self.call(b"POST", "/api/history", {"from": "-2h", "to": "now", "env": "prod"})
        self.assertEqual(code, 202)
        self.assertEqual(job["state"], "queued")
        self.assertEqual(job["index"], f"history-{job['id']}")
        stored = self.porter.state.history(job["id"])
        assert stored is not None
        self.assertEqual(
            (stored.start, stored.end),
            ((int(NOW) - 7200) * TICKS_PER_SECOND, int(NOW) * TICKS_PER_SECOND),
        )
        self.assertEqual(stored.expires, NOW + 24 * 3600)
        code, same = self.call(b"GET", job["status"])
        self.assertEqual((code, same["id"]), (200, job["id"]))
        code, listing = self.call(b"GET", "/api/history")
        self.assertEqual([j["id"] for j in listing["jobs"]], [job["id"]])

    def test_bad_parameters(self) -> None:
        """
        Each bad parameter is a 400 naming it.
        """
        cases = [
            ({"from": "-2h"}, "to"),
            ({"from": "yesterday-ish", "to": "now"}, "from"),
            ({"from": "now", "to": "-1h"}, "to"),
            ({"from": "-2h", "to": "now", "env": "test"}, "env"),
            ({"from": "-2h", "to": "now", "expire_hours": 0}, "expire_hours"),
            ({"from": "-2h", "to": "now", "expire_hours": "1"}, "expire_hours"),
            ({"from": "-2h", "to": "now", "colour": "red"}, "colour"),
            (b"{not json", "body"),
            ([1, 2], "body"),
            (b" " * (MAX_BODY + 1), "body"),
            (b"[" * 30_000, "body"),
        ]
        for body, parameter in cases:
            code, error = self.call(b"POST", "/api/history", body)
            self.assertEqual((code, error["parameter"]), (400, parameter), body)
            self.assertTrue(error["error"])
        self.assertEqual(self.porter.state.histories(), [])

    def test_unknown_job(self) -> None:
        code, error = self.call(b"GET", "/api/history/nope")
        self.assertEqual((code, error["parameter"]), (404, "id"))

    def test_status(self) -> None:
        code, status = self.call(b"GET", "/api/status")
        self.assertEqual((code, status["env"], status["archived_buckets"]), (200, "prod", 0))
        self.assertEqual(status["stats"]["rounds"], 0)

    def test_out_of_range_times(self) -> None:
        """
        A time past 2^63 ticks (the porter's state keeps signed 64-bit
        points) is a 400 naming it, not an OverflowError.
        """
        for body, parameter in [
            ({"from": "4900-01-01", "to": "4900-01-02"}, "from"),
            ({"from": "-1h", "to": "92233720400"}, "to"),
            ({"from": "-1h", "to": "9999-12-31"}, "to"),
        ]:
            code, error = self.call(b"POST", "/api/history", body)
            self.assertEqual((code, error["parameter"]), (400, parameter), body)
        code, _ = self.call(b"POST", "/api/history", {"from": "-1h", "to": "4800-01-01"})
        self.assertEqual(code, 400)  # beyond max-history-days, but within range
        self.assertEqual(self.porter.state.histories(), [])

    def test_range_limit(self) -> None:
        """
        A range longer than max-history-days is a 400 naming the limit (so
        1970 to now is); one of exactly that length is accepted.
        """
        self.limit(days=2)
        code, error = self.call(b"POST", "/api/history", {"from": "1970-01-01", "to": "now"})
        self.assertEqual((code, error["limit"], error["parameter"]),
                         (400, "max-history-days", "to"))
        self.assertIn("2 days", error["error"])
        code, _ = self.call(b"POST", "/api/history", {"from": "-48h", "to": "now"})
        self.assertEqual(code, 202)

    def test_jobs_limit(self) -> None:
        """
        Beyond max-history-jobs jobs queued or loading: 429 naming the
        limit; a job ready, failed or expired does not count.
        """
        self.limit(jobs=2)
        ids = []
        for hour in range(2):
            code, job = self.call(b"POST", "/api/history", {"from": f"-{hour + 2}h",
                                                            "to": f"-{hour + 1}h"})
            self.assertEqual(code, 202)
            ids.append(job["id"])
        code, error = self.call(b"POST", "/api/history", {"from": "-9h", "to": "-8h"})
        self.assertEqual((code, error["limit"]), (429, "max-history-jobs"))
        self.assertNotIn("parameter", error)
        self.porter.state.update_history(ids[0], state=JobState.READY)
        code, _ = self.call(b"POST", "/api/history", {"from": "-9h", "to": "-8h"})
        self.assertEqual(code, 202)
        self.assertEqual(len(self.porter.state.histories()), 3)

    def test_events_limit(self) -> None:
        """
        max-history-events: a range whose archived buckets alone hold more
        is a 400; one that would take the indexes held (loaded, or the
        manifest's count for those not loaded yet) above it, a 429; once
        an index expires, it fits again.
        """
        self.limit(events=1000)
        self.archive(5, 600)
        self.archive(3, 300)
        self.archive(1, 500)
        code, error = self.call(b"POST", "/api/history", {"from": "-6h", "to": "now"})
        self.assertEqual((code, error["limit"], error["parameter"]),
                         (400, "max-history-events", "from"))
        self.assertIn("1400", error["error"])
        code, first = self.call(b"POST", "/api/history", {"from": "-6h", "to": "-2h"})
        self.assertEqual(code, 202)  # 900 events, queued: counted from the manifest
        code, error = self.call(b"POST", "/api/history", {"from": "-2h", "to": "now"})
        self.assertEqual((code, error["limit"]), (429, "max-history-events"))
        self.porter.state.update_history(first["id"], state=JobState.READY, events=400)
        code, second = self.call(b"POST", "/api/history", {"from": "-2h", "to": "now"})
        self.assertEqual(code, 202)  # 400 loaded + 500
        code, error = self.call(b"POST", "/api/history", {"from": "-4h", "to": "-2h"})
        self.assertEqual((code, error["limit"]), (429, "max-history-events"))
        self.porter.state.update_history(first["id"], state=JobState.EXPIRED)
        code, _ = self.call(b"POST", "/api/history", {"from": "-4h", "to": "-2h"})
        self.assertEqual(code, 202)  # 500 + 300
