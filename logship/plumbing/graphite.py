"""The metrics pushed to graphite's plaintext protocol, on a reconnecting TCP client.

  1. Every C{interval} seconds (on the injected clock), the service's
     registry is collected and each sample becomes one line
     C{PATH VALUE TIMESTAMP\\n} (L{graphite_lines}): the path is the prefix,
     the series name without its C{logship_} prefix, then each label as
     C{.NAME.VALUE}, by name (characters other than letters, digits, C{_} and C{-}
     become C{_}).
  2. The lines go out on the one connection of a L{ClientService}
     (reconnecting with backoff and jitter), in one write.
  3. Graphite down or slow never blocks the service nor grows its memory:
     with no connection, or while the connection's send buffer is full
     (the transport paused its producer), the push is skipped and counted;
     nothing is queued.  The next push sends the counters as they are then.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable

from prometheus_client import CollectorRegistry
from prometheus_client.metrics_core import Metric
from twisted.application.internet import ClientService, backoffPolicy
from twisted.application.service import MultiService
from twisted.internet.interfaces import IPushProducer, IReactorTime, IStreamClientEndpoint
from twisted.internet.protocol import Factory, Protocol, connectionDone
from twisted.logger import Logger
from twisted.python.failure import Failure
from zope.interface import implementer

from logship.plumbing.metrics import counter
from logship.plumbing.periodic import periodic

#: Seconds between two pushes by default.
DEFAULT_INTERVAL = 60.0

_UNSAFE = re.compile(r"[^A-Za-z0-9_\-]")


def path_part(text: str) -> str:
    """
    C{text} as one component of a graphite path.
    """
    return _UNSAFE.sub("_", text) or "_"


def graphite_lines(families: Iterable[Metric], prefix: str, timestamp: int) -> bytes:
    """
    The plaintext lines of every sample of C{families} (non-finite values
    are left out: graphite has no NaN).

    @param prefix: the paths' prefix, e.g. C{logship.buck1}.
    @param timestamp: the lines' time, seconds since the epoch.
    """
    lines = []
    for family in families:
        for sample in family.samples:
            if not math.isfinite(sample.value):
                continue
            name = sample.name.removeprefix("logship_")
            parts = [prefix, path_part(name)]
            for label, value in sorted(sample.labels.items()):
                parts += [path_part(label), path_part(value)]
            lines.append(f"{'.'.join(parts)} {float(sample.value)!r} {timestamp}\n")
    return "".join(lines).encode("ascii")


@implementer(IPushProducer)
class _GraphiteProtocol(Protocol):
    """
    The connection to graphite: written to, never read; a producer of its
    transport, so that a full send buffer pauses it.
    """

    factory: _GraphiteFactory

    def __init__(self) -> None:
        self.paused = False

    def connectionMade(self) -> None:
        self.transport.registerProducer(self, True)  # type: ignore[union-attr]
        self.factory.connection = self

    def connectionLost(self, reason: Failure = connectionDone) -> None:
        if self.factory.connection is self:
            self.factory.connection = None

    def pauseProducing(self) -> None:
        self.paused = True

    def resumeProducing(self) -> None:
        self.paused = False

    def stopProducing(self) -> None:
        self.paused = True


class _GraphiteFactory(Factory):
    """
    Builds the connection, and knows the one that is open.
    """

    protocol = _GraphiteProtocol  # type: ignore[assignment]  # its factory is this one
    noisy = False

    def __init__(self) -> None:
        self.connection: _GraphiteProtocol | None = None


class GraphitePusher(MultiService):
    """
    Pushes a registry to graphite every C{interval} seconds (see the
    module docstring).

    @ivar sent: pushes written to a connection.
    @ivar skipped: pushes skipped (no connection, or its buffer full).
    """

    _log = Logger()

    def __init__(
        self,
        registry: CollectorRegistry,
        endpoint: IStreamClientEndpoint,
        clock: IReactorTime,
        *,
        prefix: str,
        interval: float = DEFAULT_INTERVAL,
        where: str = "graphite",
    ) -> None:
        """
        @param registry: what to push (the pusher's own counters are
            added to it).
        @param endpoint: graphite's plaintext port.
        @param clock: the time of the lines, and the timers.
        @param prefix: the paths' prefix.
        @param interval: seconds between two pushes.
        @param where: graphite's address, for the log.
        """
        super().__init__()
        self.sent = 0
        self.skipped = 0
        self._registry = registry
        self._clock = clock
        self._prefix = prefix.rstrip(".")
        self._where = where
        self._factory = _GraphiteFactory()
        self._was_connected = True
        ClientService(
            endpoint,
            self._factory,
            retryPolicy=backoffPolicy(initialDelay=1.0, maxDelay=60.0),
            clock=clock,
        ).setServiceParent(self)
        periodic(interval, self.push, clock, self._log, first=interval).setServiceParent(self)
        registry.register(self)

    def collect(self) -> list[Metric]:
        """
        The pusher's own counters (the registry collects them).
        """
        return [
            counter(
                "logship_graphite_pushes",
                "Pushes to graphite: sent, or skipped (not connected, or its buffer full).",
                {("sent",): self.sent, ("skipped",): self.skipped},
                ["result"],
            )
        ]

    def push(self) -> None:
        """
        Send the registry's samples now, or skip if graphite cannot take
        them.
        """
        connection = self._factory.connection
        if connection is None or connection.paused:
            self.skipped += 1
            if self._was_connected:
                self._log.warn(
                    "Graphite {where} not reachable: metrics not pushed until it is",
                    where=self._where,
                )
            self._was_connected = False
            return
        if not self._was_connected:
            self._log.info("Graphite {where} reachable: pushing metrics", where=self._where)
            self._was_connected = True
        data = graphite_lines(
            self._registry.collect(), self._prefix, int(self._clock.seconds())
        )
        connection.transport.write(data)  # type: ignore[union-attr]
        self.sent += 1
