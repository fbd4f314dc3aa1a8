"""Fixtures of the browser tests: a real cluster and a real headless Chromium.

One cluster per module (starting it takes most of a test's time): 3 bucks
with their live WebSocket, a tailer on C{app.log}, a porter (1-second
buckets, a quiet period of a few seconds, so history has archived buckets
to load) and archie, all twistd processes on 127.0.0.1.

The browser is Debian's C{chromium} (C{/usr/bin/chromium}, installed by
C{make test}) driven by Playwright for Python, with the flags this
machine needs (no sandbox as root, no background networking).  A test
that fails leaves C{failure.png}, a screenshot of its page, in its
C{tmp_path}.  With C{LOGSHIP_SCREENSHOTS=DIR} set, the tests also save
the pictures of each view that the README shows.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from logship.core.keys import write_new_key
from tests.integration.delivery import Cluster
from tests.integration.processes import ProcessGroup, TwistdProcess, free_port

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--disable-dev-shm-usage",
]
WIRE_READY = re.compile(r"logship-buck listening on (?P<host>\S+):(?P<port>\d+)")
LIVE_READY = re.compile(r"logship-buck live listening on (?P<host>\S+):(?P<port>\d+)")
PORTER_READY = re.compile(r"logship-porter listening on (?P<host>\S+):(?P<port>\d+)")
ARCHIE_READY = re.compile(r"logship-archie listening on (?P<host>\S+):(?P<port>\d+)")

try:
    from playwright.sync_api import Browser, Page, sync_playwright
except ImportError:  # pragma: no cover - make test installs it
    sync_playwright = None


@dataclass
class WebCluster(Cluster):
    """
    The delivery tests' cluster, with each buck's live WebSocket on a port
    of its own that stays the same across restarts, a porter and archie.
    """

    live_ports: list[int] = field(default_factory=list)
    porter: TwistdProcess | None = None
    archie: TwistdProcess | None = None

    def start_buck(self, i: int, port: int | None = None, *, ready: bool = True) -> TwistdProcess:
        buck = self.group.start_twistd(
            "logship-buck",
            ["--listen", f"tcp:{port or 0}:interface=127.0.0.1", "--data", "data",
             "--key", str(self.key), "--node", f"buck{i}", "--stats-interval", "1",
             "--live", f"tcp:{self.live_ports[i]}:interface=127.0.0.1", *self.buck_args],
            name=f"buck{i}",
            ready=None,
        )
        if ready:
            self.wait_buck(buck)
        return buck

    @staticmethod
    def wait_buck(buck: TwistdProcess) -> None:
        buck.port = int(buck.wait_for_log_blocking(WIRE_READY)["port"])
        buck.wait_for_log_blocking(LIVE_READY)

    def restart_buck(self, i: int) -> TwistdProcess:
        old = self.bucks[i]
        assert not old.running, f"buck{i} is still running"
        self.bucks[i] = self.start_buck(i, old.port)
        return self.bucks[i]

    @property
    def url(self) -> str:
        assert self.archie is not None and self.archie.port is not None
        return f"http://127.0.0.1:{self.archie.port}"


def start_web_cluster(root: Path) -> WebCluster:
    """
    Start everything in C{root}; the caller stops C{cluster.group}.
    """
    group = ProcessGroup(root)
    key = root / "cluster.key"
    write_new_key(key)
    log = root / "app.log"
    log.touch()
    cluster = WebCluster(
        group, key, log,
        tailer_args=["--bucket-seconds", "1", "--archive-check-interval", "1",
                     "--poll-interval", "0.1", "--stats-interval", "1"],
        buck_args=["--bucket-seconds", "1"],
        live_ports=[free_port() for _ in range(3)],
    )
    try:
        cluster.bucks = [cluster.start_buck(i, ready=False) for i in range(3)]
        for buck in cluster.bucks:
            cluster.wait_buck(buck)
        cluster.start_tailer()
        porter_args = ["--key", str(key), "--index", "sqlite:index", "--archive", "dir:archive",
                       "--state", "state", "--bucket-seconds", "1", "--quiet", "3",
                       "--interval", "0.5", "--api", "tcp:0:interface=127.0.0.1"]
        for buck in cluster.bucks:
            porter_args += ["--buck", f"127.0.0.1:{buck.port}"]
        cluster.porter = group.start_twistd("logship-porter", porter_args, name="porter",
                                            ready=PORTER_READY)
        archie_args = ["--listen", "tcp:0:interface=127.0.0.1",
                       "--index", f"sqlite:{root / 'porter' / 'index'}",
                       "--porter", f"http://127.0.0.1:{cluster.porter.port}",
                       "--history-poll", "0.2", "--dedup-seconds", "30"]
        for port in cluster.live_ports:
            archie_args += ["--live", f"ws://127.0.0.1:{port}/live"]
        cluster.archie = group.start_twistd("logship-archie", archie_args, name="archie",
                                            ready=ARCHIE_READY)
    except BaseException:
        group.stop_all()
        raise
    return cluster


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WebCluster]:
    """
    The module's cluster, stopped when its tests are done.
    """
    web = start_web_cluster(tmp_path_factory.mktemp("cluster"))
    try:
        yield web
    finally:
        web.group.stop_all()


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    """
    Headless Chromium, for the session.
    """
    if sync_playwright is None:
        pytest.fail("playwright is not installed: run make test (setup.py's test extra)")
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: run make test (it installs Debian's chromium)")
    # launch() runs headless, in a fresh empty profile of its own (it
    # refuses --user-data-dir: that is launch_persistent_context's).
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.hookimpl(hookwrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: Any, call: Any) -> Iterator[None]:
    outcome = yield
    report = outcome.get_result()
    setattr(item, f"report_{report.when}", report)


@pytest.fixture
def page(browser: Browser, request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Page]:
    """
    A fresh page (its own context: no cookies shared); a screenshot of it
    in C{tmp_path/failure.png} if the test fails.
    """
    context = browser.new_context(viewport={"width": 1280, "height": 760})
    context.set_default_timeout(15_000)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    try:
        yield page
        assert not errors, f"errors in the page: {errors}"
    finally:
        report = getattr(request.node, "report_call", None)
        if report is None or report.failed:
            try:
                page.screenshot(path=str(tmp_path / "failure.png"), full_page=True)
            except Exception as e:  # the page may be gone; say so, do not mask the failure
                (tmp_path / "failure.txt").write_text(f"no screenshot: {e}\n")
        context.close()


def keep_screenshot(page: Page, name: str) -> None:
    """
    Save a picture of the page as C{$LOGSHIP_SCREENSHOTS/NAME.png} when that
    variable names a directory (for the README); else do nothing.
    """
    target = os.environ.get("LOGSHIP_SCREENSHOTS")
    if target:
        Path(target).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(target) / f"{name}.png"))
