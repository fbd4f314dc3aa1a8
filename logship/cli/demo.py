"""C{logship demo}: the whole system in one process, on loopback.

Three bucks, a tailer, the porter (sqlite index, dir archive, a short
quiet period) and archie, each built by its own tap from the same options
a user would give it, under one L{MultiService} on one reactor.  The tailer
follows the given files, or two sample logs that generators append to:
realistic syslog lines, and a Java application's log with stack traces,
joined into one event each by the C{java} multi-line preset (set in the
tailer's C{tailer.toml}, docs/multiline.md).  Ctrl-C (or C{--duration})
stops everything cleanly.

Ports, from C{--port-base} B (4400): bucks B+1..B+3 (wire) and B+11..B+13
(live WebSockets), archie B+80 (the page), the porter's API B+90.
Everything else lives in the work directory::

    WORKDIR/cluster.key  sample.log  java.log  tailer.toml  demo.log
    WORKDIR/buck1..3/    tailer/  porter/  index/  archive/
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from twisted.application.service import IService, MultiService
from twisted.internet.interfaces import IReactorTime
from twisted.internet.task import LoopingCall
from twisted.logger import (
    FilteringLogObserver,
    LogLevel,
    LogLevelFilterPredicate,
    globalLogBeginner,
    textFileLogObserver,
)
from twisted.python import usage

from logship.core.keys import write_new_key
from logship.core.sample import JavaSampleSource, SampleSource

#: Offsets from the port base.
BUCK_PORTS = (1, 2, 3)
LIVE_PORTS = (11, 12, 13)
ARCHIE_PORT = 80
PORTER_PORT = 90
#: With C{--metrics}: each service's metrics page, by its node name.
METRICS_PORTS = {"tailer": 100, "buck1": 101, "buck2": 102, "buck3": 103,
                 "porter": 104, "archie": 105}


class DemoError(Exception):
    """
    The demo cannot start; the message says why.
    """


@dataclass
class DemoSettings:
    """
    What C{logship demo} was asked for.

    @ivar workdir: where everything lives.
    @ivar files: the files to follow (a generated sample if empty).
    @ivar port_base: see the module docstring.
    @ivar bucket_seconds: the cluster's bucket interval (short, so that
        search shows lines soon).
    @ivar rate: sample lines per second.
    @ivar quiet: the porter's quiet period, in seconds.
    @ivar metrics: serve each service's metrics (L{METRICS_PORTS}).
    """

    workdir: Path
    files: list[Path] = field(default_factory=list)
    port_base: int = 4400
    bucket_seconds: int = 10
    rate: float = 20.0
    quiet: float = 300.0
    metrics: bool = False

    def port(self, offset: int) -> int:
        """
        The port at C{offset} from the base.
        """
        return self.port_base + offset

    @property
    def url(self) -> str:
        """
        The page's URL.
        """
        return f"http://127.0.0.1:{self.port(ARCHIE_PORT)}/"

    def metrics_args(self, node: str) -> list[str]:
        """
        The C{--metrics} option of service C{node} (none without C{metrics}).
        """
        if not self.metrics:
            return []
        return ["--metrics", f"tcp:{self.port(METRICS_PORTS[node])}:interface=127.0.0.1"]

    def metrics_urls(self) -> dict[str, str]:
        """
        The metrics pages, by node name (none without C{metrics}).
        """
        if not self.metrics:
            return {}
        return {node: f"http://127.0.0.1:{self.port(offset)}/metrics"
                for node, offset in METRICS_PORTS.items()}


def _build(tap: Any, argv: list[str], reactor: Any) -> IService:
    """
    Parse C{argv} with a tap's C{Options} and build its service.

    @raise DemoError: if the options are refused.
    """
    options = tap.Options()
    try:
        options.parseOptions(argv)
    except usage.UsageError as e:
        raise DemoError(f"{tap.__name__}: {e}") from None
    service: IService = tap.makeService(options, reactor=reactor)
    return service


def demo_service(settings: DemoSettings, reactor: Any) -> MultiService:
    """
    Build the whole cluster of the demo (see the module docstring).

    @raise DemoError: if a component refuses its options.
    """
    from logship.archie import tap as archie_tap
    from logship.buck import tap as buck_tap
    from logship.porter import tap as porter_tap
    from logship.tailer import tap as tailer_tap

    work = settings.workdir
    key = work / "cluster.key"
    if not key.exists():
        write_new_key(key)
    seconds = str(settings.bucket_seconds)
    loopback = "interface=127.0.0.1"
    bucks = [f"127.0.0.1:{settings.port(p)}" for p in BUCK_PORTS]
    top = MultiService()
    for i, (wire, live) in enumerate(zip(BUCK_PORTS, LIVE_PORTS), 1):
        _build(buck_tap, [
            "--listen", f"tcp:{settings.port(wire)}:{loopback}",
            "--live", f"tcp:{settings.port(live)}:{loopback}",
            "--data", str(work / f"buck{i}"), "--key", str(key), "--node", f"buck{i}",
            "--bucket-seconds", seconds, *settings.metrics_args(f"buck{i}"),
        ], reactor).setServiceParent(top)
    files = settings.files or [work / "sample.log"]
    tailer_args = ["--key", str(key), "--state", str(work / "tailer"), "--node", "tailer",
                   "--bucket-seconds", seconds, "--archive-check-interval", "10",
                   *settings.metrics_args("tailer")]
    if not settings.files:
        config = work / "tailer.toml"
        java = str(work / "java.log").replace("\\", "\\\\").replace('"', '\\"')
        config.write_text(
            "# The demo's Java sample: a stack trace is one event (docs/multiline.md).\n"
            f'[[source]]\npath = "{java}"\nmultiline = {{ preset = "java", timeout = 2.0 }}\n'
        )
        tailer_args += ["--config", str(config)]
    for buck in bucks:
        tailer_args += ["--buck", buck]
    _build(tailer_tap, [*tailer_args, *map(str, files)], reactor).setServiceParent(top)
    index = f"sqlite:{work / 'index'}"
    porter_args = [
        "--key", str(key), "--index", index, "--archive", f"dir:{work / 'archive'}",
        "--state", str(work / "porter"), "--node", "porter", "--bucket-seconds", seconds,
        "--quiet", str(settings.quiet), "--interval", "2",
        "--api", f"tcp:{settings.port(PORTER_PORT)}:{loopback}",
        *settings.metrics_args("porter"),
    ]
    for buck in bucks:
        porter_args += ["--buck", buck]
    _build(porter_tap, porter_args, reactor).setServiceParent(top)
    archie_args = [
        "--listen", f"tcp:{settings.port(ARCHIE_PORT)}:{loopback}", "--index", index,
        "--porter", f"http://127.0.0.1:{settings.port(PORTER_PORT)}",
        *settings.metrics_args("archie"),
    ]
    for live in LIVE_PORTS:
        archie_args += ["--live", f"ws://127.0.0.1:{settings.port(live)}/live"]
    _build(archie_tap, archie_args, reactor).setServiceParent(top)
    return top


def sample_writer(
    path: Path,
    rate: float,
    clock: IReactorTime,
    lines: Callable[[float], list[bytes]] | None = None,
) -> LoopingCall:
    """
    A looping call that appends about C{rate} sample events per second to
    C{path}, stamped with the time they are written (C{clock.seconds()}).

    @param lines: the lines of one event at a time (default: one line of
        L{SampleSource}).
    """
    if lines is None:
        source = SampleSource(seed=int(clock.seconds()))
        lines = lambda stamp: [source.line(stamp)]  # noqa: E731
    make = lines
    ticks_per_second = 10
    owed = 0.0

    def write() -> None:
        nonlocal owed
        owed += rate / ticks_per_second
        count, owed = int(owed), owed - int(owed)
        if count:
            stamp = clock.seconds()
            with open(path, "ab") as f:
                f.write(b"".join(
                    line + b"\n" for _ in range(count) for line in make(stamp)
                ))  # fmt: skip

    loop = LoopingCall(write)
    loop.clock = clock
    return loop


def run_demo(settings: DemoSettings, duration: float | None, err: TextIO = sys.stderr) -> int:
    """
    Run the demo on the global reactor until Ctrl-C (or C{duration}
    seconds), logging to C{WORKDIR/demo.log}; errors also go to C{err}.

    @return: the exit status.
    @raise DemoError: if it cannot start.
    """
    from twisted.internet import reactor

    work = settings.workdir
    work.mkdir(parents=True, exist_ok=True)
    log_file = open(work / "demo.log", "a", encoding="utf-8")
    globalLogBeginner.beginLoggingTo(
        [
            textFileLogObserver(log_file),
            FilteringLogObserver(
                textFileLogObserver(err),
                [LogLevelFilterPredicate(defaultLogLevel=LogLevel.error)],
            ),
        ],
        redirectStandardIO=False,
    )
    if not settings.files:
        (work / "sample.log").touch()
        sample_writer(work / "sample.log", settings.rate, reactor).start(0.1)
        (work / "java.log").touch()
        java = JavaSampleSource(seed=int(reactor.seconds()))
        sample_writer(work / "java.log", settings.rate / 4, reactor, java.event).start(0.1)
    top = demo_service(settings, reactor)
    try:
        top.privilegedStartService()
    except SystemExit as e:  # a port in use: the listener said which
        raise DemoError(f"{e}; pick other ports with --port-base") from None
    top.startService()
    reactor.addSystemEventTrigger("before", "shutdown", top.stopService)
    if duration is not None:
        reactor.callLater(duration, reactor.stop)
    err.write(
        f"logship demo: 3 bucks, a tailer, the porter and archie are running.\n"
        f"  the page:      {settings.url}\n"
        f"  the work dir:  {work} (the log: {work / 'demo.log'})\n"
        f"  search:        logship search --index sqlite:{work / 'index'} --term sshd\n"
        f"                 (--term request: java.log's failed requests, each with its\n"
        f"                 stack trace as one event)\n"
        f"  history:       logship history --porter http://127.0.0.1:"
        f"{settings.port(PORTER_PORT)} --from -1h\n"
        + "".join(f"  metrics:       {url} ({node})\n"
                  for node, url in settings.metrics_urls().items())
        + "Ctrl-C stops everything.\n"
    )
    reactor.run()
    return 0
