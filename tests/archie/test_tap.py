"""Tests of archie's options, parameters and history watches
(synchronous: no sockets, a L{Clock} for time)."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Any

from twisted.application.service import MultiService
from twisted.internet.defer import Deferred, succeed
from twisted.internet.task import Clock
from twisted.internet.testing import MemoryReactorClock
from twisted.python import usage
from twisted.trial.unittest import SynchronousTestCase

from logship.archie.history import HistoryWatches, PorterUnavailable
from logship.archie.params import (
    MAX_SLOTS,
    BadParameter,
    histogram_request,
    job_id,
    search_request,
    slot_ticks,
)
from logship.archie.tap import Options, makeService
from logship.plumbing.listeners import Listener
from logship.plumbing.webaccess import PublicName
from logship.core.parse import TICKS_PER_SECOND
from tests.archie.common import NOW

TOKEN = "a-token-of-the-tests-0123456789"


class OptionsTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.tmp = Path(tempfile.mkdtemp())
        self.addCleanup(shutil.rmtree, self.tmp)

    def token_file(self, text: str = TOKEN, mode: int = 0o600) -> Path:
        path = self.tmp / "token"
        path.write_text(text + "\n")
        path.chmod(mode)
        return path

    def parse(self, *argv: str) -> Options:
        options = Options()
        options.parseOptions(list(argv))
        return options

    def test_defaults(self) -> None:
        """
        By default: loopback, the porter on 4490, no live bucks, no token.
        """
        options = self.parse()
        self.assertEqual(options["listen"], "tcp:4480:interface=127.0.0.1")
        self.assertEqual(options["porter"], "http://127.0.0.1:4490")
        self.assertEqual(options["live"], [])
        self.assertIsNone(options.token)

    def test_live(self) -> None:
        """
        C{--live} is repeatable; each URL gets a name for the page.
        """
        options = self.parse("--live", "ws://127.0.0.1:4481/live",
                             "--live", "wss://logs.example.com/live?token=abc")
        self.assertEqual(options["live"], [
            ("127.0.0.1:4481", "ws://127.0.0.1:4481/live"),
            ("logs.example.com:443", "wss://logs.example.com/live?token=abc"),
        ])

    def test_bad_values(self) -> None:
        """
        Bad URLs, endpoints, directories: one-line usage errors.
        """
        for argv, needle in [
            (["--live", "http://127.0.0.1:4481/live"], "--live"),
            (["--live", "ws:///live"], "--live"),
            (["--live", "ws://127.0.0.1:4481/live", "--live", "ws://127.0.0.1:4481/x"], "twice"),
            (["--porter", "ftp://x"], "--porter"),
            (["--porter", "http://127.0.0.1:4490/api"], "--porter"),
            (["--index", "mysql:x"], "--index"),
            (["--listen", "nonsense:1"], "--listen"),
            (["--web", str(self.tmp)], "index.html"),
            (["--dedup-seconds", "0"], "more than 0"),
        ]:
            with self.assertRaises(usage.UsageError) as caught:
                self.parse(*argv)
            self.assertIn(needle, str(caught.exception), argv)

    def test_token_required_beyond_loopback(self) -> None:
        """
        Listening beyond loopback needs a token; with one, it is read.
        """
        for listen in ("tcp:4480", "tcp:4480:interface=0.0.0.0", "tcp6:4480:interface=\\:\\:"):
            with self.assertRaises(usage.UsageError) as caught:
                self.parse("--listen", listen)
            self.assertIn("--token", str(caught.exception))
        options = self.parse("--listen", "tcp:4480", "--token", str(self.token_file()))
        self.assertEqual(options.token, TOKEN)

    def test_bad_tokens(self) -> None:
        for text, mode, needle in [
            (TOKEN, 0o644, "chmod 600"),
            ("short", 0o600, "at least"),
            ("has a space in it 0123456789", 0o600, "without spaces"),
            ("semi;colon-0123456789abcdef", 0o600, "semicolons"),
        ]:
            path = self.token_file(text, mode)
            with self.assertRaises(usage.UsageError) as caught:
                self.parse("--token", str(path))
            self.assertIn(needle, str(caught.exception))
        with self.assertRaises(usage.UsageError):
            self.parse("--token", str(self.tmp / "missing"))

    def test_public_names_and_porter_token(self) -> None:
        """
        C{--public-name} is repeatable (NAME or NAME:PORT, also from TOML);
        C{--porter-token} is read like a token and sent to the porter.
        """
        options = self.parse("--public-name", "Logs.Example.com",
                             "--public-name", "logs.example.com:8443",
                             "--porter-token", str(self.token_file()))
        self.assertEqual(options["public-name"], [PublicName("logs.example.com"),
                                                 PublicName("logs.example.com", 8443)])
        self.assertEqual(options.porter_token, TOKEN)
        self.assertEqual(self.parse()["public-name"], [])
        for bad in ("a b", "logs.example.com:0", "http://logs.example.com"):
            with self.assertRaises(usage.UsageError) as caught:
                self.parse("--public-name", bad)
            self.assertIn("--public-name", str(caught.exception))
        with self.assertRaises(usage.UsageError) as caught:
            self.parse("--porter-token", str(self.token_file(mode=0o640)))
        self.assertIn("--porter-token", str(caught.exception))
        self.token_file()
        config = self.tmp / "archie.toml"
        config.write_text('public_name = ["logs.example.com", "10.0.0.7:80"]\n'
                          'porter_token = "token"\n')
        options = self.parse("--config", str(config))
        self.assertEqual(options["public-name"], [PublicName("logs.example.com"),
                                                 PublicName("10.0.0.7", 80)])
        self.assertEqual(options.porter_token, TOKEN)

    def test_config_file(self) -> None:
        """
        A TOML file sets options (paths relative to it); the command line
        wins.
        """
        self.token_file()
        config = self.tmp / "archie.toml"
        config.write_text(
            'listen = "tcp:0"\ntoken = "token"\nporter = "http://10.0.0.5:4402"\n'
            'live = ["ws://10.0.0.1:4481/live", "ws://10.0.0.2:4481/live"]\n'
            "dedup_seconds = 5\n"
        )
        options = self.parse("--config", str(config), "--dedup-seconds", "3")
        self.assertEqual(options.token, TOKEN)
        self.assertEqual(options["porter"], "http://10.0.0.5:4402")
        self.assertEqual([n for n, _ in options["live"]], ["10.0.0.1:4481", "10.0.0.2:4481"])
        self.assertEqual(options["dedup-seconds"], 3.0)
        config.write_text('colour = "blue"\n')
        with self.assertRaises(usage.UsageError) as caught:
            self.parse("--config", str(config))
        self.assertIn("colour", str(caught.exception))

    def test_example_config(self) -> None:
        """
        C{etc/archie.toml} parses.
        """
        example = Path(__file__).resolve().parents[2] / "etc" / "archie.toml"
        options = self.parse("--config", str(example))
        self.assertEqual(len(options["live"]), 3)

    def test_make_service(self) -> None:
        """
        A L{MultiService} with the site's announced listener.
        """
        service = makeService(self.parse("--index", f"sqlite:{self.tmp}"), MemoryReactorClock())
        self.assertIsInstance(service, MultiService)
        listeners = [s for s in service if isinstance(s, Listener)]
        self.assertEqual([s.description for s in listeners], ["tcp:4480:interface=127.0.0.1"])


class ParameterTests(SynchronousTestCase):
    def args(self, **params: Any) -> dict[bytes, list[bytes]]:
        return {k.encode(): [v.encode()] if isinstance(v, str) else [x.encode() for x in v]
                for k, v in params.items()}

    def test_search(self) -> None:
        search = search_request(self.args(q='error "disk full"', host=["a", "b", "a"],
                                          app="cron", limit="5", **{"from": "-1h"}), NOW)
        self.assertEqual(search.index, "recent")
        q = search.query
        self.assertEqual((q.terms, q.substrings, q.hosts, q.apps, q.limit),
                         (("error",), ("disk full",), (b"a", b"b"), (b"cron",), 5))
        self.assertEqual(q.start, int((NOW - 3600) * TICKS_PER_SECOND))
        self.assertIsNone(q.end)

    def test_not_utf8(self) -> None:
        with self.assertRaises(BadParameter) as caught:
            search_request({b"q": [b"\xff"]}, NOW)
        self.assertEqual(caught.exception.parameter, "q")

    def test_slots(self) -> None:
        """
        Slot lengths are the smallest nice length giving at most the slots
        asked for; slots are aligned to it.
        """
        hour = 3600 * TICKS_PER_SECOND
        self.assertEqual(slot_ticks(hour, 60), 60 * TICKS_PER_SECOND)
        self.assertEqual(slot_ticks(hour, 59), 120 * TICKS_PER_SECOND)
        self.assertEqual(slot_ticks(10 * TICKS_PER_SECOND, 60), TICKS_PER_SECOND)
        h = histogram_request(self.args(**{"from": "-1h", "slots": "60"}), NOW + 30)
        self.assertEqual(h.slot, 60 * TICKS_PER_SECOND)
        self.assertEqual(h.first % h.slot, 0)
        self.assertEqual(h.slots, 61)
        h = histogram_request(self.args(**{"from": "1970-01-02"}), NOW)
        self.assertLessEqual(h.slots, MAX_SLOTS)

    def test_job_id(self) -> None:
        self.assertEqual(job_id("a1b2c3"), "a1b2c3")
        for bad in ("", "../x", "a" * 65, "a b"):
            with self.assertRaises(BadParameter):
                job_id(bad)


class FakePorter:
    """
    Answers L{HistoryWatches}' polls from a list, one per poll.
    """

    def __init__(self, answers: list[Any]) -> None:
        self.answers = answers
        self.asked = 0

    def request(self, method: str, path: str, body: Any = None) -> Deferred[Any]:
        self.asked += 1
        answer = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        if isinstance(answer, Exception):
            raise answer
        return succeed(answer)


def job(state: str, done: int = 0, total: int = 0) -> dict[str, Any]:
    return {"id": "j1", "state": state, "buckets_done": done, "buckets_total": total}


class WatchTests(SynchronousTestCase):
    def test_changes_until_ready(self) -> None:
        """
        Watchers hear each change once (not each poll), errors while the
        porter is away, and the end once the job is ready; two watchers
        share one poll.
        """
        clock = Clock()
        porter = FakePorter([
            (200, job("queued")), (200, job("queued")), PorterUnavailable("down"),
            (200, job("loading", 1, 3)), (200, job("loading", 3, 3)), (200, job("ready", 3, 3)),
        ])

        async def request(method: str, path: str, body: Any = None) -> Any:
            return await porter.request(method, path, body)

        porter_client: Any = type("P", (), {"request": staticmethod(request)})()
        watches = HistoryWatches(porter_client, clock, interval=0.5)
        heard: list[tuple[str, Any]] = []
        other: list[tuple[str, Any]] = []
        watches.watch("j1", lambda k, d: heard.append((k, d)))
        watches.watch("j1", lambda k, d: other.append((k, d)))
        for _ in range(10):
            clock.advance(0.5)
        self.assertEqual(
            [(k, d.get("state"), d.get("buckets_done")) for k, d in heard],
            [("status", "queued", 0), ("error", None, None), ("status", "loading", 1),
             ("status", "loading", 3), ("status", "ready", 3), ("end", None, None)],
        )
        self.assertEqual(other, heard)  # joined after the first answer: told it at once
        self.assertEqual(porter.asked, 6)
        self.assertEqual(clock.getDelayedCalls(), [])

    def test_unwatch_stops_polling(self) -> None:
        clock = Clock()
        asked = []

        async def request(method: str, path: str, body: Any = None) -> Any:
            asked.append(path)
            return 200, job("loading", 1, 9)

        porter: Any = type("P", (), {"request": staticmethod(request)})()
        watches = HistoryWatches(porter, clock, interval=1.0, keepalive=3.0)
        heard: list[str] = []
        stop = watches.watch("j1", lambda k, d: heard.append(k))
        for _ in range(4):
            clock.advance(1)
        self.assertEqual(heard, ["status", "keepalive"])
        stop()
        self.assertEqual(clock.getDelayedCalls(), [])
        self.assertEqual(asked, ["/api/history/j1"] * 5)
