"""Tests for L{logship.tailer.tap}: options, config file, service."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from twisted.application.internet import ClientService
from twisted.internet.testing import MemoryReactorClock
from twisted.python import usage
from twisted.trial.unittest import SynchronousTestCase

from logship.core.keys import write_new_key
from logship.core.multiline import make_rules
from logship.plumbing.config import ConfigError
from logship.tailer.service import Source, TailerService
from logship.tailer.tap import Options, makeService
from logship.plumbing.listeners import Listener
from logship.plumbing.tapsupport import buck_endpoint
from logship.tailer.metrics import TailerMetrics
from logship.tailer.syslog import SyslogListen, _UDPListener


class OptionsTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.tmp = Path(tempfile.mkdtemp())
        self.addCleanup(shutil.rmtree, self.tmp)
        self.key = self.tmp / "k"
        write_new_key(self.key)

    def parse(self, *argv: str) -> Options:
        options = Options()
        options.parseOptions(list(argv))
        return options

    def error(self, *argv: str) -> str:
        return str(self.assertRaises(usage.UsageError, self.parse, *argv))

    def test_buck_endpoints(self) -> None:
        self.assertEqual(buck_endpoint("127.0.0.1:4401"), "tcp:host=127.0.0.1:port=4401")
        self.assertEqual(buck_endpoint("[::1]:4401"), "tcp:host=::1:port=4401")
        self.assertEqual(buck_endpoint("tcp:host=h:port=1"), "tcp:host=h:port=1")
        self.assertRaises(usage.UsageError, buck_endpoint, "nohost")

    def test_minimal(self) -> None:
        options = self.parse("--key", str(self.key), "--buck", "h:1", "/var/log/x.log")
        self.assertEqual(options["sources"], [Source("/var/log/x.log", "ack2")])
        self.assertEqual(options["replicas"], 2)
        self.assertEqual(len(options.key or b""), 32)

    def test_sources_with_their_durability(self) -> None:
        options = self.parse(
            "--insecure", "--buck", "h:1", "--durability", "ack1",
            "--source", "ack2+fsync:/var/log/auth*.log", "a.log",
        )
        self.assertEqual(
            options["sources"],
            [Source("a.log", "ack1"), Source("/var/log/auth*.log", "ack2+fsync")],
        )
        self.assertIsNone(options.key)

    def test_errors(self) -> None:
        self.assertIn("no --buck", self.error("--insecure", "a.log"))
        self.assertIn("no files", self.error("--insecure", "--buck", "h:1"))
        self.assertIn("--durability", self.error("--insecure", "--buck", "h:1", "--durability", "ack3", "a"))
        self.assertIn("DURABILITY:GLOB", self.error("--insecure", "--buck", "h:1", "--source", "x.log"))
        self.assertIn("no --key", self.error("--buck", "h:1", "a"))
        self.assertIn("exclude", self.error("--insecure", "--key", str(self.key), "--buck", "h:1", "a"))
        self.assertIn("divide 3600", self.error("--insecure", "--buck", "h:1", "--bucket-seconds", "7", "a"))
        self.assertIn("--tz", self.error("--insecure", "--buck", "h:1", "--tz", "Mars/Base", "a"))
        self.assertIn("must be", str(self.assertRaises(
            usage.UsageError, self.parse, "--insecure", "--buck", "h:1", "--replicas", "0", "a")))

    def test_config_file(self) -> None:
        config = self.tmp / "tailer.toml"
        config.write_text(
            'files = ["/var/log/syslog"]\nbuck = ["h:1", "h:2"]\nkey = "k"\n'
            'replicas = 1\nstate = "st"\n'
        )
        options = self.parse("--config", str(config))
        self.assertEqual(options["sources"], [Source("/var/log/syslog", "ack2")])
        self.assertEqual(options["buck"], ["tcp:host=h:port=1", "tcp:host=h:port=2"])
        self.assertEqual(options["replicas"], 1)
        self.assertEqual(Path(options["state"]), self.tmp / "st")
        config.write_text('files = ["a"]\nbuck = ["h:1"]\nkey = "k"\nbogus = 1\n')
        self.assertIn("bogus", self.error("--config", str(config)))

    def test_source_tables(self) -> None:
        """
        C{[[source]]} tables: a path with its durability (the default's
        if none), format hint and multi-line rules, after the files.
        """
        config = self.tmp / "tailer.toml"
        config.write_text(
            'files = ["/var/log/syslog"]\nbuck = ["h:1"]\ninsecure = true\ndurability = "ack1"\n'
            '[[source]]\npath = "/srv/*.log"\nmultiline = { preset = "java" }\n'
            '[[source]]\npath = "/srv/py.log"\ndurability = "ack2"\nformat = "log4j"\n'
            '[source.multiline]\nstart = \'^\\d\'\nmax_lines = 9\ntimeout = 2\n'
        )
        options = self.parse("--config", str(config))
        self.assertEqual(options["sources"], [
            Source("/var/log/syslog", "ack1"),
            Source("/srv/*.log", "ack1", make_rules(preset="java")),
            Source("/srv/py.log", "ack2", make_rules(start=r"^\d", max_lines=9, timeout=2), "log4j"),
        ])  # fmt: skip
        for table, message, line in [
            ('[[source]]\npath = "a"\n[[source]]\nmultiline = {preset = "java"}\n', "path", 3),
            ('[[source]]\npath = "a"\nmultiline = {preset = "java", max_lines = 1}\n', "max_lines", 1),
            ('[[source]]\npath = "a"\nglob = "b"\n', "unknown key 'glob'", 1),
            ('[[source]]\npath = "a"\ndurability = "ack3"\n', "durability", 1),
            ('[[source]]\npath = "a"\nformat = "log5j"\n', "unknown format 'log5j'", 1),
        ]:
            config.write_text(f'buck = ["h:1"]\ninsecure = true\n{table}')
            error = self.assertRaises(ConfigError, self.parse, "--config", str(config))
            self.assertIn(message, str(error))
            self.assertEqual(error.line, line + 2)

    def test_make_service(self) -> None:
        options = self.parse(
            "--key", str(self.key), "--state", str(self.tmp / "st"),
            "--buck", "127.0.0.1:1", "--buck", "127.0.0.1:2", "a.log",
        )
        service = makeService(options, reactor=MemoryReactorClock())
        self.assertIsInstance(service, TailerService)
        clients = [s for s in service if isinstance(s, ClientService)]
        self.assertEqual(len(clients), 2)
        self.assertFalse([s for s in service if isinstance(s, (TailerMetrics, Listener))])

    def test_make_service_with_metrics(self) -> None:
        """
        With C{--metrics}, the tailer's metrics and their listener are
        children of the tailer's service.
        """
        options = self.parse(
            "--key", str(self.key), "--state", str(self.tmp / "st"),
            "--buck", "127.0.0.1:1", "--metrics", "9402", "a.log",
        )
        service = makeService(options, reactor=MemoryReactorClock())
        self.assertIsInstance(service, TailerService)
        self.assertEqual(len([s for s in service if isinstance(s, TailerMetrics)]), 1)
        (listener,) = [s for s in service if isinstance(s, Listener)]
        self.assertEqual(listener.description, "tcp:9402:interface=127.0.0.1")


class SyslogOptionTests(SynchronousTestCase):
    """
    C{--syslog}: repeatable listeners, enough without files, a TCP listener
    and a UDP port per option.
    """

    def setUp(self) -> None:
        self.tmp = Path(tempfile.mkdtemp())
        self.addCleanup(shutil.rmtree, self.tmp)

    def test_listeners(self) -> None:
        options = Options()
        options.parseOptions([
            "--insecure", "--state", str(self.tmp / "st"), "--buck", "127.0.0.1:1",
            "--syslog", "6514", "--syslog", "ack1:udp:0:interface=127.0.0.1",
            "--syslog-backlog-mb", "8",
        ])
        self.assertEqual(options["sources"], [])
        self.assertEqual(
            options["syslog"],
            [SyslogListen("tcp", "tcp:6514:interface=127.0.0.1", "ack2"),
             SyslogListen("udp", "udp:0:interface=127.0.0.1", "ack1")],
        )
        reactor = MemoryReactorClock()
        service = makeService(options, reactor=reactor)
        (listener,) = [s for s in service if isinstance(s, Listener)]
        self.assertEqual(listener.description, "tcp:6514:interface=127.0.0.1")
        self.assertEqual(sorted(service.spools), ["ack1", "ack2"])  # type: ignore[attr-defined]
        (udp,) = [s for s in service if isinstance(s, _UDPListener)]
        self.assertEqual(udp.protocol.listen.durability, "ack1")

    def test_bad_listener(self) -> None:
        options = Options()
        error = self.assertRaises(
            usage.UsageError, options.parseOptions,
            ["--insecure", "--buck", "h:1", "--syslog", "udp:nope"],
        )
        self.assertIn("--syslog udp:nope", str(error))
