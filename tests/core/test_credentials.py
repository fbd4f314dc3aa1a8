"""Tests for L{logship.core.credentials}: issuing, parsing, checking credentials; host patterns; revocations."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import msgpack
from hypothesis import given
from hypothesis import strategies as st
from twisted.trial.unittest import SynchronousTestCase

from logship.core.credentials import (
    CLOCK_SKEW,
    MAX_CREDENTIAL,
    CredentialError,
    HostPatterns,
    NodeIdentity,
    Refusal,
    Revocations,
    Trust,
    decode_credential,
    issue_credential,
    parse_revocations,
    read_credential_file,
    revocation_line,
    verify_credential,
    write_credential,
)
from tests.credentials import AUTHORITY, OTHER_AUTHORITY, identity, seeded_key, trust

AUTHORITY_KEY = bytes(AUTHORITY.verify_key)
NODE_KEY = bytes(seeded_key("node web-1").verify_key)


def issue(**kwargs: object) -> bytes:
    fields: dict[str, object] = dict(
        node="web-1", role="tailer", key=NODE_KEY, hosts=["web-*"], issued=100, expires=1000
    )
    fields.update(kwargs)
    return issue_credential(AUTHORITY, **fields).blob  # type: ignore[arg-type]


class IssueTests(SynchronousTestCase):
    def test_round_trip(self) -> None:
        blob = issue()
        credential = verify_credential(blob, {AUTHORITY_KEY})
        self.assertEqual(
            (credential.node, credential.role, credential.hosts, credential.key),
            ("web-1", "tailer", ("web-*",), NODE_KEY),
        )
        self.assertEqual((credential.issued, credential.expires), (100, 1000))
        self.assertEqual(credential.authority, AUTHORITY_KEY)
        self.assertEqual(len(credential.serial), 16)
        self.assertEqual(decode_credential(blob), credential)
        self.assertIn("node web-1, role tailer, hosts web-*", credential.describe())

    def test_fields_checked(self) -> None:
        for kwargs in (
            dict(role="tailer", hosts=[]),
            dict(role="buck", hosts=["x"]),
            dict(role="king", hosts=[]),
            dict(node=""),
            dict(node="a\nb"),
            dict(hosts=["web *"]),
            dict(hosts=["wéb"]),
            dict(hosts=["x"] * 65),
            dict(key=b"short"),
            dict(issued=1000, expires=1000),
            dict(issued=-1),
        ):
            with self.assertRaises(ValueError, msg=kwargs):
                issue(**kwargs)

    def test_serials_differ(self) -> None:
        self.assertNotEqual(
            decode_credential(issue()).serial, decode_credential(issue()).serial
        )


class VerifyTests(SynchronousTestCase):
    def assertForged(self, blob: bytes, needle: str = "") -> None:
        error = self.assertRaises(CredentialError, verify_credential, blob, {AUTHORITY_KEY})
        self.assertEqual(error.refusal, Refusal.FORGED)
        self.assertIn(needle, error.detail)

    def test_other_authority(self) -> None:
        blob = issue_credential(
            OTHER_AUTHORITY, node="web-1", role="tailer", key=NODE_KEY, hosts=["*"],
            issued=0, expires=10,
        ).blob
        self.assertForged(blob, "does not trust")

    def test_changed_byte(self) -> None:
        """
        Any changed byte makes the credential fail (signature, or parsing).
        """
        blob = issue()
        for index in range(0, len(blob), 7):
            changed = blob[:index] + bytes([blob[index] ^ 0x01]) + blob[index + 1 :]
            with self.assertRaises(CredentialError):
                verify_credential(changed, {AUTHORITY_KEY})

    def test_widened_hosts(self) -> None:
        """
        A credential whose statement was re-encoded with more hosts, under
        the original signature, is refused.
        """
        blob = issue()
        body = msgpack.unpackb(blob[64:])
        body["hosts"] = ["*"]
        self.assertForged(blob[:64] + msgpack.packb(body, use_bin_type=True), "bad signature")

    def test_wrong_shapes(self) -> None:
        blob = issue()
        body = msgpack.unpackb(blob[64:])
        for change in (
            {"extra": 1},
            {"v": 2},
            {"v": True},
            {"serial": b"x"},
            {"hosts": "web-*"},
            {"hosts": [1]},
            {"issued": 1.5},
            {"authority": b"x" * 31},
        ):
            self.assertForged(blob[:64] + msgpack.packb({**body, **change}, use_bin_type=True))
        self.assertForged(b"x" * 64)
        self.assertForged(b"x" * (MAX_CREDENTIAL + 1))

    @given(st.binary(max_size=600))
    def test_garbage(self, blob: bytes) -> None:
        """
        Whatever the bytes, parsing either gives a credential or refuses
        them as forged; nothing else is raised.
        """
        try:
            decode_credential(blob)
        except CredentialError as e:
            self.assertEqual(e.refusal, Refusal.FORGED)

    @given(st.data())
    def test_mutations(self, data: st.DataObject) -> None:
        """
        A real credential with bytes changed, cut or added never passes
        as the original, and never raises anything but L{CredentialError}.
        """
        blob = issue()
        index = data.draw(st.integers(0, len(blob) - 1))
        mutated = data.draw(
            st.sampled_from(
                [
                    blob[:index],
                    blob[:index] + data.draw(st.binary(min_size=1, max_size=8)) + blob[index:],
                    blob[:index] + bytes([blob[index] ^ data.draw(st.integers(1, 255))])
                    + blob[index + 1 :],
                ]
            )
        )
        try:
            credential = verify_credential(mutated, {AUTHORITY_KEY})
        except CredentialError:
            return
        self.assertEqual(credential.blob, blob)  # only an unchanged one passes

    @given(
        st.text(st.characters(codec="utf-8", categories=["L", "N", "P"]), min_size=1,
                max_size=40),
        st.lists(st.from_regex(r"[a-z0-9.*?\-\[\]]{1,20}", fullmatch=True), min_size=1,
                 max_size=5),
        st.integers(0, 1 << 40),
        st.integers(1, 1 << 30),
    )
    def test_any_fields_round_trip(
        self, node: str, hosts: list[str], issued: int, length: int
    ) -> None:
        blob = issue(node=node, hosts=hosts, issued=issued, expires=issued + length)
        credential = verify_credential(blob, {AUTHORITY_KEY})
        self.assertEqual((credential.node, list(credential.hosts)), (node, hosts))


class TrustTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.trust = trust()
        self.blob = issue()

    def refusal(self, now: float, roles: tuple[str, ...] = ("tailer",)) -> Refusal:
        error = self.assertRaises(CredentialError, self.trust.check, self.blob, now, roles)
        return error.refusal

    def test_validity(self) -> None:
        self.assertEqual(self.trust.check(self.blob, 500, ("tailer",)).node, "web-1")
        self.assertEqual(self.trust.check(self.blob, 100 - CLOCK_SKEW, ("tailer",)).node, "web-1")
        self.assertEqual(self.refusal(1000), Refusal.EXPIRED)
        self.assertEqual(self.refusal(99 - CLOCK_SKEW), Refusal.EXPIRED)

    def test_role(self) -> None:
        self.assertEqual(self.refusal(500, ("buck", "porter")), Refusal.ROLE)

    def test_revocation(self) -> None:
        credential = decode_credential(self.blob)
        self.trust.revocations = Revocations(frozenset({credential.serial}))
        self.assertEqual(self.refusal(500), Refusal.REVOKED)
        self.trust.revocations = Revocations(keys=frozenset({NODE_KEY}))
        self.assertEqual(self.refusal(500), Refusal.REVOKED)
        self.trust.revocations = Revocations()
        self.assertIsNone(self.trust.recheck(credential, 500))

    def test_no_authority(self) -> None:
        with self.assertRaises(ValueError):
            Trust([])

    def test_identity_key_must_match(self) -> None:
        ident = identity("web-1", "tailer", ["*"])
        with self.assertRaises(ValueError):
            NodeIdentity(seeded_key("someone else"), ident.credential)


class HostPatternTests(SynchronousTestCase):
    def test_patterns(self) -> None:
        hosts = HostPatterns(["web-*", "db-0?", "mail[12]"])
        for host, allowed in (
            (b"web-1", True),
            (b"web-", True),
            (b"WEB-1", False),  # case-sensitive
            (b"db-01", True),
            (b"db-011", False),
            (b"db-prod-01", False),
            (b"mail1", True),
            (b"mail3", False),
            (b"xweb-1", False),
            (b"web-1\n", True),  # * matches any byte
            (b"\xffweb", False),
        ):
            self.assertEqual(hosts.allows(host), allowed, host)
            self.assertEqual(hosts.allows(host), allowed, host)  # cached
        self.assertEqual(str(hosts), "web-*, db-0?, mail[12]")

    def test_none_and_all(self) -> None:
        self.assertFalse(HostPatterns([]).allows(b"web-1"))
        self.assertTrue(HostPatterns(["*"]).allows(b"\x00anything"))

    def test_cache_bounded(self) -> None:
        hosts = HostPatterns(["h*"])
        for i in range(HostPatterns._CACHE + 10):
            self.assertTrue(hosts.allows(b"h%d" % i))
        self.assertLessEqual(len(hosts._known), HostPatterns._CACHE)


class RevocationListTests(SynchronousTestCase):
    def test_parse(self) -> None:
        credential = decode_credential(issue())
        text = (
            "# comment\n\n"
            f"{revocation_line(credential)}\n"
            "key H2wZGdB6IkhSUYlneXY2TYodjVaHZyKGS8YRqXfaYLU=  # old key\n"
        )
        revocations = parse_revocations(text)
        self.assertTrue(revocations.revokes(credential))
        self.assertEqual(len(revocations), 2)

    def test_bad_lines(self) -> None:
        for line in ("credential zz", "credential abcd", "key notbase64!", "key QUJD",
                     "serial 00", "credential"):
            error = self.assertRaises(ValueError, parse_revocations, f"# ok\n{line}\n")
            self.assertIn("line 2", str(error))


class CredentialFileTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.tmp = Path(tempfile.mkdtemp())
        self.addCleanup(shutil.rmtree, self.tmp)

    def test_round_trip(self) -> None:
        credential = decode_credential(issue())
        path = self.tmp / "web-1.cred"
        write_credential(path, credential)
        self.assertTrue(path.read_text().startswith("# node web-1, role tailer"))
        self.assertEqual(read_credential_file(path), credential.blob)
        with self.assertRaises(FileExistsError):
            write_credential(path, credential)

    def test_bad_files(self) -> None:
        path = self.tmp / "x.cred"
        for text in ("", "logship-credential !!!\n", "other AAAA\n",
                     "logship-credential AAAA\nlogship-credential AAAA\n"):
            path.write_text(text)
            with self.assertRaises(ValueError):
                read_credential_file(path)
