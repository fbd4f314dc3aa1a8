"""Tests for L{logship.tailer.reload} and L{TailerService.reconfigure}:
settings taken again while the tailer runs, on a L{Clock}."""

from __future__ import annotations

import os
import signal
from datetime import timezone
from pathlib import Path
from typing import Any

from twisted.internet.defer import Deferred
from twisted.internet.testing import EventLoggingObserver
from twisted.logger import globalLogPublisher

from logship.core.credentials import Credentials, revocation_line
from logship.core.revocation import RevocationFile
from logship.core.sample import sample_lines
from logship.tailer.reload import Reloader, ReloadOnSignal
from logship.tailer.service import Source, TailerService
from logship.tailer.tap import Options
from tests.credentials import identity, trust
from tests.tailer.test_service import T0, ServiceTestCase


class NeverConnects:
    """
    A client endpoint whose connections never complete.
    """

    def connect(self, factory: Any) -> Deferred[Any]:
        return Deferred()


class ReconfigureTests(ServiceTestCase):
    """
    L{TailerService.reconfigure}: files added and removed, bucks, durability.
    """

    def tailer(self, *patterns: str, bucks: tuple[str, ...] = ()) -> TailerService:
        service = self.new_service(*patterns, bucks={name: NeverConnects() for name in bucks})
        service.startService()
        return service

    def append(self, name: str, count: int, seed: int) -> list[bytes]:
        lines = list(sample_lines(count, start=T0, seed=seed))
        with open(self.tmp / name, "ab") as f:
            f.write(b"".join(line + b"\n" for line in lines))
        return [line.split(b": ", 1)[1] for line in lines]

    def test_new_file_is_followed(self) -> None:
        a = self.append("a.log", 10, 0)
        service = self.tailer("a.log")
        b = self.append("b.log", 10, 1)
        self.read_all(service)
        self.assertEqual(sorted(self.spooled()), sorted(a))
        service.reconfigure(
            sources=[Source(str(self.tmp / "a.log"), "ack2"), Source(str(self.tmp / "b.log"), "ack2")],
            bucks={},
            replicas=2,
        )
        self.read_all(service)
        self.assertEqual(sorted(self.spooled()), sorted(a + b))
        self.stop(service)

    def test_removed_file_is_read_to_its_end_then_dropped(self) -> None:
        """
        A file no longer configured is read to its end (more than one
        poll's worth here), stored, then no longer read; its offset stays
        in the checkpoint, so following it again goes on from there.
        """
        service = self.tailer("a.log", "b.log")
        self.read_all(service)
        a = self.append("a.log", 20000, 0)  # ~2 MB: two polls at least
        service.reconfigure(sources=[Source(str(self.tmp / "b.log"), "ack2")], bucks={}, replicas=2)
        self.read_all(service)
        self.assertEqual(sorted(self.spooled()), sorted(a))
        self.assertNotIn(str(self.tmp / "a.log"), service._files)
        later = self.append("a.log", 10, 1)
        self.read_all(service)
        self.assertEqual(len(self.spooled()), len(a))
        service.reconfigure(sources=[Source(str(self.tmp / "*.log"), "ack2")], bucks={}, replicas=2)
        self.read_all(service)
        self.assertEqual(sorted(self.spooled()), sorted(a + later))
        self.stop(service)

    def test_new_durability_gets_a_spool(self) -> None:
        service = self.tailer("a.log")
        service.reconfigure(
            sources=[Source(str(self.tmp / "a.log"), "ack1")], bucks={}, replicas=1
        )
        lines = self.append("a.log", 10, 0)
        self.read_all(service)
        self.assertIn("ack1", service.spools)
        ack1 = sorted((self.tmp / "state" / "spool" / "ack1").rglob("*.b"))
        self.assertTrue(ack1)
        self.assertEqual(sorted(self.spooled()), sorted(lines))
        self.assertEqual(service.delivery.replicas, 1)
        self.stop(service)

    def test_bucks_added_and_removed(self) -> None:
        service = self.tailer("a.log", bucks=("x", "y"))
        old_y = service._clients["y"]
        service.reconfigure(
            sources=service._sources,
            bucks={"y": NeverConnects(), "z": NeverConnects()},  # type: ignore[dict-item]
            replicas=2,
        )
        self.assertEqual(sorted(service._clients), ["y", "z"])
        self.assertIs(service._clients["y"], old_y)
        self.assertTrue(service._clients["z"].running)
        self.assertEqual(sorted(service._factories), ["y", "z"])
        self.stop(service)


    def test_revocation_list_looked_at_now(self) -> None:
        """
        In credential mode a reconfigure reads a changed revocation list at
        once, not at the next look (every C{revocation_interval}).
        """
        own = Credentials(identity("web-1", "tailer", ["*"]), trust())
        revoked = self.tmp / "revoked.txt"
        revoked.write_text("")
        os.utime(revoked, (1000, 1000))
        service = self.new_service(
            "a.log",
            node="web-1",
            credentials=own,
            revocations=RevocationFile(revoked, own.trust),
            revocation_interval=3600,
        )
        service.startService()
        other = identity("db-1", "tailer", ["db-*"]).credential
        revoked.write_text(revocation_line(other) + "\n")
        os.utime(revoked, (2000, 2000))
        self.assertFalse(own.trust.revocations.revokes(other))
        service.reconfigure(sources=service._sources, bucks={}, replicas=2)
        self.assertTrue(own.trust.revocations.revokes(other))
        self.stop(service)


class ReloaderTests(ServiceTestCase):
    """
    L{Reloader}: the config file read again, a bad one refused.
    """

    def setUp(self) -> None:
        super().setUp()
        self.config = self.tmp / "tailer.toml"
        self.settings(["a.log"])
        self.options = Options()
        self.options.parseOptions(["--config", str(self.config)])
        self.tailer = TailerService(
            sources=self.options["sources"],
            state_dir=Path(self.options["state"]),
            bucks={d: NeverConnects() for d in self.options["buck"]},  # type: ignore[misc]
            key=None,
            node="t",
            host=b"h",
            tz=timezone.utc,
            clock=self.clock,
        )
        self.tailer.startService()
        self.reloader = Reloader(
            self.tailer, self.options, Options, lambda d: NeverConnects()  # type: ignore[arg-type,return-value]
        )
        self.events = EventLoggingObserver.createWithCleanup(self, globalLogPublisher)

    def settings(self, files: list[str], extra: str = "") -> None:
        self.config.write_text(
            'insecure = true\nstate = "state"\nbuck = ["127.0.0.1:1"]\n'
            f"files = {[str(self.tmp / f) for f in files]!r}\n{extra}".replace("'", '"')
        )

    def test_reload_follows_a_new_file(self) -> None:
        (self.tmp / "b.log").write_bytes(b"Nov 30 10:00:00 h p: hello\n")
        self.settings(["a.log", "b.log"])
        self.assertTrue(self.reloader.reload())
        self.clock.advance(1)
        self.assertIn(str(self.tmp / "b.log"), self.tailer._files)
        self.assertEqual(self.spooled(), [b"hello"])
        self.stop(self.tailer)

    def test_reload_takes_multiline_rules(self) -> None:
        """
        A C{[[source]]} table's multi-line rules apply once reloaded; a bad
        table is refused with the line of its header.
        """
        log = self.tmp / "a.log"
        log.write_bytes(b"Nov 30 10:00:00 h p: failed\n\tat x.Y(Y.java:1)\n")
        self.clock.advance(1)
        self.assertEqual(sorted(self.spooled()), [b"\tat x.Y(Y.java:1)", b"failed"])
        table = f'\n[[source]]\npath = "{log}"\nmultiline = {{ preset = "java", timeout = 1 }}\n'
        self.settings(["b.log"], table)
        self.assertTrue(self.reloader.reload())
        with open(log, "ab") as f:
            f.write(b"Nov 30 10:00:01 h p: again\n\tat x.Y(Y.java:2)\n")
        self.clock.advance(1)  # read, held
        self.clock.advance(1)  # the timeout
        self.assertEqual(len(self.spooled()), 3)
        self.assertIn(b"again\n\tat x.Y(Y.java:2)", self.spooled())
        self.settings(["b.log"], table.replace('"java"', '"cobol"'))
        self.assertFalse(self.reloader.reload())
        [refused] = [e for e in self.events if "Reload refused" in e["log_format"]]
        self.assertEqual(refused["line"], 6)
        self.assertIn("[[source]]: multiline: preset: 'cobol'", refused["error"])
        self.stop(self.tailer)

    def test_bad_config_keeps_the_old(self) -> None:
        """
        Settings that cannot be taken are logged with the file and the line,
        and the running ones stay.
        """
        self.settings(["a.log", "b.log"], "replicas = 2\nbucks = 3\n")
        self.assertFalse(self.reloader.reload())
        self.config.write_text("insecure = true\nreplicas = = 2\n")
        self.assertFalse(self.reloader.reload())
        refused = [e for e in self.events if "Reload refused" in e["log_format"]]
        self.assertEqual(
            [(e["file"], e["line"]) for e in refused], [(str(self.config), 6), (str(self.config), 2)]
        )
        self.assertIn("unknown setting 'bucks'", refused[0]["error"])
        self.assertEqual(self.reloader.refused, 2)
        self.assertEqual([s.pattern for s in self.tailer._sources], [str(self.tmp / "a.log")])
        self.stop(self.tailer)

    def test_restart_only_settings_are_named(self) -> None:
        self.settings(["a.log"], "poll_interval = 3\n")
        self.assertTrue(self.reloader.reload())
        warned = [e for e in self.events if "until a restart" in e["log_format"]]
        self.assertEqual([e["names"] for e in warned], ["--poll-interval"])
        self.stop(self.tailer)


class ReloadOnSignalTests(ServiceTestCase):
    """
    L{ReloadOnSignal} hands a signal over to the reactor's thread.
    """

    def test_signal_calls_in_the_reactor(self) -> None:
        called: list[Any] = []

        class Reactor:
            def callFromThread(self, f: Any, *args: Any) -> None:
                called.append(f)

        service = ReloadOnSignal(Reactor(), lambda: None, signal.SIGUSR2)  # type: ignore[arg-type]
        before = signal.getsignal(signal.SIGUSR2)
        service.startService()
        os.kill(os.getpid(), signal.SIGUSR2)
        service.stopService()
        self.assertEqual(len(called), 1)
        self.assertEqual(signal.getsignal(signal.SIGUSR2), before)
