"""Tests for L{logship.plumbing.metrics}: families, the page, labels."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families
from twisted.trial.unittest import SynchronousTestCase
from twisted.web.test.requesthelper import DummyRequest

import logship
from logship.plumbing.metrics import (
    MetricsPage,
    counter,
    endpoint_label,
    gauge,
    metrics_site,
    new_registry,
    service_info,
)


class _Fixed:
    """
    A collector of fixed families.
    """

    def collect(self) -> list:  # type: ignore[type-arg]
        return [
            service_info("buck", "b1"),
            counter("logship_test_things", "Things.", 3),
            gauge("logship_test_level", "Levels.", {("a",): 1.5, ("b",): 2}, ["which"]),
        ]


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


class PageTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.registry = new_registry()
        self.registry.register(_Fixed())

    def test_prometheus_text(self) -> None:
        """
        The page is Prometheus text that prometheus_client's parser reads
        back, counters as C{_total}.
        """
        request = DummyRequest([])
        body = MetricsPage(self.registry).render_GET(request)
        self.assertTrue(
            request.responseHeaders.getRawHeaders(b"content-type")[0].startswith(b"text/plain")
        )
        self.assertEqual(
            samples(body.decode()),
            {
                ("logship_info", (("node", "b1"), ("service", "buck"),
                                  ("version", logship.__version__))): 1.0,
                ("logship_test_things_total", ()): 3.0,
                ("logship_test_level", (("which", "a"),)): 1.5,
                ("logship_test_level", (("which", "b"),)): 2.0,
            },
        )

    def test_collected_at_each_request(self) -> None:
        values = iter([1, 2])

        class Moving:
            def collect(self) -> list:  # type: ignore[type-arg]
                return [gauge("logship_test_moving", "Moves.", next(values))]

        registry = new_registry()
        registry.register(Moving())
        page = MetricsPage(registry)
        first = samples(page.render_GET(DummyRequest([])).decode())
        second = samples(page.render_GET(DummyRequest([])).decode())
        self.assertEqual(first[("logship_test_moving", ())], 1)
        self.assertEqual(second[("logship_test_moving", ())], 2)

    def test_openmetrics_if_asked(self) -> None:
        request = DummyRequest([])
        request.requestHeaders.setRawHeaders(b"accept", [b"application/openmetrics-text"])
        body = MetricsPage(self.registry).render_GET(request)
        self.assertTrue(body.endswith(b"# EOF\n"))

    def test_site_serves_metrics_only(self) -> None:
        site = metrics_site(self.registry)
        request = DummyRequest([b"metrics"])
        self.assertIsInstance(site.getResourceFor(request), MetricsPage)
        other = DummyRequest([b"other"])
        self.assertNotIsInstance(site.getResourceFor(other), MetricsPage)

    def test_registries_apart(self) -> None:
        """
        Two services' registries do not clash on the same series.
        """
        other = new_registry()
        other.register(_Fixed())
        self.assertEqual(len(list(other.collect())), len(list(self.registry.collect())))


class LabelTests(SynchronousTestCase):
    def test_endpoint_label(self) -> None:
        self.assertEqual(endpoint_label("tcp:host=10.0.0.1:port=4401"), "10.0.0.1:4401")
        self.assertEqual(endpoint_label("unix:path=/run/b.sock"), "unix:path=/run/b.sock")
        escaped = r"tcp:host=\:\:1:port=4401"
        self.assertEqual(endpoint_label(escaped), escaped)

    def test_labels_need_a_value_each(self) -> None:
        with self.assertRaises(AssertionError):
            gauge("logship_test_x", "X.", 1, ["which"])
