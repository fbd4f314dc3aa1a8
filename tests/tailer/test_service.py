"""Tests for L{logship.tailer.service.TailerService} without bucks: reading,
spooling and checkpointing, driven by a L{Clock}."""

from __future__ import annotations

import json
import shutil
import tempfile
from datetime import timezone
from pathlib import Path
from typing import Any

from twisted.application.service import MultiService
from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase

from logship.core.bucket import iter_records
from logship.core.event import Event, decode
from logship.core.sample import sample_lines
from logship.tailer.service import Source, TailerService

T0 = 1795685820.0


class ServiceTestCase(SynchronousTestCase):
    """
    A scratch directory with C{app.log}, a L{Clock}, and services on them.
    """

    def setUp(self) -> None:
        self.tmp = Path(tempfile.mkdtemp())
        self.addCleanup(shutil.rmtree, self.tmp)
        self.log = self.tmp / "app.log"
        self.clock = Clock()
        self.clock.advance(T0)  # the lines' time: wall time is the clock's

    def new_service(
        self,
        *patterns: str,
        durability: str = "ack2",
        bucks: dict[str, Any] | None = None,
        node: str = "t",
        sources: list[Source] | None = None,
        **extra: Any,
    ) -> TailerService:
        """
        A tailer (not started) of C{patterns} (C{*.log} if none) in the
        scratch directory, or of C{sources}, on the test's clock.

        @param extra: more arguments of L{TailerService}.
        """
        return TailerService(
            sources=sources or [
                Source(str(self.tmp / p), durability)  # type: ignore[arg-type]
                for p in patterns or ("*.log",)
            ],
            state_dir=self.tmp / "state",
            bucks=bucks or {},
            key=None,
            node=node,
            host=b"h",
            tz=timezone.utc,
            clock=self.clock,
            **extra,
        )

    def service(self, durability: str = "ack2") -> TailerService:
        service = self.new_service(durability=durability)
        service.startService()
        return service

    def read_all(self, service: TailerService) -> None:
        """
        Let C{service} scan for files and read everything there is.
        """
        self.clock.advance(2)
        while service._again is not None:
            self.clock.advance(0)

    def stop(self, service: TailerService) -> None:
        """
        Stop C{service}, waiting out the drain of batches no buck took.
        """
        stopped = service.stopService()
        self.clock.advance(5)
        self.successResultOf(stopped)
        self.assertEqual(self.clock.getDelayedCalls(), [])

    def spooled_events(self) -> list[Event]:
        """
        The events in the spool's files, file by file in name order.
        """
        events = []
        for path in sorted((self.tmp / "state" / "spool").rglob("*.b")):
            with open(path, "rb") as f:
                events += [decode(data) for _, data in iter_records(f)]
        return events

    def spooled(self) -> list[bytes]:
        """
        The messages of L{spooled_events}.
        """
        return [event.message for event in self.spooled_events()]

    def write(self, count: int, seed: int = 0) -> list[bytes]:
        lines = list(sample_lines(count, start=T0, seed=seed))
        with open(self.log, "ab") as f:
            f.write(b"".join(line + b"\r\n" for line in lines))
        return lines


class TailerServiceTests(ServiceTestCase):
    """
    Reading, spooling and checkpointing.
    """

    def test_reads_into_the_spool_and_checkpoints(self) -> None:
        service = self.service()
        lines = self.write(5000)
        self.clock.advance(2)  # the next scan finds the new file
        while service._again is not None:
            self.clock.advance(0)
        self.assertEqual(service.lines_read, 5000)
        self.assertEqual(len(self.spooled()), 5000)
        self.assertTrue(all(not m.endswith(b"\r") for m in self.spooled()))
        self.assertEqual(sorted(self.spooled()), sorted(line.split(b": ", 1)[1] for line in lines))
        self.clock.advance(1)  # the save after a poll interval (one was made at the scan)
        checkpoint = json.loads(service.checkpoint_path.read_text())
        self.assertEqual(checkpoint["files"][str(self.log)]["offset"], self.log.stat().st_size)
        self.assertGreater(service.stats()["undelivered_bytes"], 0)
        self.stop(service)

    def test_restart_goes_on_where_it_stopped(self) -> None:
        self.write(100)
        service = self.service()
        self.assertEqual(service.lines_read, 100)
        self.stop(service)
        self.write(50, seed=1)
        again = self.service()
        self.assertEqual(again.lines_read, 50)
        self.assertEqual(len(self.spooled()), 150)
        self.stop(again)

    def test_lines_read_again_after_a_crash_are_stored_once(self) -> None:
        """
        Lines stored after the last checkpoint and read again after a crash
        (from the checkpoint's offset, an hour later) are not stored again:
        their events, lines without a timestamp included, stay the ones
        stored before, at their first time, each once.
        """
        self.log.touch()
        service = self.service()  # follows the empty log: saves its tag at once
        checkpoint = service.checkpoint_path
        saved = self.tmp / "checkpoint-before"
        shutil.copy2(checkpoint, saved)
        with open(self.log, "ab") as f:
            f.write(b"".join(b"no header, line %d\n" % i for i in range(100)))
            f.write(b"Dec  4 20:00:00 h app: with a header\n" * 3)
        self.clock.advance(2)
        while service._again is not None:
            self.clock.advance(0)
        first = sorted(
            (e.point, e.origin) for e in self.spooled_events())
        self.assertEqual(len(first), 103)
        # SIGKILL before the next checkpoint: its timers stop, nothing is
        # saved, and the old checkpoint is what is left
        MultiService.stopService(service)
        for spool in service.spools.values():
            spool.close()
        shutil.copy2(saved, checkpoint)
        self.clock.advance(3600)
        again = self.service()
        self.assertEqual(again.lines_read, 103)
        self.assertEqual(sorted((e.point, e.origin) for e in self.spooled_events()), first)
        self.stop(again)

    def test_corrupt_checkpoint_is_moved_aside_and_all_is_read_again(self) -> None:
        self.write(10)
        service = self.service()
        self.stop(service)
        service.checkpoint_path.write_text("{not json")
        again = self.service()
        self.assertEqual(again.lines_read, 10)
        self.assertTrue(service.checkpoint_path.with_suffix(".corrupt").exists())
        self.assertEqual(len(self.spooled()), 20)  # duplicates, not loss
        self.stop(again)

    def test_live_sources_skip_the_spool(self) -> None:
        self.write(10)
        service = self.service("live")
        self.assertEqual(service.lines_read, 10)
        self.assertEqual(self.spooled(), [])
        self.stop(service)


class FakeBuck:
    """
    A connected buck that records the batches it was sent.
    """

    def __init__(self) -> None:
        self.batches: list[int] = []

    def send(self, message: object) -> bool:
        self.batches.append(message.message.batch_id)  # type: ignore[attr-defined]
        return True


class StopTests(ServiceTestCase):
    """
    A stop waits for the batches in flight, for a while.
    """

    def test_stop_waits_for_batches_in_flight(self) -> None:
        """
        A stop waits for the acks of the batches on their way, so that the
        checkpoint counts them delivered and a restart does not resend them.
        """
        self.write(1500)
        service = self.service("ack1")
        self.read_all(service)
        buck = FakeBuck()
        service.delivery.connected("a", buck)  # type: ignore[arg-type]
        sent = list(buck.batches)
        self.assertGreater(len(sent), 1)
        self.assertEqual(sent, list(range(1, len(sent) + 1)))
        stopped = service.stopService()
        for batch in sent:
            self.assertNoResult(stopped)
            service.delivery.acked("a", batch)
        self.successResultOf(stopped)
        self.assertEqual(service.stats()["undelivered_bytes"], 0)
        again = self.service("ack1")
        self.assertEqual(again.stats()["undelivered_bytes"], 0)
        self.stop(again)

    def test_stop_gives_up_waiting(self) -> None:
        self.write(10)
        service = self.service()
        service.delivery.connected("a", FakeBuck())  # type: ignore[arg-type]
        stopped = service.stopService()
        self.clock.advance(4.9)
        self.assertNoResult(stopped)
        self.clock.advance(0.1)
        self.successResultOf(stopped)
        self.assertEqual(self.clock.getDelayedCalls(), [])
        self.assertGreater(service.stats()["undelivered_bytes"], 0)
