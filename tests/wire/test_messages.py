"""Tests for L{logship.wire.messages}."""

from __future__ import annotations

import os
import struct
import tracemalloc
import zlib
from typing import Any

import msgpack
from hypothesis import given
from hypothesis import strategies as st
from twisted.trial.unittest import SynchronousTestCase

from logship.wire.messages import (
    DURABILITIES,
    MAX_BATCH_BYTES,
    MAX_CHUNK,
    MAX_EVENT_SIZE,
    MAX_REASON,
    PROTOCOL_VERSION,
    ROLES,
    MAX_LIST,
    MAX_PROOFS,
    Ack,
    ArchiveProof,
    Archived,
    ArchivedAck,
    ArchivedQuery,
    ArchivedReply,
    Batch,
    BatchRefused,
    BucketAck,
    BucketData,
    BucketGet,
    BucketList,
    BucketListing,
    BucketPut,
    Error,
    Greeting,
    Hello,
    Identify,
    MalformedMessage,
    Message,
    MessageTooLarge,
    UnsupportedVersion,
    decode_message,
    encode_message,
    error_for,
    parse_records,
)
from tests.wire.common import events, zlib_bomb

U64 = st.integers(0, (1 << 64) - 1)
NAMES = st.text(
    st.characters(codec="utf-8", categories=["L", "N", "P", "Zs"]),
    min_size=1,
    max_size=255,
).filter(str.isprintable)
EVENTS = st.lists(st.binary(max_size=300), max_size=50)


def hellos() -> st.SearchStrategy[Hello]:
    return st.builds(
        Hello,
        st.just(PROTOCOL_VERSION),
        st.sampled_from(ROLES),
        NAMES,
        st.binary(min_size=32, max_size=32),
        st.booleans(),
    )


def batches() -> st.SearchStrategy[Batch]:
    return st.builds(Batch, U64, st.sampled_from(DURABILITIES), EVENTS)


def bucket_puts() -> st.SearchStrategy[BucketPut]:
    def build(last: bool, **kw: Any) -> BucketPut:
        return BucketPut(last=last, sha256=os.urandom(32) if last else None, **kw)

    return st.builds(
        build,
        last=st.booleans(),
        upload_id=U64,
        start=U64,
        seconds=st.sampled_from([1, 10, 60, 300, 3600]),
        offset=U64,
        data=st.binary(max_size=2000),
    )


def bucket_acks() -> st.SearchStrategy[BucketAck]:
    return st.tuples(U64, U64, U64).flatmap(
        lambda t: st.integers(0, t[2]).map(lambda new: BucketAck(*t, new))
    )


def listings() -> st.SearchStrategy[BucketListing]:
    pairs = st.dictionaries(U64, U64, max_size=50).map(lambda d: sorted(d.items()))
    return st.builds(BucketListing, U64, pairs, st.booleans())


SHA = st.binary(min_size=32, max_size=32)
SIGNATURES = st.just(b"") | st.binary(min_size=64, max_size=64)
UPLOADS = st.lists(st.tuples(U64, SHA), max_size=50)
PROOFS = st.lists(
    st.builds(ArchiveProof, U64, SHA, st.binary(min_size=1, max_size=300), SIGNATURES,
              st.binary(max_size=300)),
    max_size=20,
)


def messages() -> st.SearchStrategy[Message]:
    return st.one_of(
        hellos(),
        batches(),
        st.builds(Ack, U64, st.integers(0, (1 << 32) - 1)),
        bucket_puts(),
        bucket_acks(),
        st.builds(BucketList, U64, U64, st.integers(1, MAX_LIST)),
        listings(),
        st.builds(BucketGet, U64, U64, U64, st.integers(1, MAX_CHUNK)),
        st.builds(BucketData, U64, U64, U64, U64, st.binary(max_size=2000)),
        st.builds(Archived, U64, U64, U64, st.binary(min_size=1, max_size=300), SIGNATURES),
        st.builds(ArchivedAck, U64, U64, st.booleans()),
        st.builds(ArchivedQuery, U64, UPLOADS),
        st.builds(ArchivedReply, U64, PROOFS),
        st.builds(ArchivedReply, U64, PROOFS, UPLOADS),
        st.builds(Error, NAMES, st.none() | U64),
        st.builds(Greeting, st.just(PROTOCOL_VERSION), SHA),
        st.builds(Identify, st.binary(min_size=1, max_size=300), st.binary(min_size=64, max_size=64)),
        st.builds(BatchRefused, U64, NAMES),
    )


def _raw(header: Any, payload: Any = None) -> bytes:
    body: bytes = msgpack.packb([header, payload], use_bin_type=True)
    return body


def _records(items: list[bytes]) -> bytes:
    return b"".join(struct.pack(">H", len(e)) + e for e in items)


def _batch_body(payload: bytes, count: int, **extra: Any) -> bytes:
    header = {"type": "batch", "batch_id": 1, "durability": "ack2", "events": count}
    header.update(extra)
    return _raw(header, payload)


#: msgpack values of every kind, nested a little.
MSGPACK_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(1 << 63), (1 << 64) - 1)
    | st.floats()
    | st.text(max_size=20)
    | st.binary(max_size=20),
    lambda inner: st.lists(inner, max_size=4)
    | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=10,
)
FIELD_NAMES = st.sampled_from(
    [
        "version",
        "role",
        "node",
        "nonce",
        "insecure",
        "batch_id",
        "durability",
        "events",
        "upload_id",
        "start",
        "seconds",
        "offset",
        "last",
        "sha256",
        "new",
        "reason",
        "request_id",
        "since",
        "limit",
        "length",
        "size",
        "more",
        "deleted",
        "other",
    ]
)


class RoundTripTests(SynchronousTestCase):
    @given(messages())
    def test_round_trip(self, message: Message) -> None:
        self.assertEqual(decode_message(encode_message(message)), message)

    def test_layout(self) -> None:
        """
        A body is C{[header, payload]}; the header names the type.
        """
        body = encode_message(Ack(7, 1000))
        self.assertEqual(
            msgpack.unpackb(body),
            [{"type": "ack", "batch_id": 7, "events": 1000}, None],
        )
        header, payload = msgpack.unpackb(
            encode_message(Batch(3, "ack2", [b"ab", b"c"]))
        )
        self.assertEqual(
            header, {"type": "batch", "batch_id": 3, "durability": "ack2", "events": 2}
        )
        self.assertEqual(zlib.decompress(payload), b"\x00\x02ab\x00\x01c")

    def test_big_batch(self) -> None:
        """
        A batch of exactly L{MAX_BATCH_BYTES} of incompressible records goes
        through; one byte more is refused when encoding.
        """
        items = [os.urandom(MAX_BATCH_BYTES // 64 - 2) for _ in range(64)]
        self.assertEqual(len(_records(items)), MAX_BATCH_BYTES)
        batch = Batch(1, "ack2", items)
        self.assertEqual(decode_message(encode_message(batch)), batch)
        self.assertRaises(
            MessageTooLarge, encode_message, Batch(1, "ack2", items + [b""])
        )

    def test_event_too_large(self) -> None:
        encode_message(Batch(1, "ack2", [b"x" * MAX_EVENT_SIZE]))
        self.assertRaises(
            MessageTooLarge,
            encode_message,
            Batch(1, "ack2", [b"x" * (MAX_EVENT_SIZE + 1)]),
        )

    def test_construction_checks(self) -> None:
        """
        Messages refuse bad fields when built, so that a bug shows at the
        sender.
        """
        nonce = bytes(32)
        bad = [
            lambda: Hello(1, "tailer", "", nonce, False),
            lambda: Hello(1, "tailer", "a\nb", nonce, False),
            lambda: Hello(1, "king", "a", nonce, False),  # type: ignore[arg-type]
            lambda: Hello(1, "tailer", "a", b"short", False),
            lambda: Hello(1, "tailer", "a", nonce, 0),  # type: ignore[arg-type]
            lambda: Hello(True, "tailer", "a", nonce, False),
            lambda: Batch(-1, "ack2", []),
            lambda: Batch(1, "ack3", []),  # type: ignore[arg-type]
            lambda: Batch(1, "ack2", (b"x",)),  # type: ignore[arg-type]
            lambda: Ack(1 << 64, 0),
            lambda: BucketPut(1, 0, 60, 0, b"", True, None),
            lambda: BucketPut(1, 0, 60, 0, b"", False, bytes(32)),
            lambda: BucketPut(1, 0, 7, 0, b"", False, None),
            lambda: BucketPut(1, 0, 60, 0, b"x" * (MAX_CHUNK + 1), False, None),
            lambda: BucketAck(1, 0, 3, 4),
            lambda: Error(""),
            lambda: Error("x" * (MAX_REASON + 1)),
        ]
        for build in bad:
            self.assertRaises(ValueError, build)

    def test_error_for(self) -> None:
        self.assertEqual(error_for("a\nb\x00c").reason, "a b c")
        self.assertEqual(len(error_for("x" * 5000).reason), MAX_REASON)
        self.assertEqual(error_for("\n").reason, "error")
        self.assertEqual(error_for("bad", 7).batch_id, 7)


class StrictDecodingTests(SynchronousTestCase):
    def assertMalformed(self, body: bytes, text: str = "") -> MalformedMessage:
        e: MalformedMessage = self.assertRaises(MalformedMessage, decode_message, body)
        self.assertEqual(e.code, "malformed")
        self.assertIn(text, e.detail)
        return e

    def test_not_msgpack(self) -> None:
        self.assertMalformed(b"", "not a msgpack message")
        self.assertMalformed(b"\xc1", "not a msgpack message")

    def test_trailing_junk(self) -> None:
        self.assertMalformed(
            encode_message(Ack(1, 1)) + b"\x00", "not a msgpack message"
        )

    def test_shape(self) -> None:
        self.assertMalformed(msgpack.packb({"type": "ack"}), "[header, payload]")
        self.assertMalformed(msgpack.packb([{"type": "ack"}]), "[header, payload]")
        self.assertMalformed(msgpack.packb(["ack", None]), "not a map")
        self.assertMalformed(_raw({"type": "ack"}, "text"), "neither binary nor nil")

    def test_unknown_type(self) -> None:
        self.assertMalformed(_raw({"type": "bucket-fetch"}), "unknown message type")
        self.assertMalformed(_raw({"type": 1}), "unknown message type")
        self.assertMalformed(_raw({}), "unknown message type")

    def test_missing_and_extra_fields(self) -> None:
        self.assertMalformed(
            _raw({"type": "ack", "batch_id": 1}), "missing field(s) events"
        )
        self.assertMalformed(
            _raw({"type": "ack", "batch_id": 1, "events": 1, "more": 2}),
            "unexpected field(s) 'more'",
        )
        self.assertMalformed(
            _raw({"type": "ack", "batch_id": 1, "events": 1, b"bin": 2}),
            "unexpected field(s) b'bin'",
        )

    def test_mistyped_fields(self) -> None:
        self.assertMalformed(
            _raw({"type": "ack", "batch_id": True, "events": 1}), "batch_id"
        )
        self.assertMalformed(
            _raw({"type": "ack", "batch_id": 1.0, "events": 1}), "batch_id"
        )
        self.assertMalformed(
            _raw({"type": "ack", "batch_id": -1, "events": 1}), "batch_id"
        )
        self.assertMalformed(
            _raw({"type": "error", "reason": b"bin", "batch_id": None}), "reason"
        )
        hello = {
            "type": "hello",
            "version": 1,
            "role": "tailer",
            "node": "a",
            "nonce": bytes(32),
            "insecure": 1,
        }
        self.assertMalformed(_raw(hello), "insecure")

    def test_payloads(self) -> None:
        self.assertMalformed(
            _raw({"type": "ack", "batch_id": 1, "events": 1}, b"x"),
            "unexpected payload",
        )
        self.assertMalformed(_batch_body(None, 0), "missing payload")  # type: ignore[arg-type]

    def test_invalid_utf8(self) -> None:
        body = _raw({"type": "error", "reason": "RSN", "batch_id": None}).replace(
            b"RSN", b"\xff\xfe\xfd"
        )
        self.assertMalformed(body, "not a msgpack message")

    def test_oversize_items(self) -> None:
        """
        The unpacker's limits refuse long strings and big containers before
        building them.
        """
        self.assertMalformed(
            _raw({"type": "error", "reason": "x" * 5000, "batch_id": None})
        )
        self.assertMalformed(msgpack.packb([{}, None, None]))
        self.assertMalformed(_raw({str(i): i for i in range(17)}))
        self.assertMalformed(msgpack.packb([msgpack.ExtType(1, b"x"), None]))

    def test_bad_version(self) -> None:
        """
        A hello of another version is refused as such, naming both
        versions, whatever else it holds.
        """
        hello = Hello(2, "tailer", "a", bytes(32), False)
        e = self.assertRaises(UnsupportedVersion, decode_message, encode_message(hello))
        self.assertEqual((e.code, e.version), ("bad-version", 2))
        self.assertIn("version 2", e.detail)
        self.assertIn(f"speaks version {PROTOCOL_VERSION}", e.detail)
        future = _raw({"type": "hello", "version": 3, "ciphers": ["x"]})
        self.assertEqual(
            self.assertRaises(UnsupportedVersion, decode_message, future).version, 3
        )

    @given(st.binary(max_size=500))
    def test_garbage(self, body: bytes) -> None:
        """
        Arbitrary bytes decode to a message or raise L{MalformedMessage},
        never anything else.
        """
        try:
            decode_message(body)
        except MalformedMessage:
            pass

    @given(
        st.sampled_from(["hello", "batch", "ack", "bucket-put", "bucket-ack", "error"]),
        st.dictionaries(FIELD_NAMES, MSGPACK_VALUES, max_size=8),
        st.none() | st.binary(max_size=50) | MSGPACK_VALUES,
    )
    def test_garbage_structures(
        self, kind: str, header: dict[str, Any], payload: Any
    ) -> None:
        """
        Well-formed msgpack with the wrong content only raises
        L{MalformedMessage}.
        """
        header["type"] = kind
        try:
            decode_message(_raw(header, payload))
        except MalformedMessage:
            pass

    @given(messages(), st.data())
    def test_mutations(self, message: Message, data: st.DataObject) -> None:
        """
        A valid body with bytes changed, cut or added decodes or raises
        L{MalformedMessage}.
        """
        body = bytearray(encode_message(message))
        position = data.draw(st.integers(0, len(body)))
        action = data.draw(st.sampled_from(["flip", "cut", "insert"]))
        if action == "flip" and position < len(body):
            body[position] ^= data.draw(st.integers(1, 255))
        elif action == "cut":
            del body[position:]
        else:
            body[position:position] = data.draw(st.binary(min_size=1, max_size=4))
        try:
            decode_message(bytes(body))
        except MalformedMessage:
            pass


class BatchPayloadTests(SynchronousTestCase):
    def test_zlib_bomb(self) -> None:
        """
        A batch whose payload expands to 1 GiB is refused without producing
        more than the limit.
        """
        body = _batch_body(zlib_bomb(), 1000)
        tracemalloc.start()
        try:
            e = self.assertRaises(MalformedMessage, decode_message, body)
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        self.assertIn("decompression bomb", e.detail)
        # The limit, its copy when joined, the 1 MiB payload: nowhere near 1 GiB.
        self.assertLess(peak, 4 * MAX_BATCH_BYTES)

    def test_bucket_bomb(self) -> None:
        header = {
            "type": "bucket-put",
            "upload_id": 1,
            "start": 0,
            "seconds": 60,
            "offset": 0,
            "last": False,
            "sha256": None,
        }
        e = self.assertRaises(
            MalformedMessage, decode_message, _raw(header, zlib_bomb(16 << 20))
        )
        self.assertIn("decompression bomb", e.detail)

    def test_torn_record(self) -> None:
        records = _records([b"first", b"second"])
        for cut in (1, 3, 6):
            e = self.assertRaises(
                MalformedMessage,
                decode_message,
                _batch_body(zlib.compress(records[:-cut]), 2),
            )
            self.assertIn("torn record", e.detail)

    def test_count_mismatch(self) -> None:
        body = _batch_body(zlib.compress(_records([b"a", b"b"])), 3)
        self.assertIn(
            "header says 3 events",
            self.assertRaises(MalformedMessage, decode_message, body).detail,
        )

    def test_bad_streams(self) -> None:
        payload = zlib.compress(_records([b"a"]))
        cases = [
            (b"not zlib", "corrupt"),
            (payload[:-3], "truncated"),
            (payload + b"junk", "bytes after"),
            (zlib.compress(b"x" * (MAX_BATCH_BYTES + 1)), "decompression bomb"),
        ]
        for bad, text in cases:
            e = self.assertRaises(MalformedMessage, decode_message, _batch_body(bad, 1))
            self.assertIn(text, e.detail)

    def test_parse_records(self) -> None:
        self.assertEqual(parse_records(b""), [])
        self.assertEqual(parse_records(_records([b"", b"ab"])), [b"", b"ab"])
        self.assertRaises(MalformedMessage, parse_records, b"\x00")

    def test_thousand_events(self) -> None:
        batch = Batch(9, "ack2+fsync", events(1000))
        self.assertEqual(decode_message(encode_message(batch)), batch)


class PorterMessageTests(SynchronousTestCase):
    """
    The lists that the porter's and the tailers' questions carry.
    """

    def test_listing_order(self) -> None:
        """
        A listing must ascend by start, without repeats.
        """
        with self.assertRaises(ValueError):
            BucketListing(1, [(120, 1), (60, 1)], False)
        with self.assertRaises(ValueError):
            BucketListing(1, [(60, 1), (60, 2)], False)
        body = _raw({"type": "bucket-listing", "request_id": 1, "more": False},
                    zlib.compress(struct.pack(">QQQQ", 120, 1, 60, 1)))
        with self.assertRaises(MalformedMessage):
            decode_message(body)

    def test_torn_and_oversize_lists(self) -> None:
        """
        A list payload with a torn entry, or longer than L{MAX_LIST}
        entries (L{MAX_PROOFS} for the archived questions), is malformed; a
        list too long to send is refused.
        """
        header = {"type": "bucket-listing", "request_id": 1, "more": False}
        for payload in (
            zlib.compress(b"\0" * 12),
            zlib.compress(b"\0" * 16 * (MAX_LIST + 1)),
            None,
        ):
            with self.assertRaises(MalformedMessage):
                decode_message(_raw(header, payload))
        header = {"type": "archived-query", "request_id": 1}
        for payload in (
            zlib.compress(b"\0" * 39),
            zlib.compress(b"\0" * 40 * (MAX_PROOFS + 1)),
            None,
        ):
            with self.assertRaises(MalformedMessage):
                decode_message(_raw(header, payload))
        with self.assertRaises(ValueError):
            ArchivedQuery(1, [(0, bytes(32))] * (MAX_PROOFS + 1))

    def test_proofs(self) -> None:
        """
        An archived reply's payload is a list of 5-item lists of the right
        types, at most L{MAX_PROOFS}.
        """
        header = {"type": "archived-reply", "request_id": 1}
        good = [1, bytes(32), b"receipt", bytes(64), b"credential"]
        self.assertEqual(
            decode_message(_raw(header, zlib.compress(msgpack.packb([good])))),
            ArchivedReply(1, [ArchiveProof(1, bytes(32), b"receipt", bytes(64), b"credential")]),
        )
        for rows in (
            [good[:4]],
            [[*good[:3], bytes(63), good[4]]],
            [["1", *good[1:]]],
            {"a": 1},
            [good] * (MAX_PROOFS + 1),
        ):
            with self.assertRaises(MalformedMessage):
                decode_message(_raw(header, zlib.compress(msgpack.packb(rows))))
        with self.assertRaises(MalformedMessage):
            decode_message(_raw(header, zlib.compress(b"\xc1")))

    def test_missing_uploads(self) -> None:
        """
        An archived reply's 2-item rows are the uploads the buck does not
        have; a reply of proofs only (a buck of an earlier version) has
        none.  A 2-item row of the wrong types, or more rows than
        L{MAX_PROOFS} together, is refused.
        """
        header = {"type": "archived-reply", "request_id": 1}
        proof = [1, bytes(32), b"receipt", bytes(64), b"credential"]
        reply = decode_message(_raw(header, zlib.compress(msgpack.packb([proof, [2, b"m" * 32]]))))
        self.assertEqual(
            reply,
            ArchivedReply(1, [ArchiveProof(*proof)], [(2, b"m" * 32)]),
        )
        self.assertEqual(ArchivedReply(1, [ArchiveProof(*proof)]).missing, [])
        self.assertEqual(decode_message(encode_message(reply)), reply)
        for rows in ([[2, b"m" * 31]], [["2", b"m" * 32]], [proof] + [[2, b"m" * 32]] * MAX_PROOFS):
            with self.assertRaises(MalformedMessage):
                decode_message(_raw(header, zlib.compress(msgpack.packb(rows))))
        with self.assertRaises(ValueError):
            ArchivedReply(1, [], [(0, bytes(32))] * (MAX_PROOFS + 1))

    def test_bounds(self) -> None:
        """
        A request for more than a chunk, or a limit of 0, is refused.
        """
        with self.assertRaises(ValueError):
            BucketGet(1, 0, 0, MAX_CHUNK + 1)
        with self.assertRaises(ValueError):
            BucketList(1, 0, 0)
        with self.assertRaises(MessageTooLarge):
            BucketData(1, 0, 0, 0, b"x" * (MAX_CHUNK + 1))
