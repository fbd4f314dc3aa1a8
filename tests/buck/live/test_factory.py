"""Tests for L{logship.buck.live.factory}: who may connect (path, token, origin, counts)."""

from __future__ import annotations

from logship.buck.live.factory import DEFAULT_ORIGINS
from tests.buck.live.common import LiveTestCase


class AdmissionTests(LiveTestCase):
    def test_wrong_path(self) -> None:
        client, _ = self.connect("/other")
        self.assertFalse(client.opened)
        self.assertTrue(client.closed)
        self.assertIn("404", client.close_reason or "")

    def test_token(self) -> None:
        """
        With a token, a client must give it in C{?token=} or as a bearer
        token; a wrong one or none is refused with 401.
        """
        self.factory = self.make_factory(token="s3cret-token-0123456789")
        for path, headers in [
            ("/live", {}),
            ("/live?token=wrong", {}),
            ("/live?token=", {}),
            ("/live", {"Authorization": "Bearer wrong"}),
        ]:
            client, _ = self.connect(path, headers=headers)
            self.assertFalse(client.opened, path)
            self.assertIn("401", client.close_reason or "")
        for path, headers in [
            ("/live?token=s3cret-token-0123456789", {}),
            ("/live", {"Authorization": "Bearer s3cret-token-0123456789"}),
        ]:
            client, _ = self.connect(path, headers=headers)
            self.assertTrue(client.opened, path)
            self.assertEqual(client.messages[0]["type"], "hello")
        refused = [e for e in self.log if e.get("code") == 401]
        self.assertEqual(len(refused), 4)

    def test_origins(self) -> None:
        """
        A browser's Origin must match the patterns (default: pages of this
        machine), else it is refused with 403 (as docs/live.md says); a
        client without one (not a browser) is let in.
        """
        for origin, allowed in [
            ("http://127.0.0.1:8080", True),
            ("http://localhost:3000", True),
            ("http://[::1]:8080", True),
            ("https://evil.example", False),
            ("http://127.0.0.1.evil.example:80", False),
            ("null", False),
            ("file://", False),
        ]:
            client, _ = self.connect(headers={"Origin": origin})
            self.assertEqual(client.opened, allowed, origin)
            if not allowed:
                self.assertIn("403", client.close_reason or "", origin)
        self.assertTrue(self.connect()[0].opened)
        refused = [e for e in self.log if e.get("code") == 403]
        self.assertEqual(len(refused), 4)
        self.factory = self.make_factory(origins=["https://logs.example.com:*"])
        client, _ = self.connect(headers={"Origin": "https://logs.example.com"})
        self.assertTrue(client.opened)
        client, _ = self.connect(headers={"Origin": "http://127.0.0.1:8080"})
        self.assertFalse(client.opened)
        self.assertEqual(len(DEFAULT_ORIGINS), 6)

    def test_max_clients(self) -> None:
        self.factory = self.make_factory(max_clients=2)
        for _ in range(2):
            self.assertTrue(self.connect()[0].opened)
        client, _ = self.connect()
        self.assertFalse(client.opened)
        self.assertIn("503", client.close_reason or "")

    def test_per_address(self) -> None:
        """
        Beyond max_per_address clients of one address: 429; other
        addresses still get in, and a slot freed is taken again.
        """
        self.factory = self.make_factory(max_per_address=2, max_clients=10)
        first = [self.connect()[0] for _ in range(2)]
        self.assertTrue(all(c.opened for c in first))
        client, _ = self.connect()
        self.assertFalse(client.opened)
        self.assertIn("429", client.close_reason or "")
        other, _ = self.connect(address="127.0.0.2")
        self.assertTrue(other.opened)
        first[0].sendClose(1000)
        for pump in self.pumps:
            pump.flush()
        self.assertTrue(first[0].closed)
        self.assertEqual(len(self.factory.clients), 2)
        self.assertTrue(self.connect()[0].opened)
        self.assertFalse(self.connect()[0].opened)
