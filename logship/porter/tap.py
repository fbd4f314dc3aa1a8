"""twistd entry point of C{logship-porter}.

    twistd -n logship-porter --buck HOST:PORT [--buck HOST:PORT]...
        (--credential FILE --node-key FILE --authority FILE [--revoked FILE]
         | --key FILE | --insecure)  [--index sqlite:DIR] [--archive dir:PATH]
        [--state DIR] [--bucket-seconds 60] [--quiet 172800]
        [--api tcp:4490:interface=127.0.0.1] [--api-token FILE]
        [--api-public-name NAME]... [--max-history-jobs 4]
        [--max-history-days 31] [--max-history-events 50000000]
        [--metrics tcp:9403:interface=127.0.0.1] [--graphite HOST:PORT
         [--graphite-interval 60] [--graphite-prefix logship.NODE]]
        [--config porter.toml]

L{Options} checks what it can before twistd starts (the key, the URLs,
the endpoint, that the API has a token when it listens beyond loopback);
L{makeService} opens the recent index and the archive and builds the
L{PorterService} and the listener of its JSON API, and with C{--metrics}
or C{--graphite} its metrics (L{logship.porter.metrics}).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

from twisted.application.service import IService, MultiService
from twisted.internet import endpoints
from twisted.internet.threads import deferToThreadPool
from twisted.logger import Logger
from twisted.python import usage

from logship.archive import open_archive
from logship.index import check_url, open_index
from logship.plumbing.listeners import Listener, check_listen, is_loopback
from logship.plumbing.webaccess import PublicName, read_token
from logship.plumbing.metrics import new_registry
from logship.porter.api import HistoryLimits, api_site
from logship.porter.metrics import PorterMetrics
from logship.porter.service import DEFAULT_QUIET, DEFAULT_RECENT_DAYS, PorterService
from logship.porter.state import PorterState, StateError
from logship.plumbing.tapsupport import (
    ClusterOptions,
    buck_endpoint,
    log_codec,
    positive_float,
    positive_int,
)

DEFAULT_API = "tcp:4490:interface=127.0.0.1"
DEFAULT_ENV = "default"

_log = Logger(namespace="logship.porter.tap")


class Options(ClusterOptions):
    """
    The options of C{twistd logship-porter}; see C{etc/porter.toml}.
    """

    synopsis = "[options]"
    longdesc = (
        "Pull every closed bucket from all bucks, merge and de-duplicate it,"
        " load the recent index, archive buckets older than the quiet period,"
        " tell the bucks when they may delete, and build history indexes."
    )

    role = "porter"
    bucket_seconds_help = "The cluster's bucket interval (divides 3600)."
    optParameters: ClassVar[list[list[Any]]] = [
        ["index", None, "sqlite:porter-data/index",
         "The index: sqlite:DIR or elasticsearch:http://HOST:9200."],
        ["archive", None, "dir:porter-data/archive",
         "The archive: dir:PATH or s3://BUCKET[/PREFIX]?endpoint=URL."],
        ["state", "s", "porter-data/state", "The porter's state directory."],
        ["api", None, DEFAULT_API,
         "Endpoint of the JSON API (history requests, status); beyond loopback,"
         " --api-token is required."],
        ["api-token", None, None,
         "A file (mode 0600) holding the token every API request must present."],
        ["max-history-jobs", None, HistoryLimits.jobs,
         "History jobs queued or loading at once, at most.", positive_int],
        ["max-history-days", None, HistoryLimits.days,
         "Days one history request may span, at most.", positive_float],
        ["max-history-events", None, HistoryLimits.events,
         "Events all history indexes may hold together, at most.", positive_int],
        ["env", None, DEFAULT_ENV, "The name of this environment (one porter each)."],
        ["quiet", None, float(DEFAULT_QUIET),
         "Seconds after a bucket's end before it is archived.", positive_float],
        ["interval", None, 10.0, "Seconds between two rounds.", positive_float],
        ["recent-days", None, DEFAULT_RECENT_DAYS,
         "Days the recent index keeps.", positive_float],
        ["request-timeout", None, 60.0, "Seconds a buck may take to answer.", positive_float],
    ]
    config_paths = ClusterOptions.config_paths | {"state", "api-token"}

    def __init__(self) -> None:
        super().__init__()
        self["buck"] = []
        self["api-public-name"] = []
        self.api_token: str | None = None

    def opt_buck(self, value: str) -> None:
        """
        A buck to pull from, HOST:PORT (repeatable; list every buck).
        """
        self["buck"].append(buck_endpoint(value))

    def opt_api_public_name(self, value: str) -> None:
        """
        A name the API is reached under besides its address, NAME or
        NAME:PORT (repeatable); requests with another Host are refused.
        """
        try:
            self["api-public-name"].append(PublicName.parse(value))
        except ValueError as e:
            raise usage.UsageError(f"--api-public-name: {e}") from None

    def postOptions(self) -> None:
        super().postOptions()
        if not self["buck"]:
            raise usage.UsageError("no --buck HOST:PORT given")
        self.check_cluster_options()
        check_listen("--api", self["api"])
        if self["api-token"] is not None:
            self.api_token = read_token(Path(self["api-token"]), "--api-token")
        elif not is_loopback(self["api"]):
            raise usage.UsageError(
                f"--api {self['api']} is not loopback-only: give --api-token FILE"
                " (see docs/porter.md), or listen on interface=127.0.0.1"
            )
        try:
            check_url(self["index"])
        except ValueError as e:
            raise usage.UsageError(f"--index: {e}") from None


def makeService(config: Options, reactor: Any = None) -> IService:
    """
    Build the porter and its API listener.

    @param config: the parsed L{Options}.
    @param reactor: the reactor (the global one if C{None}).
    @raise SystemExit: with one line, if the state cannot be opened (a
        full disk, an I/O error).
    """
    log_codec("logship-porter")
    if reactor is None:
        from twisted.internet import reactor  # the edge: only here
    try:  # what only opening finds (a full disk): one line, not a traceback
        PorterState(Path(config["state"])).close()
    except StateError as e:
        raise SystemExit(f"logship-porter: --state: {e}") from None
    top = MultiService()
    index_url = config["index"]
    porter = PorterService(
        bucks={d: endpoints.clientFromString(reactor, d) for d in config["buck"]},
        key=config.key,
        node=config["node"],
        index=open_index(index_url, "recent", reactor=reactor),
        archive=open_archive(config["archive"], reactor=reactor),
        open_index=lambda name: open_index(index_url, name, reactor=reactor),
        state_dir=Path(config["state"]),
        clock=reactor,
        bucket_seconds=config["bucket-seconds"],
        quiet=config["quiet"],
        interval=config["interval"],
        recent_days=config["recent-days"],
        request_timeout=config["request-timeout"],
        blocking=lambda f, *args: deferToThreadPool(reactor, reactor.getThreadPool(), f, *args),
        credentials=config.credentials,
        revocations=config.revocations,
        revocation_interval=config["revocation-interval"],
    )
    porter.setServiceParent(top)
    if config.key is None and config.credentials is None:
        _log.warn("logship-porter runs INSECURE (lab mode): frames are not sealed")
    limits = HistoryLimits(
        jobs=config["max-history-jobs"],
        days=config["max-history-days"],
        events=config["max-history-events"],
    )
    site = api_site(porter, config["env"], reactor, limits=limits,
                    token=config.api_token, names=config["api-public-name"])
    endpoint = endpoints.serverFromString(reactor, config["api"])
    Listener("logship-porter", config["api"], endpoint, site).setServiceParent(top)
    registry = new_registry()
    registry.register(
        PorterMetrics(
            porter,
            node=config["node"],
            clock=reactor,
            bucket_seconds=config["bucket-seconds"],
            quiet=config["quiet"],
        )
    )
    for service in config.metrics_services(registry, reactor, "logship-porter", config["node"]):
        service.setServiceParent(top)
    return top
