"""twistd entry point of C{logship-tailer}.

    twistd -n logship-tailer --buck HOST:PORT [--buck HOST:PORT]...
        --state DIR (--credential FILE --node-key FILE --authority FILE
        [--revoked FILE] | --key FILE | --insecure)  [--replicas 2]
        [--durability ack2] [--source DURABILITY:GLOB]... [--bucket-seconds 60]
        [--syslog [DURABILITY:]tcp:6514|udp:514|PORT]... [--syslog-backlog-mb 256]
        [--metrics tcp:9402:interface=127.0.0.1] [--graphite HOST:PORT
         [--graphite-interval 60] [--graphite-prefix logship.NODE]]
        [--config tailer.toml] FILE-OR-GLOB...

L{Options} checks what it can before twistd starts; L{makeService} builds
the L{TailerService}, which keeps a reconnecting client per buck, its
syslog listeners (L{logship.tailer.syslog}), and with C{--metrics} or
C{--graphite} its metrics (L{logship.tailer.metrics}); SIGHUP reloads the
settings (L{logship.tailer.reload}).
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any, ClassVar

from twisted.application.service import IService
from twisted.internet import endpoints
from twisted.internet.threads import deferToThreadPool
from twisted.python import usage

from logship.core.formats import check_format
from logship.core.ingest import check_host, this_host
from logship.core.multiline import rules_from_table
from logship.plumbing.metrics import new_registry
from logship.tailer.metrics import TailerMetrics
from logship.tailer.reload import Reloader, ReloadOnSignal
from logship.tailer.service import Source, TailerService
from logship.tailer.syslog import parse_syslog, syslog_services
from logship.plumbing.tapsupport import (
    ClusterOptions,
    buck_endpoint,
    log_codec,
    positive_float,
    positive_int,
)
from logship.wire.messages import DURABILITIES
from logship.core.zones import local_zone, parse_zone


class Options(ClusterOptions):
    """
    The options of C{twistd logship-tailer}; see C{etc/tailer.toml}.
    """

    synopsis = "[options] FILE-OR-GLOB..."
    longdesc = (
        "Follow log files (across rotation), keep a local time-bucketed copy of"
        " their events under STATE/spool, and deliver every batch to R bucks."
    )
    role = "tailer"
    optParameters: ClassVar[list[list[Any]]] = [
        ["state", "s", "tailer-state", "State directory: checkpoint and local buckets."],
        ["replicas", "r", 2, "Bucks that must acknowledge each batch (R).", positive_int],
        ["durability", None, "ack2", f"Durability of the positional files: {', '.join(DURABILITIES)}."],
        ["host", None, None, "Host name of lines that name none (default: this host)."],
        ["tz", None, None, "Time zone of timestamps without one (default: local)."],
        ["poll-interval", None, 0.25, "Seconds between two polls of the files.", positive_float],
        ["ack-timeout", None, 30.0, "Seconds to wait for a buck's ack before resending.", positive_float],
        ["max-in-flight", None, 8, "Batches in flight at most.", positive_int],
        ["keep-hours", None, 168.0,
         "Warn about (and count) local buckets older than this without a proof of archiving.",
         positive_float],
        ["keep-mb", None, 10240,
         "Delete shipped local buckets without a proof of archiving, oldest first"
         " (each logged as an error), beyond this size.", positive_int],
        ["syslog-backlog-mb", None, 256,
         "Undelivered MiB beyond which the syslog listeners stop reading.", positive_int],
        ["stats-interval", None, 60.0, "Seconds between two stats lines in the log.", positive_float],
        ["archive-check-interval", None, 60.0,
         "Seconds between two questions to the bucks: which shipped buckets were archived?",
         positive_float],
    ]
    config_paths = ClusterOptions.config_paths | {"state"}
    config_arguments = "files"
    config_tables = frozenset({"source"})

    def __init__(self) -> None:
        super().__init__()
        self["buck"] = []
        self["source"] = []
        self["syslog"] = []

    def opt_buck(self, value: str) -> None:
        """
        A buck to deliver to, HOST:PORT (repeatable; at least R).
        """
        self["buck"].append(buck_endpoint(value))

    def opt_source(self, value: str | dict[str, Any]) -> None:
        """
        DURABILITY:GLOB, a file or glob with its own durability (repeatable).
        """
        if isinstance(value, dict):
            self["source"].append(_table_source(value))
            return
        durability, sep, pattern = value.partition(":")
        if not sep or durability not in DURABILITIES or not pattern:
            raise usage.UsageError(
                f"--source {value}: expected DURABILITY:GLOB with DURABILITY one of"
                f" {', '.join(DURABILITIES)}"
            )
        self["source"].append(Source(pattern, durability))

    def opt_syslog(self, value: str) -> None:
        """
        [DURABILITY:]ENDPOINT, a syslog listener (repeatable): tcp:6514
        (RFC 6587), udp:514 (RFC 5426), a bare PORT for TCP on loopback.
        """
        try:
            self["syslog"].append(parse_syslog(value))
        except ValueError as e:
            raise usage.UsageError(f"--syslog {value}: {e}") from None

    def postOptions(self) -> None:
        super().postOptions()
        if self["durability"] not in DURABILITIES:
            raise usage.UsageError(
                f"--durability: one of {', '.join(DURABILITIES)}, not {self['durability']!r}"
            )
        self["sources"] = [Source(p, self["durability"]) for p in self.arguments] + [
            source if source.durability else replace(source, durability=self["durability"])
            for source in self["source"]
        ]
        if not self["sources"] and not self["syslog"]:
            raise usage.UsageError(
                "no files to follow (give FILE-OR-GLOB arguments or --source) and no --syslog"
            )
        if not self["buck"]:
            raise usage.UsageError("no --buck HOST:PORT given")
        self.check_cluster_options()
        self["tz"] = local_zone() if self["tz"] is None else _zone(self["tz"])
        try:
            self["host"] = check_host(self["host"].encode()) if self["host"] else this_host()
        except ValueError as e:
            raise usage.UsageError(f"--host: {e}") from None


#: The keys of a C{[[source]]} table.
_SOURCE_KEYS = ("path", "durability", "format", "multiline")


def _table_source(table: dict[str, Any]) -> Source:
    """
    The L{Source} of a C{[[source]]} table of the config file: C{path}
    (a file or glob, required), C{durability} (the default's if absent:
    left empty here, filled in by C{postOptions}), C{format} (a format
    hint), C{multiline} (a table of L{logship.core.multiline} rules).

    @raise usage.UsageError: a missing or unknown key, a bad value.
    """
    unknown = sorted(set(table) - set(_SOURCE_KEYS))
    if unknown:
        raise usage.UsageError(
            f"unknown key {unknown[0]!r} (known: {', '.join(_SOURCE_KEYS)})"
        )
    path = table.get("path")
    if type(path) is not str or not path:
        raise usage.UsageError("path (a file or glob) is required")
    durability = table.get("durability", "")
    if durability and durability not in DURABILITIES:
        raise usage.UsageError(f"durability: one of {', '.join(DURABILITIES)}, not {durability!r}")
    hint = table.get("format")
    if hint is not None and type(hint) is not str:
        raise usage.UsageError("format must be a string")
    try:
        hint = check_format(hint)
    except ValueError as e:
        raise usage.UsageError(f"format: {e}") from None
    multiline = table.get("multiline")
    if multiline is not None:
        if type(multiline) is not dict:
            raise usage.UsageError("multiline must be a table")
        try:
            multiline = rules_from_table(multiline)
        except ValueError as e:
            raise usage.UsageError(f"multiline: {e}") from None
    return Source(path, durability, multiline, hint)


def _zone(text: str) -> Any:
    try:
        return parse_zone(text)
    except ValueError as e:
        raise usage.UsageError(f"--tz: {e}") from None


def makeService(config: Options, reactor: Any = None) -> IService:
    """
    Build the tailer, and with C{--metrics} or C{--graphite} its metrics
    (children of the tailer's service).

    @param config: the parsed L{Options}.
    @param reactor: the reactor (the global one if C{None}).
    """
    log_codec("logship-tailer")
    if reactor is None:
        from twisted.internet import reactor  # the edge: only here
    tailer = TailerService(
        sources=config["sources"],
        state_dir=Path(config["state"]),
        bucks={d: endpoints.clientFromString(reactor, d) for d in config["buck"]},
        key=config.key,
        node=config["node"],
        host=config["host"],
        tz=config["tz"],
        clock=reactor,
        replicas=config["replicas"],
        bucket_seconds=config["bucket-seconds"],
        poll_interval=config["poll-interval"],
        ack_timeout=config["ack-timeout"],
        max_in_flight=config["max-in-flight"],
        stats_interval=config["stats-interval"],
        archive_check_interval=config["archive-check-interval"],
        keep_seconds=config["keep-hours"] * 3600,
        keep_bytes=config["keep-mb"] << 20,
        credentials=config.credentials,
        revocations=config.revocations,
        revocation_interval=config["revocation-interval"],
        syslog=config["syslog"],
        syslog_backlog=config["syslog-backlog-mb"] << 20,
    )
    listeners = syslog_services(config["syslog"], tailer, reactor, config["host"], config["tz"])
    for listener in listeners:
        listener.setServiceParent(tailer)
    reloader = Reloader(
        tailer, config, Options, lambda description: endpoints.clientFromString(reactor, description)
    )
    ReloadOnSignal(reactor, reloader.reload).setServiceParent(tailer)
    registry = new_registry()
    metrics = TailerMetrics(
        tailer,
        node=config["node"],
        bucks=config["buck"],
        clock=reactor,
        bucket_seconds=config["bucket-seconds"],
        syslog=listeners,
        blocking=lambda f, *args: deferToThreadPool(reactor, reactor.getThreadPool(), f, *args),
    )
    registry.register(metrics)
    services = config.metrics_services(registry, reactor, "logship-tailer", config["node"])
    if services:
        metrics.setServiceParent(tailer)
        for service in services:
            service.setServiceParent(tailer)
    return tailer
