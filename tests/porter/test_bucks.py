"""Tests for L{logship.porter.bucks}: the porter's requests to a real buck
service over an in-memory wire."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Any

from twisted.internet.defer import Deferred, ensureDeferred
from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase

from logship.buck.pubsub import Channel
from logship.buck.service import BuckService
from logship.buck.store import BucketStore
from logship.porter.bucks import BuckLink, BuckUnavailable
from logship.wire.messages import MAX_CHUNK, ArchivedAck
from tests.buck import T0, make_event
from tests.buck.common import archived_notice
from tests.wire.common import KEY, Pair, client_factory, connect_pair


class BuckLinkTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.tmp = Path(tempfile.mkdtemp())
        self.addCleanup(shutil.rmtree, self.tmp)
        self.clock = Clock()
        self.store = BucketStore(self.tmp / "data", 60, self.clock)
        self.addCleanup(self.store.close)
        self.buck = BuckService(
            store=self.store, channel=Channel(self.clock), clock=self.clock,
            key=KEY, node="buck-1",
        )
        self.link = BuckLink("b1", self.clock, timeout=5.0)
        self.pair = self.connect()

    def connect(self) -> Pair:
        factory = client_factory(self.clock, self.link, node="porter", role="porter")  # type: ignore[arg-type]
        pair = connect_pair(self.buck.factory, factory, self.clock)
        self.assertTrue(self.link.connected_now)
        return pair

    def answer(self, coroutine: Any) -> Any:
        d: Deferred[Any] = ensureDeferred(coroutine)
        self.pair.flush()
        return self.successResultOf(d)

    def test_listing_pages(self) -> None:
        """
        The listing gathers every page of the buck's answer.
        """
        batch = [make_event(i, 60 * i) for i in range(5)]
        self.store.write_batch(batch, sync=False)
        found = self.answer(self.link.listing(limit=2))
        self.assertEqual([start for start, _ in found], [T0 + 60 * i for i in range(5)])
        self.assertEqual(
            [size for _, size in found],
            [self.store.path_of(start).stat().st_size for start, _ in found],
        )

    def test_read_across_chunks(self) -> None:
        """
        A read longer than one chunk is gathered from several answers;
        a read past the end of the file stops at the end.
        """
        batch = [make_event(i, size=400) for i in range(3000)]
        for part in range(0, 3000, 500):
            self.store.write_batch(batch[part : part + 500], sync=False)
        whole = self.store.path_of(T0).read_bytes()
        self.assertGreater(len(whole), MAX_CHUNK)
        self.assertEqual(self.answer(self.link.read(T0, 0, len(whole))), whole)
        self.assertEqual(self.answer(self.link.read(T0, 100, len(whole) + 999)), whole[100:])
        self.assertEqual(self.answer(self.link.read(T0 + 60, 0, 10)), b"")

    def archived(self, data: bytes | None = None) -> Any:
        """
        The link's archived request for the buck's file of T0 (as it is, or
        as if it held C{data}), with its receipt.
        """
        notice = archived_notice(self.store, 0, T0, data=data)
        return self.link.archived(T0, notice.size, notice.receipt, notice.signature)

    def test_archived(self) -> None:
        self.store.write_batch([make_event(1)], sync=False)
        whole = self.store.path_of(T0).read_bytes()
        self.assertFalse(self.answer(self.archived(whole[:-1])))
        self.assertTrue(self.answer(self.archived()))
        self.assertFalse(self.store.path_of(T0).exists())

    def test_not_connected(self) -> None:
        self.pair.client_transport.loseConnection()
        self.pair.flush()
        self.assertFalse(self.link.connected_now)
        failure = self.failureResultOf(ensureDeferred(self.link.listing()), BuckUnavailable)
        self.assertIn("not connected", failure.getErrorMessage())

    def test_disconnection_fails_pending(self) -> None:
        """
        Requests waiting for an answer fail when the connection ends.
        """
        waiting = ensureDeferred(self.archived())
        self.pair.server_transport.abortConnection()
        self.pair.flush()
        self.failureResultOf(waiting, BuckUnavailable)
        self.assertEqual(self.clock.getDelayedCalls(), [])

    def test_timeout_closes(self) -> None:
        """
        No answer within the timeout fails the request and closes the
        connection.
        """
        waiting = ensureDeferred(self.archived())
        self.clock.advance(5.0)
        failure = self.failureResultOf(waiting, BuckUnavailable)
        self.assertIn("did not answer", failure.getErrorMessage())
        self.pair.flush()
        self.assertTrue(self.pair.lost)

    def test_unexpected_answer_closes(self) -> None:
        """
        An answer to no request (or of the wrong type) closes the
        connection; the request still waiting fails.
        """
        waiting = ensureDeferred(self.archived())
        (request_id,) = self.link._pending
        server_peer = self.pair.server.peer
        assert server_peer is not None
        server_peer.send(ArchivedAck(request_id + 1, T0, True))
        self.pair.flush()
        self.assertTrue(self.pair.lost)
        self.failureResultOf(waiting, BuckUnavailable)
