"""Tests for L{logship.plumbing.tapsupport}: the options the cluster's taps share."""

from __future__ import annotations

import shutil
import socket
import tempfile
from pathlib import Path

from twisted.internet.testing import MemoryReactorClock
from twisted.python import usage
from twisted.trial.unittest import SynchronousTestCase

from logship.archie.tap import Options as ArchieOptions
from logship.buck.tap import Options as BuckOptions
from logship.core.keys import write_new_key
from logship.plumbing.graphite import GraphitePusher
from logship.plumbing.listeners import Listener
from logship.plumbing.metrics import new_registry
from logship.plumbing.tapsupport import ClusterOptions
from logship.porter.tap import Options as PorterOptions
from logship.tailer.tap import Options as TailerOptions
from tests.credentials import (
    FOREVER,
    OTHER_AUTHORITY,
    identity,
    write_authority_public,
    write_node_files,
)


class Member(ClusterOptions):
    """
    A tap with nothing but the shared options.
    """

    role = "tester"

    def postOptions(self) -> None:
        super().postOptions()
        self.check_cluster_options()


class ClusterOptionsTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.tmp = Path(tempfile.mkdtemp())
        self.addCleanup(shutil.rmtree, self.tmp)

    def parse(self, *argv: str) -> Member:
        options = Member()
        options.parseOptions(list(argv))
        return options

    def test_defaults(self) -> None:
        """
        With C{--insecure} alone: no key, this host's short name (else the
        role) as the node, a 60 s bucket interval.
        """
        options = self.parse("--insecure")
        host = socket.gethostname().split(".")[0] or "tester"
        self.assertEqual((options.key, options["node"], options["bucket-seconds"]),
                         (None, host, 60))

    def test_given(self) -> None:
        key = self.tmp / "key"
        write_new_key(key)
        options = self.parse("-k", str(key), "--node", "n1", "--bucket-seconds", "30")
        self.assertEqual((len(options.key or b""), options["node"], options["bucket-seconds"]),
                         (32, "n1", 30))

    def test_from_config(self) -> None:
        """
        The shared options can come from the config file.
        """
        config = self.tmp / "member.toml"
        config.write_text('insecure = true\nnode = "n2"\nbucket_seconds = 120\n')
        options = self.parse("--config", str(config))
        self.assertEqual((options.key, options["node"], options["bucket-seconds"]),
                         (None, "n2", 120))

    def test_refused(self) -> None:
        for argv, needle in (
            (["--insecure", "--bucket-seconds", "7"], "--bucket-seconds"),
            (["--insecure", "--node", ""], "--node"),
            ([], "no --key FILE given"),
        ):
            with self.assertRaises(usage.UsageError) as caught:
                self.parse(*argv)
            self.assertIn(needle, str(caught.exception), argv)

    def test_help(self) -> None:
        """
        Each member's help lists the shared options, C{--node} naming its role.
        """
        for options, role, interval in (
            (TailerOptions(), "tailer", "The bucket interval in seconds (divides 3600)."),
            (BuckOptions(), "buck", "The bucket interval in seconds (divides 3600)."),
            (PorterOptions(), "porter", "The cluster's bucket interval (divides 3600)."),
        ):
            text = " ".join(str(options).split())
            for line in (
                "-k, --key= The cluster key file (made by `logship keygen FILE`).",
                f"--node= This {role}'s node name (default: the host name).",
                f"--bucket-seconds= {interval} [default: 60]",
                "--insecure Lab only: no key, frames are NOT sealed (plaintext).",
                "-c, --config= Read settings from this TOML file;",
            ):
                self.assertIn(line, text, role)


class Buck(Member):
    role = "buck"


class CredentialOptionsTests(SynchronousTestCase):
    """
    C{--credential}, C{--node-key}, C{--authority}, C{--revoked}.
    """

    def setUp(self) -> None:
        self.tmp = Path(tempfile.mkdtemp())
        self.addCleanup(shutil.rmtree, self.tmp)
        self.authority = str(write_authority_public(self.tmp / "authority.pub"))
        key, credential = write_node_files(self.tmp, identity("buck-7", "buck", expires=FOREVER))
        self.files = ["--credential", str(credential), "--node-key", str(key),
                      "--authority", self.authority]

    def parse(self, *argv: str) -> Buck:
        options = Buck()
        options.parseOptions(list(argv))
        return options

    def error(self, *argv: str) -> str:
        with self.assertRaises(usage.UsageError) as caught:
            self.parse(*argv)
        return str(caught.exception)

    def test_credentials(self) -> None:
        """
        The node name is the credential's; there is no cluster key.
        """
        options = self.parse(*self.files)
        assert options.credentials is not None
        self.assertEqual(options["node"], "buck-7")
        self.assertIsNone(options.key)
        self.assertEqual(options.credentials.identity.credential.role, "buck")
        self.assertIsNone(options.revocations)
        self.assertEqual(options["node"], self.parse(*self.files, "--node", "buck-7")["node"])

    def test_revoked(self) -> None:
        revoked = self.tmp / "revoked.txt"
        revoked.write_text("# none yet\n")
        options = self.parse(*self.files, "--revoked", str(revoked))
        assert options.revocations is not None and options.credentials is not None
        self.assertIs(options.revocations._trust, options.credentials.trust)
        revoked.write_text("nonsense\n")
        self.assertIn("--revoked", self.error(*self.files, "--revoked", str(revoked)))
        self.assertIn("for per-node credentials", self.error("--insecure", "--revoked", str(revoked)))

    def test_refused(self) -> None:
        key = self.tmp / "cluster.key"
        write_new_key(key)
        other_key, other_credential = write_node_files(
            self.tmp, identity("web-1", "tailer", ["web-*"])
        )
        old_key, old_credential = write_node_files(
            self.tmp, identity("buck-8", "buck", expires=1000)
        )
        foreign = self.tmp / "other.pub"
        write_authority_public(foreign, OTHER_AUTHORITY)
        files = self.files
        for argv, needle in (
            ([*files, "--key", str(key)], "excludes --key"),
            ([*files, "--insecure"], "excludes --key"),
            (files[:2], "needs --authority and --node-key"),
            ([*files, "--node", "buck-9"], "the credential is for node buck-7"),
            (["--credential", str(other_credential), "--node-key", str(other_key),
              "--authority", self.authority], "it is a tailer credential; this is a buck"),
            ([*files[:2], "--node-key", str(other_key), "--authority", self.authority],
             "for another node key"),
            (["--credential", str(old_credential), "--node-key", str(old_key),
              "--authority", self.authority], "expired"),
            ([*files[:4], "--authority", str(foreign)], "does not trust"),
            ([*files[:4], "--authority", str(key)], "--authority"),
            (["--credential", str(key), *files[2:]], "--credential"),
        ):
            self.assertIn(needle, self.error(*argv), argv)


class MetricsOptionsTests(SynchronousTestCase):
    """
    The metrics options, the same for every service (archie's included).
    """

    def setUp(self) -> None:
        self.tmp = Path(tempfile.mkdtemp())
        self.addCleanup(shutil.rmtree, self.tmp)

    def parse(self, *argv: str) -> Member:
        options = Member()
        options.parseOptions(["--insecure", *argv])
        return options

    def test_defaults(self) -> None:
        options = self.parse()
        self.assertEqual(
            (options["metrics"], options["graphite"], options["graphite-interval"],
             options["graphite-prefix"]),
            (None, None, 60.0, None),
        )
        self.assertEqual(options.metrics_services(new_registry(), MemoryReactorClock(),
                                                  "logship-tester", "n1"), [])

    def test_bare_port_is_loopback(self) -> None:
        self.assertEqual(self.parse("--metrics", "9401")["metrics"],
                         "tcp:9401:interface=127.0.0.1")
        self.assertEqual(self.parse("--metrics", "tcp:9401")["metrics"], "tcp:9401")

    def test_graphite(self) -> None:
        options = self.parse("--graphite", "carbon.example:2003", "--graphite-interval", "15")
        self.assertEqual(options.graphite_endpoint, "tcp:host=carbon.example:port=2003")
        reactor = MemoryReactorClock()
        services = options.metrics_services(new_registry(), reactor, "logship-tester", "n.1")
        (pusher,) = services
        self.assertIsInstance(pusher, GraphitePusher)
        self.assertEqual(pusher._prefix, "logship.n_1")  # type: ignore[attr-defined]

    def test_from_config(self) -> None:
        config = self.tmp / "member.toml"
        config.write_text('insecure = true\nmetrics = "9401"\ngraphite = "h:2003"\n'
                          'graphite_prefix = "ops.logs"\n')
        options = Member()
        options.parseOptions(["--config", str(config)])
        self.assertEqual((options["metrics"], options["graphite-prefix"]),
                         ("tcp:9401:interface=127.0.0.1", "ops.logs"))

    def test_listener(self) -> None:
        options = self.parse("--metrics", "tcp:0:interface=127.0.0.1")
        (listener,) = options.metrics_services(
            new_registry(), MemoryReactorClock(), "logship-tester", "n1"
        )
        assert isinstance(listener, Listener)
        self.assertEqual(listener.program, "logship-tester metrics")

    def test_refused(self) -> None:
        for argv, needle in (
            (["--metrics", "nonsense:1"], "--metrics nonsense:1"),
            (["--graphite", "nohost"], "--graphite nohost: expected HOST:PORT"),
            (["--graphite-prefix", "x"], "--graphite-prefix without --graphite"),
            (["--graphite", "h:1", "--graphite-interval", "0"], "must be more than 0"),
        ):
            with self.assertRaises(usage.UsageError) as caught:
                self.parse(*argv)
            self.assertIn(needle, str(caught.exception), argv)

    def test_every_service_has_them(self) -> None:
        for options in (TailerOptions(), BuckOptions(), PorterOptions(), ArchieOptions()):
            text = " ".join(str(options).split())
            for option in ("--metrics=", "--graphite=", "--graphite-interval=",
                           "--graphite-prefix="):
                self.assertIn(option, text, type(options).__module__)
