"""Tests for L{logship.cli.check}: units, thresholds, and the status line of pages of each service."""

from __future__ import annotations

import pytest

from logship.cli.check import (
    CheckUnknown,
    State,
    evaluate,
    metrics_url,
    parse_duration,
    parse_page,
    parse_percent,
    parse_size,
    status_line,
)

INFO = 'logship_info{{node="{node}",service="{service}",version="0.1.0"}} 1.0\n'


def tailer_page(backlog: float, connected: tuple[int, ...] = (1, 1, 1), replicas: int = 2) -> str:
    lines = [INFO.format(node="web1", service="tailer"),
             "# TYPE logship_tailer_backlog_bytes gauge\n",
             f"logship_tailer_backlog_bytes {backlog}\n",
             "# TYPE logship_tailer_backlog_events gauge\n",
             "logship_tailer_backlog_events 12.0\n",
             "# TYPE logship_tailer_buck_connected gauge\n"]
    lines += [f'logship_tailer_buck_connected{{buck="10.0.0.{i}:4401"}} {c}\n'
              for i, c in enumerate(connected, 1)]
    lines += ["# TYPE logship_tailer_replicas gauge\n", f"logship_tailer_replicas {replicas}\n"]
    return "".join(lines)


def porter_page(lag: float, age: float, quiet: float = 172800, connected: int = 1) -> str:
    return "".join([
        INFO.format(node="porter", service="porter"),
        f"logship_porter_index_lag_seconds {lag}\n",
        f"logship_porter_oldest_unarchived_age_seconds {age}\n",
        f"logship_porter_quiet_seconds {quiet}\n",
        f'logship_porter_buck_connected{{buck="b1:4401"}} {connected}\n',
    ])


def buck_page(free: float, size: float = 1000.0) -> str:
    return "".join([
        INFO.format(node="b1", service="buck"),
        f"logship_buck_disk_free_bytes {free}\n",
        f"logship_buck_disk_size_bytes {size}\n",
    ])


def check(page: str, **given: tuple[float | None, float | None]) -> tuple[State, str]:
    what, outcomes = evaluate(parse_page(page), {k.replace("_", "-"): v for k, v in given.items()})
    return status_line(what, outcomes)


def test_units() -> None:
    assert parse_size("64M") == 64 * 2**20
    assert parse_size("1G") == 2**30
    assert parse_size("512KiB") == 512 * 1024
    assert parse_size("1000") == 1000
    assert parse_duration("90") == 90
    assert parse_duration("15m") == 900
    assert parse_duration("2h") == 7200
    assert parse_duration("3d") == 3 * 86400
    assert parse_percent("10%") == 10
    for parse, text in ((parse_size, "lots"), (parse_duration, "1y"), (parse_percent, "101")):
        with pytest.raises(ValueError):
            parse(text)


def test_urls() -> None:
    assert metrics_url("9402") == "http://127.0.0.1:9402/metrics"
    assert metrics_url("h:9402") == "http://h:9402/metrics"
    assert metrics_url("https://h:9402") == "https://h:9402/metrics"
    assert metrics_url("http://h:9402/x/metrics") == "http://h:9402/x/metrics"


def test_tailer_ok() -> None:
    state, line = check(tailer_page(812))
    assert state is State.OK
    assert line.startswith("LOGSHIP OK - tailer web1: backlog 812 B (12 events), 3/3 bucks |")
    assert "backlog_bytes=812B;67108864;1073741824;0;" in line
    assert "backlog_events=12;;;0;" in line
    assert "bucks=3;3:;2:;0;3" in line
    assert "\n" not in line


def test_backlog_thresholds() -> None:
    state, line = check(tailer_page(80 * 2**20))
    assert state is State.WARNING
    assert "backlog 80.0 MiB (12 events)" not in line
    assert "backlog 80.0 MiB (WARNING > 64.0 MiB) (12 events)" in line
    state, _ = check(tailer_page(2 * 2**30))
    assert state is State.CRITICAL
    state, _ = check(tailer_page(2000), backlog=(1000.0, 5000.0))
    assert state is State.WARNING


def test_bucks() -> None:
    state, line = check(tailer_page(0, (1, 0, 1)))
    assert state is State.WARNING
    assert "2/3 bucks (WARNING < 3) (down: 10.0.0.2:4401)" in line
    state, _ = check(tailer_page(0, (1, 0, 0)))
    assert state is State.CRITICAL  # fewer than R = 2
    state, _ = check(tailer_page(0, (1, 0, 0)), bucks=(None, 1.0))
    assert state is State.WARNING
    state, line = check(porter_page(60, 0, connected=0))
    assert state is State.CRITICAL
    assert "0/1 bucks (CRITICAL < 1)" in line


def test_porter() -> None:
    state, line = check(porter_page(75, 172800 + 600))
    assert state is State.OK
    assert "index lag 75 s, oldest unarchived 2.0 d" in line
    assert "lag=75s;900;3600;0;" in line
    assert f"archive_age=173400s;{172800 + 6 * 3600};{172800 + 24 * 3600};0;" in line
    state, line = check(porter_page(1200, 0))
    assert state is State.WARNING
    assert "index lag 20 min (WARNING > 15 min)" in line
    state, _ = check(porter_page(60, 172800 + 25 * 3600))
    assert state is State.CRITICAL
    state, _ = check(porter_page(60, 7200, quiet=600), archive_age=(3600.0, 86400.0))
    assert state is State.WARNING


def test_buck_disk() -> None:
    state, line = check(buck_page(450))
    assert state is State.OK
    assert line == ("LOGSHIP OK - buck b1: disk 45.0% free (450 B)"
                    " | disk_free=45.00%;10:;5:;0;100")
    assert check(buck_page(80))[0] is State.WARNING
    assert check(buck_page(40))[0] is State.CRITICAL
    assert check(buck_page(450), disk_free=(50.0, None))[0] is State.WARNING


def test_worst_wins() -> None:
    state, line = check(tailer_page(2 * 2**30, (1, 0, 1)))
    assert state is State.CRITICAL
    assert line.startswith("LOGSHIP CRITICAL - ")


def test_archie_is_up() -> None:
    state, line = check(INFO.format(node="web", service="archie"))
    assert (state, line) == (State.OK, "LOGSHIP OK - archie web: up")


def test_unknowns() -> None:
    with pytest.raises(CheckUnknown, match="buck b1 has no lag check"):
        check(buck_page(450), lag=(60.0, None))
    with pytest.raises(CheckUnknown, match="not a logship service's metrics"):
        parse_page("# TYPE other gauge\nother 1\n")
    with pytest.raises(CheckUnknown, match="not Prometheus text"):
        parse_page("<html>hello</html>\n")
    with pytest.raises(CheckUnknown, match="has no value"):
        check(porter_page(float("nan"), 0))
