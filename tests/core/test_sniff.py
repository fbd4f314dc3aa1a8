"""Tests of L{logship.core.sniff}: what a file is, from its first bytes."""

from __future__ import annotations

import gzip
import lzma

from hypothesis import given
from hypothesis import strategies as st
from twisted.trial.unittest import SynchronousTestCase

from logship.core.bucket import encode_record
from logship.core.event import encode
from logship.core.pack import pack
from logship.core.sniff import HEAD_SIZE, Kind, not_logship, sniff
from tests.strategies import events, short_messages


def bucket_bytes(evs: list) -> bytes:
    return b"".join(encode_record(encode(e)) for e in evs)


class SniffTests(SynchronousTestCase):
    @given(st.lists(events(short_messages()), min_size=1, max_size=5))
    def test_bucket_files(self, evs: list) -> None:
        """
        Bucket files are bucket files, whole or cut anywhere after the
        first record; packs of the same events are archive objects.
        """
        data = bucket_bytes(evs)
        self.assertIs(sniff(data).kind, Kind.BUCKET)
        self.assertTrue(sniff(data).readable)
        first = len(encode_record(encode(evs[0])))
        self.assertIs(sniff(data[: first + 1]).kind, Kind.BUCKET)
        self.assertIs(sniff(pack(evs)).kind, Kind.PACK)

    @given(st.lists(events(short_messages()), min_size=2, max_size=4))
    def test_first_record_corrupt(self, evs: list) -> None:
        """
        A bucket file whose first record is damaged is still one (its
        second record decodes), so cat reports the record, not the file.
        """
        data = bytearray(bucket_bytes(evs))
        data[-1 - len(bucket_bytes(evs[1:]))] ^= 0x55  # the first record's last byte
        self.assertIs(sniff(bytes(data)).kind, Kind.BUCKET)

    def test_empty_is_an_empty_bucket(self) -> None:
        self.assertIs(sniff(b"").kind, Kind.BUCKET)

    @given(events(short_messages()))
    def test_torn_first_record(self, event: object) -> None:
        """
        A file that ends inside its first record (a writer's crash during
        its first append) is a bucket file, to be read as torn.
        """
        self.assertIs(sniff(encode_record(encode(event))[:-1]).kind, Kind.BUCKET)

    def test_other_formats_named(self) -> None:
        cases = {
            gzip.compress(b"a log line\n" * 100): "gzip data",
            lzma.compress(b"x"): "xz data",
            b"BZh91AY&SY": "bzip2 data",
            b"SQLite format 3\x00" + bytes(100): "an SQLite database",
            b"2026-11-26T09:37:00Z host app: hello\n": "text",
            b'{"bucket_seconds": 60}\n': "JSON text",
            b"\x00" * 100: "zeros",
            bytes(range(200, 256)): "data beginning c8 c9 ca cb cc cd ce cf",
        }
        for data, description in cases.items():
            sniffed = sniff(data)
            self.assertEqual((sniffed.kind, sniffed.description), (Kind.OTHER, description))
            self.assertFalse(sniffed.readable)

    def test_messages(self) -> None:
        self.assertEqual(not_logship("x.gz", sniff(gzip.compress(b"x"))),
                         "x.gz: gzip data, not a logship bucket file or archive object")
        self.assertEqual(
            not_logship("a.log", sniff(b"hello\n")),
            "a.log: text, not a logship bucket file or archive object"
            " (a log file? read it with logship parse or logship import)")
        newer = sniff(b"LSPK\x09" + bytes(60))
        self.assertEqual((newer.kind, newer.readable), (Kind.PACK, False))
        self.assertEqual(not_logship("n.lsp", newer),
                         "n.lsp: a logship archive object of version 9"
                         " (this logship reads versions 2 and 3)")

    @given(st.binary(max_size=512))
    def test_any_bytes(self, data: bytes) -> None:
        """
        Any bytes get an answer and a one-line description.
        """
        sniffed = sniff(data)
        self.assertNotIn("\n", not_logship("f", sniffed))
        self.assertLessEqual(len(data), HEAD_SIZE)
