"""twistd entry point of C{logship-buck}.

    twistd -n logship-buck [--listen tcp:4401:interface=127.0.0.1]...
        --data DIR [--data DIR]... (--credential FILE --node-key FILE --authority FILE
        [--revoked FILE] | --key FILE | --insecure)  [--bucket-seconds 60]
        [--node NAME] [--config buck.toml]
        [--live tcp:4480:interface=127.0.0.1 [--live-token FILE]
         [--live-origin PATTERN]... [--live-clients-per-address 32]
         [--live-filter-timeout 10]]
        [--metrics tcp:9401:interface=127.0.0.1] [--graphite HOST:PORT
         [--graphite-interval 60] [--graphite-prefix logship.NODE]]

L{Options} checks everything it can before twistd starts the service (the
key file, the bucket interval, the data directory), so that a mistake is a
one-line L{usage.UsageError}; what only opening the store finds (a full
disk) stops twistd with one line too.  L{makeService} builds a L{MultiService}: the
L{BuckService} (ingest, store, channel, periodic jobs) and one
L{StreamServerEndpointService} per C{--listen} endpoint string, and with
C{--live} the live-tail WebSocket (L{logship.buck.live}, C{docs/live.md})
on the buck's channel, announced as "logship-buck live listening on ...";
with C{--metrics} or C{--graphite}, its metrics (L{logship.buck.metrics},
C{docs/metrics.md}).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

from twisted.application.service import IService, MultiService
from twisted.internet import endpoints
from twisted.logger import Logger
from twisted.python import usage

from logship.buck.live.endpoint import normalize_live
from logship.buck.metrics import BuckMetrics
from logship.buck.live.factory import (
    DEFAULT_FILTER_TIMEOUT,
    DEFAULT_MAX_PER_ADDRESS,
    DEFAULT_ORIGINS,
    LiveFactory,
)
from logship.buck.pubsub import Channel
from logship.buck.service import DEFAULT_STATS_INTERVAL, BuckService
from logship.buck.store import DEFAULT_OPEN_BUCKETS, BucketStore, StoreError, prepare_data_dir
from logship.buck.uploads import DEFAULT_MAX_UPLOAD
from logship.plumbing.listeners import Listener, check_listen, is_loopback
from logship.plumbing.metrics import new_registry
from logship.plumbing.tapsupport import ClusterOptions, log_codec, positive_float, positive_int
from logship.plumbing.webaccess import read_token

DEFAULT_LISTEN = "tcp:4401:interface=127.0.0.1"
DEFAULT_DATA = "buck-data"

_log = Logger(namespace="logship.buck.tap")


class Options(ClusterOptions):
    """
    The options of C{twistd logship-buck}; see C{etc/buck.toml}.
    """

    synopsis = "[options]"
    longdesc = (
        "Receive batches of events from tailers over the sealed wire protocol,"
        " write them to time-bucketed files under DATA/buckets, acknowledge"
        " them, and merge whole buckets uploaded by tailers."
    )

    role = "buck"
    optParameters: ClassVar[list[list[Any]]] = [
        ["stats-interval", None, DEFAULT_STATS_INTERVAL,
         "Seconds between two stats lines in the log.", positive_float],
        ["open-buckets", None, DEFAULT_OPEN_BUCKETS,
         "Bucket files kept open at most.", positive_int],
        ["max-upload-mb", None, DEFAULT_MAX_UPLOAD >> 20,
         "MiB one uploaded bucket file may have at most.", positive_int],
        ["frame-timeout", None, None,
         "Seconds a partial frame may wait (for tests; default 30).", positive_float],
        ["live", None, None,
         "Serve the live tail (WebSocket, path /live) on this endpoint, e.g."
         " tcp:4480:interface=127.0.0.1 (a bare port means that); default: none."],
        ["live-token", None, None,
         "A file holding the token live clients must present (?token=...);"
         " required when --live listens beyond loopback."],
        ["live-clients-per-address", None, DEFAULT_MAX_PER_ADDRESS,
         "Live clients one IP address may have open at once.", positive_int],
        ["live-filter-timeout", None, DEFAULT_FILTER_TIMEOUT,
         "Seconds a live client may stay open without sending a filter.", positive_float],
    ]
    config_paths = ClusterOptions.config_paths | {"data", "live-token"}

    def __init__(self) -> None:
        super().__init__()
        self["listen"] = []
        self["data-dirs"] = []
        self["live-origin"] = []
        self.live_token: str | None = None

    def opt_listen(self, description: str) -> None:
        """
        An endpoint to listen on, e.g. tcp:4401:interface=127.0.0.1
        (repeatable; default tcp:4401:interface=127.0.0.1).
        """
        self["listen"].append(description)

    def opt_data(self, directory: str) -> None:
        """
        A data directory: bucket files go to DATA/buckets (repeatable, one
        per disk: each bucket is written on one, chosen by a stable hash;
        default buck-data).
        """
        self["data-dirs"].append(directory)

    opt_d = opt_data

    def opt_live_origin(self, pattern: str) -> None:
        """
        A browser Origin allowed on the live tail, an Autobahn wildcard
        pattern such as https://logs.example.com:443 or http://127.0.0.1:*
        ("*" for any; repeatable; default: pages of this machine).
        """
        self["live-origin"].append(pattern)

    def postOptions(self) -> None:
        super().postOptions()
        if not self["listen"]:
            self["listen"] = [DEFAULT_LISTEN]
        self.check_cluster_options()
        for description in self["listen"]:
            check_listen("--listen", description)
        if not self["data-dirs"]:
            self["data-dirs"] = [DEFAULT_DATA]
        if len({Path(d).resolve() for d in self["data-dirs"]}) < len(self["data-dirs"]):
            raise usage.UsageError("--data: a directory is given twice")
        self["data"] = self["data-dirs"][0]
        for data in self["data-dirs"]:
            try:
                prepare_data_dir(Path(data), self["bucket-seconds"])
            except StoreError as e:
                raise usage.UsageError(f"--data: {e}") from None
        self._check_live()

    def _check_live(self) -> None:
        if not self["live-origin"]:
            self["live-origin"] = list(DEFAULT_ORIGINS)
        if self["live"] is None:
            for name in ("live-token",):
                if self[name] is not None:
                    raise usage.UsageError(f"--{name} without --live")
            return
        self["live"] = normalize_live(self["live"])
        check_listen("--live", self["live"])
        if self["live-token"] is not None:
            self.live_token = read_token(Path(self["live-token"]), "--live-token")
        elif not is_loopback(self["live"]):
            raise usage.UsageError(
                f"--live {self['live']} listens beyond loopback: give --live-token FILE"
                " (or bind it to 127.0.0.1)"
            )


def makeService(config: Options, reactor: Any = None) -> IService:
    """
    Build the buck: its L{BuckService} and a listener per C{--listen}.

    @param config: the parsed L{Options}.
    @param reactor: the reactor (the global one if C{None}).
    @return: the service to run.
    @raise SystemExit: with one line, if the data directory cannot be
        opened (a full disk, an I/O error).
    """
    log_codec("logship-buck")
    if reactor is None:
        from twisted.internet import reactor  # the edge: only here
    top = MultiService()
    try:
        store = BucketStore(
            Path(config["data"]),
            config["bucket-seconds"],
            reactor,
            open_buckets=config["open-buckets"],
            more_data=[Path(d) for d in config["data-dirs"][1:]],
        )
    except StoreError as e:  # e.g. a full disk: the options' checks wrote nothing
        raise SystemExit(f"logship-buck: --data: {e}") from None
    max_upload = config["max-upload-mb"] << 20
    buck = BuckService(
        store=store,
        channel=Channel(reactor),
        clock=reactor,
        key=config.key,
        node=config["node"],
        frame_timeout=config["frame-timeout"],
        max_upload=max_upload,
        max_incoming=4 * max_upload,
        stats_interval=config["stats-interval"],
        credentials=config.credentials,
        revocations=config.revocations,
        revocation_interval=config["revocation-interval"],
    )
    buck.setServiceParent(top)
    if config.key is None and config.credentials is None:
        _log.warn("logship-buck runs INSECURE (lab mode): frames are not sealed")
    for description in config["listen"]:
        endpoint = endpoints.serverFromString(reactor, description)
        Listener("logship-buck", description, endpoint, buck.factory).setServiceParent(top)
    if config["live"] is not None:
        # After the wire's listeners, so that the first "listening on" line
        # of the log is the wire's (tests read the wire's port from it).
        live = LiveFactory(
            buck.channel,
            node=config["node"],
            clock=reactor,
            token=config.live_token,
            origins=config["live-origin"],
            max_per_address=config["live-clients-per-address"],
            filter_timeout=config["live-filter-timeout"],
        )
        endpoint = endpoints.serverFromString(reactor, config["live"])
        Listener("logship-buck live", config["live"], endpoint, live).setServiceParent(top)
    registry = new_registry()
    registry.register(BuckMetrics(buck))
    for service in config.metrics_services(registry, reactor, "logship-buck", config["node"]):
        service.setServiceParent(top)
    return top
