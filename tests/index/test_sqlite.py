"""Tests of the sqlite index's synchronous store (L{SqliteStore})."""

from __future__ import annotations

import os
import shutil
import sqlite3
import struct
import tempfile
import zlib
from dataclasses import replace

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from twisted.trial.unittest import SynchronousTestCase

from logship.core.event import Event, encode, pack_origin
from logship.index import IndexUnavailable
from logship.index.sqlite import (
    DELETE_CHUNK,
    GROUP_SHIFT,
    LONG_TOKEN,
    SEQ_MAX,
    SqliteStore,
    _trigrams,
    decode_cursor,
    encode_cursor,
    prepare,
    prepare_serialized,
    sqlite_index_names,
    trigram_text,
)
from logship.core.query import Query
from tests.index.common import (
    BASE,
    SD_QUERIES,
    brute_force,
    corpus_events,
    identities,
    index_events,
    queries,
    sd_events,
    unique,
)


def all_pages(store: SqliteStore, query: Query) -> tuple[list[Event], set[int]]:
    """
    Every page of C{query}, concatenated, and the totals the pages gave.
    """
    found: list[Event] = []
    totals = set()
    cursor = None
    for _ in range(10_000):
        result = store.search(replace(query, cursor=cursor))
        assert len(result.events) <= query.limit
        found.extend(result.events)
        totals.add(result.total)
        cursor = result.next
        if cursor is None:
            return found, totals
        assert len(result.events) == query.limit
    raise AssertionError("paging did not end")


def check_search(test: SynchronousTestCase, store: SqliteStore, query: Query,
                 events: list[Event]) -> None:
    """
    The store's pages, total and count agree with the brute-force search.
    """
    expected = brute_force(query, events)
    found, totals = all_pages(store, query)
    points = [e.point for e in found]
    test.assertEqual(points, sorted(points, reverse=True))
    test.assertEqual(sorted(identities(found)), sorted(identities(expected)))
    test.assertEqual(totals, {len(expected)})
    test.assertEqual(store.count(query), len(expected))


class PropertyTests(SynchronousTestCase):
    """
    Loads are idempotent and searches agree with a brute-force filter.
    """

    @settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(st.lists(index_events(), max_size=40), st.data())
    def test_search_is_brute_force(self, events: list[Event], data: st.DataObject) -> None:
        """
        Loading twice keeps one document per identity; every query's pages
        hold each match once, newest first, and total and count are exact.
        """
        store = SqliteStore(":memory:")
        self.addCleanup(store.close)
        expected = unique(events)
        self.assertEqual(store.load(events), len(expected))
        self.assertEqual(store.load(list(reversed(events))), 0)
        check_search(self, store, Query(limit=1000), events)
        for _ in range(3):
            check_search(self, store, data.draw(queries(expected)), events)

    @settings(max_examples=50, deadline=None)
    @given(st.lists(index_events(), max_size=30), st.integers(0, 2**64 - 1) | st.sampled_from(
        [BASE, BASE + 2**21, BASE + 3 * 2**21 + 5]))
    def test_drop_before(self, events: list[Event], point: int) -> None:
        """
        Retention removes exactly the events before the point, from every
        table: searches over what is left stay exact.
        """
        store = SqliteStore(":memory:")
        self.addCleanup(store.close)
        store.load(events)
        kept = [e for e in unique(events) if e.point >= point]
        self.assertEqual(store.drop_before(point), len(unique(events)) - len(kept))
        self.assertEqual(store.count(Query()), len(kept))
        for e in kept[:3]:
            query = Query(substrings=(e.message[:5].decode("utf-8", "surrogateescape"),))
            check_search(self, store, query, kept)
        # the full-text tables hold no trace of the dropped rows
        self.assertEqual(store.load(events), len(unique(events)) - len(kept))

    @given(st.binary(max_size=40), st.binary(max_size=40), st.binary(max_size=40))
    def test_trigram_prefilter_never_misses(self, a: bytes, s: bytes, b: bytes) -> None:
        """
        Every trigram asked for a substring is in the indexed text of any
        message containing it, whatever bytes surround it.
        """
        text = trigram_text(a + s + b)
        for trigram in _trigrams(s):
            self.assertIn(trigram, text)


def dump(store: SqliteStore) -> list[tuple]:
    """
    Every row of the events and blocks tables, and the FTS5 tables'
    shadow data, of a store.
    """
    db = store._db
    tables = ["events", "blocks", "tokens_data", "tokens_idx", "trigrams_data", "trigrams_idx"]
    return [db.execute(f"SELECT * FROM {t} ORDER BY 1, 2").fetchall() for t in tables]


def as_schema_3(path: str) -> None:
    """
    Turn the closed index at C{path} back into schema 3: the trigram table
    in the main file (made from the messages, as schema 3 kept it), no
    trigram file.
    """
    db = sqlite3.connect(path)
    db.create_function("logship_text", 1, trigram_text)
    db.executescript("""
        CREATE VIRTUAL TABLE trigrams USING fts5 (
            text, tokenize = 'trigram case_sensitive 1', content = '', detail = 'none',
            columnsize = 0
        );
        INSERT INTO trigrams (rowid, text) SELECT id, logship_text(message) FROM events;
        UPDATE meta SET value = 3 WHERE key = 'schema';
    """)
    db.commit()
    db.close()
    for suffix in ("", "-wal", "-shm"):
        if os.path.exists(path + "-trigrams" + suffix):
            os.remove(path + "-trigrams" + suffix)


def forged(point: int, tokens: bytes, message: bytes) -> bytes:
    """
    A serialized event whose message is C{message}, carried whole as the
    one token C{tokens} (an encoder that does not cut as L{tokenize} does);
    C{decode} accepts it since the crc matches.
    """
    assert tokens == message
    head = struct.pack(">BQIB", 1, point, zlib.crc32(message), 7)
    names = b"\x01h\x01a"
    return head + names + b"\x00\x01\x80" + struct.pack(">H", len(tokens)) + tokens + b"\x00\x00"


class SerializedTests(SynchronousTestCase):
    """
    L{SqliteStore.load_serialized} builds the same index as L{SqliteStore.load}.
    """

    @settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(st.lists(index_events(), max_size=40), st.data())
    def test_same_index_as_load(self, events: list[Event], data: st.DataObject) -> None:
        """
        The rows prepared from serialized events are those prepared from the
        decoded events, and the two stores hold the same tables byte for
        byte (events, blocks and both FTS5 indexes); searches agree with the
        brute-force filter.
        """
        records = [encode(e) for e in events]
        self.assertEqual(prepare_serialized(records), (prepare(events), 0, None))
        by_events, by_records = SqliteStore(":memory:"), SqliteStore(":memory:")
        self.addCleanup(by_events.close)
        self.addCleanup(by_records.close)
        self.assertEqual(by_events.load(events), len(unique(events)))
        self.assertEqual(by_records.load_serialized(records), (len(unique(events)), 0, None))
        self.assertEqual(by_records.load_serialized(records[::-1]).new, 0)
        by_events.load(events[::-1])
        self.assertEqual(dump(by_records), dump(by_events))
        check_search(self, by_records, data.draw(queries(unique(events))), events)

    def test_corrupt_skipped(self) -> None:
        """
        Records that do not decode are counted, with the first reason, and
        the others loaded.
        """
        good = [encode(Event(BASE + i, 1, b"h", b"a", b"7", b"ok %d" % i)) for i in range(3)]
        flipped = bytearray(good[1])
        flipped[-1] ^= 1
        store = SqliteStore(":memory:")
        self.addCleanup(store.close)
        loaded = store.load_serialized([good[0], bytes(flipped), b"\x01", good[2]])
        self.assertEqual((loaded.new, loaded.corrupt), (2, 2))
        self.assertIn("crc mismatch", loaded.first_error)
        self.assertEqual(store.count(Query()), 2)

    def test_pids_not_one_word(self) -> None:
        """
        A pid that is not one word is tokenized as L{load} does.
        """
        events = [
            Event(BASE + i, 1, b"h", b"a", pid, message)
            for i, pid in enumerate([b"1", b"a.b", b"x:y", b"-5", b"::", b"\xc3\xa9", b"_"])
            for message in (b"", b"msg here", b"=")
        ]
        records = [encode(e) for e in events]
        self.assertEqual(prepare_serialized(records)[0], prepare(events))

    def test_forged_name_token(self) -> None:
        """
        Stored tokens that could pass for a host or app pseudo-token (the
        tokenizer never begins one with C{@}) are not trusted: the message
        is tokenized again, so a host query does not match it.
        """
        message = b"@h" + b"web1".hex().encode()
        record = forged(BASE, message, message)
        store = SqliteStore(":memory:")
        self.addCleanup(store.close)
        self.assertEqual(store.load_serialized([record]).new, 1)
        self.assertEqual(store.count(Query(hosts=(b"web1",))), 0)
        self.assertEqual(store.count(Query(hosts=(b"h",))), 1)
        self.assertEqual(store.count(Query(terms=(message.decode()[1:],))), 1)

class StoreTests(SynchronousTestCase):
    """
    Examples and edge cases of the store.
    """

    def setUp(self) -> None:
        self.store = SqliteStore(":memory:")
        self.addCleanup(self.store.close)

    def test_round_trip(self) -> None:
        """
        Events come back exactly: invalid UTF-8, NUL, flags, pid, extreme
        points.
        """
        events = [
            Event(0, 255, b"", b"", None, b""),
            Event(2**64 - 1, 0, b"\xff" * 255, b"a" * 255, b"p" * 255, b"\x00\xff\xc3", True, True),
            Event(BASE, 13, b"h", b"sshd", b"1", b"caf\xc3\xa9 \xed\xa0\x80"),
        ]
        self.assertEqual(self.store.load(events), 3)
        found = self.store.search(Query(limit=10)).events
        self.assertEqual(found, sorted(events, key=lambda e: e.point, reverse=True))

    def test_terms(self) -> None:
        """
        Terms are cut like messages and match whole tokens, ASCII case
        ignored; the pid is a token.
        """
        self.store.load([
            Event(BASE, 13, b"h", b"a", b"4242", b"GET /api/v1/items key=value from 10.0.0.1:80"),
            Event(BASE + 1, 13, b"h", b"a", None, b"keys=values 10.0.0.12"),
        ])  # fmt: skip
        def count(*terms: str) -> int:
            return self.store.count(Query(terms=terms))

        self.assertEqual(count("KEY=Value"), 1)
        self.assertEqual(count("10.0.0.1"), 1)
        self.assertEqual(count("4242"), 1)
        self.assertEqual(count("/api/v1/items"), 1)
        self.assertEqual(count("api"), 0)
        self.assertEqual(count("key", "values"), 0)

    def test_long_token_exact(self) -> None:
        """
        Tokens beyond FTS5's 32768-byte limit are compared whole.
        """
        long = b"a" * (LONG_TOKEN + 20000)
        self.store.load([
            Event(BASE, 1, b"h", b"a", None, long + b"b"),
            Event(BASE + 1, 1, b"h", b"a", None, long + b"c"),
        ])  # fmt: skip
        found = self.store.search(Query(terms=((long + b"c").decode(),))).events
        self.assertEqual([e.point for e in found], [BASE + 1])

    def test_substring_short_and_invalid(self) -> None:
        """
        Substrings too short for trigrams, with invalid UTF-8, and with
        FTS5 syntax in them are found by their bytes.
        """
        self.store.load([
            Event(BASE, 1, b"h", b"a", None, b'x\xffy AND "q" OR NEAR(z) *'),
            Event(BASE + 1, 1, b"h", b"a", None, b"xy"),
        ])  # fmt: skip
        for text, n in [("\udcff", 1), ("x", 2), ('"q" OR', 1), ("NEAR(z) *", 1), ("", 2)]:
            self.assertEqual(self.store.count(Query(substrings=(text,))), n, text)

    def test_same_group_ordering(self) -> None:
        """
        Rows of one 2^21-tick group loaded out of order come out by point.
        """
        points = [BASE + 7, BASE + 3, BASE + 9, BASE + 1, BASE + 5]
        for p in points:
            self.store.load([Event(p, 1, b"h", b"a", None, b"m")])
        result = self.store.search(Query(limit=2))
        self.assertEqual([e.point for e in result.events], [BASE + 9, BASE + 7])
        rest = self.store.search(Query(limit=10, cursor=result.next))
        self.assertEqual([e.point for e in rest.events], [BASE + 5, BASE + 3, BASE + 1])
        self.assertIsNone(rest.next)

    def test_group_full(self) -> None:
        """
        A group takes at most 2^20 rows; beyond, load refuses (and keeps
        nothing of that batch).
        """
        group = BASE >> GROUP_SHIFT << GROUP_SHIFT
        self.store._db.execute(
            "INSERT INTO events VALUES (?, 0, x'', x'', 0, 0, NULL, 0, x'', '', x'00')",
            ((group >> GROUP_SHIFT) << 20 | SEQ_MAX,),
        )
        with self.assertRaises(ValueError):
            self.store.load([Event(group + 5, 1, b"h", b"a", None, b"m")])
        self.assertEqual(self.store.count(Query(terms=("m",))), 0)

    def test_empty_ranges(self) -> None:
        """
        An empty or inverted time range finds nothing.
        """
        self.store.load([Event(BASE, 1, b"h", b"a", None, b"m")])
        for start, end in [(BASE, BASE), (BASE + 1, BASE), (None, 0), (BASE + 1, None)]:
            q = Query(start=start, end=end)
            self.assertEqual(self.store.search(q).events, [])
            self.assertEqual(self.store.count(q), 0)

    def test_cursor(self) -> None:
        """
        Cursors round-trip; anything else is a ValueError.
        """
        self.assertEqual(decode_cursor(encode_cursor(-5, 7)), (-5, 7))
        for bad in ["", "abc", encode_cursor(1, 2)[:-2], "!!!!"]:
            with self.assertRaises(ValueError):
                self.store.search(Query(cursor=bad))

    def test_drop_in_chunks(self) -> None:
        """
        Retention deletes in several transactions when there is much to
        delete.
        """
        events = [Event(BASE + i, 1, b"h", b"a", None, b"m %d" % i) for i in range(DELETE_CHUNK + 5)]
        self.store.load(events)
        self.assertEqual(self.store.drop_before(BASE + DELETE_CHUNK + 2), DELETE_CHUNK + 2)
        self.assertEqual(self.store.count(Query(terms=("m",))), 3)
        self.assertEqual(self.store.count(Query(start=BASE, end=BASE + 10**9)), 3)


class CorpusTests(SynchronousTestCase):
    """
    Real logs from the shared corpus.
    """

    def test_corpus(self) -> None:
        """
        The corpus logs load once, and typical queries agree with a brute
        force search over them.
        """
        events = [e for name in ("OpenSSH_2k.log", "Linux_2k.log") for e in corpus_events(name)]
        store = SqliteStore(":memory:")
        self.addCleanup(store.close)
        self.assertEqual(store.load(events), len(unique(events)))
        self.assertEqual(store.load(events), 0)
        points = sorted(e.point for e in events)
        for query in [
            Query(terms=("Failed", "password"), limit=50),
            Query(terms=("173.234.31.186",), limit=7),
            Query(substrings=("authentication failure",), limit=100),
            Query(substrings=("Invalid user",), apps=(b"sshd",), limit=100),
            Query(start=points[500], end=points[900], terms=("root",), limit=30),
            Query(start=points[100], end=points[3000], limit=500),
            Query(hosts=(b"LabSZ",), terms=("preauth",), limit=200),
        ]:
            check_search(self, store, query, events)


class FileTests(SynchronousTestCase):
    """
    The database file: creation, reopening, refusal.
    """

    def mktemp(self) -> str:
        """
        A fresh path in a temporary directory removed after the test.
        """
        directory = tempfile.mkdtemp(prefix="logship-index-test-")
        self.addCleanup(shutil.rmtree, directory)
        return os.path.join(directory, "x")

    def test_reopen_and_destroy(self) -> None:
        """
        A store reopened sees what was loaded; destroy removes the files.
        """
        path = os.path.join(self.mktemp() + "d", "recent.sqlite")
        os.makedirs(os.path.dirname(path))
        store = SqliteStore(path)
        store.load([Event(BASE, 1, b"h", b"a", None, b"m")])
        store.close()
        store = SqliteStore(path, create=False)
        self.assertEqual(store.count(Query()), 1)
        self.assertEqual(sqlite_index_names(os.path.dirname(path)), ["recent"])
        store.destroy()
        self.assertEqual(os.listdir(os.path.dirname(path)), [])

    def test_other_schema_version(self) -> None:
        """
        A database of a schema version this code cannot upgrade (1: before
        the one-column tokens table) is refused, not misread.
        """
        path = self.mktemp()
        SqliteStore(path).close()
        db = sqlite3.connect(path)
        db.execute("UPDATE meta SET value = 1 WHERE key = 'schema'")
        db.commit()
        db.close()
        with self.assertRaisesRegex(IndexUnavailable, "schema version 1, this logship reads 5"):
            SqliteStore(path, create=False)

    def test_upgrade_from_schema_2(self) -> None:
        """
        An index of schema 2 (identity columns, no origins) is upgraded in
        place: its events keep their identity (loading them again adds
        nothing), and events with origins are added beside them, identical
        lines included.
        """
        path = self.mktemp()
        old = [Event(BASE + i, 1, b"h", b"a", None, b"same line") for i in range(3)]
        store = SqliteStore(path)
        store.load(old)
        store.close()
        as_schema_3(path)
        db = sqlite3.connect(path)
        # back to the schema-2 events table and its identity index
        db.executescript("""
            DROP INDEX events_ident;
            ALTER TABLE events DROP COLUMN ident;
            CREATE UNIQUE INDEX events_identity ON events (point, shn, app, crc);
            UPDATE meta SET value = 2 WHERE key = 'schema';
        """)
        db.commit()
        db.close()
        store = SqliteStore(path, create=False)
        self.addCleanup(store.close)
        self.assertEqual(store.count(Query()), 3)
        self.assertEqual(store.load(old), 0)
        new = [replace(e, origin=pack_origin(1, 0, 10 * i)) for i, e in enumerate(old)]
        self.assertEqual(store.load(new), 3)
        self.assertEqual(store.load(new), 0)
        found = store.search(Query(terms=("same",)))
        self.assertEqual(sorted(e.origin for e in found.events), sorted([b""] * 3 + [
            e.origin for e in new]))

    def test_upgrade_from_schema_3(self) -> None:
        """
        An index of schema 3 (the trigram table in the main file) is
        upgraded in place: the trigram table moves to its own file, made
        from the messages, and substring queries find what they found; a
        reopened index is not upgraded again.
        """
        path = self.mktemp()
        events = corpus_events("OpenSSH_2k.log")[:300]
        store = SqliteStore(path)
        store.load(events)
        store.close()
        as_schema_3(path)
        self.assertFalse(os.path.exists(path + "-trigrams"))
        for _ in range(2):
            store = SqliteStore(path, create=False)
            self.assertEqual(store._db.execute(
                "SELECT value FROM meta WHERE key = 'schema'").fetchone(), (5,))
            self.assertIsNone(store._db.execute(
                "SELECT 1 FROM main.sqlite_master WHERE name = 'trigrams'").fetchone())
            for e in events[:: 60]:
                query = Query(substrings=(e.message[3:15].decode("utf-8", "surrogateescape"),))
                check_search(self, store, query, events)
            store.close()
            self.assertTrue(os.path.exists(path + "-trigrams"))

    def test_sd_terms(self) -> None:
        """
        C{sd.ID.PARAM:VALUE} terms find the structured events with that
        parameter (escapes undone, exact value), alone or with other terms,
        as L{Query.matches} says; loaded events and serialized ones alike.
        """
        path = self.mktemp()
        store = SqliteStore(path)
        self.addCleanup(store.close)
        events = sd_events()
        store.load(events[:2])
        store.load_serialized([encode(e) for e in events[2:]])
        for terms in SD_QUERIES:
            check_search(self, store, Query(terms=terms), events)
        found = store.search(Query(terms=("sd.origin.software:rsyslogd",)))
        self.assertEqual(len(found.events), 2)

    def test_upgrade_from_schema_4(self) -> None:
        """
        An index of schema 4 (no SD pseudo-tokens) is upgraded in place:
        its structured events get them, and SD terms find them; the other
        rows and terms are as they were.
        """
        path = self.mktemp()
        events = sd_events()
        store = SqliteStore(path)
        store.load(events)
        store.close()
        db = sqlite3.connect(path)
        for row_id, toks, shn, app in db.execute(
                "SELECT id, toks, shn, app FROM events").fetchall():
            bare = " ".join(t for t in toks.split(" ") if not t.startswith("@s"))
            names = f" @h{shn.hex()} @a{app.hex()}"
            db.execute("INSERT INTO tokens (tokens, rowid, toks) VALUES ('delete', ?, ?)",
                       (row_id, toks + names))
            db.execute("INSERT INTO tokens (rowid, toks) VALUES (?, ?)", (row_id, bare + names))
            db.execute("UPDATE events SET toks = ? WHERE id = ?", (bare, row_id))
        db.execute("UPDATE meta SET value = 4 WHERE key = 'schema'")
        db.commit()
        db.close()
        os.remove(path + "-trigrams")  # and its trigram file gone: made again
        store = SqliteStore(path, create=False)
        self.addCleanup(store.close)
        for terms in SD_QUERIES:
            check_search(self, store, Query(terms=terms), events)
        check_search(self, store, Query(substrings=("software=",)), events)

    def test_trigram_file_made_again(self) -> None:
        """
        A schema-4 index whose trigram file is gone gets it made again from
        the messages: substring queries still find every match.
        """
        path = self.mktemp()
        events = corpus_events("Linux_2k.log")[:200]
        store = SqliteStore(path)
        store.load(events)
        store.close()
        for suffix in ("", "-wal", "-shm"):
            if os.path.exists(path + "-trigrams" + suffix):
                os.remove(path + "-trigrams" + suffix)
        store = SqliteStore(path, create=False)
        self.addCleanup(store.close)
        for e in events[:: 50]:
            query = Query(substrings=(e.message[2:12].decode("utf-8", "surrogateescape"),))
            check_search(self, store, query, events)

    def test_missing_or_not_an_index(self) -> None:
        """
        Without C{create}, a missing file is refused; a file that is not a
        logship index is refused either way.
        """
        path = self.mktemp()
        with self.assertRaises(IndexUnavailable):
            SqliteStore(path, create=False)
        with open(path, "wb") as f:
            f.write(b"not a database" * 100)
        with self.assertRaises(IndexUnavailable):
            SqliteStore(path)
        other = self.mktemp()
        sqlite3.connect(other).execute("CREATE TABLE t (x)").connection.close()
        with self.assertRaises(IndexUnavailable):
            SqliteStore(other, create=False)
        # and nothing is made beside what is refused
        self.assertFalse(os.path.exists(path + "-trigrams"))
        self.assertFalse(os.path.exists(other + "-trigrams"))


class TotalCapTests(SynchronousTestCase):
    """
    Search totals of substring queries stop at TOTAL_CAP; count does not.
    """

    def test_cap(self) -> None:
        """
        Beyond the cap, total is the cap and marked inexact.
        """
        from logship.index import sqlite

        self.patch(sqlite, "TOTAL_CAP", 5)
        store = SqliteStore(":memory:")
        self.addCleanup(store.close)
        store.load([Event(BASE + i, 1, b"h", b"a", None, b"needle %d" % i) for i in range(8)])
        result = store.search(Query(substrings=("needle",), limit=2))
        self.assertEqual((result.total, result.total_exact), (5, False))
        self.assertEqual(store.count(Query(substrings=("needle",))), 8)
        exact = store.search(Query(substrings=("needle 3",)))
        self.assertEqual((exact.total, exact.total_exact), (1, True))
