"""The tailer's metrics: lines read, events sent and acknowledged, backlog, bucks, shipping.

L{TailerMetrics} is a collector of the tailer's registry
(C{docs/metrics.md} lists the series): it reads the L{TailerService}'s
counters, its spools, its delivery engine and its shipper when the
registry is collected.

The backlog in events (records in the spools not yet on R bucks) is the
one number the tailer does not keep: the spools track bytes.  It is
counted once when the service starts, from the spool files (the records
between each file's delivered offset and its end, read by C{blocking},
a thread in the tap), and then followed with the tailer's counters:
events stored minus events acknowledged since.  It is C{NaN} until that
count is done, and 0 whenever the backlog in bytes is (which also sets the
count right again after a spool file was taken up again from disk).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from prometheus_client.metrics_core import Metric
from twisted.application.service import Service
from twisted.internet.defer import Deferred, maybeDeferred
from twisted.internet.interfaces import IReactorTime
from twisted.logger import Logger

from logship.core.bucket import count_records
from logship.plumbing.metrics import counter, endpoint_label, gauge, service_info
from logship.tailer.service import TailerService
from logship.tailer.syslog import CountedListener


def _count_all(ranges: list[tuple[Path, int, int]]) -> int:
    """
    The records of every C{(path, start, end)} range (a file gone counts 0).
    """
    total = 0
    for path, start, end in ranges:
        try:
            total += count_records(path, start, end)
        except FileNotFoundError:
            continue
    return total


class TailerMetrics(Service):
    """
    The tailer's collector; a service, so that the backlog in events is
    counted once the tailer has taken up its spools.
    """

    _log = Logger()

    def __init__(
        self,
        tailer: TailerService,
        *,
        node: str,
        bucks: Sequence[str],
        clock: IReactorTime,
        bucket_seconds: int,
        syslog: Sequence[CountedListener] = (),
        blocking: Callable[..., Deferred[Any]] = maybeDeferred,
    ) -> None:
        """
        @param tailer: the tailer.
        @param node: its node name.
        @param bucks: the names of the bucks it delivers to (their
            endpoint strings).
        @param clock: the wall clock (bucket ages).
        @param bucket_seconds: the bucket interval.
        @param syslog: the syslog listeners.
        @param blocking: runs the count of the backlog at the start and
            returns a Deferred of its result (the tap gives a thread pool).
        """
        self._tailer = tailer
        self._node = node
        self._bucks = list(bucks)
        self._clock = clock
        self._seconds = bucket_seconds
        self._blocking = blocking
        self._syslog = list(syslog)
        #: backlog events = base + events stored - events acknowledged
        self._base: int | None = None

    def startService(self) -> None:
        super().startService()
        tailer = self._tailer
        ranges = [
            (path, delivered, size)
            for spool in tailer.spools.values()
            for _, path, size, delivered in spool.files()
            if size > delivered
        ]
        stored, acked = tailer.events_stored, tailer.events_acked

        def counted(events: int) -> None:
            if self._base is None:
                self._base = events - stored + acked

        d = self._blocking(_count_all, ranges)
        d.addCallback(counted)
        d.addErrback(lambda f: self._log.failure("Cannot count the spooled backlog", f))

    def backlog_events(self, backlog_bytes: int) -> float:
        """
        The events in the spools not yet on R bucks (C{NaN} while unknown).

        @param backlog_bytes: the backlog in bytes now.
        """
        tailer = self._tailer
        if backlog_bytes == 0:
            self._base = tailer.events_acked - tailer.events_stored
        if self._base is None:
            return math.nan
        return max(0, self._base + tailer.events_stored - tailer.events_acked)

    def collect(self) -> list[Metric]:
        """
        The tailer's series, as they are now.
        """
        tailer = self._tailer
        delivery = tailer.delivery.stats
        shipping = tailer.shipper.stats
        backlog = sum(spool.undelivered_bytes() for spool in tailer.spools.values())
        connected = set(tailer.delivery.bucks)
        now = self._clock.seconds()
        oldest = tailer.shipper.oldest_unshipped()
        unshipped_age = 0.0 if oldest is None else max(0.0, now - oldest - self._seconds)
        return [
            service_info("tailer", self._node),
            counter("logship_tailer_lines_read",
                    "Lines read from the followed files.", tailer.lines_read),
            counter("logship_tailer_events_stored",
                    "Events stored in the local spool.", tailer.events_stored),
            counter("logship_tailer_events_sent",
                    "Events handed to the delivery (each once, however many copies).",
                    tailer.events_sent),
            counter("logship_tailer_events_acked",
                    "Events delivered: acknowledged by as many bucks as their durability needs.",
                    tailer.events_acked),
            counter("logship_tailer_batches_sent", "Batches sent.", delivery.batches),
            counter("logship_tailer_batch_copies_sent",
                    "Copies of batches sent to bucks.", delivery.copies_sent),
            counter("logship_tailer_batches_resent",
                    "Copies of batches sent again elsewhere: their buck went away, or"
                    " did not acknowledge in time.",
                    {("disconnect",): delivery.resends, ("timeout",): delivery.timeouts},
                    ["why"]),
            counter("logship_tailer_batches_refused",
                    "Batches a buck refused (a host the credential does not allow).",
                    delivery.refused),
            gauge("logship_tailer_batches_in_flight",
                  "Batches sent and not yet delivered.", tailer.delivery.in_flight),
            gauge("logship_tailer_backlog_bytes",
                  "Bytes in the spool not yet on R bucks.", backlog),
            gauge("logship_tailer_backlog_events",
                  "Events in the spool not yet on R bucks (NaN until counted at the start).",
                  self.backlog_events(backlog)),
            gauge("logship_tailer_oldest_unshipped_age_seconds",
                  "Seconds since the end of the oldest local bucket not shipped whole"
                  " (0 if none).", unshipped_age),
            gauge("logship_tailer_buck_connected",
                  "Whether the connection to each buck is up (1) or not (0).",
                  {(endpoint_label(b),): int(b in connected) for b in self._bucks},
                  ["buck"]),
            gauge("logship_tailer_replicas",
                  "R: the bucks each batch must reach.", tailer.delivery.replicas),
            counter("logship_tailer_buckets_shipped",
                    "Local buckets shipped whole and acknowledged.", shipping.acked),
            counter("logship_tailer_shipped_bytes",
                    "Bytes of the local buckets shipped whole.", shipping.bytes_shipped),
            counter("logship_tailer_shipping_failures",
                    "Whole-bucket uploads that failed (tried again).", shipping.failed),
            counter("logship_tailer_buckets_archived",
                    "Local buckets deleted on a proof of archiving.", shipping.archived),
            counter("logship_tailer_buckets_pruned",
                    "Local buckets deleted by the size limit without a proof of archiving.",
                    shipping.pruned),
            counter("logship_tailer_buckets_reshipped",
                    "Local buckets shipped again: their buck did not have them.",
                    shipping.reshipped),
            gauge("logship_tailer_buckets_overdue",
                  "Local buckets older than the keeping period, without a proof of archiving.",
                  shipping.overdue_files),
            gauge("logship_tailer_overdue_bytes",
                  "Bytes of the local buckets older than the keeping period.",
                  shipping.overdue_bytes),
            counter("logship_tailer_archive_proofs_refused",
                    "Proofs of archiving that did not check out.", shipping.proofs_refused),
            *self._syslog_series(),
        ]

    def _syslog_series(self) -> list[Metric]:
        """
        The series of the syslog listeners, by listener (its endpoint
        string) and protocol.
        """
        labels = ["listener", "protocol"]

        def each(value: Callable[[CountedListener], float]) -> dict[tuple[str, ...], float]:
            return {(s.listen.endpoint, s.listen.transport): value(s) for s in self._syslog}

        return [
            counter("logship_tailer_syslog_connections",
                    "Connections the syslog listener accepted.",
                    each(lambda s: s.counters.connections), labels),
            gauge("logship_tailer_syslog_connections_open",
                  "Senders connected to the syslog listener now.",
                  each(lambda s: s.open_connections()), labels),
            counter("logship_tailer_syslog_received_bytes",
                    "Bytes the syslog listener read (frames and all).",
                    each(lambda s: s.counters.bytes), labels),
            counter("logship_tailer_syslog_received_messages",
                    "Messages the syslog listener stored.",
                    each(lambda s: s.counters.messages), labels),
            counter("logship_tailer_syslog_framing_errors",
                    "Connections closed on a frame that broke the protocol.",
                    each(lambda s: s.counters.rejected), labels),
            counter("logship_tailer_syslog_acks_sent",
                    "Messages acknowledged to the sender (RELP), once stored.",
                    each(lambda s: s.counters.acks), labels),
            counter("logship_tailer_syslog_pauses",
                    "Times the listener stopped reading: the backlog was over the limit.",
                    each(lambda s: s.counters.paused), labels),
        ]
