"""Tests for L{logship.archie.metrics}: the API's requests timed on a L{Clock}."""

from __future__ import annotations

from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase
from twisted.web.resource import Resource, getChildForRequest
from twisted.web.server import NOT_DONE_YET
from twisted.web.test.requesthelper import DummyRequest

from logship.archie.metrics import ArchieMetrics
from tests.metricstext import scrape, value


class Slow(Resource):
    isLeaf = True

    def render_GET(self, request: DummyRequest) -> object:
        return NOT_DONE_YET


class ArchieMetricsTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.clock = Clock()
        self.metrics = ArchieMetrics(self.clock, "web1")
        api = Resource()
        for name in (b"search", b"history"):
            api.putChild(name, Slow())
        self.api = self.metrics.timed(api)

    def request(self, *path: bytes) -> DummyRequest:
        request = DummyRequest(list(path))
        resource = getChildForRequest(self.api, request)
        resource.render(request)
        return request

    def test_latency_by_endpoint(self) -> None:
        fast = self.request(b"search")
        self.clock.advance(0.02)
        fast.finish()
        slow = self.request(b"search")
        self.clock.advance(3)
        slow.finish()
        self.request(b"nothing-here").finish()
        samples = scrape(self.metrics)
        bucket = "logship_archie_request_seconds_bucket"
        self.assertEqual(value(samples, bucket, endpoint="search", le="0.025"), 1)
        self.assertEqual(value(samples, bucket, endpoint="search", le="5.0"), 2)
        self.assertEqual(value(samples, bucket, endpoint="search", le="+Inf"), 2)
        self.assertEqual(value(samples, "logship_archie_request_seconds_count",
                               endpoint="search"), 2)
        self.assertAlmostEqual(value(samples, "logship_archie_request_seconds_sum",
                                     endpoint="search"), 3.02)
        self.assertEqual(value(samples, "logship_archie_request_seconds_count",
                               endpoint="other"), 1)
        self.assertEqual(value(samples, "logship_archie_request_seconds_count",
                               endpoint="facets"), 0)

    def test_status_streams_not_timed(self) -> None:
        self.request(b"history", b"abc", b"events").finish()
        self.request(b"history").finish()
        samples = scrape(self.metrics)
        self.assertEqual(value(samples, "logship_archie_request_seconds_count",
                               endpoint="history"), 1)
