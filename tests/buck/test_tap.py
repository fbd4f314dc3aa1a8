"""Tests for L{logship.buck.tap} and the shared L{logship.plumbing.config} helper."""

from __future__ import annotations

import os
import re
import shutil
import socket
import tempfile
from pathlib import Path
from typing import Any, ClassVar

from twisted.application.internet import StreamServerEndpointService, TimerService
from twisted.application.service import MultiService
from twisted.internet.testing import EventLoggingObserver, MemoryReactorClock
from twisted.logger import globalLogPublisher
from twisted.python import usage
from twisted.trial.unittest import SynchronousTestCase

from logship.buck.live.factory import DEFAULT_ORIGINS, LiveFactory
from logship.buck.service import BuckService
from logship.buck.tap import DEFAULT_LISTEN, Options, makeService
from logship.plumbing.config import ConfigOptions, declared_options, given_options
from logship.core.keys import read_key, write_new_key
from logship.plumbing.listeners import Listener

ROOT = Path(__file__).resolve().parent.parent.parent


class TapTestCase(SynchronousTestCase):
    def setUp(self) -> None:
        self.tmp = Path(tempfile.mkdtemp())
        self.addCleanup(shutil.rmtree, self.tmp)
        self.key = self.tmp / "cluster.key"
        write_new_key(self.key)
        self.data = self.tmp / "data"

    def parse(self, *argv: str) -> Options:
        options = Options()
        options.parseOptions(list(argv))
        return options

    def parse_basic(self, *argv: str) -> Options:
        return self.parse("--key", str(self.key), "--data", str(self.data), *argv)

    def error(self, *argv: str) -> str:
        with self.assertRaises(usage.UsageError) as caught:
            self.parse(*argv)
        message = str(caught.exception)
        self.assertNotIn("\n", message)
        return message

    def config(self, text: str, name: str = "buck.toml") -> Path:
        path = self.tmp / name
        path.write_text(text)
        return path


class OptionsTests(TapTestCase):
    def test_defaults(self) -> None:
        """
        With only a key and a data directory, the defaults work on one
        machine.
        """
        options = self.parse_basic()
        self.assertEqual(options["listen"], [DEFAULT_LISTEN])
        self.assertEqual(DEFAULT_LISTEN, "tcp:4401:interface=127.0.0.1")
        self.assertEqual(options["bucket-seconds"], 60)
        self.assertEqual(options["node"], socket.gethostname().split(".")[0])
        self.assertEqual(options.key, read_key(self.key))
        self.assertFalse(options["insecure"])
        self.assertIsNone(options["frame-timeout"])
        self.assertTrue((self.data / "buckets").is_dir())

    def test_everything(self) -> None:
        options = self.parse_basic(
            "--listen", "tcp:0", "--listen", "tcp:0:interface=127.0.0.1",
            "--bucket-seconds", "300", "--node", "buck-7", "--stats-interval", "5",
            "--open-buckets", "8", "--max-upload-mb", "16", "--frame-timeout", "0.5",
        )
        self.assertEqual(options["listen"], ["tcp:0", "tcp:0:interface=127.0.0.1"])
        self.assertEqual(options["bucket-seconds"], 300)
        self.assertEqual(options["node"], "buck-7")
        self.assertEqual(options["stats-interval"], 5.0)
        self.assertEqual(options["open-buckets"], 8)
        self.assertEqual(options["max-upload-mb"], 16)
        self.assertEqual(options["frame-timeout"], 0.5)

    def test_insecure(self) -> None:
        options = self.parse("--insecure", "--data", str(self.data))
        self.assertIsNone(options.key)

    def test_missing_key(self) -> None:
        message = self.error("--data", str(self.data))
        self.assertIn("no --key FILE given", message)
        self.assertIn("logship keygen", message)

    def test_unreadable_key(self) -> None:
        self.assertIn(
            "No such file or directory",
            self.error("--data", str(self.data), "--key", str(self.tmp / "nope")),
        )
        os.chmod(self.key, 0o644)
        self.assertIn(
            "readable by group or others",
            self.error("--data", str(self.data), "--key", str(self.key)),
        )
        garbage = self.tmp / "garbage.key"
        garbage.write_text("hello\n")
        os.chmod(garbage, 0o600)
        self.assertIn(
            "not a logship key",
            self.error("--data", str(self.data), "--key", str(garbage)),
        )

    def test_key_and_insecure(self) -> None:
        self.assertIn(
            "exclude each other",
            self.error("--data", str(self.data), "--key", str(self.key), "--insecure"),
        )

    def test_bad_bucket_seconds(self) -> None:
        for bad in ("7", "0", "7200", "-60"):
            message = self.error(
                "--data", str(self.data), "--key", str(self.key), "--bucket-seconds", bad
            )
            self.assertIn("--bucket-seconds", message)
        self.assertIn(
            "Parameter type enforcement failed",
            self.error("--key", str(self.key), "--bucket-seconds", "sixty"),
        )

    def test_other_interval_than_the_data(self) -> None:
        self.parse_basic()
        self.assertIn("holds buckets of 60 seconds", self.error(
            "--data", str(self.data), "--key", str(self.key), "--bucket-seconds", "30"
        ))

    def test_unwritable_data(self) -> None:
        blocker = self.tmp / "a-file"
        blocker.write_bytes(b"")
        message = self.error("--key", str(self.key), "--data", str(blocker / "data"))
        self.assertTrue(message.startswith("--data: "), message)

    def test_bad_listen(self) -> None:
        self.assertIn(
            "--listen tcp:abc",
            self.error("--key", str(self.key), "--data", str(self.data), "--listen", "tcp:abc"),
        )
        self.assertIn(
            "--listen nonsense:1",
            self.error("--key", str(self.key), "--data", str(self.data), "--listen", "nonsense:1"),
        )

    def test_bad_node(self) -> None:
        self.assertIn("--node", self.error(
            "--key", str(self.key), "--data", str(self.data), "--node", "a\tb"
        ))

    def test_no_arguments(self) -> None:
        self.assertIn("unexpected arguments", self.error(
            "--key", str(self.key), "--data", str(self.data), "extra"
        ))


class ConfigFileTests(TapTestCase):
    def test_settings(self) -> None:
        """
        A TOML file sets the options; underscores or dashes; relative paths
        are relative to the file.
        """
        sub = self.tmp / "etc"
        sub.mkdir()
        shutil.copy(self.key, sub / "k")
        path = sub / "buck.toml"
        path.write_text(
            'listen = ["tcp:0", "tcp:0:interface=127.0.0.1"]\n'
            'data = "d"\nkey = "k"\nbucket_seconds = 300\n'
            'node = "buck-9"\n"stats-interval" = 2.5\nframe_timeout = 1\n'
        )
        options = self.parse("--config", str(path))
        self.assertEqual(options["listen"], ["tcp:0", "tcp:0:interface=127.0.0.1"])
        self.assertEqual(options["data"], str(sub / "d"))
        self.assertEqual(options["key"], str(sub / "k"))
        self.assertEqual(options["bucket-seconds"], 300)
        self.assertEqual(options["node"], "buck-9")
        self.assertEqual(options["stats-interval"], 2.5)
        self.assertEqual(options["frame-timeout"], 1.0)
        self.assertTrue((sub / "d" / "buckets").is_dir())

    def test_command_line_wins(self) -> None:
        path = self.config(
            f'key = "{self.key}"\ndata = "{self.data}"\nlisten = "tcp:1"\n'
            'bucket_seconds = 30\nnode = "from-file"\ninsecure = false\n'
        )
        options = self.parse(
            "-c", str(path), "--listen", "tcp:0", "--bucket-seconds", "60",
            "--node", "from-argv",
        )
        self.assertEqual(options["listen"], ["tcp:0"])
        self.assertEqual(options["bucket-seconds"], 60)
        self.assertEqual(options["node"], "from-argv")
        self.assertEqual(options["data"], str(self.data))

    def test_flag(self) -> None:
        path = self.config(f'insecure = true\ndata = "{self.data}"\n')
        self.assertIsNone(self.parse("--config", str(path)).key)

    def test_unknown_key(self) -> None:
        path = self.config('listen = "tcp:0"\nlisten_on = "tcp:1"\n')
        message = self.error("--config", str(path))
        self.assertIn(str(path), message)
        self.assertIn("unknown setting 'listen_on'", message)

    def test_config_in_config(self) -> None:
        path = self.config('config = "other.toml"\n')
        self.assertIn("unknown setting 'config'", self.error("--config", str(path)))

    def test_tables_are_unknown(self) -> None:
        path = self.config('[buck]\nlisten = "tcp:0"\n')
        self.assertIn("unknown setting 'buck'", self.error("--config", str(path)))

    def test_wrong_types(self) -> None:
        for text, expected in (
            ("bucket_seconds = true", "bucket_seconds must be a string or a number"),
            ('bucket_seconds = "sixty"', "bucket_seconds = 'sixty'"),
            ("insecure = 1", "insecure must be true or false"),
            ("node = 7", "node must be a string"),
            ("listen = [1, 2]", "listen must be a string or an array of strings"),
            ("stats_interval = -1", "stats_interval = '-1': must be more than 0"),
        ):
            path = self.config(f'key = "{self.key}"\ndata = "{self.data}"\n{text}\n')
            message = self.error("--config", str(path))
            self.assertIn(str(path), message)
            self.assertIn(expected, message)

    def test_bad_values_checked_like_the_command_line(self) -> None:
        path = self.config(f'key = "{self.key}"\ndata = "{self.data}"\nbucket_seconds = 7\n')
        self.assertIn("--bucket-seconds", self.error("--config", str(path)))

    def test_unreadable(self) -> None:
        missing = self.tmp / "missing.toml"
        self.assertEqual(
            self.error("--config", str(missing)), f"{missing}: No such file or directory"
        )
        path = self.config("listen = \n")
        message = self.error("--config", str(path))
        self.assertIn(f"{path}: not valid TOML", message)

    def test_example_file(self) -> None:
        """
        C{etc/buck.toml} parses as it is (all commented out), and with every
        setting uncommented each key is known.
        """
        example = (ROOT / "etc" / "buck.toml").read_text()
        path = self.config(example)
        self.parse("--config", str(path), "--key", str(self.key), "--data", str(self.data))
        settings = re.findall(r"^# ([a-z_]+) = .*$", example, re.M)
        self.assertEqual(
            sorted(set(settings)),
            sorted(
                n.replace("-", "_") for n in declared_options(Options())
            ),
        )
        seen = set()
        lines = []
        for line in example.splitlines():
            match = re.match(r"^# ([a-z_]+) = (.*)$", line)
            # (live_token and the credential files name files the copy's
            # directory does not have; credentials exclude the key)
            if match and match.group(1) not in seen and match.group(1) not in (
                "insecure", "live_token", "credential", "node_key", "authority", "revoked"
            ):
                seen.add(match.group(1))
                lines.append(f"{match.group(1)} = {match.group(2)}")
        uncommented = self.config("\n".join(lines) + "\n", "all.toml")
        options = self.parse(
            "--config", str(uncommented), "--key", str(self.key), "--data", str(self.data)
        )
        self.assertEqual(options["node"], "buck-1")


class MakeServiceTests(TapTestCase):
    def test_tree(self) -> None:
        """
        L{makeService} returns a L{MultiService}: the buck (with its timers)
        and one listener per C{--listen}; started, it listens and says where.
        """
        log = EventLoggingObserver.createWithCleanup(self, globalLogPublisher)
        options = self.parse_basic(
            "--listen", "tcp:4401:interface=127.0.0.1", "--listen", "tcp:4402"
        )
        reactor = MemoryReactorClock()
        top = makeService(options, reactor=reactor)
        self.assertIsInstance(top, MultiService)
        children = list(top)
        self.assertIsInstance(children[0], BuckService)
        listeners = children[1:]
        self.assertEqual(len(listeners), 2)
        for listener in listeners:
            self.assertIsInstance(listener, StreamServerEndpointService)
        buck = children[0]
        assert isinstance(buck, BuckService)
        self.assertEqual(
            sorted(type(t).__name__ for t in buck), ["TimerService", "TimerService"]
        )
        for timer in buck:
            assert isinstance(timer, TimerService)
            self.assertIs(timer.clock, reactor)
        top.privilegedStartService()
        top.startService()
        self.assertEqual(
            [(port, factory, interface) for port, factory, _, interface in reactor.tcpServers],
            [(4401, buck.factory, "127.0.0.1"), (4402, buck.factory, "")],
        )
        announced = [e for e in log if e.get("description") is not None and "where" in e]
        self.assertEqual([e["port"] for e in announced], [4401, 4402])
        self.assertEqual(announced[0]["description"], "tcp:4401:interface=127.0.0.1")
        self.assertEqual(buck.factory.settings.key, options.key)
        self.assertEqual(buck.factory.settings.node, options["node"])
        top.stopService()

    def test_frame_timeout(self) -> None:
        options = self.parse_basic("--frame-timeout", "0.25")
        top = makeService(options, reactor=MemoryReactorClock())
        buck = list(top)[0]
        assert isinstance(buck, BuckService)
        self.assertEqual(buck.factory.settings.frame_timeout, 0.25)

    def test_store_cannot_open(self) -> None:
        """
        A data directory that passed the options' checks but cannot be
        opened (here its record of archived buckets cannot be read; a full
        disk fails where it is rewritten) stops twistd with one line, not a
        traceback.
        """
        options = self.parse_basic()
        (self.data / "archived").mkdir()
        with self.assertRaises(SystemExit) as caught:
            makeService(options, reactor=MemoryReactorClock())
        message = str(caught.exception.code)
        self.assertTrue(message.startswith(f"logship-buck: --data: {self.data / 'archived'}: "), message)
        self.assertNotIn("\n", message)

    def test_insecure_is_logged(self) -> None:
        log = EventLoggingObserver.createWithCleanup(self, globalLogPublisher)
        makeService(self.parse("--insecure", "--data", str(self.data)), reactor=MemoryReactorClock())
        self.assertTrue(any("INSECURE" in e["log_format"] for e in log))


class Sample(ConfigOptions):
    """
    A tailer-like tap: a repeatable option with an alias, a flag, a coerced
    parameter, and positional arguments.
    """

    optParameters: ClassVar[list[list[Any]]] = [
        ["state", None, "state", "State directory."],
        ["replicas", "r", 2, "Replicas.", int],
    ]
    optFlags: ClassVar[list[list[Any]]] = [["verbose", "v", "Say more."]]
    config_paths = frozenset({"state"})
    config_arguments = "files"

    def __init__(self) -> None:
        super().__init__()
        self["buck"] = []

    def opt_buck(self, address: str) -> None:
        """
        A buck (repeatable).
        """
        self["buck"].append(address)

    opt_b = opt_buck


class ConfigHelperTests(TapTestCase):
    def parse_sample(self, *argv: str) -> Sample:
        options = Sample()
        options.parseOptions(list(argv))
        return options

    def test_declared(self) -> None:
        self.assertEqual(
            {name: d.kind for name, d in declared_options(Sample()).items()},
            {"state": "parameter", "replicas": "parameter", "verbose": "flag",
             "buck": "method"},
        )

    def test_given(self) -> None:
        options = Sample()
        self.assertEqual(
            given_options(options, ["-b", "x", "--replicas=3", "-v", "f1"]),
            {"buck", "replicas", "verbose"},
        )
        self.assertEqual(given_options(options, ["--nope"]), set())

    def test_lists_flags_arguments(self) -> None:
        path = self.config(
            'buck = ["a:1", "b:2"]\nverbose = true\nreplicas = "3"\n'
            'files = ["/var/log/syslog", "app.log"]\nstate = "st"\n'
        )
        options = self.parse_sample("--config", str(path))
        self.assertEqual(options["buck"], ["a:1", "b:2"])
        self.assertEqual(options["verbose"], 1)
        self.assertEqual(options["replicas"], 3)
        self.assertEqual(options.arguments, ["/var/log/syslog", "app.log"])
        self.assertEqual(options["state"], str(self.tmp / "st"))

    def test_command_line_wins(self) -> None:
        path = self.config('buck = ["a:1"]\nfiles = ["x"]\nreplicas = 3\n')
        options = self.parse_sample("-c", str(path), "-b", "c:3", "-r", "1", "y")
        self.assertEqual(options["buck"], ["c:3"])
        self.assertEqual(options["replicas"], 1)
        self.assertEqual(options.arguments, ["y"])

    def test_unknown_lists_known(self) -> None:
        path = self.config("bucks = []\n")
        with self.assertRaises(usage.UsageError) as caught:
            self.parse_sample("--config", str(path))
        self.assertEqual(
            str(caught.exception),
            f"{path}: unknown setting 'bucks' (known: buck, replicas, state,"
            " verbose, files)",
        )


class LiveOptionsTests(SynchronousTestCase):
    """
    The C{--live} options: an endpoint, a token beyond loopback, origins.
    """

    def setUp(self) -> None:
        self.tmp = Path(tempfile.mkdtemp())
        self.addCleanup(shutil.rmtree, self.tmp)
        self.key = self.tmp / "cluster.key"
        write_new_key(self.key)
        self.token = self.tmp / "live.token"
        self.token.write_text("0123456789abcdefXYZ\n")
        os.chmod(self.token, 0o600)

    def parse(self, *argv: str) -> Options:
        options = Options()
        options.parseOptions(["--key", str(self.key), "--data", str(self.tmp / "data"), *argv])
        return options

    def error(self, *argv: str) -> str:
        with self.assertRaises(usage.UsageError) as caught:
            self.parse(*argv)
        return str(caught.exception)

    def test_default_none(self) -> None:
        options = self.parse()
        self.assertIsNone(options["live"])
        self.assertIsNone(options.live_token)
        self.assertEqual(options["live-origin"], list(DEFAULT_ORIGINS))
        top = makeService(options, reactor=MemoryReactorClock())
        self.assertFalse(any(isinstance(s, Listener) and "live" in s.program for s in top))

    def test_loopback_needs_no_token(self) -> None:
        self.assertEqual(self.parse("--live", "4480")["live"], "tcp:4480:interface=127.0.0.1")
        for description in ("tcp:0:interface=127.0.0.1", "tcp6:0:interface=\\:\\:1",
                            "tcp:0:interface=localhost", "unix:live.sock"):
            self.parse("--live", description)

    def test_elsewhere_needs_a_token(self) -> None:
        for description in ("tcp:4480", "tcp:4480:interface=0.0.0.0",
                            "tcp:4480:interface=192.0.2.7"):
            self.assertIn("give --live-token FILE", self.error("--live", description))
            options = self.parse("--live", description, "--live-token", str(self.token))
            self.assertEqual(options.live_token, "0123456789abcdefXYZ")

    def test_bad_tokens(self) -> None:
        self.assertIn("without --live", self.error("--live-token", str(self.token)))
        self.assertIn("No such file", self.error("--live", "tcp:0", "--live-token", "nope"))
        os.chmod(self.token, 0o644)
        self.assertIn("readable by group or others",
                      self.error("--live", "tcp:0", "--live-token", str(self.token)))
        os.chmod(self.token, 0o600)
        self.token.write_text("short\n")
        self.assertIn("at least 16", self.error("--live", "tcp:0", "--live-token", str(self.token)))
        self.assertIn("--live nope", self.error("--live", "nope:1"))

    def test_config_file(self) -> None:
        config = self.tmp / "buck.toml"
        config.write_text(
            'live = "tcp:0"\nlive_token = "live.token"\n'
            'live_origin = ["https://logs.example.com:*", "http://127.0.0.1:*"]\n'
        )
        options = self.parse("--config", str(config))
        self.assertEqual(options["live"], "tcp:0")
        self.assertEqual(options.live_token, "0123456789abcdefXYZ")
        self.assertEqual(options["live-origin"],
                         ["https://logs.example.com:*", "http://127.0.0.1:*"])

    def test_service(self) -> None:
        """
        With C{--live}, the last listener is the live one, on the buck's
        channel, announced as "logship-buck live listening on ...".
        """
        log = EventLoggingObserver.createWithCleanup(self, globalLogPublisher)
        options = self.parse("--listen", "tcp:4401:interface=127.0.0.1", "--live", "tcp:4480",
                             "--live-token", str(self.token), "--node", "b7",
                             "--live-origin", "*", "--live-clients-per-address", "3",
                             "--live-filter-timeout", "2.5")
        reactor = MemoryReactorClock()
        top = makeService(options, reactor=reactor)
        children = list(top)
        live = children[-1]
        assert isinstance(live, Listener)
        self.assertEqual(live.program, "logship-buck live")
        factory = live.factory
        assert isinstance(factory, LiveFactory)
        self.assertIs(factory.channel, children[0].channel)  # type: ignore[attr-defined]
        self.assertEqual(factory.node, "b7")
        self.assertEqual(factory._token, "0123456789abcdefXYZ")
        self.assertEqual((factory.max_per_address, factory.filter_timeout), (3, 2.5))
        top.privilegedStartService()
        top.startService()
        self.assertEqual([(p, i) for p, _, _, i in reactor.tcpServers],
                         [(4401, "127.0.0.1"), (4480, "")])
        programs = [e["program"] for e in log if "where" in e]
        self.assertEqual(programs, ["logship-buck", "logship-buck live"])
        top.stopService()
