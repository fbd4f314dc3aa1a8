"""Metrics and `logship check` with real processes (issue 13, items 1 and 2).

Every service with C{--metrics} serves Prometheus text that
prometheus_client's own parser reads, with exactly the series
C{docs/metrics.md} lists for it; the bucks push the same series to a
graphite receiver on loopback (here a small socket server), which may be
down at first without the logs waiting for it; C{logship check} exits
0, 1, 2 or 3 against a live cluster in each state.
"""

from __future__ import annotations

import re
import socketserver
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from logship.plumbing.graphite import path_part
from tests.integration.delivery import Cluster, append_lines, recent_lines
from tests.integration.processes import ProcessGroup, TwistdProcess, free_port
from tests.integration.waiting import wait_until_blocking
from tests.metricstext import Key, parse_text, value

ROOT = Path(__file__).resolve().parent.parent.parent
METRICS = ["--metrics", "tcp:0:interface=127.0.0.1"]
METRICS_LISTENING = re.compile(r"metrics listening on 127\.0\.0\.1:(?P<port>\d+)")
PORTER_READY = re.compile(r"logship-porter listening on (?P<host>\S+):(?P<port>\d+)")
ARCHIE_READY = re.compile(r"logship-archie listening on (?P<host>\S+):(?P<port>\d+)")
LINES = 600


def documented() -> dict[str, set[str]]:
    """
    The series docs/metrics.md lists, by section ("Every service",
    "tailer", "buck", "porter", "archie").
    """
    sections: dict[str, set[str]] = {}
    current = None
    for line in (ROOT / "docs" / "metrics.md").read_text(encoding="utf-8").splitlines():
        if line.startswith("### "):
            current = sections.setdefault(line[4:].strip(), set())
        elif line.startswith("## "):
            current = None
        elif current is not None and (match := re.match(r"\| `(logship_\w+)` \|", line)):
            current.add(match.group(1))
    return sections


def metrics_port(process: TwistdProcess) -> int:
    return int(process.wait_for_log_blocking(METRICS_LISTENING)["port"])


def page(port: int) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=30) as answer:
        return bytes(answer.read()).decode()


def series_names(text: str) -> set[str]:
    """
    The series of a page as docs/metrics.md names them (counters with
    C{_total}), read with prometheus_client's parser.
    """
    return {
        family.name + ("_total" if family.type == "counter" else "")
        for family in text_string_to_metric_families(text)
    }


def scrape(port: int) -> dict[Key, float]:
    return parse_text(page(port))


def check(target: str, *args: str) -> tuple[int, str]:
    """
    Run C{logship check}: its exit status and its one line.
    """
    done = subprocess.run(
        [sys.executable, "-m", "logship", "check", target, *args],
        capture_output=True, timeout=60,
    )
    lines = done.stdout.decode().splitlines()
    assert len(lines) == 1, (lines, done.stderr)
    return done.returncode, lines[0]


def wait_value(port: int, name: str, condition: Callable[[float], bool], what: str,
               timeout: float = 60, **labels: str) -> float:
    """
    Read a series on a page until its value meets C{condition}.
    """
    def found() -> tuple[float] | None:
        current = value(scrape(port), name, **labels)
        return (current,) if condition(current) else None

    return float(wait_until_blocking(found, timeout, what)[0])


def start_porter(cluster: Cluster) -> TwistdProcess:
    args = [*cluster.security_args("porter", "porter"), "--index", "sqlite:index",
            "--archive", "dir:archive", "--state", "state", "--bucket-seconds", "1",
            "--interval", "0.5", "--api", "tcp:0:interface=127.0.0.1", *METRICS]
    for buck in cluster.bucks:
        args += ["--buck", f"127.0.0.1:{buck.port}"]
    return cluster.group.start_twistd("logship-porter", args, name="porter", ready=PORTER_READY)


def start_archie(group: ProcessGroup, porter: TwistdProcess) -> TwistdProcess:
    args = ["--listen", "tcp:0:interface=127.0.0.1",
            "--index", f"sqlite:{group.root / 'porter' / 'index'}",
            "--porter", f"http://127.0.0.1:{porter.port}", *METRICS]
    return group.start_twistd("logship-archie", args, name="archie", ready=ARCHIE_READY)


def test_every_service_exports_its_series(group: ProcessGroup) -> None:
    """
    The four services' pages, parsed by prometheus_client: each has the
    series docs/metrics.md lists for it, and they count what happened.
    """
    cluster = Cluster.start(group, tailer_args=[*METRICS, "--bucket-seconds", "1"],
                            buck_args=[*METRICS, "--bucket-seconds", "1"])
    assert cluster.tailer is not None
    tailer = metrics_port(cluster.tailer)
    bucks = [metrics_port(b) for b in cluster.bucks]
    append_lines(cluster.log, recent_lines(LINES))
    wait_value(tailer, "logship_tailer_events_acked_total", lambda v: v == LINES, "all acked")
    porter_process = start_porter(cluster)
    porter = metrics_port(porter_process)
    wait_value(porter, "logship_porter_loaded_events_total", lambda v: v >= 2 * LINES,
               "the porter loaded both copies")
    archie_process = start_archie(group, porter_process)
    archie = metrics_port(archie_process)
    with urllib.request.urlopen(f"http://127.0.0.1:{archie_process.port}/api/bucks",
                                timeout=30) as answer:
        assert answer.status == 200

    docs = documented()
    common = docs.pop("Every service")
    assert sorted(docs) == ["archie", "buck", "porter", "tailer"]
    for service, port in (("tailer", tailer), ("buck", bucks[0]), ("porter", porter),
                          ("archie", archie)):
        exported = series_names(page(port))
        assert exported - common == docs[service], service
        assert "logship_info" in exported

    samples = scrape(tailer)
    assert value(samples, "logship_tailer_lines_read_total") == LINES
    assert value(samples, "logship_tailer_backlog_bytes") == 0
    assert value(samples, "logship_tailer_backlog_events") == 0
    assert sum(v for (name, _), v in samples.items()
               if name == "logship_tailer_buck_connected") == 3
    written = sum(value(scrape(p), "logship_buck_events_written_total") for p in bucks)
    assert written >= 2 * LINES
    assert value(scrape(bucks[0]), "logship_buck_disk_free_bytes") > 0
    samples = scrape(porter)
    assert value(samples, "logship_porter_rounds_total") >= 1
    assert value(samples, "logship_porter_index_lag_seconds") < 60
    assert value(samples, "logship_porter_quiet_seconds") == 172800
    samples = scrape(archie)
    assert value(samples, "logship_archie_request_seconds_count", endpoint="bucks") == 1
    assert value(samples, "logship_archie_request_seconds_bucket",
                 endpoint="bucks", le="+Inf") == 1

    for port in (tailer, bucks[0], porter, archie):
        status, line = check(str(port))
        assert status == 0, line
        assert line.startswith("LOGSHIP OK - "), line
    status, line = check(str(porter), "--lag-warning", "0")
    assert status == 1 and "(WARNING > 0 s)" in line, line
    status, line = check(str(bucks[0]), "--lag-warning", "15m")
    assert status == 3 and "has no lag check" in line, line


class _Receiver(socketserver.ThreadingTCPServer):
    """
    A graphite plaintext receiver: keeps every line it is sent.
    """

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, port: int) -> None:
        self.lines: list[str] = []
        self.lock = threading.Lock()
        super().__init__(("127.0.0.1", port), _Lines)

    def received(self) -> list[str]:
        with self.lock:
            return list(self.lines)


class _Lines(socketserver.StreamRequestHandler):
    server: _Receiver

    def handle(self) -> None:
        for line in self.rfile:
            with self.server.lock:
                self.server.lines.append(line.decode().rstrip("\n"))


@pytest.fixture
def receiver_port() -> int:
    """
    The receiver's port: graphite is down there until the test starts it.
    """
    return free_port()


def test_graphite_receives_the_series(group: ProcessGroup, receiver_port: int) -> None:
    """
    The bucks push to graphite, which is down at first: the logs go
    through all the same and the pushes are counted as skipped; once a
    receiver listens there, the bucks connect and it gets their series,
    as the metrics page has them.
    """
    cluster = Cluster.start(group, buck_args=[
        *METRICS, "--graphite", f"127.0.0.1:{receiver_port}", "--graphite-interval", "0.2"])
    buck = metrics_port(cluster.bucks[0])
    append_lines(cluster.log, recent_lines(100))
    cluster.wait_delivered(100)
    wait_value(buck, "logship_graphite_pushes_total", lambda v: v >= 2, "pushes skipped",
               result="skipped")
    server = _Receiver(receiver_port)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        def written() -> dict[str, float] | None:
            """
            Each buck's last events written as pushed, once every buck
            pushed (each reconnects on its own backoff) and their sum
            counts both copies of every line.
            """
            last = {}
            for line in server.received():
                path, number, stamp = line.split()
                assert abs(int(stamp) - time.time()) < 120, line
                if path.endswith(".buck_events_written_total"):
                    last[path.split(".")[1]] = float(number)
            return last if len(last) == 3 and sum(last.values()) >= 200 else None

        assert sorted(wait_until_blocking(written, 60, "the series at the receiver")) == [
            "buck0", "buck1", "buck2"]
        received = server.received()
        names = {line.split()[0] for line in received if line.startswith("logship.buck0.")}
        assert "logship.buck0.info.node.buck0.service.buck.version.0_1_0" in names
        assert "logship.buck0.buck_events_rejected_total.reason.write-error" in names
        assert "logship.buck0.graphite_pushes_total.result.skipped" in names
        assert any(line.startswith("logship.buck1.") for line in received)
        # Every sample of the page is there, at its path.
        for family in text_string_to_metric_families(page(buck)):
            for sample in family.samples:
                parts = ["logship", "buck0", path_part(sample.name.removeprefix("logship_"))]
                for label, label_value in sorted(sample.labels.items()):
                    parts += [path_part(label), path_part(label_value)]
                assert ".".join(parts) in names, sample
    finally:
        server.shutdown()
        server.server_close()


def run_checks(port: int, *args: str) -> tuple[int, str]:
    return check(f"http://127.0.0.1:{port}/metrics", *args)


def test_check_in_each_state(group: ProcessGroup) -> None:
    """
    C{logship check} on a tailer: OK; a buck down is a warning, two (fewer
    than R) critical; a backlog over its thresholds; the tailer gone is
    UNKNOWN with the reason.
    """
    cluster = Cluster.start(group, tailer_args=METRICS)
    assert cluster.tailer is not None
    tailer = metrics_port(cluster.tailer)
    status, line = run_checks(tailer)
    assert status == 0 and "3/3 bucks" in line, line

    cluster.bucks[2].stop()
    wait_value(tailer, "logship_tailer_buck_connected", lambda v: v == 0, "buck2 down",
               buck=f"127.0.0.1:{cluster.bucks[2].port}")
    status, line = run_checks(tailer)
    assert status == 1, line
    assert f"2/3 bucks (WARNING < 3) (down: 127.0.0.1:{cluster.bucks[2].port})" in line, line

    cluster.bucks[1].stop()
    wait_value(tailer, "logship_tailer_buck_connected", lambda v: v == 0, "buck1 down",
               buck=f"127.0.0.1:{cluster.bucks[1].port}")
    status, line = run_checks(tailer)
    assert status == 2 and "1/3 bucks (CRITICAL < 2)" in line, line

    append_lines(cluster.log, recent_lines(2000))  # R = 2 bucks cannot be reached
    wait_value(tailer, "logship_tailer_lines_read_total", lambda v: v == 2000, "all read")
    backlog = ("--bucks-warning", "1", "--bucks-critical", "1")
    status, line = run_checks(tailer, *backlog, "--backlog-warning", "10k")
    assert status == 1 and "(WARNING > 10.0 KiB) (2000 events)" in line, line
    status, line = run_checks(tailer, *backlog, "--backlog-critical", "20k")
    assert status == 2 and "CRITICAL > 20.0 KiB" in line, line

    cluster.restart_bucks([1, 2])
    wait_value(tailer, "logship_tailer_backlog_bytes", lambda v: v == 0, "backlog drained")
    for buck in cluster.bucks:
        wait_value(tailer, "logship_tailer_buck_connected", lambda v: v == 1, "bucks back",
                   buck=f"127.0.0.1:{buck.port}")
    status, line = run_checks(tailer, "--backlog-warning", "10k")
    assert status == 0 and "backlog 0 B (0 events), 3/3 bucks" in line, line

    cluster.stop_tailer()
    status, line = run_checks(tailer)
    assert status == 3, line
    assert line == (f"LOGSHIP UNKNOWN - cannot read http://127.0.0.1:{tailer}/metrics:"
                    " Connection refused"), line

