"""twistd entry point of C{logship-porter}.

    twistd -n logship-porter --buck HOST:PORT [--buck HOST:PORT]...
        (--credential FILE --node-key FILE --authority FILE [--revoked FILE]
         | --key FILE | --insecure)  [--index sqlite:DIR] [--archive dir:PATH]
        [--state DIR] [--bucket-seconds 60] [--quiet 172800]
        [--api tcp:4490:interface=127.0.0.1] [--config porter.toml]

L{Options} checks what it can before twistd starts (the key, the URLs,
the endpoint); L{makeService} opens the recent index and the archive and
builds the L{PorterService} and the listener of its JSON API.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

from twisted.application.service import IService, MultiService
from twisted.internet import endpoints
from twisted.internet.threads import deferToThreadPool
from twisted.logger import Logger
from twisted.python import usage
from twisted.web.server import Site

from logship.archive import open_archive
from logship.index import check_url, open_index
from logship.plumbing.listeners import Listener, check_listen
from logship.porter.api import api_root
from logship.porter.service import DEFAULT_QUIET, DEFAULT_RECENT_DAYS, PorterService
from logship.plumbing.tapsupport import ClusterOptions, buck_endpoint, positive_float

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
        ["api", None, DEFAULT_API, "Endpoint of the JSON API (history requests, status)."],
        ["env", None, DEFAULT_ENV, "The name of this environment (one porter each)."],
        ["quiet", None, float(DEFAULT_QUIET),
         "Seconds after a bucket's end before it is archived.", positive_float],
        ["interval", None, 10.0, "Seconds between two rounds.", positive_float],
        ["recent-days", None, DEFAULT_RECENT_DAYS,
         "Days the recent index keeps.", positive_float],
        ["request-timeout", None, 60.0, "Seconds a buck may take to answer.", positive_float],
    ]
    config_paths = ClusterOptions.config_paths | {"state"}

    def __init__(self) -> None:
        super().__init__()
        self["buck"] = []

    def opt_buck(self, value: str) -> None:
        """
        A buck to pull from, HOST:PORT (repeatable; list every buck).
        """
        self["buck"].append(buck_endpoint(value))

    def postOptions(self) -> None:
        super().postOptions()
        if not self["buck"]:
            raise usage.UsageError("no --buck HOST:PORT given")
        self.check_cluster_options()
        check_listen("--api", self["api"])
        try:
            check_url(self["index"])
        except ValueError as e:
            raise usage.UsageError(f"--index: {e}") from None


def makeService(config: Options, reactor: Any = None) -> IService:
    """
    Build the porter and its API listener.

    @param config: the parsed L{Options}.
    @param reactor: the reactor (the global one if C{None}).
    """
    if reactor is None:
        from twisted.internet import reactor  # the edge: only here
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
    site = Site(api_root(porter, config["env"], reactor))
    site.noisy = False
    endpoint = endpoints.serverFromString(reactor, config["api"])
    Listener("logship-porter", config["api"], endpoint, site).setServiceParent(top)
    return top
