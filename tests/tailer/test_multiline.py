"""Tests of multi-line events in L{logship.tailer.service.TailerService}:
lines joined per source, the flush timeout on the tailer's clock, the
checkpoint never past a held event, restarts, and the events in an index."""

from __future__ import annotations

import json
import shutil
from typing import Any

from twisted.application.service import MultiService

from logship.core.event import encode, unpack_origin
from logship.core.multiline import make_rules
from logship.core.query import Query
from logship.core.render import whole_lines
from logship.index.sqlite import SqliteStore
from logship.tailer.service import Source, TailerService
from tests.multiline import AFTER, BEFORE, JAVA_TRACE, LONG_TRACE, PYTHON_TRACE, log_of, message_of
from tests.tailer.test_service import ServiceTestCase

JAVA = make_rules(preset="java", timeout=3)


class MultilineServiceTests(ServiceTestCase):
    def multiline_service(self, rules: Any = JAVA) -> TailerService:
        service = self.new_service(sources=[Source(str(self.log), "ack2", rules)])
        service.startService()
        return service

    def saved_offset(self, service: TailerService) -> int:
        checkpoint = json.loads(service.checkpoint_path.read_text())
        return int(checkpoint["files"][str(self.log)]["offset"])

    def test_each_rule_to_the_index(self) -> None:
        """
        Java and Python traces and one over 64 KiB become one event each
        (the long one in parts), searchable as a unit in the index, read
        back whole.
        """
        for trace, rules in [(JAVA_TRACE, JAVA), (PYTHON_TRACE, make_rules(preset="python")),
                             (LONG_TRACE, JAVA)]:  # fmt: skip
            self.log.write_bytes(log_of(trace))
            shutil.rmtree(self.tmp / "state", ignore_errors=True)
            service = self.multiline_service(rules)
            self.read_all(service)
            self.clock.advance(3)  # AFTER is held until the timeout
            events = self.spooled_events()
            store = SqliteStore(":memory:")
            self.addCleanup(store.close)
            store.load_serialized([encode(e) for e in events])
            found = store.search(Query(limit=100)).events
            shown = list(whole_lines(sorted(found, key=lambda e: e.point)))
            self.assertEqual([e.message for e in shown],
                             [message_of(BEFORE), message_of(trace), message_of(AFTER)])  # fmt: skip
            word = trace.split(b"\n")[-1].split()[-1].decode()
            self.assertTrue(store.search(Query(substrings=(word,))).events)
            self.stop(service)

    def test_flush_timeout_on_the_clock(self) -> None:
        """
        The event being joined is stored when no line came for the
        timeout; until then, the checkpoint stays at its first line.
        """
        self.log.write_bytes(log_of(JAVA_TRACE)[: -len(AFTER) - 1])
        service = self.multiline_service()
        self.read_all(service)  # read at the start, saved 2 s later
        self.assertEqual([e.message for e in self.spooled_events()], [message_of(BEFORE)])
        self.assertEqual(self.saved_offset(service), len(BEFORE) + 1)
        self.clock.advance(0.75)
        self.assertEqual(len(self.spooled_events()), 1)
        self.clock.advance(0.25)  # 3 s after the last line
        self.assertEqual([e.message for e in self.spooled_events()],
                         [message_of(BEFORE), message_of(JAVA_TRACE)])  # fmt: skip
        self.clock.advance(1)
        self.assertEqual(self.saved_offset(service), self.log.stat().st_size)
        self.stop(service)

    def test_restart_reads_a_held_event_again_whole(self) -> None:
        """
        A stop with an event held saves the offset of its first line: the
        restart reads it again, whole, with the same origin; nothing is
        lost or stored twice.
        """
        text = log_of(JAVA_TRACE)
        cut = text.index(b"Caused by")
        self.log.write_bytes(text[:cut])
        service = self.multiline_service()
        self.read_all(service)
        self.stop(service)
        self.assertEqual(self.saved_offset(service), len(BEFORE) + 1)
        with open(self.log, "ab") as f:
            f.write(text[cut:])
        again = self.multiline_service()
        self.read_all(again)
        self.clock.advance(3)
        events = self.spooled_events()
        self.assertEqual([e.message for e in events],
                         [message_of(BEFORE), message_of(JAVA_TRACE), message_of(AFTER)])  # fmt: skip
        self.assertEqual(unpack_origin(events[1].origin)[2], len(BEFORE) + 1)
        self.stop(again)

    def test_crash_after_a_timeout_loses_nothing(self) -> None:
        """
        Killed after storing an event cut by its timeout, before the
        checkpoint: read again with more lines of it, the longer event is
        stored too (the identity differs: a duplicate, not a loss); the
        events stored before are not stored again.
        """
        text = log_of(JAVA_TRACE)
        cut = text.index(b"Caused by")
        self.log.write_bytes(text[:cut])
        service = self.multiline_service()
        self.read_all(service)
        saved = self.tmp / "checkpoint-before"
        shutil.copy2(service.checkpoint_path, saved)
        self.clock.advance(3)  # the timeout stores the first part
        MultiService.stopService(service)
        for spool in service.spools.values():
            spool.close()
        shutil.copy2(saved, service.checkpoint_path)
        with open(self.log, "ab") as f:
            f.write(text[cut:])
        again = self.multiline_service()
        self.read_all(again)
        self.clock.advance(3)
        messages = [e.message for e in self.spooled_events()]
        self.assertEqual(messages, [
            message_of(BEFORE), message_of(text[len(BEFORE) + 1 : cut - 1]),
            message_of(JAVA_TRACE), message_of(AFTER),
        ])  # fmt: skip
        self.stop(again)

    def test_rotation_flushes(self) -> None:
        """
        When the follower moves to the next file, the event held from the
        old one is stored at once.
        """
        self.log.write_bytes(log_of(JAVA_TRACE)[: -len(AFTER) - 1])
        service = self.multiline_service()
        self.read_all(service)
        self.log.rename(self.tmp / "app.log.1")
        self.log.write_bytes(AFTER + b"\n")
        self.read_all(service)
        self.assertEqual([e.message for e in self.spooled_events()][:2],
                         [message_of(BEFORE), message_of(JAVA_TRACE)])  # fmt: skip
        self.stop(service)

    def test_rules_changed_by_a_reload(self) -> None:
        """
        New rules apply from the next tick; removing them emits what is
        held, and lines are events of their own again.
        """
        self.log.write_bytes(b"E\n\tat a\n")
        service = self.multiline_service()
        self.read_all(service)
        self.assertEqual(self.spooled_events(), [])
        service.reconfigure(sources=[Source(str(self.log), "ack2")], bucks={}, replicas=2)
        with open(self.log, "ab") as f:
            f.write(b"\tat b\n")
        self.read_all(service)
        self.assertEqual([e.message for e in self.spooled_events()], [b"E\n\tat a", b"\tat b"])
        self.stop(service)
