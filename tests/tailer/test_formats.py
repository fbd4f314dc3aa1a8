"""The non-syslog shapes (L{logship.core.formats}) from a followed file to the index."""

from __future__ import annotations

from itertools import accumulate

from twisted.internet.task import Clock

from logship.core.event import unpack_origin
from logship.core.parse import PRI_NONE
from logship.core.query import Query
from logship.core.render import iso_time
from logship.index.sqlite import SqliteStore
from tests.formatlines import EXAMPLES, NOW
from tests.tailer.test_service import ServiceTestCase


class FormatsToIndexTests(ServiceTestCase):
    """
    The tailer reads the example lines (guessing their shapes) into its
    spool; the events go into a sqlite index, where their fields are found.
    """

    def setUp(self) -> None:
        super().setUp()
        self.clock = Clock()
        self.clock.advance(NOW)  # the examples' years are inferred from it

    def test_fields_reach_the_index(self) -> None:
        self.log.write_bytes(b"".join(e.line + b"\n" for e in EXAMPLES))
        service = self.service()
        self.read_all(service)
        self.assertEqual(service.lines_read, len(EXAMPLES))
        store = SqliteStore(":memory:")
        self.addCleanup(store.close)
        self.assertEqual(store.load(self.spooled_events()), len(EXAMPLES))
        stored = {unpack_origin(e.origin)[2]: e for e in store.search(Query(limit=1000)).events}
        offsets = accumulate((len(e.line) + 1 for e in EXAMPLES), initial=0)
        for offset, example in zip(offsets, EXAMPLES):
            event = stored[offset]
            self.assertEqual(event.message, example.message.encode())
            self.assertEqual(
                (
                    iso_time(event.point)[:23],
                    event.shn.decode(),
                    event.app.decode(),
                    None if event.pid is None else event.pid.decode(),
                    None if event.pri == PRI_NONE else event.pri & 7,
                ),
                (example.time[:23], example.host or "h", example.app, example.pid,
                 example.severity),
                example.line,
            )  # fmt: skip
        self.assertEqual(store.count(Query(hosts=(b"cn-42",))), 2)
        self.assertEqual(store.count(Query(apps=(b"KERNEL",))), 2)
        self.assertEqual(store.count(Query(apps=(b"neutron.agent",), terms=("3121",))), 2)
        # the level a line states is searched as a severity, not a word
        self.assertGreater(store.count(Query(terms=("sev:debug",))), 20)
        for level in range(8):
            self.assertEqual(
                store.count(Query(terms=(f"sev:{level}",))),
                sum(1 for e in EXAMPLES if e.severity is not None and e.severity <= level),
            )
        self.stop(service)
