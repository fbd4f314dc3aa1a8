"""twistd entry point of C{logship-archie}.

    twistd -n logship-archie [--listen tcp:4480:interface=127.0.0.1]
        [--index sqlite:porter-data/index] [--porter http://127.0.0.1:4490]
        [--live ws://127.0.0.1:4481/live]... [--token FILE] [--web DIR]
        [--public-name NAME]... [--porter-token FILE]
        [--dedup-seconds 10] [--live-rate 2000]
        [--metrics tcp:9404:interface=127.0.0.1] [--graphite HOST:PORT
         [--graphite-interval 60] [--graphite-prefix logship.HOST]]
        [--config archie.toml]

L{Options} checks what it can before twistd starts: the endpoint, the
index URL, the porter and live URLs, the web directory, the public names,
and that a token is given when archie listens beyond loopback
(L{logship.archie.access}).  L{makeService} builds the site: the page
(C{web/}, static files) and the JSON API (L{logship.archie.api}) behind
the access L{PageGuard}; with C{--metrics} or C{--graphite}, its metrics
(L{logship.archie.metrics}: the API's requests timed).
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import urlsplit, urlunsplit

from twisted.application.service import IService, MultiService, Service
from twisted.internet import endpoints
from twisted.internet.defer import Deferred, ensureDeferred
from twisted.logger import Logger
from twisted.python import usage
from twisted.web.server import Site
from twisted.web.static import File

from logship.archie.access import PageGuard
from logship.archie.api import Api
from logship.archie.history import HistoryWatches, PorterClient
from logship.archie.indexes import Indexes
from logship.archie.metrics import ArchieMetrics
from logship.index import check_url
from logship.plumbing.listeners import Listener, check_listen, is_loopback
from logship.plumbing.metrics import new_registry
from logship.plumbing.tapsupport import MetricsOptions, log_codec, node_name, positive_float, positive_int
from logship.plumbing.webaccess import PublicName, read_token

DEFAULT_LISTEN = "tcp:4480:interface=127.0.0.1"
DEFAULT_PORTER = "http://127.0.0.1:4490"


def _default_web() -> Path:
    """
    The page: next to the package in a source tree (or an editable
    install), else where setup.py installs it (C{PREFIX/share/logship/web}).
    """
    beside = Path(__file__).resolve().parent.parent.parent / "web"
    if (beside / "index.html").exists():
        return beside
    return Path(sys.prefix) / "share" / "logship" / "web"


DEFAULT_WEB = _default_web()

_log = Logger(namespace="logship.archie.tap")


def live_url(text: str) -> tuple[str, str]:
    """
    A C{--live} value: a buck's live WebSocket URL (C{ws://HOST:PORT/live},
    C{wss://...}, with C{?token=...} if that buck wants one).

    @return: a name for the page (host and port) and the URL.
    @raise usage.UsageError: it is not a ws or wss URL with a host.
    """
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError as e:
        raise usage.UsageError(f"--live {text}: {e}") from None
    if parts.scheme not in ("ws", "wss") or not parts.hostname:
        raise usage.UsageError(f"--live {text}: expected ws://HOST:PORT/live")
    default = 443 if parts.scheme == "wss" else 80
    name = f"{parts.hostname}:{port or default}"
    return name, urlunsplit((parts.scheme, parts.netloc, parts.path or "/live", parts.query, ""))


def porter_url(text: str) -> str:
    """
    A C{--porter} value: the porter's API, C{http(s)://HOST:PORT}.

    @raise usage.UsageError: it is not one.
    """
    try:
        parts = urlsplit(text)
        parts.port
    except ValueError as e:
        raise usage.UsageError(f"--porter {text}: {e}") from None
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.path not in ("", "/"):
        raise usage.UsageError(f"--porter {text}: expected http://HOST:PORT")
    return text.rstrip("/")


class Options(MetricsOptions):
    """
    The options of C{twistd logship-archie}; see C{etc/archie.toml}.
    """

    synopsis = "[options]"
    longdesc = (
        "Serve the web page (live, search, history) and the JSON API over the"
        " recent and history indexes; forward history requests to the porter."
    )

    optParameters: ClassVar[list[list[Any]]] = [
        ["listen", "l", DEFAULT_LISTEN,
         "Endpoint of the web site (beyond loopback, --token is required)."],
        ["index", None, "sqlite:porter-data/index",
         "The porter's index: sqlite:DIR or elasticsearch:http://HOST:9200."],
        ["porter", None, DEFAULT_PORTER, "The porter's JSON API, http://HOST:PORT."],
        ["porter-token", None, None,
         "A file (mode 0600) holding the token of the porter's API (its --api-token)."],
        ["token", None, None,
         "A file (mode 0600) holding the token every request must present."],
        ["web", None, str(DEFAULT_WEB), "The page's directory (static files)."],
        ["dedup-seconds", None, 10.0,
         "The page drops live events seen within this many seconds.", positive_float],
        ["live-rate", None, 2000, "Events/s the page asks each buck for at most.", positive_int],
        ["history-poll", None, 0.5,
         "Seconds between two looks at a history job being watched.", positive_float],
    ]
    config_paths = frozenset({"token", "porter-token", "web"})

    def __init__(self) -> None:
        super().__init__()
        self["live"] = []
        self["public-name"] = []
        self.token: str | None = None
        self.porter_token: str | None = None

    def opt_live(self, value: str) -> None:
        """
        A buck's live WebSocket, ws://HOST:PORT/live (repeatable; list every buck).
        """
        self["live"].append(live_url(value))

    def opt_public_name(self, value: str) -> None:
        """
        A name the page and the API are reached under besides archie's
        address, NAME or NAME:PORT (a proxy's, a DNS name; repeatable);
        requests with another Host are refused.
        """
        try:
            self["public-name"].append(PublicName.parse(value))
        except ValueError as e:
            raise usage.UsageError(f"--public-name: {e}") from None

    def postOptions(self) -> None:
        super().postOptions()
        check_listen("--listen", self["listen"])
        try:
            check_url(self["index"])
        except ValueError as e:
            raise usage.UsageError(f"--index: {e}") from None
        self["porter"] = porter_url(self["porter"])
        web = Path(self["web"])
        if not (web / "index.html").is_file():
            raise usage.UsageError(f"--web {web}: no index.html there")
        if self["porter-token"] is not None:
            self.porter_token = read_token(Path(self["porter-token"]), "--porter-token")
        if self["token"] is not None:
            self.token = read_token(Path(self["token"]))
        elif not is_loopback(self["listen"]):
            raise usage.UsageError(
                f"--listen {self['listen']} is not loopback-only: give --token FILE"
                " (see docs/archie.md), or listen on interface=127.0.0.1"
            )
        names = [name for name, _ in self["live"]]
        if len(set(names)) != len(names):
            raise usage.UsageError("--live: the same buck is listed twice")


class _Page(File):
    """
    The static page: no directory listings, and no caching (a deployed
    page changes with archie).
    """

    def directoryListing(self) -> Any:
        return self.childNotFound

    def getChild(self, path: bytes, request: Any) -> Any:
        if b"\x00" in path:  # no file has one; os.stat would raise
            return self.childNotFound
        return super().getChild(path, request)

    def render_GET(self, request: Any) -> Any:
        request.setHeader(b"cache-control", b"no-cache")
        return super().render_GET(request)


class _Closer(Service):
    """
    Closes the indexes, the porter's connections and the status streams
    when archie stops.
    """

    def __init__(self, api: Api) -> None:
        self._api = api

    def stopService(self) -> Deferred[None]:
        super().stopService()
        self._api.watches.stop()
        return ensureDeferred(self._close())

    async def _close(self) -> None:
        await self._api.indexes.close()
        await self._api.porter.close()


def build_site(
    api: Api,
    web: Path,
    token: str | None,
    names: Sequence[PublicName] = (),
    metrics: ArchieMetrics | None = None,
) -> Site:
    """
    The site: the page from C{web}, the API under C{/api}, behind the
    access guard.

    @param token: the token requests must present, or C{None}.
    @param names: the names archie is reached under besides its address.
    @param metrics: times the API's requests, if given.
    """
    page = _Page(str(web))
    tree = api.resource()
    page.putChild(b"api", tree if metrics is None else metrics.timed(tree))
    site = Site(PageGuard(page, token, names))
    site.noisy = False
    site.displayTracebacks = False
    return site


def makeService(config: Options, reactor: Any = None) -> IService:
    """
    Build archie: its site's listener, and what closes its connections.

    @param config: the parsed L{Options}.
    @param reactor: the reactor (the global one if C{None}).
    """
    log_codec("logship-archie")
    if reactor is None:
        from twisted.internet import reactor  # the edge: only here
    porter = PorterClient(config["porter"], reactor, token=config.porter_token)
    api = Api(
        indexes=Indexes(config["index"], reactor),
        porter=porter,
        watches=HistoryWatches(porter, reactor, interval=config["history-poll"]),
        live=list(config["live"]),
        clock=reactor,
        dedup_seconds=config["dedup-seconds"],
        live_rate=config["live-rate"],
    )
    top = MultiService()
    _Closer(api).setServiceParent(top)
    if config.token is None:
        _log.info("logship-archie: no token; listening on loopback only")
    node = node_name(None, "archie")
    registry = new_registry()
    services = config.metrics_services(registry, reactor, "logship-archie", node)
    metrics = None
    if services:
        metrics = ArchieMetrics(reactor, node)
        registry.register(metrics)
    site = build_site(api, Path(config["web"]), config.token, config["public-name"], metrics)
    endpoint = endpoints.serverFromString(reactor, config["listen"])
    Listener("logship-archie", config["listen"], endpoint, site).setServiceParent(top)
    for service in services:
        service.setServiceParent(top)
    return top
