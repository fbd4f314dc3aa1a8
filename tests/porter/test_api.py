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
from logship.porter.api import api_root
from logship.porter.service import PorterService
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
        self.root = api_root(self.porter, "prod", clock)

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
