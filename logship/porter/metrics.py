"""The porter's metrics: rounds, the recent index's lag, the oldest bucket not archived, history jobs.

L{PorterMetrics} is a collector of the porter's registry
(C{docs/metrics.md} lists the series): it reads the L{PorterService}'s
counters, its last listings of the bucks, its state and its links when the
registry is collected (on the reactor thread, which the state's SQLite
connection wants).

  - The lag: the recent index holds every closed bucket of the connected
    bucks up to L{PorterService.indexed_until} (set by each round that
    had no failure); the lag is the time since.  Before the first such
    round it counts from the porter's start.
  - The oldest bucket not archived: of the buckets the bucks listed in the
    last round, the oldest whose listed files are not all in the archive
    at their listed size; its age counts from its end.
"""

from __future__ import annotations

from prometheus_client.metrics_core import Metric
from twisted.internet.interfaces import IReactorTime

from logship.plumbing.metrics import counter, endpoint_label, gauge, service_info
from logship.porter.service import PorterService
from logship.porter.state import JobState


class PorterMetrics:
    """
    The porter's collector.
    """

    def __init__(
        self,
        porter: PorterService,
        *,
        node: str,
        clock: IReactorTime,
        bucket_seconds: int,
        quiet: float,
    ) -> None:
        """
        @param porter: the porter.
        @param node: its node name.
        @param clock: the wall clock; its time now counts as the porter's
            start (for the lag before the first round).
        @param bucket_seconds: the bucket interval.
        @param quiet: the quiet period (exported, for the checks).
        """
        self._porter = porter
        self._node = node
        self._clock = clock
        self._seconds = bucket_seconds
        self._quiet = quiet
        self._started = clock.seconds()

    def oldest_unarchived(self) -> int | None:
        """
        The start of the oldest bucket of the last listings that the
        archive does not hold as listed, or C{None}.
        """
        listings = self._porter.listings
        for start in sorted({start for files in listings.values() for start in files}):
            holders = {name: files[start] for name, files in listings.items() if start in files}
            if not self._porter.archived_as_listed(start, holders):
                return start
        return None

    def collect(self) -> list[Metric]:
        """
        The porter's series, as they are now.
        """
        porter = self._porter
        stats = porter.stats
        now = self._clock.seconds()
        indexed_until = porter.indexed_until
        if indexed_until is None:
            indexed_until = self._started - self._seconds
        oldest = self.oldest_unarchived()
        archive_age = 0.0 if oldest is None else max(0.0, now - oldest - self._seconds)
        jobs = porter.state.history_counts()
        return [
            service_info("porter", self._node),
            counter("logship_porter_rounds", "Rounds finished.", stats.rounds),
            counter("logship_porter_round_errors",
                    "Rounds stopped by an unexpected error.", stats.round_errors),
            gauge("logship_porter_index_lag_seconds",
                  "Seconds the recent index is behind now: since the time up to which it"
                  " held every closed bucket, at the end of the last round without failure.",
                  max(0.0, now - indexed_until)),
            gauge("logship_porter_oldest_unarchived_age_seconds",
                  "Seconds since the end of the oldest bucket on the bucks that is not"
                  " archived as they list it (0 if none).", archive_age),
            gauge("logship_porter_quiet_seconds",
                  "The quiet period: seconds after a bucket's end before it is archived.",
                  self._quiet),
            gauge("logship_porter_history_jobs",
                  "History jobs, by state.",
                  {(state.value,): jobs.get(state.value, 0) for state in JobState},
                  ["state"]),
            gauge("logship_porter_buck_connected",
                  "Whether the connection to each buck is up (1) or not (0).",
                  {(endpoint_label(name),): int(link.connected_now)
                   for name, link in porter.links.items()},
                  ["buck"]),
            counter("logship_porter_loaded_events",
                    "Events loaded into the recent index (replicas included).",
                    stats.loaded_events),
            counter("logship_porter_loaded_bytes",
                    "Bucket bytes read and loaded into the recent index.", stats.loaded_bytes),
            counter("logship_porter_corrupt_events",
                    "Events that did not decode (damage on a buck).", stats.corrupt_events),
            counter("logship_porter_archived_buckets",
                    "Buckets archived (again, for changed ones).", stats.archived_buckets),
            counter("logship_porter_archived_events",
                    "Events in the buckets archived.", stats.archived_events),
            counter("logship_porter_deleted_copies",
                    "Buck files deleted after an archive.", stats.deleted_copies),
            counter("logship_porter_buck_failures",
                    "Requests to a buck that failed.", stats.buck_failures),
        ]
