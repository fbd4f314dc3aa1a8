"""archie's metrics: how long its API requests take, a histogram per endpoint.

L{ArchieMetrics} is the collector of archie's registry (C{docs/metrics.md}
lists the series).  L{ArchieMetrics.timed} wraps the C{/api} resource tree:
each request under it is timed on the injected clock, from the moment it
reaches the tree to the end of its answer, and counted in the histogram of
its endpoint (C{search}, C{histogram}, C{facets}, C{bucks}, C{history};
C{other} for a path that is none of them).  The history status streams
(C{/api/history/ID/events}) are not timed: they last as long as the job.
"""

from __future__ import annotations

import bisect
import math

from prometheus_client.metrics_core import HistogramMetricFamily, Metric
from twisted.internet.interfaces import IReactorTime
from twisted.web.resource import IResource, Resource
from twisted.web.server import Request

from logship.plumbing.metrics import service_info

#: The histogram's upper bounds, in seconds.
BOUNDS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
#: The endpoints with a histogram of their own.
ENDPOINTS = frozenset({"search", "histogram", "facets", "bucks", "history"})


class _Latencies:
    """
    One endpoint's histogram: counts per bound (the last for C{+Inf}),
    and the sum.
    """

    def __init__(self) -> None:
        self.counts = [0] * (len(BOUNDS) + 1)
        self.sum = 0.0

    def observe(self, seconds: float) -> None:
        self.counts[bisect.bisect_left(BOUNDS, seconds)] += 1
        self.sum += seconds

    def buckets(self) -> list[tuple[str, float]]:
        """
        The cumulative counts, by upper bound as the text format writes it.
        """
        cumulative, total = [], 0
        for bound, count in zip([*BOUNDS, math.inf], self.counts):
            total += count
            cumulative.append(("+Inf" if bound == math.inf else repr(bound), float(total)))
        return cumulative


class ArchieMetrics:
    """
    archie's collector: its request latencies.
    """

    def __init__(self, clock: IReactorTime, node: str) -> None:
        """
        @param clock: times the requests.
        @param node: the name archie goes by (in C{logship_info}).
        """
        self._clock = clock
        self._node = node
        self._latencies = {endpoint: _Latencies() for endpoint in sorted(ENDPOINTS | {"other"})}

    def timed(self, api: Resource) -> Resource:
        """
        The C{/api} tree C{api}, its requests timed.
        """
        return _Timed(api, self)

    def started(self, endpoint: str, request: Request) -> None:
        """
        A request of C{endpoint} came: count it when its answer ends (or
        its connection is lost).
        """
        begun = self._clock.seconds()
        latencies = self._latencies[endpoint if endpoint in ENDPOINTS else "other"]

        def ended(_: object) -> None:
            latencies.observe(max(0.0, self._clock.seconds() - begun))

        request.notifyFinish().addBoth(ended)

    def collect(self) -> list[Metric]:
        """
        archie's series, as they are now.
        """
        family = HistogramMetricFamily(
            "logship_archie_request_seconds",
            "Seconds from a request's arrival to the end of its answer, by API endpoint.",
            labels=["endpoint"],
        )
        for endpoint, latencies in self._latencies.items():
            family.add_metric([endpoint], latencies.buckets(), latencies.sum)
        return [service_info("archie", self._node), family]


class _Timed(Resource):
    """
    The C{/api} tree, each request under it handed to L{ArchieMetrics.started}.
    """

    def __init__(self, api: Resource, metrics: ArchieMetrics) -> None:
        super().__init__()
        self._api = api
        self._metrics = metrics

    def getChildWithDefault(self, path: bytes, request: Request) -> IResource:
        if not (path == b"history" and (request.postpath or [])[-1:] == [b"events"]):
            self._metrics.started(path.decode("ascii", "replace"), request)
        child: IResource = self._api.getChildWithDefault(path, request)
        return child

    def render(self, request: Request) -> bytes:
        return self._api.render(request)  # type: ignore[no-any-return]
