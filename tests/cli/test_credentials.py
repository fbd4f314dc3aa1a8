"""End-to-end tests of C{logship keygen --authority/--node}, C{logship credential} and C{logship revoke}."""

from __future__ import annotations

import stat
import time

from logship.core.credentials import decode_credential, parse_revocations, read_credential_file
from logship.core.keys import KeyKind, read_public_keys, read_signing_key
from tests.cli.test_main import CLITestCase, logship


class CredentialCommandTests(CLITestCase):
    def setUp(self) -> None:
        super().setUp()
        self.authority = self.tmp / "authority.key"
        self.node = self.tmp / "web-1.key"
        for kind, path in (("--authority", self.authority), ("--node", self.node)):
            result = logship("keygen", kind, str(path))
            self.assertEqual(result.returncode, 0, result.stderr)
            self.assertIn(b".pub (public)", result.stderr)

    def issue(self, *args: str) -> tuple[int, str]:
        result = logship(
            "credential", "--authority", str(self.authority), "--public", f"{self.node}.pub",
            *args,
        )
        return result.returncode, result.stderr.decode()

    def test_keys(self) -> None:
        self.assertEqual(stat.S_IMODE(self.authority.stat().st_mode), 0o600)
        read_signing_key(self.authority, KeyKind.AUTHORITY)
        (public,) = read_public_keys(self.tmp / "web-1.key.pub", KeyKind.NODE)
        self.assertEqual(bytes(read_signing_key(self.node, KeyKind.NODE).verify_key), public)

    def test_issue_and_revoke(self) -> None:
        """
        A tailer's credential names its node, role, hosts, key and a
        validity from now; revoking it adds its serial to the list.
        """
        path = self.tmp / "web-1.cred"
        status, said = self.issue("--node", "web-1", "--role", "tailer", "--host", "web-*",
                                  "--host", "web1", "--days", "2", str(path))
        self.assertEqual(status, 0, said)
        credential = decode_credential(read_credential_file(path))
        self.assertEqual((credential.node, credential.role, credential.hosts),
                         ("web-1", "tailer", ("web-*", "web1")))
        self.assertEqual(credential.key, read_public_keys(self.tmp / "web-1.key.pub", KeyKind.NODE)[0])
        self.assertLess(abs(credential.issued - time.time()), 60)
        self.assertEqual(credential.expires - credential.issued, 2 * 86400)
        self.assertIn(credential.serial_hex, said)
        revoked = self.tmp / "revoked.txt"
        result = logship("revoke", str(revoked), str(path), "--key", f"{self.node}.pub")
        self.assertEqual(result.returncode, 0, result.stderr)
        revocations = parse_revocations(revoked.read_text())
        self.assertTrue(revocations.revokes(credential))
        self.assertEqual(len(revocations), 2)

    def test_mistakes(self) -> None:
        path = str(self.tmp / "x.cred")
        for args, status, needle in (
            (["--node", "n", "--role", "tailer", path], 2, "names the hosts"),
            (["--node", "n", "--role", "buck", "--host", "x", path], 2, "only a tailer"),
            (["--node", "n", "--role", "porter", "--days", "0", path], 2, "--days"),
            (["--node", "n", "--role", "king", path], 2, "invalid choice"),
        ):
            status_got, said = self.issue(*args)
            self.assertEqual(status_got, status, said)
            self.assertIn(needle, said)
            self.assertNotIn("Traceback", said)
        wrong = logship("credential", "--authority", str(self.node), "--public",
                        f"{self.node}.pub", "--node", "n", "--role", "buck", path)
        self.assertIn("not a logship authority secret key", self.assertUserError(wrong, 1))
        self.assertEqual(self.issue("--node", "n", "--role", "buck", path)[0], 0)
        self.assertIn("already exists", self.issue("--node", "n", "--role", "buck", path)[1])
        self.assertIn("nothing to revoke",
                      self.assertUserError(logship("revoke", str(self.tmp / "r")), 2))
        bad = self.tmp / "bad.txt"
        bad.write_text("nonsense\n")
        self.assertIn("line 1", self.assertUserError(logship("revoke", str(bad), path), 1))
