"""Tests for L{logship.plumbing.tapsupport}: the options the cluster's taps share."""

from __future__ import annotations

import shutil
import socket
import tempfile
from pathlib import Path

from twisted.python import usage
from twisted.trial.unittest import SynchronousTestCase

from logship.buck.tap import Options as BuckOptions
from logship.core.keys import write_new_key
from logship.plumbing.tapsupport import ClusterOptions
from logship.porter.tap import Options as PorterOptions
from logship.tailer.tap import Options as TailerOptions


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
