"""The buck's metrics: events received, written and rejected by reason, peers, disk free.

L{BuckMetrics} is a collector of the buck's registry (C{docs/metrics.md}
lists the series): it reads the L{BuckService}'s counters (overall and per
peer), its store's, its wire's and the disk of its data directory when the
registry is collected.
"""

from __future__ import annotations

import os
from collections.abc import Callable

from prometheus_client.metrics_core import Metric

from logship.buck.service import BuckService
from logship.plumbing.metrics import counter, gauge, service_info


class BuckMetrics:
    """
    The buck's collector.
    """

    def __init__(
        self, buck: BuckService, statvfs: Callable[[str], os.statvfs_result] = os.statvfs
    ) -> None:
        """
        @param buck: the buck.
        @param statvfs: how the data directory's file system is looked at
            (L{os.statvfs}; tests give their own).
        """
        self._buck = buck
        self._statvfs = statvfs

    def _disk(self) -> list[Metric]:
        """
        The free and total bytes of the data directory's file system (none
        if it cannot be looked at).
        """
        try:
            fs = self._statvfs(str(self._buck.store.data))
        except OSError:
            return []
        return [
            gauge("logship_buck_disk_free_bytes",
                  "Bytes of the data directory's file system available to the buck.",
                  fs.f_bavail * fs.f_frsize),
            gauge("logship_buck_disk_size_bytes",
                  "Bytes of the data directory's file system.", fs.f_blocks * fs.f_frsize),
        ]

    def collect(self) -> list[Metric]:
        """
        The buck's series, as they are now.
        """
        buck = self._buck
        stats = buck.stats()
        total = buck.counters.total
        store = buck.store.stats
        corrupt = total.events_rejected - total.events_refused - total.events_unwritable
        return [
            service_info("buck", buck.node),
            counter("logship_buck_batches_received", "Batches received.", total.batches_received),
            counter("logship_buck_events_received",
                    "Events received (any durability).", total.events_received),
            counter("logship_buck_events_written",
                    "Events written to bucket files and acknowledged.", total.events_written),
            counter("logship_buck_events_live",
                    "Events of live batches (published, not written).", total.events_live),
            counter("logship_buck_events_rejected",
                    "Events of refused batches, by reason: a host the sender's credential"
                    " does not allow, a corrupt event, or the store could not write.",
                    {("host",): total.events_refused, ("corrupt",): corrupt,
                     ("write-error",): total.events_unwritable},
                    ["reason"]),
            counter("logship_buck_peer_events_written",
                    "Events written, per sending node.",
                    {(node, ): c.events_written for node, c in buck.counters.peers.items()},
                    ["peer"]),
            counter("logship_buck_uploads",
                    "Whole-bucket uploads finished, by result.",
                    {("merged",): total.uploads_merged, ("rejected",): total.uploads_rejected,
                     ("abandoned",): total.uploads_abandoned},
                    ["result"]),
            counter("logship_buck_upload_events_new",
                    "Events of merged uploads that the buck did not have yet.", total.upload_new),
            counter("logship_buck_messages_refused",
                    "Messages the sender's role may not send.", total.messages_refused),
            counter("logship_buck_connections_closed",
                    "Connections the buck closed for a reason of its own (a refused message,"
                    " a corrupt batch).", total.connections_closed),
            counter("logship_buck_wire_rejected",
                    "Connections the wire closed, by reason (a bad frame, a bad credential,"
                    " a timeout ...).",
                    {(code,): n for code, n in stats["wire"]["rejected"].items()}, ["reason"]),
            gauge("logship_buck_peers_connected",
                  "Connections open now (tailers and porters).", stats["connected"]),
            gauge("logship_buck_uploads_in_progress",
                  "Whole-bucket uploads being received.", stats["uploads_in_progress"]),
            counter("logship_buck_bytes_written",
                    "Record bytes appended to bucket files.", store.bytes_written),
            counter("logship_buck_fsyncs", "fsync calls.", store.fsyncs),
            counter("logship_buck_write_errors", "I/O errors while writing.", store.write_errors),
            counter("logship_buck_buckets_deleted",
                    "Bucket files deleted on the porter's receipt.", store.archived_deleted),
            counter("logship_buck_live_dropped",
                    "Events the live subscribers were too slow to take.", buck.channel.dropped),
            *self._disk(),
            gauge("logship_buck_disk_in_service",
                  "1 for a data directory in service, 0 for one taken out of service"
                  " (an I/O error or a full disk: its buckets are refused).",
                  {(str(d),): int(d not in buck.store.failed) for d in buck.store.disks},
                  ["data"]),
        ]
