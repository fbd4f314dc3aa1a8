"""Tests for L{logship.cli.demo}: `logship demo` runs the whole system."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

from logship.cli.demo import ARCHIE_PORT, BUCK_PORTS, LIVE_PORTS, METRICS_PORTS, PORTER_PORT
from tests.integration.processes import sigint_as_from_a_terminal
from tests.integration.waiting import wait_until_blocking


def free_base() -> int:
    """
    A port base whose every demo port is free on 127.0.0.1 now.
    """
    offsets = [*BUCK_PORTS, *LIVE_PORTS, ARCHIE_PORT, PORTER_PORT, *METRICS_PORTS.values()]
    for base in range(20000 + os.getpid() % 200 * 100, 60000, 100):
        try:
            for offset in offsets:
                with socket.socket() as s:
                    s.bind(("127.0.0.1", base + offset))
        except OSError:
            continue
        return base
    raise AssertionError("no free port range")


def get_json(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=10) as response:
        return json.loads(response.read())


def test_demo_runs_everything(tmp_path: Path) -> None:
    """
    `logship demo` starts the cluster on a generated log, prints the page's
    URL, serves the page and finds the sample lines by search; SIGINT
    (Ctrl-C) stops it cleanly.
    """
    base = free_base()
    demo = subprocess.Popen(
        [sys.executable, "-m", "logship", "demo", "--workdir", str(tmp_path / "work"),
         "--port-base", str(base), "--bucket-seconds", "1", "--rate", "50", "--metrics"],
        stderr=subprocess.PIPE, text=True,
        preexec_fn=sigint_as_from_a_terminal,
    )
    try:
        assert demo.stderr is not None
        first = demo.stderr.readline()
        assert "are running" in first, first
        url = f"http://127.0.0.1:{base + ARCHIE_PORT}/"
        assert url in demo.stderr.readline()
        banner = []
        while "Ctrl-C" not in (line := demo.stderr.readline()) and line:
            banner.append(line)
        metrics = f"http://127.0.0.1:{base + METRICS_PORTS['tailer']}/metrics"
        assert any(metrics in line and "(tailer)" in line for line in banner), banner
        with urllib.request.urlopen(url, timeout=10) as response:
            assert b"<html" in response.read().lower()

        def found() -> int:
            try:
                return get_json(f"{url}api/search?q=sshd&limit=5")["total"]
            except urllib.error.HTTPError as e:
                if e.code == 503:  # the porter is creating the index right now
                    return 0
                raise

        wait_until_blocking(found, 60, "sample lines found by search")


        def traces() -> list[str]:
            try:
                events = get_json(f"{url}api/search?q=request&limit=5")["events"]
            except urllib.error.HTTPError as e:
                if e.code == 503:
                    return []
                raise
            return [e["message"] for e in events if "\n\tat " in e["message"]]

        # the Java sample's stack traces: one event each (the java preset)
        wait_until_blocking(traces, 60, "a Java stack trace found as one event")
        status = get_json(f"http://127.0.0.1:{base + PORTER_PORT}/api/status")
        assert all(buck["connected"] for buck in status["bucks"].values())
        # --metrics: each service's page, its URL printed
        with urllib.request.urlopen(metrics, timeout=10) as response:
            assert b"logship_tailer_lines_read_total" in response.read()
        demo.send_signal(signal.SIGINT)
        log = tmp_path / "work" / "demo.log"
        try:
            # a bound for a hang, not a measure: the stop takes a second here
            status = demo.wait(120)
        except subprocess.TimeoutExpired:
            raise AssertionError(
                "the demo did not stop on SIGINT; its log ends:\n"
                + "\n".join(log.read_text().splitlines()[-40:])
            ) from None
        assert status == 0
        assert "Traceback" not in log.read_text()
    finally:
        if demo.poll() is None:
            demo.kill()
            demo.wait()
