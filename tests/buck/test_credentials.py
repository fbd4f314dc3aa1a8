"""Tests of the buck in credential mode: roles per message, host patterns, signed receipts, revocation."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Any

from logship.buck.service import BuckService
from logship.core.credentials import Credentials, NodeIdentity, revocation_line
from logship.core.revocation import RevocationFile
from logship.wire.messages import (
    Ack,
    ArchivedAck,
    Batch,
    BatchRefused,
    BucketList,
    BucketListing,
    Role,
)
from tests.buck import T0, make_event, read_bucket
from tests.buck.common import (
    BuckTestCase,
    Client,
    archived_notice,
    bucket_bytes,
    put_chunks,
)
from tests.credentials import identity, trust
from tests.wire.common import Pair, client_factory, connect_pair

PORTER = identity("porter", "porter")


class KeyedBuckTestCase(BuckTestCase):
    """
    The buck's test case, with the buck and its clients in credential mode,
    and a revocation list file.
    """

    def make_buck(self, **kwargs: Any) -> BuckService:
        self.trust = trust()
        self.revoked = Path(tempfile.mkdtemp()) / "revoked.txt"
        self.addCleanup(shutil.rmtree, self.revoked.parent)
        self.revoked.write_text("")
        return BuckService(
            store=self.store,
            channel=self.channel,
            clock=self.clock,
            key=None,
            node="buck-1",
            credentials=Credentials(identity("buck-1", "buck"), self.trust),
            revocations=RevocationFile(self.revoked, self.trust),
            revocation_interval=1.0,
            **kwargs,
        )

    def connect(  # type: ignore[override]
        self, node: str = "web-1", role: Role = "tailer", hosts: tuple[str, ...] = ("web-*",),
        ident: NodeIdentity | None = None,
    ) -> tuple[Client, Pair]:
        client = Client(self.store.path_of(T0))
        own = ident or identity(node, role, hosts)
        factory = client_factory(
            self.clock, client, key=None, node=own.credential.node, role=own.credential.role,
            credentials=Credentials(own, trust()), accept_roles=("buck",),
        )
        pair = connect_pair(self.buck.factory, factory, self.clock)
        self.assertEqual(len(client.connected_peers), 1)
        return client, pair


class HostTests(KeyedBuckTestCase):
    def test_foreign_host_refused(self) -> None:
        """
        A batch with one event of a host the credential does not allow is
        refused whole: nothing written nor published, counted, logged, the
        tailer told why; the connection stays, and its next batch is taken.
        """
        client, pair = self.connect()
        batch = [make_event(0, host=b"web-1"), make_event(1, host=b"db-prod-01")]
        self.send(client, pair, Batch(1, "ack2", batch))
        (refused,) = client.received(BatchRefused)
        self.assertEqual(refused.batch_id, 1)
        self.assertIn("host 'db-prod-01' is not allowed", refused.reason)
        self.assertIn("web-*", refused.reason)
        self.assertEqual(self.bucket_files(), [])
        self.assertEqual(self.feed.pull().events, [])
        self.assertFalse(pair.lost)
        total = self.buck.stats()["total"]
        self.assertEqual((total["batches_refused"], total["events_refused"]), (1, 2))
        (logged,) = [e for e in self.log if e.get("reason") == "host-refused"]
        self.assertEqual((logged["peer_node"], logged["host"]), ("web-1", "db-prod-01"))
        self.send(client, pair, Batch(2, "ack2", [make_event(2, host=b"web-2")]))
        self.assertEqual(client.received(Ack), [Ack(2, 1)])
        self.send(client, pair, Batch(3, "live", [make_event(3, host=b"db-prod-01")]))
        self.assertEqual([r.batch_id for r in client.received(BatchRefused)], [1, 3])
        self.assertEqual(len(read_bucket(self.store.path_of(T0))), 1)

    def test_foreign_host_upload_refused(self) -> None:
        client, pair = self.connect()
        data = bucket_bytes([make_event(0, host=b"web-1"), make_event(1, host=b"db-prod-01")])
        for put in put_chunks(1, data):
            self.send(client, pair, put)
        self.assertIn("host 'db-prod-01' is not allowed", self.closed_with(client, pair))
        self.assertEqual(self.bucket_files(), [])
        self.assertEqual(self.buck.stats()["total"]["uploads_refused"], 1)


class RoleTests(KeyedBuckTestCase):
    def test_porter_cannot_send_events(self) -> None:
        porter, pair = self.connect("porter", "porter", ())
        self.send(porter, pair, Batch(1, "ack2", [make_event(0)]))
        self.assertIn("a porter may not send batch messages", self.closed_with(porter, pair))
        self.assertEqual(self.bucket_files(), [])
        self.assertEqual(self.buck.stats()["total"]["messages_refused"], 1)

    def test_tailer_cannot_list(self) -> None:
        tailer, pair = self.connect()
        self.send(tailer, pair, BucketList(1, 0, 10))
        self.assertIn("only a porter may", self.closed_with(tailer, pair))
        porter, porter_pair = self.connect("porter", "porter", ())
        self.send(porter, porter_pair, BucketList(1, 0, 10))
        self.assertEqual(porter.received(BucketListing), [BucketListing(1, [], False)])


class ReceiptTests(KeyedBuckTestCase):
    def setUp(self) -> None:
        super().setUp()
        tailer, pair = self.connect()
        self.send(tailer, pair, Batch(1, "ack2", [make_event(0)]))
        self.porter, self.porter_pair = self.connect(ident=PORTER)

    def test_signed_receipt_deletes(self) -> None:
        self.send(self.porter, self.porter_pair,
                  archived_notice(self.store, 1, T0, identity=PORTER))
        self.assertEqual(self.porter.received(ArchivedAck), [ArchivedAck(1, T0, True)])
        self.assertFalse(self.store.path_of(T0).exists())

    def test_unsigned_or_foreign_receipt_refused(self) -> None:
        for notice, needle in (
            (archived_notice(self.store, 1, T0), "not signed"),
            (archived_notice(self.store, 1, T0, identity=identity("porter-2", "porter")),
             "signature is wrong"),
            (archived_notice(self.store, 1, T0, porter="porter-2", identity=PORTER),
             "signed for porter porter-2"),
        ):
            porter, pair = self.connect(ident=PORTER)
            self.send(porter, pair, notice)
            self.assertIn(needle, self.closed_with(porter, pair))
            self.assertTrue(self.store.path_of(T0).exists())


class RevocationTests(KeyedBuckTestCase):
    def test_revoked_within_one_interval(self) -> None:
        """
        Within one revocation interval after the list changes, the revoked
        credential's connection is closed and a new one refused; others
        stay.
        """
        self.buck.startService()
        self.addCleanup(self.buck.stopService)
        thief, pair = self.connect("web-1")
        good, good_pair = self.connect("web-2")
        self.revoked.write_text(revocation_line(identity("web-1", "tailer", ["web-*"]).credential))
        self.clock.advance(1.0)
        pair.flush()
        self.assertIn("is revoked", self.closed_with(thief, pair))
        self.assertFalse(good_pair.lost)
        self.assertEqual(self.buck.credential_watch.reloads, 1)
        with self.assertRaises(AssertionError):
            self.connect("web-1")
        self.send(good, good_pair, Batch(1, "ack2", [make_event(0, host=b"web-2")]))
        self.assertEqual(good.received(Ack), [Ack(1, 1)])

