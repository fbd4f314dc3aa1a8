"""The web surfaces of a real cluster on loopback, attacked (issue 11): archie and the porter's API.

3 bucks, a tailer, the porter (its API with a token) and archie (which
holds the porter's token) as twistd processes on 127.0.0.1, 1-second
buckets and a quiet period of 1 s, so that history has archived buckets
to count and load.  Each attack of the issue is made as an attacker
would, over HTTP, and fails to do harm, while a good client (a script,
and archie's own page as its C{Origin} says) keeps working:

- a cross-site no-cors C{text/plain} POST, and a JSON one from another
  origin, create no history job;
- a request whose C{Host} is another name of 127.0.0.1 (DNS rebinding)
  reads nothing, from archie or from the porter;
- the porter's API without its token answers nothing; it does not even
  start on a non-loopback address without one;
- history requests are capped (range length, total index size) with a
  400 or a 429 naming the limit, and a time past 2^63 ticks is a 400.
"""

from __future__ import annotations

import json
import sqlite3
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from tests.integration.delivery import Cluster, append_lines
from tests.integration.processes import ProcessGroup, TwistdProcess
from tests.integration.waiting import wait_until_blocking

PORTER_READY = r"logship-porter listening on (?P<host>\S+):(?P<port>\d+)"
ARCHIE_READY = r"logship-archie listening on (?P<host>\S+):(?P<port>\d+)"
#: Lines written; the porter may hold this many events in history indexes.
LINES = 40


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any) -> None:
        return None


_opener = urllib.request.build_opener(_NoRedirect)


def http(method: str, url: str, body: bytes | None = None,
         headers: dict[str, str] | None = None) -> tuple[int, Any]:
    """
    One HTTP request (blocking), as any client could make it: its
    status, and its answer (JSON if it is).
    """
    request = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    try:
        with _opener.open(request, timeout=30) as response:
            code, data = response.status, response.read()
    except urllib.error.HTTPError as e:
        code, data = e.code, e.read()
    try:
        return code, json.loads(data)
    except ValueError:
        return code, data


def post_json(url: str, document: Any, **headers: str) -> tuple[int, Any]:
    """
    POST C{document} as JSON, as a script does (no C{Origin}).
    """
    return http("POST", url, json.dumps(document).encode(),
                {"Content-Type": "application/json", **headers})


def token_file(root: Path, name: str, token: str) -> Path:
    path = root / name
    path.write_text(token + "\n")
    path.chmod(0o600)
    return path


def manifest_events(group: ProcessGroup) -> int:
    """
    The events of every bucket the porter archived (its manifest).
    """
    path = group.root / "porter" / "state" / "porter.sqlite"
    if not path.exists():
        return 0
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        (total,) = db.execute("SELECT coalesce(sum(events), 0) FROM manifest").fetchone()
    except sqlite3.OperationalError:  # not made yet
        return 0
    finally:
        db.close()
    return int(total)


def start_porter(group: ProcessGroup, cluster: Cluster | None, api: str,
                 *more: str) -> TwistdProcess:
    args = ["--index", "sqlite:index", "--archive", "dir:archive", "--state", "state",
            "--bucket-seconds", "1", "--quiet", "1", "--interval", "0.3", "--api", api, *more]
    if cluster is None:
        args += ["--insecure", "--buck", "127.0.0.1:1"]
    else:
        args += ["--key", str(cluster.key)]
        for buck in cluster.bucks:
            args += ["--buck", f"127.0.0.1:{buck.port}"]
    return group.start_twistd("logship-porter", args, name="porter", ready=PORTER_READY)


def test_porter_api_needs_a_token_beyond_loopback(group: ProcessGroup) -> None:
    """
    The porter refuses to start with its API on every interface, or on
    another address, without --api-token; with one (here on loopback) it
    answers only requests that present it, under its own address.
    """
    for api in ("tcp:0", "tcp:0:interface=0.0.0.0"):
        porter = group.start_twistd(
            "logship-porter",
            ["--insecure", "--buck", "127.0.0.1:1", "--state", "state", "--api", api],
            name=f"porter-{api.replace(':', '-')}", ready=None,
        )
        assert porter.popen.wait(60) != 0
        assert "give --api-token FILE" in porter.log_text(), porter.tail()
        assert "listening on" not in porter.log_text()
    token = "porter-api-token-" + "7" * 20
    porter = start_porter(group, None, "tcp:0:interface=127.0.0.1",
                          "--api-token", str(token_file(group.root, "api.token", token)))
    base = f"http://127.0.0.1:{porter.port}"
    code, answer = http("GET", base + "/api/status")
    assert (code, answer["parameter"]) == (401, "token")
    code, answer = post_json(base + "/api/history", {"from": "-2h", "to": "-1h"})
    assert (code, answer["parameter"]) == (401, "token")
    bearer = {"Authorization": f"Bearer {token}"}
    code, answer = http("GET", base + "/api/status", headers={**bearer,
                        "Host": f"porter.evil.example:{porter.port}"})
    assert (code, answer["parameter"]) == (403, "host")
    code, answer = http("GET", base + "/api/status", headers=bearer)
    assert code == 200 and answer["env"] == "default"
    code, answer = http("GET", base + "/api/history", headers=bearer)
    assert (code, answer) == (200, {"jobs": []})


def test_archie_and_porter_refuse_the_attacks(group: ProcessGroup) -> None:
    """
    With 40 lines archived and the porter allowed 40 events in
    history indexes: the cross-site POSTs, the foreign Hosts and the
    porter without its token create and read nothing; 1970 to now and a
    time past 2^63 ticks are 400s; archie's own page gets its history
    index, loaded and searchable; a second one of the same range is a 429.
    """
    cluster = Cluster.start(
        group,
        tailer_args=["--bucket-seconds", "1", "--archive-check-interval", "1"],
        buck_args=["--bucket-seconds", "1"],
    )
    porter_token = "porter-api-token-" + "3" * 20
    porter_token_file = token_file(group.root, "porter-api.token", porter_token)
    porter = start_porter(group, cluster, "tcp:0:interface=127.0.0.1",
                          "--api-token", str(porter_token_file),
                          "--max-history-events", str(LINES))
    archie = group.start_twistd(
        "logship-archie",
        ["--listen", "tcp:0:interface=127.0.0.1",
         "--index", f"sqlite:{group.root / 'porter' / 'index'}",
         "--porter", f"http://127.0.0.1:{porter.port}",
         "--porter-token", str(porter_token_file)],
        name="archie", ready=ARCHIE_READY,
    )
    site = f"http://127.0.0.1:{archie.port}"
    porter_api = f"http://127.0.0.1:{porter.port}"
    append_lines(cluster.log, [b"web line %d of the attack test" % i for i in range(LINES)])
    wait_until_blocking(lambda: manifest_events(group) == LINES, 120, f"{LINES} events archived",
             on_timeout=lambda: f"{manifest_events(group)} archived\n{porter.tail()}")

    def jobs() -> list[dict[str, Any]]:
        code, answer = http("GET", site + "/api/history")
        assert code == 200, answer
        return list(answer["jobs"])

    # A page of another site posts, as it can without asking: no-cors,
    # text/plain; then (were it granted a preflight) as JSON.
    wanted = json.dumps({"from": "-1h", "to": "now"}).encode()
    code, answer = http("POST", site + "/api/history", wanted, {
        "Content-Type": "text/plain;charset=UTF-8", "Origin": "http://evil.example"})
    assert (code, answer["parameter"]) == (415, "content-type")
    code, answer = http("POST", site + "/api/history", wanted, {
        "Content-Type": "application/json", "Origin": "http://evil.example"})
    assert (code, answer["parameter"]) == (403, "origin")
    assert jobs() == []

    # DNS rebinding: another name for 127.0.0.1.
    for base, port in ((site, archie.port), (porter_api, porter.port)):
        code, answer = http("GET", base + "/api/history", headers={
            "Host": f"rebound.evil.example:{port}",
            "Authorization": f"Bearer {porter_token}"})
        assert (code, answer["parameter"]) == (403, "host"), base
    code, answer = http("GET", site + "/", headers={"Host": f"rebound.evil.example:{archie.port}"})
    assert code == 403

    # The porter's API, straight, without its token.
    code, answer = post_json(porter_api + "/api/history", {"from": "-1h", "to": "now"})
    assert code == 401
    assert jobs() == []

    # The limits, through archie: 1970 to now; past 2^63 ticks.
    code, answer = post_json(site + "/api/history", {"from": "1970-01-01", "to": "now"})
    assert (code, answer["limit"]) == (400, "max-history-days"), answer
    code, answer = post_json(site + "/api/history", {"from": "-1h", "to": "4900-01-01"})
    assert (code, answer["parameter"]) == (400, "to"), answer

    # archie's own page (its Origin) asks for the range: accepted, loaded,
    # searchable.
    code, job = post_json(site + "/api/history", {"from": "-1h", "to": "now"},
                          Origin=site)
    assert code == 202, job

    def ready() -> bool:
        code, answer = http("GET", site + job["status"])
        assert code == 200 and answer["state"] not in ("failed", "expired"), answer
        return bool(answer["state"] == "ready")

    wait_until_blocking(ready, 60, "the history index ready", on_timeout=porter.tail)
    code, found = http("GET", site + f"/api/search?index={job['index']}&q=attack&limit=1000")
    assert code == 200 and found["total"] == LINES, found

    # The same range again would hold twice the cap: 429 naming it.
    code, answer = post_json(site + "/api/history", {"from": "-1h", "to": "now"}, Origin=site)
    assert (code, answer["limit"]) == (429, "max-history-events"), answer
    assert [j["id"] for j in jobs()] == [job["id"]]
