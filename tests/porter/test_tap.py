"""Tests for L{logship.porter.tap}: options, the TOML file, the service."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from twisted.application.service import MultiService
from twisted.internet.testing import MemoryReactorClock
from twisted.python import usage
from twisted.trial.unittest import SynchronousTestCase

from logship.core.keys import write_new_key
from logship.plumbing.listeners import Listener
from logship.plumbing.webaccess import Guard, PublicName
from logship.porter.service import PorterService
from logship.porter.tap import DEFAULT_API, Options, makeService

ROOT = Path(__file__).resolve().parent.parent.parent


class PorterTapTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.tmp = Path(tempfile.mkdtemp())
        self.addCleanup(shutil.rmtree, self.tmp)
        self.key = self.tmp / "cluster.key"
        write_new_key(self.key)

    def parse(self, *argv: str) -> Options:
        options = Options()
        options.parseOptions(list(argv))
        return options

    def basic(self, *argv: str) -> Options:
        return self.parse(
            "--key", str(self.key), "--buck", "127.0.0.1:4401",
            "--index", f"sqlite:{self.tmp}/index", "--archive", f"dir:{self.tmp}/archive",
            "--state", str(self.tmp / "state"), *argv,
        )

    def error(self, *argv: str) -> str:
        with self.assertRaises(usage.UsageError) as caught:
            self.parse(*argv)
        message = str(caught.exception)
        self.assertNotIn("\n", message)
        return message

    def test_defaults(self) -> None:
        options = self.basic()
        self.assertEqual(options["buck"], ["tcp:host=127.0.0.1:port=4401"])
        self.assertEqual(
            (options["api"], options["quiet"], options["bucket-seconds"], options["env"]),
            (DEFAULT_API, 172800.0, 60, "default"),
        )

    def test_errors(self) -> None:
        """
        Each mistake is one line naming the option.
        """
        key = str(self.key)
        self.assertIn("no --buck", self.error("--key", key))
        self.assertIn("--index", self.error("--key", key, "--buck", "h:1", "--index", "mysql:x"))
        self.assertIn("--api", self.error("--key", key, "--buck", "h:1", "--api", "nonsense:1"))
        self.assertIn("--bucket-seconds",
                      self.error("--key", key, "--buck", "h:1", "--bucket-seconds", "7"))
        self.assertIn("key", self.error("--buck", "h:1"))
        self.assertIn("more than 0", self.error("--key", key, "--buck", "h:1", "--quiet", "-1"))

    def test_example_config(self) -> None:
        """
        etc/porter.toml parses (with the key given on the command line).
        """
        options = self.parse("--config", str(ROOT / "etc" / "porter.toml"), "--key", str(self.key))
        self.assertEqual(len(options["buck"]), 3)

    def test_service(self) -> None:
        """
        makeService builds the porter and its API listener, on the given
        reactor.
        """
        reactor = MemoryReactorClock()
        top = makeService(self.basic("--api", "tcp:0:interface=127.0.0.1"), reactor=reactor)
        self.assertIsInstance(top, MultiService)
        (porter,) = [s for s in top if isinstance(s, PorterService)]
        (listener,) = [s for s in top if isinstance(s, Listener)]
        self.assertEqual(sorted(porter.links), ["tcp:host=127.0.0.1:port=4401"])
        self.assertEqual(listener.description, "tcp:0:interface=127.0.0.1")
        porter.state.close()
        porter._index._pool.stop()  # type: ignore[attr-defined]

    def test_api_access(self) -> None:
        """
        The API beyond loopback needs --api-token (refused without one,
        like archie); with one, or on loopback, it starts; public names
        and the history limits are read.
        """
        key = str(self.key)
        for api in ("tcp:4490", "tcp:4490:interface=0.0.0.0", "tcp:4490:interface=192.0.2.7"):
            message = self.error("--key", key, "--buck", "h:1", "--api", api)
            self.assertIn("--api-token", message)
        token = self.tmp / "api.token"
        token.write_text("porter-api-token-0123456789\n")
        token.chmod(0o600)
        options = self.basic("--api", "tcp:4490", "--api-token", str(token),
                             "--api-public-name", "porter.internal",
                             "--api-public-name", "Porter2:4490",
                             "--max-history-jobs", "2", "--max-history-days", "7",
                             "--max-history-events", "1000")
        self.assertEqual(options.api_token, "porter-api-token-0123456789")
        self.assertEqual(options["api-public-name"],
                         [PublicName("porter.internal"), PublicName("porter2", 4490)])
        self.assertEqual((options["max-history-jobs"], options["max-history-days"],
                          options["max-history-events"]), (2, 7.0, 1000))
        self.assertIsNone(self.basic().api_token)
        token.chmod(0o644)
        self.assertIn("readable by group or others",
                      self.error("--key", key, "--buck", "h:1", "--api-token", str(token)))
        self.assertIn("--api-public-name",
                      self.error("--key", key, "--buck", "h:1", "--api-public-name", "a b"))
        self.assertIn("at least 1",
                      self.error("--key", key, "--buck", "h:1", "--max-history-jobs", "0"))

    def test_guarded_site(self) -> None:
        """
        The API's listener serves the guarded site: the token and the
        limits given.
        """
        token = self.tmp / "api.token"
        token.write_text("porter-api-token-0123456789\n")
        token.chmod(0o600)
        reactor = MemoryReactorClock()
        top = makeService(self.basic("--api-token", str(token)), reactor=reactor)
        (porter,) = [s for s in top if isinstance(s, PorterService)]
        (listener,) = [s for s in top if isinstance(s, Listener)]
        guard = listener.factory.resource
        self.assertIsInstance(guard, Guard)
        self.assertEqual(guard._token, b"porter-api-token-0123456789")
        self.assertFalse(listener.factory.displayTracebacks)
        porter.state.close()
        porter._index._pool.stop()  # type: ignore[attr-defined]
