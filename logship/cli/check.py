"""`logship check`: a nagios/Icinga plugin reading a service's metrics endpoint.

    logship check URL [--timeout 10] [--backlog-warning SIZE] [--lag-critical DURATION] ...

It reads the service's C{--metrics} page once (a plain blocking HTTP GET:
C{http://HOST:PORT/metrics}; C{HOST:PORT} or a bare port on loopback will
do), runs the checks that apply to the series it finds there, and prints
one status line with perfdata, as the plugin guidelines ask:

    LOGSHIP WARNING - tailer web1: backlog 80.0 MiB (WARNING > 64.0 MiB), 3/3 bucks | ...

and exits 0 (OK), 1 (WARNING), 2 (CRITICAL) or 3 (UNKNOWN): the worst of
its checks.  UNKNOWN says why: the endpoint cannot be read (refused, a
timeout, an HTTP error), it is not a logship service's metrics, or a
threshold was given for a check this service does not have.

The checks (C{docs/metrics.md} "logship check"), each with a C{--NAME-warning}
and a C{--NAME-critical} threshold and a default for both:

  - C{backlog} (tailer): bytes not yet on R bucks, above the threshold.
  - C{bucks} (tailer, porter): bucks connected, below the threshold
    (default: warning when any is down; critical below R for a tailer,
    with none for the porter).
  - C{lag} (porter): seconds the recent index is behind now, above.
  - C{archive-age} (porter): age of the oldest bucket not archived, above
    (default: the quiet period plus 6 h, plus 24 h).
  - C{disk-free} (buck): percent of the data disk free, below.
"""

from __future__ import annotations

import argparse
import enum
import math
import re
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import BinaryIO

from prometheus_client.parser import text_string_to_metric_families

#: Bytes of a metrics page read at most.
MAX_PAGE = 16 << 20


class State(enum.IntEnum):
    """
    A check's outcome; its value is the plugin's exit status.
    """

    OK = 0
    WARNING = 1
    CRITICAL = 2
    UNKNOWN = 3


class CheckUnknown(Exception):
    """
    The check cannot say: UNKNOWN, with this reason.
    """


#: A series' samples: their labels and value.
Samples = list[tuple[dict[str, str], float]]


def metrics_url(text: str) -> str:
    """
    The URL of a metrics page: C{http(s)://...} as given (C{/metrics}
    added when it has no path), C{HOST:PORT}, or a bare port on
    127.0.0.1.
    """
    if text.isdigit():
        text = f"127.0.0.1:{text}"
    if "://" not in text:
        text = f"http://{text}"
    scheme, _, rest = text.partition("://")
    if "/" not in rest:
        text = f"{scheme}://{rest}/metrics"
    return text


def read_page(url: str, timeout: float) -> str:
    """
    GET the metrics page.

    @raise CheckUnknown: if it cannot be read.
    """
    request = urllib.request.Request(url, headers={"Accept": "text/plain"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as answer:
            return bytes(answer.read(MAX_PAGE)).decode("utf-8", "replace")
    except urllib.error.HTTPError as e:
        raise CheckUnknown(f"cannot read {url}: HTTP {e.code} {e.reason}") from None
    except urllib.error.URLError as e:
        raise CheckUnknown(f"cannot read {url}: {_reason(e.reason)}") from None
    except (OSError, ValueError) as e:
        raise CheckUnknown(f"cannot read {url}: {_reason(e)}") from None


def _reason(error: object) -> str:
    if isinstance(error, OSError) and error.strerror:
        return error.strerror
    return str(error) or type(error).__name__


def parse_page(text: str) -> dict[str, Samples]:
    """
    The samples of a metrics page by series name (C{..._total} for
    counters), read with prometheus_client's own parser.

    @raise CheckUnknown: if it is not Prometheus text, or not a logship
        service's.
    """
    series: dict[str, Samples] = {}
    try:
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                series.setdefault(sample.name, []).append((dict(sample.labels), sample.value))
    except (ValueError, TypeError, IndexError) as e:
        raise CheckUnknown(f"not Prometheus text: {e}") from None
    if "logship_info" not in series:
        raise CheckUnknown("not a logship service's metrics (no logship_info)")
    return series


# -- values and their units


def parse_size(text: str) -> float:
    """
    Bytes: C{1048576}, C{512k}, C{64M}, C{1G}, C{2T} (powers of 1024).
    """
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([kKmMgGtT]?)i?[bB]?\s*", text)
    if match is None:
        raise ValueError(f"not a size: {text!r} (e.g. 500M, 2G)")
    exponent = " KMGT".index(match.group(2).upper() or " ")
    return float(match.group(1)) * float(1024**exponent)


def parse_duration(text: str) -> float:
    """
    Seconds: C{90}, C{90s}, C{15m}, C{2h}, C{3d}.
    """
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smhd]?)\s*", text)
    if match is None:
        raise ValueError(f"not a duration: {text!r} (e.g. 90s, 15m, 2h, 3d)")
    return float(match.group(1)) * {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}[match.group(2)]


def parse_percent(text: str) -> float:
    """
    A percentage: C{10} or C{10%}.
    """
    value = float(text.strip().removesuffix("%"))
    if not 0 <= value <= 100:
        raise ValueError(f"not a percentage: {text!r}")
    return value


def parse_count(text: str) -> float:
    """
    A whole number of at least 0.
    """
    value = int(text)
    if value < 0:
        raise ValueError(f"not a count: {text!r}")
    return float(value)


def _number(value: float) -> str:
    """
    A number in perfdata: whole ones without a fraction, never in
    exponent notation.
    """
    if float(value).is_integer():
        return str(int(value))
    return f"{value:f}".rstrip("0")


def show_size(value: float) -> str:
    """
    Bytes for people: C{812 B}, C{80.0 MiB}.
    """
    for unit in ("B", "KiB", "MiB", "GiB"):
        if abs(value) < 1024:
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} TiB"


def show_duration(value: float) -> str:
    """
    Seconds for people: C{75 s}, C{12 min}, C{3.5 h}, C{2.1 d}.
    """
    if value < 120:
        return f"{value:.0f} s"
    if value < 7200:
        return f"{value / 60:.0f} min"
    if value < 172800:
        return f"{value / 3600:.1f} h"
    return f"{value / 86400:.1f} d"


# -- the checks


@dataclass(frozen=True)
class Limits:
    """
    A check's thresholds.

    @ivar warning: the warning threshold.
    @ivar critical: the critical threshold.
    @ivar below: whether a value below them is bad (else above).
    """

    warning: float
    critical: float
    below: bool = False

    def state(self, value: float) -> State:
        """
        The state of C{value} against these thresholds.
        """
        if self.below:
            return State.CRITICAL if value < self.critical else (
                State.WARNING if value < self.warning else State.OK)
        return State.CRITICAL if value > self.critical else (
            State.WARNING if value > self.warning else State.OK)

    def perf(self, threshold: float) -> str:
        """
        A threshold in perfdata's range syntax (C{N:} when below is bad).
        """
        return f"{_number(threshold)}:" if self.below else _number(threshold)


@dataclass(frozen=True)
class Outcome:
    """
    What one check found.

    @ivar state: its state.
    @ivar text: what to say in the status line.
    @ivar perfdata: its perfdata items (C{'label'=value[UOM];warn;crit;min;max}).
    """

    state: State
    text: str
    perfdata: tuple[str, ...] = ()


@dataclass(frozen=True)
class Check:
    """
    One kind of check.

    @ivar name: its name (the options are C{--NAME-warning}, C{--NAME-critical}).
    @ivar series: a series whose presence says the check applies.
    @ivar value: reads the threshold options (C{parse_size} ...).
    @ivar help: the options' help (the unit and the default).
    @ivar run: runs it on the series, with the thresholds given (C{None}
        for a default).
    """

    name: str
    series: tuple[str, ...]
    value: Callable[[str], float]
    help: str
    run: Callable[[dict[str, Samples], float | None, float | None], Outcome]

    def applies(self, series: dict[str, Samples]) -> bool:
        """
        Whether the page has what this check reads.
        """
        return any(name in series for name in self.series)


def _one(series: dict[str, Samples], name: str) -> float:
    """
    The value of a series without labels.

    @raise CheckUnknown: if it is missing or not a number.
    """
    samples = series.get(name)
    if not samples or math.isnan(samples[0][1]):
        raise CheckUnknown(f"{name} has no value")
    return samples[0][1]


def _judged(
    text: str, value: float, limits: Limits, shown: Callable[[float], str]
) -> tuple[State, str]:
    """
    The state of a value, and the text that shows it (with the threshold
    it crossed, if any).
    """
    state = limits.state(value)
    if state is not State.OK:
        threshold = limits.critical if state is State.CRITICAL else limits.warning
        text += f" ({state.name} {'<' if limits.below else '>'} {shown(threshold)})"
    return state, text


def _backlog(series: dict[str, Samples], warning: float | None, critical: float | None) -> Outcome:
    limits = Limits(64 * 2**20 if warning is None else warning,
                    2**30 if critical is None else critical)
    backlog = _one(series, "logship_tailer_backlog_bytes")
    state, text = _judged(f"backlog {show_size(backlog)}", backlog, limits, show_size)
    perf = [f"backlog_bytes={_number(backlog)}B;{limits.perf(limits.warning)};"
            f"{limits.perf(limits.critical)};0;"]
    events = series.get("logship_tailer_backlog_events", [({}, math.nan)])[0][1]
    if not math.isnan(events):
        text += f" ({events:.0f} events)"
        perf.append(f"backlog_events={_number(events)};;;0;")
    return Outcome(state, text, tuple(perf))


def _bucks(series: dict[str, Samples], warning: float | None, critical: float | None) -> Outcome:
    name = next(n for n in ("logship_tailer_buck_connected", "logship_porter_buck_connected")
                if n in series)
    samples = series[name]
    configured = len(samples)
    connected = sum(1 for _, value in samples if value == 1)
    down = sorted(labels.get("buck", "?") for labels, value in samples if value != 1)
    default_critical = (
        series["logship_tailer_replicas"][0][1] if "logship_tailer_replicas" in series else 1
    )
    limits = Limits(configured if warning is None else warning,
                    default_critical if critical is None else critical, below=True)
    state, text = _judged(
        f"{connected}/{configured} bucks", connected, limits, lambda v: f"{v:.0f}"
    )
    if down:
        text += f" (down: {', '.join(down)})"
    perf = (f"bucks={connected};{limits.perf(limits.warning)};"
            f"{limits.perf(limits.critical)};0;{configured}")
    return Outcome(state, text, (perf,))


def _lag(series: dict[str, Samples], warning: float | None, critical: float | None) -> Outcome:
    limits = Limits(900 if warning is None else warning, 3600 if critical is None else critical)
    lag = _one(series, "logship_porter_index_lag_seconds")
    state, text = _judged(f"index lag {show_duration(lag)}", lag, limits, show_duration)
    return Outcome(state, text, (
        f"lag={lag:.0f}s;{limits.perf(limits.warning)};{limits.perf(limits.critical)};0;",))


def _archive_age(
    series: dict[str, Samples], warning: float | None, critical: float | None
) -> Outcome:
    quiet = _one(series, "logship_porter_quiet_seconds")
    limits = Limits(quiet + 6 * 3600 if warning is None else warning,
                    quiet + 24 * 3600 if critical is None else critical)
    age = _one(series, "logship_porter_oldest_unarchived_age_seconds")
    state, text = _judged(
        f"oldest unarchived {show_duration(age)}", age, limits, show_duration
    )
    return Outcome(state, text, (
        f"archive_age={age:.0f}s;{limits.perf(limits.warning)};"
        f"{limits.perf(limits.critical)};0;",))


def _disk_free(
    series: dict[str, Samples], warning: float | None, critical: float | None
) -> Outcome:
    free = _one(series, "logship_buck_disk_free_bytes")
    size = _one(series, "logship_buck_disk_size_bytes")
    limits = Limits(10 if warning is None else warning, 5 if critical is None else critical,
                    below=True)
    percent = 100 * free / size if size > 0 else 0.0
    state, text = _judged(
        f"disk {percent:.1f}% free ({show_size(free)})", percent, limits, lambda v: f"{v:.1f}%"
    )
    return Outcome(state, text, (
        f"disk_free={percent:.2f}%;{limits.perf(limits.warning)};"
        f"{limits.perf(limits.critical)};0;100",))


CHECKS = (
    Check("backlog", ("logship_tailer_backlog_bytes",), parse_size,
          "bytes not yet on R bucks (tailer; e.g. 500M; default 64M and 1G)", _backlog),
    Check("bucks", ("logship_tailer_buck_connected", "logship_porter_buck_connected"),
          parse_count,
          "bucks connected, at least (tailer, porter; default: all of them, and R"
          " for a tailer, 1 for the porter)", _bucks),
    Check("lag", ("logship_porter_index_lag_seconds",), parse_duration,
          "the recent index behind now (porter; e.g. 15m; default 15m and 1h)", _lag),
    Check("archive-age", ("logship_porter_oldest_unarchived_age_seconds",), parse_duration,
          "the oldest bucket not archived (porter; e.g. 3d; default the quiet period"
          " + 6h and + 24h)", _archive_age),
    Check("disk-free", ("logship_buck_disk_free_bytes",), parse_percent,
          "percent of the data disk free, at least (buck; default 10 and 5)", _disk_free),
)


def evaluate(
    series: dict[str, Samples], given: dict[str, tuple[float | None, float | None]]
) -> tuple[str, list[Outcome]]:
    """
    Run the checks that apply to a page.

    @param series: the page's samples (L{parse_page}).
    @param given: the thresholds given, C{(warning, critical)} by check
        name (each C{None} for the default).
    @return: what the page is (C{"tailer web1"}), and each check's outcome.
    @raise CheckUnknown: a threshold was given for a check that does not
        apply, or a series it needs has no value.
    """
    labels = series["logship_info"][0][0]
    what = f"{labels.get('service', '?')} {labels.get('node', '?')}"
    outcomes = []
    for check in CHECKS:
        warning, critical = given.get(check.name, (None, None))
        if not check.applies(series):
            if warning is not None or critical is not None:
                raise CheckUnknown(f"{what} has no {check.name} check (its series are not there)")
            continue
        outcomes.append(check.run(series, warning, critical))
    return what, outcomes


def status_line(what: str, outcomes: Sequence[Outcome]) -> tuple[State, str]:
    """
    The plugin's state (the worst outcome's) and its one line.
    """
    state = max((o.state for o in outcomes), default=State.OK)
    texts = ", ".join(o.text for o in outcomes) or "up"
    perfdata = " ".join(p for o in outcomes for p in o.perfdata)
    line = f"LOGSHIP {state.name} - {what}: {texts}"
    return state, line + (f" | {perfdata}" if perfdata else "")


def run_check(args: argparse.Namespace, out: BinaryIO, now: float) -> int:
    """
    The C{logship check} command: print the status line, return the state.
    """
    url = metrics_url(args.url)
    try:
        given = {
            check.name: (_threshold(check, "warning", args), _threshold(check, "critical", args))
            for check in CHECKS
        }
        series = parse_page(read_page(url, args.timeout))
        what, outcomes = evaluate(series, given)
        state, line = status_line(what, outcomes)
    except CheckUnknown as e:
        state, line = State.UNKNOWN, f"LOGSHIP UNKNOWN - {e}"
    out.write(line.encode("utf-8") + b"\n")
    return int(state)


def _threshold(check: Check, kind: str, args: argparse.Namespace) -> float | None:
    """
    The C{--NAME-KIND} threshold given, or C{None}.

    @raise CheckUnknown: if it is not a value of the check's unit.
    """
    text = getattr(args, f"{check.name}_{kind}".replace("-", "_"))
    if text is None:
        return None
    try:
        return check.value(text)
    except ValueError as e:
        raise CheckUnknown(f"--{check.name}-{kind}: {e}") from None


def add_check_parser(
    subparsers: argparse._SubParsersAction[argparse.ArgumentParser],
) -> argparse.ArgumentParser:
    """
    Add the C{check} subcommand to C{subparsers}; it runs L{run_check}
    through C{args.run}.
    """
    text = ("a nagios/Icinga plugin: check a service's metrics endpoint"
            " (exit 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN)")
    sub = subparsers.add_parser("check", help=text, description=text)
    sub.set_defaults(run=run_check)
    sub.add_argument("url", metavar="URL",
                     help="the service's --metrics: http://HOST:PORT/metrics, HOST:PORT,"
                     " or a port on 127.0.0.1")
    sub.add_argument("--timeout", type=float, default=10.0, metavar="SECONDS",
                     help="seconds to wait for the page (default 10)")
    for check in CHECKS:
        for kind in ("warning", "critical"):
            sub.add_argument(f"--{check.name}-{kind}", metavar="VALUE",
                             help=f"{kind}: {check.help}")
    return sub
