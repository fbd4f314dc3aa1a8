"""Tests of the credential handshake of L{logship.wire.protocol}, over in-memory connections."""

from __future__ import annotations

from collections import Counter
from typing import Any

from twisted.internet.task import Clock
from twisted.internet.testing import EventLoggingObserver
from twisted.logger import globalLogPublisher
from twisted.trial.unittest import SynchronousTestCase

from logship.core.credentials import Credentials, Revocations
from logship.wire.framing import encode_frame
from logship.wire.messages import (
    Ack,
    Batch,
    Error,
    Greeting,
    Role,
    encode_message,
)
from logship.wire.handshake import proof_message
from logship.wire.protocol import HANDSHAKE_TIMEOUT, HandshakeFailed, WireServerFactory
from logship.wire.seal import Side, keyed_handshake
from tests.credentials import (
    FOREVER,
    OTHER_AUTHORITY,
    credentials,
    identity,
    seeded_key,
    trust,
)
from tests.wire.common import (
    KEY,
    KeyedManualClient,
    Pair,
    RawPeer,
    RecordingHandler,
    client_factory,
    connect_pair,
    events,
    keyed_by_hand,
    server_factory,
)

BUCK = credentials("buck-1", "buck")


class _KeyedTestCase(SynchronousTestCase):
    """
    A buck-like server in credential mode, a clock, a log observer.
    """

    def setUp(self) -> None:
        self.clock = Clock()
        self.clock.advance(1_800_000_000)
        self.observer = EventLoggingObserver.createWithCleanup(
            self, globalLogPublisher  # type: ignore[arg-type]  # any TestCase works
        )
        self.server_handler = RecordingHandler()
        self.trust = trust()
        self.server = server_factory(
            self.clock,
            self.server_handler,
            key=None,
            credentials=Credentials(BUCK.identity, self.trust),
            accept_roles=("tailer", "porter"),
        )
        self.addCleanup(self.assertNoTimers)

    def assertNoTimers(self) -> None:
        self.assertEqual(self.clock.getDelayedCalls(), [])

    def connect(
        self,
        node: str = "web-1",
        role: Role = "tailer",
        hosts: tuple[str, ...] = ("web-*",),
        server: WireServerFactory | None = None,
        **kwargs: Any,
    ) -> tuple[RecordingHandler, Pair]:
        handler = RecordingHandler()
        factory = client_factory(
            self.clock,
            handler,
            key=None,
            node=node,
            role=role,
            credentials=credentials(node, role, hosts, **kwargs),
            accept_roles=("buck",),
        )
        return handler, connect_pair(server or self.server, factory, self.clock)

    def rejected(self, side: str = "server") -> list[tuple[str, str]]:
        return [
            (e["reason"], e["detail"])
            for e in self.observer
            if e.get("log_format", "").startswith("Rejected") and e.get("side") == side
        ]

    def assertGoodClientWorks(self) -> None:
        handler, pair = self.connect("web-2")
        [peer] = handler.connected_peers
        peer.send(Batch(7, "ack2", events(5)))
        pair.flush()
        self.assertEqual(handler.messages, [(peer, Ack(7, 5))])
        pair.client_transport.loseConnection()
        pair.flush()

    def assertServerRejected(self, pair: Pair, code: str, detail: str = "") -> None:
        pair.flush()
        [(reason, said)] = self.rejected()
        self.assertEqual(reason, code)
        self.assertIn(detail, said)
        self.assertEqual(self.server.stats.rejected, Counter({code: 1}))
        self.assertEqual(self.server_handler.connected_peers, [])
        self.assertTrue(pair.lost)
        self.assertGoodClientWorks()


class GoodHandshakeTests(_KeyedTestCase):
    def test_both_sides_know_each_other(self) -> None:
        """
        After the handshake each side knows the other's node, role and
        credential, from the credential; a batch is acknowledged.
        """
        tap: list[bytes] = []
        handler = RecordingHandler()
        factory = client_factory(
            self.clock, handler, key=None, node="web-1", role="tailer",
            credentials=credentials("web-1", "tailer", ["web-*"]), accept_roles=("buck",),
        )
        pair = connect_pair(self.server, factory, self.clock, tap)
        [client_peer] = handler.connected_peers
        [server_peer] = self.server_handler.connected_peers
        self.assertEqual((server_peer.peer_node, server_peer.peer_role), ("web-1", "tailer"))
        self.assertEqual(server_peer.credential.hosts, ("web-*",))
        self.assertTrue(server_peer.hosts.allows(b"web-7"))
        self.assertFalse(server_peer.hosts.allows(b"db-prod-01"))
        self.assertEqual((client_peer.peer_node, client_peer.peer_role), ("buck-1", "buck"))
        self.assertEqual(client_peer.credential.serial, BUCK.identity.credential.serial)
        self.assertFalse(client_peer.insecure)
        client_peer.send(Batch(1, "ack2", [b"secret event text"]))
        pair.flush()
        self.assertEqual(handler.messages, [(client_peer, Ack(1, 1))])
        # Nothing travels in clear but the greetings.
        self.assertNotIn(b"secret event", b"".join(tap))
        self.assertNotIn(b"web-1", b"".join(tap))
        [connected] = [e for e in self.observer if e.get("peer_node") == "web-1"
                       and e.get("credential")]
        self.assertEqual(connected["credential"], server_peer.credential.serial_hex)
        pair.client_transport.loseConnection()
        pair.flush()

    def test_rotation_two_authorities(self) -> None:
        """
        A node trusting two authorities accepts credentials of either (while
        the authority is being replaced).
        """
        self.server.settings.credentials.trust.authorities |= {  # type: ignore[union-attr]
            bytes(OTHER_AUTHORITY.verify_key)
        }
        handler, pair = self.connect(authority=OTHER_AUTHORITY)
        self.assertEqual(len(handler.connected_peers), 1)
        pair.client_transport.loseConnection()
        pair.flush()


class RefusedCredentialTests(_KeyedTestCase):
    def assertRefused(self, code: str, detail: str = "", **kwargs: Any) -> None:
        handler, pair = self.connect(**kwargs)
        self.assertEqual(handler.connected_peers, [])
        self.assertServerRejected(pair, code, detail)
        # The client read why.
        [reason] = [e["detail"] for e in self.observer if e.get("reason") == "peer-error"]
        self.assertIn(detail, reason)

    def test_forged(self) -> None:
        """
        A credential of an authority the buck does not trust is refused.
        """
        self.assertRefused("bad-credential", "an authority this node does not trust",
                           authority=OTHER_AUTHORITY)

    def test_expired(self) -> None:
        self.assertRefused("credential-expired", "expired", issued=0, expires=1_700_000_000)

    def test_not_yet_valid(self) -> None:
        self.assertRefused("credential-expired", "valid only from", issued=1_900_000_000,
                           expires=FOREVER)

    def test_revoked(self) -> None:
        revoked = credentials("web-1", "tailer", ["web-*"]).identity.credential
        self.trust.revocations = Revocations(frozenset({revoked.serial}))
        self.assertRefused("credential-revoked", revoked.serial_hex)

    def test_revoked_key(self) -> None:
        """
        Revoking a node key revokes every credential of that key.
        """
        key = bytes(seeded_key("node web-1").verify_key)
        self.trust.revocations = Revocations(keys=frozenset({key}))
        self.assertRefused("credential-revoked")

    def test_wrong_role(self) -> None:
        """
        A buck refuses a buck credential; a tailer refuses a server that is
        not a buck (it checks whom it talks to).
        """
        self.assertRefused("bad-role", "holds a buck credential", node="buck-2", role="buck",
                           hosts=())

    def test_client_checks_server(self) -> None:
        impostor = server_factory(
            self.clock, RecordingHandler(), key=None, node="web-9", role="tailer",
            credentials=credentials("web-9", "tailer", ["*"]), accept_roles=("tailer",),
        )
        handler, pair = self.connect(server=impostor)
        pair.flush()
        self.assertEqual(handler.connected_peers, [])
        [(reason, detail)] = self.rejected("client")
        self.assertEqual(reason, "bad-role")
        self.assertIn("web-9 holds a tailer credential", detail)
        self.assertTrue(pair.lost)


class ProofTests(_KeyedTestCase):
    """
    Who holds a credential but not its node key cannot use it.
    """

    def test_stolen_credential(self) -> None:
        """
        Someone else's credential with a proof made with another key is
        refused (bad-proof).
        """
        victim = identity("web-1", "tailer", ["web-*"])
        thief = KeyedManualClient(identity("web-6", "tailer", ["web-*"]))
        pair, peer = keyed_by_hand(self.server, self.clock, thief)
        identify = thief.identify(credential=victim.credential.blob)
        peer.send_raw(thief.session_frame(encode_message(identify)))
        self.assertServerRejected(pair, "bad-proof")

    def test_replayed_identify(self) -> None:
        """
        A client's identify recorded on one connection does not prove
        anything on another (the transcript differs).
        """
        honest = KeyedManualClient(identity("web-1", "tailer", ["web-*"]))
        pair, peer = keyed_by_hand(self.server, self.clock, honest)
        recorded = honest.identify()
        peer.send_raw(honest.session_frame(encode_message(recorded)))
        pair.flush()
        self.assertEqual(len(self.server_handler.connected_peers), 1)
        replayer = KeyedManualClient(identity("web-6", "tailer", ["web-*"]))
        pair2, peer2 = keyed_by_hand(self.server, self.clock, replayer)
        peer2.send_raw(replayer.session_frame(encode_message(recorded)))
        pair2.flush()
        [(reason, _)] = self.rejected()
        self.assertEqual(reason, "bad-proof")
        self.assertTrue(pair2.lost)
        pair.client_transport.loseConnection()
        pair.flush()

    def test_reflected_proof(self) -> None:
        """
        A client that signs as the server would (the proof of the other
        side) is refused: a proof cannot be reflected.
        """
        mirror = KeyedManualClient(identity("web-1", "tailer", ["web-*"]))
        pair, peer = keyed_by_hand(self.server, self.clock, mirror)
        proof = mirror.identity.sign(proof_message(Side.SERVER, mirror.transcript))
        peer.send_raw(mirror.session_frame(encode_message(mirror.identify(proof=proof))))
        self.assertServerRejected(pair, "bad-proof")

    def test_message_before_identify(self) -> None:
        manual = KeyedManualClient(identity("web-1", "tailer", ["web-*"]))
        pair, peer = keyed_by_hand(self.server, self.clock, manual)
        peer.send_raw(manual.session_frame(encode_message(Batch(1, "ack2", events(1)))))
        self.assertServerRejected(pair, "unexpected-message", "before the peer identified")

    def test_low_order_key(self) -> None:
        """
        An all-zero ephemeral key (a low-order point) is refused at once.
        """
        peer = RawPeer(encode_frame(keyed_handshake(encode_message(Greeting(1, bytes(32))))))
        pair = connect_pair(self.server, peer, self.clock)
        self.assertServerRejected(pair, "bad-key-exchange", "low-order")

    def test_silent_after_greeting(self) -> None:
        """
        A client that never identifies itself is dropped by the handshake
        timer.
        """
        manual = KeyedManualClient(identity("web-1", "tailer", ["web-*"]))
        pair, _ = keyed_by_hand(self.server, self.clock, manual)
        self.clock.advance(HANDSHAKE_TIMEOUT)
        self.assertServerRejected(pair, "handshake-timeout")


class ModeTests(_KeyedTestCase):
    def test_cluster_key_client(self) -> None:
        """
        A client using the cluster key meets a credential-mode buck: both
        name the mismatch.
        """
        handler = RecordingHandler()
        pair = connect_pair(self.server, client_factory(self.clock, handler), self.clock)
        pair.flush()
        [(reason, detail)] = self.rejected()
        self.assertEqual(reason, "credential-mismatch")
        self.assertIn("the peer uses the shared cluster key", detail)
        self.assertTrue(pair.lost)

    def test_credential_client_meets_lab_buck(self) -> None:
        lab = server_factory(self.clock, RecordingHandler(), key=KEY)
        handler, pair = self.connect(server=lab)
        pair.flush()
        self.assertEqual(handler.connected_peers, [])
        reasons = [e.get("reason") for e in self.observer if e.get("reason")]
        self.assertIn("credential-mismatch", reasons)
        self.assertTrue(pair.lost)

    def test_settings_must_match_credential(self) -> None:
        with self.assertRaises(ValueError):
            server_factory(self.clock, RecordingHandler(), key=None, node="buck-2",
                           credentials=BUCK)
        with self.assertRaises(ValueError):
            server_factory(self.clock, RecordingHandler(), key=KEY, credentials=BUCK)


class RecheckTests(_KeyedTestCase):
    def test_revoked_while_connected(self) -> None:
        """
        After the revocation list changes, L{WireFactory.recheck} closes the
        connections of revoked credentials only.
        """
        handler, pair = self.connect("web-1")
        other_handler, other = self.connect("web-2")
        self.assertEqual(self.server.connected, 2)
        revoked = handler.connected_peers and self.server_handler.connected_peers[0].credential
        self.trust.revocations = Revocations(frozenset({revoked.serial}))
        self.server.recheck()
        pair.flush()
        other.flush()
        self.assertTrue(pair.lost)
        self.assertFalse(other.lost)
        self.assertEqual(self.server.stats.rejected, Counter({"credential-revoked": 1}))
        [error] = [m for _, m in handler.messages if isinstance(m, Error)]
        self.assertIn("revoked", error.reason)
        self.assertEqual(self.server.connected, 1)
        other.client_transport.loseConnection()
        other.flush()

    def test_expired_while_connected(self) -> None:
        handler, pair = self.connect("web-1", expires=1_800_000_100)
        self.clock.advance(50)
        self.server.recheck()
        self.assertFalse(pair.lost)
        self.clock.advance(50)
        self.server.recheck()
        pair.flush()
        self.assertTrue(pair.lost)
        self.assertEqual(self.server.stats.rejected, Counter({"credential-expired": 1}))

    def test_handshake_failure_reaches_waiter(self) -> None:
        """
        A client whose credential is refused fails its C{when_connected}.
        """
        handler = RecordingHandler()
        factory = client_factory(
            self.clock, handler, key=None, node="web-1", role="tailer",
            credentials=credentials("web-1", "tailer", ["web-*"], authority=OTHER_AUTHORITY),
            accept_roles=("buck",),
        )
        protocol = factory.buildProtocol(None)
        waiting = protocol.when_connected()
        pair = connect_pair(self.server, protocol, self.clock)
        pair.flush()
        failure = self.failureResultOf(waiting, HandshakeFailed)
        self.assertEqual(failure.value.reason.code, "peer-error")
