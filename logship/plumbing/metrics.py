"""A service's metrics: its own registry, and the page serving it in Prometheus text format.

Each service keeps one L{CollectorRegistry} of its own (L{new_registry}),
not prometheus_client's global one, so that several services in one
process (tests, C{logship demo}) do not clash.  Its collectors read the
service's own counters when the registry is collected: a scrape of the
C{--metrics} endpoint (L{metrics_site}) or a push to graphite
(L{logship.plumbing.graphite}).

The page is a plain twisted.web resource that collects on the reactor
thread.  prometheus_client's own C{MetricsResource} runs its WSGI app in
the global reactor's thread pool: the collectors would then read the
services' state (dicts changed by the reactor, the porter's SQLite
connection) from another thread.

L{counter} and L{gauge} build the metric families the collectors return;
L{service_info} is the family every service exports first, naming it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TypeVar

from prometheus_client import CollectorRegistry
from prometheus_client.exposition import choose_encoder
from prometheus_client.metrics_core import CounterMetricFamily, GaugeMetricFamily
from twisted.web.pages import notFound
from twisted.web.resource import IResource, Resource
from twisted.web.server import Request, Site

import logship

_Family = TypeVar("_Family", CounterMetricFamily, GaugeMetricFamily)

#: The path the metrics are served under.
METRICS_PATH = b"metrics"


def new_registry() -> CollectorRegistry:
    """
    A registry of one service's metrics.
    """
    return CollectorRegistry(auto_describe=False)


def counter(
    name: str,
    documentation: str,
    values: Mapping[tuple[str, ...], float] | float,
    labels: Sequence[str] = (),
) -> CounterMetricFamily:
    """
    A counter family (exposed as C{NAME_total}).

    @param name: the family's name, without C{_total}.
    @param values: the value, or without C{labels} the one value;
        with C{labels}, the value of each tuple of label values.
    """
    return _filled(CounterMetricFamily(name, documentation, labels=labels), values, labels)


def gauge(
    name: str,
    documentation: str,
    values: Mapping[tuple[str, ...], float] | float,
    labels: Sequence[str] = (),
) -> GaugeMetricFamily:
    """
    A gauge family; C{values} as for L{counter}.
    """
    return _filled(GaugeMetricFamily(name, documentation, labels=labels), values, labels)


def _filled(
    family: _Family,
    values: Mapping[tuple[str, ...], float] | float,
    labels: Sequence[str],
) -> _Family:
    if isinstance(values, Mapping):
        for key, value in sorted(values.items()):
            family.add_metric(list(key), value)
    else:
        assert not labels, "a family with labels takes a value per label tuple"
        family.add_metric([], values)
    return family


def service_info(service: str, node: str) -> GaugeMetricFamily:
    """
    C{logship_info{service, node, version} 1}: which service this is.
    """
    return gauge(
        "logship_info",
        "The service (tailer, buck, porter, archie), its node name and logship's version.",
        {(service, node, logship.__version__): 1},
        ["service", "node", "version"],
    )


class MetricsPage(Resource):
    """
    The registry's metrics in the text format the client's C{Accept} asks
    for (Prometheus text by default, OpenMetrics if asked), collected at
    each request.
    """

    isLeaf = True

    def __init__(self, registry: CollectorRegistry) -> None:
        super().__init__()
        self._registry = registry

    def render_GET(self, request: Request) -> bytes:
        accept = (request.getHeader(b"accept") or b"").decode("latin-1")
        encode, content_type = choose_encoder(accept)
        body = encode(self._registry)
        request.setHeader(b"content-type", content_type.encode("ascii"))
        request.setHeader(b"cache-control", b"no-store")
        return body

    render_HEAD = render_GET


class _Root(Resource):
    """
    C{/metrics}, and "not found" for any other path.
    """

    def getChild(self, path: bytes, request: Request) -> IResource:
        return notFound()


def metrics_site(registry: CollectorRegistry) -> Site:
    """
    The site of a C{--metrics} endpoint: C{/metrics}, nothing else.
    """
    root = _Root()
    root.putChild(METRICS_PATH, MetricsPage(registry))
    site = Site(root)
    site.noisy = False
    site.displayTracebacks = False
    return site



def endpoint_label(description: str) -> str:
    """
    A client endpoint string as a label value: C{HOST:PORT} for
    C{tcp:host=HOST:port=PORT}, else the string as it is.
    """
    kind, _, rest = description.partition(":")
    fields = dict(p.split("=", 1) for p in rest.split(":") if "=" in p)
    if kind == "tcp" and "host" in fields and "port" in fields and "\\" not in rest:
        return f"{fields['host']}:{fields['port']}"
    return description
