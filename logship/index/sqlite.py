"""The embedded index: one SQLite database per index, C{DIR/<name>.sqlite}.

L{SqliteStore} does the work synchronously (one connection, used by one
thread); L{SqliteIndex} provides L{IIndex} by running a store on one
dedicated worker thread.  The schema and the reasons for it are in
C{docs/index.md}; in short:

  - C{events}: one row per event, the message as a BLOB (byte for byte),
    and its identity (L{logship.core.event.Event.identity}, which holds
    the origin) in a column with a unique index, so that C{INSERT OR
    IGNORE} makes loads idempotent.
  - The row id is a time key: C{(point >> 21) << 20 | seq}, where C{seq}
    counts the rows of one 2^21-tick group (about 21 ms).  Row id order is
    point order up to the group, so the full-text tables, which give row
    ids in order, give candidates newest first, and a query stops reading
    as soon as one group past the page is reached.  Time ranges become row
    id ranges, which FTS5 applies inside its doclists.
  - C{tokens}: an FTS5 table (C{ascii} tokenizer, C{detail=none}, no
    column sizes) of the event's tokens as L{logship.core.tokenize} cut them,
    each stored as Latin-1 text so that every byte value is one character
    and FTS5 keeps each token whole, plus a pseudo-token C{@h<hex>} for the
    host and C{@a<hex>} for the app (no token begins with C{@}), so that
    term, host and app conditions are one FTS5 query.
  - C{trigrams}: an FTS5 C{trigram} table over the message decoded as UTF-8
    (invalid bytes replaced), a prefilter for substrings; each candidate is
    checked with C{instr} on the message bytes, so results are exact.  It
    lives in a database file of its own, C{DIR/<name>.sqlite-trigrams}
    (attached as C{tg}), written during a load by a second connection on a
    thread of its own, in parallel with the C{events} and C{tokens} rows,
    and committed first: the trigram table always holds at least the
    events of the main file (a stale trigram row only adds a candidate that
    C{instr} rejects).
  - The STRUCTURED-DATA parameters of an event are pseudo-tokens C{@s<hex>}
    (L{sd_token}) in C{toks} too, so an C{sd.ID.PARAM:VALUE} term is one
    more FTS5 term.
  - C{blocks}: the number of events per 2^33-tick block (86 s), so that
    counting a time range reads two edge blocks, not the range.
"""

from __future__ import annotations

import base64
import hashlib
import itertools
import json
import os
import sqlite3
import struct
import zlib
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeAlias, TypeVar

from twisted.internet.defer import Deferred, ensureDeferred
from twisted.internet.threads import deferToThreadPool
from twisted.logger import Logger
from twisted.python.threadpool import ThreadPool
from zope.interface import implementer

from logship.core import tokenize
from logship.core.event import (
    FLAG_PID,
    CorruptEvent,
    Event,
    decode,
    identity_key,
    legacy_identity,
    origin_of_identity,
    tokens_field,
)
from logship.index import IIndex, IndexUnavailable, Loaded, check_name
from logship.core.parse import PRI_NONE, structured_parts
from logship.core.query import Query, SearchResult, sd_triples

T = TypeVar("T")

#: A row for the C{events} table as L{prepare} gives it (no row id yet),
#: or one read back from it.
Row: TypeAlias = tuple[Any, ...]
#: What preparing a chunk gives: its rows, how many records were corrupt,
#: and the first one's reason.
Prepared: TypeAlias = tuple[list[Row], int, str | None]

#: Points are u64, SQLite integers i64: points are stored minus this.
OFFSET = 1 << 63

#: Bits of a point below the row id's group.
GROUP_SHIFT = 21
#: Bits of the row id that count rows within a group.
SEQ_BITS = 20
SEQ_MAX = (1 << SEQ_BITS) - 1
#: Bits of a point below a counted block (C{blocks} table).
BLOCK_SHIFT = 33
#: A block in row id bits.
_BLOCK_ID_SHIFT = BLOCK_SHIFT - GROUP_SHIFT + SEQ_BITS
MAX_ID = (1 << 63) - 1

#: Tokens longer than this (in characters) are also checked exactly: FTS5
#: keeps only the first 32768 bytes of a token.
LONG_TOKEN = 16000

#: At most this many trigrams of one substring are asked of the index.
MAX_TRIGRAMS = 24

#: L{SqliteStore.search} counts at most this many matches for C{total}
#: when each candidate must be checked (substrings); L{SqliteStore.count}
#: is always exact.
TOTAL_CAP = 10_000

#: Events per transaction of L{SqliteIndex.load}.
LOAD_CHUNK = 10000

#: Rows deleted per transaction by L{SqliteStore.drop_before}.
DELETE_CHUNK = 20000

SCHEMA_VERSION = 5

#: The schema versions L{SqliteStore} upgrades in place when it opens them.
UPGRADABLE = (2, 3, 4)

#: What the trigram table's database file adds to the index's file name.
TRIGRAM_SUFFIX = "-trigrams"

FLAG_CONTINUED = 1
FLAG_STRUCTURED = 2

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value);
CREATE TABLE IF NOT EXISTS events (
    id INTEGER PRIMARY KEY,
    point INTEGER NOT NULL,
    shn BLOB NOT NULL,
    app BLOB NOT NULL,
    crc INTEGER NOT NULL,
    pri INTEGER NOT NULL,
    pid BLOB,
    flags INTEGER NOT NULL,
    message BLOB NOT NULL,
    toks TEXT NOT NULL,
    ident BLOB NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS events_ident ON events (ident);
CREATE VIRTUAL TABLE IF NOT EXISTS tokens USING fts5 (
    toks, tokenize = "ascii tokenchars '_.-/@:%'", content = '', detail = 'none',
    columnsize = 0
);
CREATE TABLE IF NOT EXISTS blocks (block INTEGER PRIMARY KEY, n INTEGER NOT NULL);
"""

#: The trigram table, in its own file (schema C{tg}).
_TRIGRAM_TABLE = """
CREATE VIRTUAL TABLE tg.trigrams USING fts5 (
    text, tokenize = 'trigram case_sensitive 1', content = '', detail = 'none',
    columnsize = 0
)
"""

#: FTS5 collects this many bytes of new index data before writing a
#: segment: big enough that a load of tens of thousands of events makes one.
FTS_HASHSIZE = 32 << 20


_COLUMNS = "e.id, e.point, e.pri, e.shn, e.app, e.pid, e.flags, e.message, e.ident"


def trigram_text(message: bytes) -> str:
    """
    The text the trigram table indexes for a message: UTF-8 with invalid
    bytes replaced by U+FFFD, and NUL too.

    A valid UTF-8 substring of the message bytes is always a substring of
    this text (a decoder restarts at a byte that begins a character and
    finishes a complete character without looking ahead).
    """
    return message.decode("utf-8", "replace").replace("\x00", "\ufffd")


def tokens_text(event: Event) -> str:
    """
    The C{toks} column of an event: its pid's and its message's tokens,
    Latin-1 decoded (one character per byte), joined by spaces, then its
    SD pseudo-tokens (L{sd_text}).
    """
    pid = tokenize.tokens(event.pid) if event.pid else []
    text = b" ".join(pid + tokenize.tokens(event.message)).decode("latin-1")
    return text + sd_text(event.message, event.structured)


def sd_token(sd_id: str, name: str, value: str) -> str:
    """
    The pseudo-token of one SD parameter: C{@s} and a 128-bit BLAKE2b
    digest of C{ID NUL NAME NUL VALUE} (UTF-8) in hex.  No token of
    L{logship.core.tokenize} begins with C{@}, so it never meets a term.
    """
    key = "\0".join((sd_id, name, value)).encode("utf-8", "surrogateescape")
    return "@s" + hashlib.blake2b(key, digest_size=16).hexdigest()


def sd_text(message: bytes, structured: bool) -> str:
    """
    What the SD of a message adds to C{toks}: C{" @s<hex>"} per parameter
    (L{sd_token}), or C{""}.
    """
    if not structured:
        return ""
    sd = structured_parts(message, structured)[1]
    return "".join(" " + sd_token(*t) for t in sd_triples(sd)) if sd else ""


def names_text(shn: bytes, app: bytes) -> str:
    """
    The pseudo-tokens of the host and app in the C{tokens} table:
    C{" @h<hex of shn> @a<hex of app>"}.  No token of L{logship.core.tokenize}
    begins with C{@}, so they never meet a term.
    """
    return f" @h{shn.hex()} @a{app.hex()}"


def prepare(events: Iterable[Event]) -> list[Row]:
    """
    The rows of C{events} for L{SqliteStore.write}, without row ids: the
    Python work of a load (tokenizing, decoding), which needs no database
    and so can run on another thread while the previous batch is written.

    @return: C{(stored point, shn, app, crc, pri, pid, flags, message,
        tokens text, identity, text of the tokens table, trigram text)} per
        event.
    """
    rows = []
    for e in events:
        flags = (FLAG_CONTINUED if e.continued else 0) | (FLAG_STRUCTURED if e.structured else 0)
        toks = tokens_text(e)
        rows.append((
            e.point - OFFSET, e.shn, e.app, zlib.crc32(e.message), e.pri, e.pid, flags,
            e.message, toks, e.identity, toks + names_text(e.shn, e.app),
            trigram_text(e.message),
        ))  # fmt: skip
    return rows


def prepare_serialized(records: Iterable[bytes]) -> Prepared:
    """
    Like L{prepare} for serialized events (L{logship.core.event.encode}), taking
    the message's tokens as the event carries them instead of cutting the
    message again.  Each event is decoded and its crc checked, as
    L{logship.core.event.decode} does; corrupt ones are skipped.

    The tokens are those L{logship.core.tokenize} gave when the event was
    encoded: the same as tokenizing again as long as the tokenizer rule is
    the one that encoded it.  A record whose stored tokens could stand for
    a host or app (a token beginning with C{@}, which the tokenizer never
    makes) is tokenized again.

    @return: C{(rows, corrupt, first_error)}: the rows as L{prepare} gives
        them, how many records were corrupt, and the first one's reason.
    """
    rows: list[Row] = []
    append = rows.append
    corrupt = 0
    first_error = None
    pid_tokens = _pid_tokens
    for data in records:
        try:
            e = decode(data)
        except CorruptEvent as error:
            corrupt += 1
            if first_error is None:
                first_error = str(error)
            continue
        toks = tokens_field(data)
        pid = e.pid
        if data[0] & FLAG_PID and pid is not None and not pid.isalnum():
            rest = toks[len(pid) + 1 :]
            toks = b" ".join([*pid_tokens(pid), rest]) if rest else b" ".join(pid_tokens(pid))
        if toks[:1] == b"@" or b" @" in toks:
            text = tokens_text(e)
        elif e.structured:
            text = toks.decode("latin-1") + sd_text(e.message, True)
        else:
            text = toks.decode("latin-1")
        flags = (FLAG_CONTINUED if e.continued else 0) | (FLAG_STRUCTURED if e.structured else 0)
        message = e.message
        shn, app = e.shn, e.app
        append((
            e.point - OFFSET, shn, app, data[9] << 24 | data[10] << 16 | data[11] << 8 | data[12],
            e.pri, e.pid, flags, message, text, identity_key(data),
            f"{text} @h{shn.hex()} @a{app.hex()}", trigram_text(message),
        ))  # fmt: skip
    return rows, corrupt, first_error


def _pid_tokens(pid: bytes) -> list[bytes]:
    """
    The tokens of a pid that is not one word (rare).
    """
    return tokenize.tokens(pid)


def _fts_string(text: str) -> str:
    """
    An FTS5 string literal.
    """
    return '"' + text.replace('"', '""') + '"'


def _trigrams(substring: bytes) -> list[str]:
    """
    The trigrams the index can be asked for a substring: those of each run
    of at least three characters of its valid UTF-8 parts (the parts an
    indexed message's L{trigram_text} must contain), at most
    L{MAX_TRIGRAMS}, spread over the runs.
    """
    text = substring.decode("utf-8", "surrogateescape")
    runs: list[str] = []
    run: list[str] = []
    for c in text:
        if c == "\x00" or "\udc80" <= c <= "\udcff":
            runs.append("".join(run))
            run = []
        else:
            run.append(c)
    runs.append("".join(run))
    found = list(dict.fromkeys(r[i : i + 3] for r in runs for i in range(len(r) - 2)))
    if len(found) > MAX_TRIGRAMS:
        step = len(found) / MAX_TRIGRAMS
        found = [found[int(i * step)] for i in range(MAX_TRIGRAMS)]
    return found


def encode_cursor(point: int, row_id: int) -> str:
    """
    The opaque cursor after the row C{row_id} at C{point} (stored form).
    """
    return base64.urlsafe_b64encode(struct.pack(">BqQ", 1, point, row_id)).decode()


def decode_cursor(cursor: str) -> tuple[int, int]:
    """
    The stored point and row id of a cursor.

    @raise ValueError: not a cursor of this backend.
    """
    try:
        version, point, row_id = struct.unpack(">BqQ", base64.urlsafe_b64decode(cursor))
    except (ValueError, struct.error, TypeError):
        raise ValueError(f"bad cursor {cursor!r}") from None
    if version != 1 or row_id > MAX_ID:
        raise ValueError(f"bad cursor {cursor!r}")
    return point, row_id


def _group_ids(point: int) -> tuple[int, int]:
    """
    The first and last row id of the group of C{point}.
    """
    first = (point >> GROUP_SHIFT) << SEQ_BITS
    return first, first | SEQ_MAX


class _Plan:
    """
    The SQL of one query: where candidates come from and what they must
    satisfy, for an id range given when it is run.
    """

    def __init__(self, query: Query) -> None:
        self.query = query
        self.params: dict[str, Any] = {}
        self.where: list[str] = []
        tq = self._token_match(query)
        gq = self._trigram_match(query)
        if gq is not None:
            self.source = "tg.trigrams g CROSS JOIN events e ON e.id = g.rowid"
            self.key = "g.rowid"
            self.where.append("trigrams MATCH :gq")
            self.params["gq"] = gq
            if tq is not None:
                self.where.append(
                    "EXISTS (SELECT 1 FROM tokens t WHERE tokens MATCH :tq AND t.rowid = e.id)"
                )
        elif tq is not None:
            self.source = "tokens t CROSS JOIN events e ON e.id = t.rowid"
            self.key = "t.rowid"
            self.where.append("tokens MATCH :tq")
        else:
            self.source = "events e"
            self.key = "e.id"
        if tq is not None:
            self.params["tq"] = tq
        self.exact: list[str] = []
        for i, s in enumerate(query.substring_bytes()):
            self.exact.append(f"instr(e.message, :s{i}) > 0")
            self.params[f"s{i}"] = s
        for i, token in enumerate(query.tokens()):
            if len(token) > LONG_TOKEN:
                self.exact.append(
                    f"instr(' ' || lower(e.toks) || ' ', :lt{i}) > 0"
                )
                self.params[f"lt{i}"] = " " + token.decode("latin-1") + " "
        severity = query.severity()
        if severity is not None:
            self.exact.append(f"e.pri != {PRI_NONE} AND (e.pri & 7) <= :sev")
            self.params["sev"] = severity
        if query.start is not None:
            self.exact.append("+e.point >= :ps")
            self.params["ps"] = query.start - OFFSET
        if query.end is not None:
            self.exact.append("+e.point < :pe")
            self.params["pe"] = query.end - OFFSET
        self.tq = tq

    @staticmethod
    def _token_match(query: Query) -> str | None:
        parts = [_fts_string(t.decode("latin-1")) for t in query.tokens()]
        parts += [_fts_string(sd_token(*c)) for c in query.sd()]
        for prefix, names in (("@h", query.hosts), ("@a", query.apps)):
            if names:
                alternatives = " OR ".join(_fts_string(prefix + n.hex()) for n in names)
                parts.append(f"({alternatives})")
        return " AND ".join(parts) if parts else None

    @staticmethod
    def _trigram_match(query: Query) -> str | None:
        found = [t for s in query.substring_bytes() for t in _trigrams(s)]
        found = list(dict.fromkeys(found))
        return " AND ".join(map(_fts_string, found)) if found else None

    def id_range(self) -> tuple[int, int]:
        """
        The row ids that can hold a match.
        """
        q = self.query
        lo = 0 if q.start is None else _group_ids(q.start)[0]
        hi = MAX_ID if q.end is None else (_group_ids(q.end - 1)[1] if q.end > 0 else -1)
        return lo, hi

    def exact_beyond_time(self) -> bool:
        """
        Whether candidates need a check other than their point (substrings,
        long tokens): then counts read every candidate.
        """
        return any(not c.startswith("+e.point") for c in self.exact)

    def select(self, columns: str, lo: int, hi: int, extra: Sequence[str] = (),
               order: bool = True) -> str:
        """
        The SELECT of the candidates with ids in C{[lo, hi]}.
        """
        where = [*self.where, f"{self.key} BETWEEN {int(lo)} AND {int(hi)}", *self.exact, *extra]
        sql = f"SELECT {columns} FROM {self.source} WHERE {' AND '.join(where)}"
        return sql + f" ORDER BY {self.key} DESC" if order else sql


class SqliteStore:
    """
    One index in one SQLite database (and its trigram table's file), used
    synchronously by one thread.

    During a load, the trigram rows are written by a second connection on a
    thread of the store's own, while the calling thread writes the events
    and tokens rows; L{commit} waits for them and commits the trigram file
    first.

    @ivar path: the database file.
    """

    _log = Logger()

    def __init__(self, path: str | os.PathLike[str], *, create: bool = True,
                 cache_mib: int = 64, synchronous: str = "FULL") -> None:
        """
        Open (and by default create) the database.

        @param path: the database file, C{DIR/<name>.sqlite}; the trigram
            table is in C{DIR/<name>.sqlite-trigrams}.  C{":memory:"} keeps
            both in memory.
        @param create: create the file and its schema if missing; else a
            missing file raises L{IndexUnavailable}.
        @param cache_mib: SQLite's page cache size (of each file).
        @param synchronous: SQLite's C{synchronous} setting; C{FULL} makes a
            finished load survive a power cut.
        @raise IndexUnavailable: the file cannot be opened or is not an index.
        """
        self.path = Path(path)
        if not create and not self.path.is_file():
            raise IndexUnavailable(f"{self.path}: no such index")
        memory = str(path) == ":memory:"
        self._trigram_file = (
            f"file:logship-trigrams-{next(_MEMORY_NAMES)}?mode=memory&cache=shared"
            if memory else trigram_path(self.path)
        )
        self._memory = memory
        self._tg: sqlite3.Connection  # the trigram file's, once the main file is an index
        self._tg_writer = ThreadPoolExecutor(1, thread_name_prefix="logship-trigrams")
        self._tg_pending: list[Future[Any]] = []
        try:
            self._db = sqlite3.connect(path, isolation_level=None, uri=memory)
        except sqlite3.Error as e:
            self._tg_writer.shutdown()
            raise IndexUnavailable(f"{self.path}: cannot open: {e}") from None
        self._db.create_function("logship_text", 1, trigram_text, deterministic=True)
        try:
            self._setup(cache_mib, synchronous, create)
        except (sqlite3.Error, IndexUnavailable) as e:
            self._close_connections()
            if isinstance(e, IndexUnavailable):
                raise
            raise IndexUnavailable(f"{self.path}: {e}") from None

    def _setup(self, cache_mib: int, synchronous: str, create: bool) -> None:
        db = self._db
        settings = ["PRAGMA journal_mode = WAL", f"PRAGMA synchronous = {synchronous}",
                    f"PRAGMA cache_size = {-1024 * int(cache_mib)}"]
        for setting in settings:
            db.execute(setting)
        db.execute("PRAGMA temp_store = MEMORY")
        version = None
        is_index = bool(db.execute("SELECT 1 FROM main.sqlite_master WHERE name = 'meta'").fetchone())
        if is_index:
            row = db.execute("SELECT value FROM meta WHERE key = 'schema'").fetchone()
            version = row and row[0]
            if version not in UPGRADABLE and version != SCHEMA_VERSION:
                raise IndexUnavailable(
                    f"{self.path}: schema version {version}, this logship reads {SCHEMA_VERSION}"
                )
        elif not create:
            raise IndexUnavailable(f"{self.path}: not a logship index")
        # an index (or one to make): its trigram file beside it
        self._tg = sqlite3.connect(self._trigram_file, isolation_level=None, uri=self._memory,
                                   check_same_thread=False)
        for setting in settings:
            self._tg.execute(setting)
        db.execute("ATTACH DATABASE ? AS tg", (str(self._trigram_file),))
        if is_index:
            if version in UPGRADABLE:
                self._upgrade(version)
            if not self._has_trigram_table():
                self._log.warn("{path}: the trigram table's file is missing: made again",
                               path=str(self.path))
                self._fill_trigrams()
        else:
            self._fill_trigrams()
            with self._transaction():
                for statement in _SCHEMA.split(";"):
                    if statement.strip():
                        db.execute(statement)
                db.execute("INSERT INTO meta VALUES ('schema', ?)", (SCHEMA_VERSION,))
                db.execute("INSERT INTO tokens (tokens, rank) VALUES ('hashsize', ?)",
                           (FTS_HASHSIZE,))

    def _has_trigram_table(self) -> bool:
        return bool(self._db.execute(
            "SELECT 1 FROM tg.sqlite_master WHERE name = 'trigrams'").fetchone())

    def _fill_trigrams(self) -> None:
        """
        Make the trigram table anew in its file, from the messages of the
        C{events} table if there is one, in one transaction of that file.
        """
        db = self._db
        with self._transaction():
            db.execute("DROP TABLE IF EXISTS tg.trigrams")
            db.execute(_TRIGRAM_TABLE)
            db.execute("INSERT INTO tg.trigrams (trigrams, rank) VALUES ('hashsize', ?)",
                       (FTS_HASHSIZE,))
            if db.execute("SELECT 1 FROM main.sqlite_master WHERE name = 'events'").fetchone():
                db.execute("INSERT INTO tg.trigrams (rowid, text)"
                           " SELECT id, logship_text(message) FROM events")

    def _upgrade(self, version: int) -> None:
        """
        Bring a schema-2, 3 or 4 index to schema 5.

        2 to 3, in one transaction: its events (all of format version 1,
        without origins) get their identity column, and the unique index
        moves to it.  3 to 4: the trigram table is made in its own file
        from the messages, that file committed, then the old table dropped
        and the version set in one transaction of the main file (a crash
        in between leaves a schema-3 index, upgraded again when opened).
        4 to 5, in one transaction: the structured events get their SD
        pseudo-tokens (L{sd_text}) in C{toks} and the C{tokens} table.
        """
        self._log.info("Upgrading {path} from schema {version} to {schema}",
                       path=str(self.path), version=version, schema=SCHEMA_VERSION)
        db = self._db
        if version == 2:
            db.create_function("logship_legacy_identity", 4, _legacy_identity,
                               deterministic=True)
            with self._transaction():
                db.execute("ALTER TABLE events ADD COLUMN ident BLOB NOT NULL DEFAULT x''")
                db.execute(
                    "UPDATE events SET ident = logship_legacy_identity(point, shn, app, crc)"
                )
                db.execute("DROP INDEX events_identity")
                db.execute("CREATE UNIQUE INDEX events_ident ON events (ident)")
                db.execute("UPDATE meta SET value = 3 WHERE key = 'schema'")
        if version in (2, 3):
            self._fill_trigrams()
            with self._transaction():
                db.execute("DROP TABLE main.trigrams")
                db.execute("UPDATE meta SET value = 4 WHERE key = 'schema'")
        with self._transaction():
            for row_id, shn, app, message, toks in db.execute(
                f"SELECT id, shn, app, message, toks FROM events WHERE flags & {FLAG_STRUCTURED}"
            ).fetchall():
                extra = sd_text(message, True)
                if extra:
                    names = names_text(shn, app)
                    db.execute("INSERT INTO tokens (tokens, rowid, toks) VALUES ('delete', ?, ?)",
                               (row_id, toks + names))
                    db.execute("UPDATE events SET toks = ? WHERE id = ?", (toks + extra, row_id))
                    db.execute("INSERT INTO tokens (rowid, toks) VALUES (?, ?)",
                               (row_id, toks + extra + names))
            db.execute("UPDATE meta SET value = ? WHERE key = 'schema'", (SCHEMA_VERSION,))

    def _transaction(self) -> "_Transaction":
        return _Transaction(self._db)

    # -- loading -----------------------------------------------------------

    def load(self, events: Iterable[Event]) -> int:
        """
        Add events, in one transaction; events already present (by
        identity) are left as they are.  Equivalent to
        C{self.write(prepare(events))}.

        @return: how many events were new.
        @raise ValueError: more than 2^20 rows in one group of 2^21 ticks
            (about 21 ms), counting reloads of events already present.
        """
        return self.write(prepare(events))

    def load_serialized(self, records: Iterable[bytes]) -> Loaded:
        """
        Add serialized events (L{logship.core.event.encode}), in one
        transaction, as L{load} would add them decoded, but taking their
        tokens as stored (L{prepare_serialized}); corrupt records are
        skipped and counted.

        @raise ValueError: as L{load}.
        """
        rows, corrupt, first_error = prepare_serialized(records)
        return Loaded(self.write(rows), corrupt, first_error)

    def write(self, prepared: Sequence[Row]) -> int:
        """
        Add events made ready by L{prepare}, in one transaction (or in the
        one L{begin} opened).

        @return: how many events were new.
        @raise ValueError: as L{load}.
        """
        if not prepared:
            return 0
        own = not self._db.in_transaction
        if own:
            self.begin()
        try:
            new = self._write(prepared)
        except BaseException:
            if own:
                self.rollback()
            raise
        if own:
            self.commit()
        self._log.debug("Loaded {new} new of {sent} events into {path}",
                        new=new, sent=len(prepared), path=str(self.path))
        return new

    def _write(self, prepared: Sequence[Row]) -> int:
        db = self._db
        # columns, not rows: the statements below take their parameters
        # from zip() objects, so no Python code runs per row
        columns: list[Sequence[Any]] = list(zip(*prepared))
        ids = self._ids(columns[0])
        before = db.total_changes
        db.executemany(
            "INSERT OR IGNORE INTO events VALUES (?,?,?,?,?,?,?,?,?,?,?)",
            zip(ids, *columns[:10]),
        )
        new = db.total_changes - before
        if new < len(ids):
            kept = [i for i, row_id in enumerate(ids) if self._stored(row_id)]
            ids = [ids[i] for i in kept]
            columns = [[column[i] for i in kept] for column in columns]
        if ids:
            self._index_new(ids, columns[10], columns[11])
        return new

    def begin(self) -> None:
        """
        Open a transaction that the following L{write}s join, until
        L{commit} (or L{rollback}): a load of several chunks is then one
        transaction, so FTS5 writes one larger segment (fewer merges later)
        and a crash leaves none of it.  The main file's transaction is
        deferred (it takes the write lock at the first row), so that it
        does not lock the attached trigram file, which the trigram thread's
        connection writes meanwhile.
        """
        self._tg.execute("BEGIN IMMEDIATE")
        try:
            self._db.execute("BEGIN")
        except BaseException:
            self._tg.execute("ROLLBACK")
            raise

    def commit(self) -> None:
        """
        Commit the transaction of L{begin}: once the trigram rows are all
        written, the trigram file first, then the main file.
        """
        self._wait_trigrams()
        self._tg.execute("COMMIT")
        self._db.execute("COMMIT")

    def rollback(self) -> None:
        """
        Abandon the transaction of L{begin}, if one is open.
        """
        try:
            self._wait_trigrams()
        except Exception:
            pass  # rolled back below anyway
        if self._tg.in_transaction:
            self._tg.execute("ROLLBACK")
        if self._db.in_transaction:
            self._db.execute("ROLLBACK")

    def _wait_trigrams(self) -> None:
        """
        Wait for the trigram rows handed to the trigram thread.

        @raise Exception: what writing them raised (the first).
        """
        pending, self._tg_pending = self._tg_pending, []
        for future in pending:
            future.result()

    def _ids(self, points: Sequence[int]) -> list[int]:
        """
        Fresh row ids for rows of these (stored) points.
        """
        next_seq: dict[int, int] = {}
        ids: list[int] = []
        append = ids.append
        last: int | None = None
        seq = 0
        for point in points:
            group = (point + OFFSET) >> GROUP_SHIFT
            if group != last:
                if last is not None:
                    next_seq[last] = seq
                known = next_seq.get(group)
                seq = self._first_free(group) if known is None else known
                last = group
            if seq > SEQ_MAX:
                raise ValueError(
                    f"more than {SEQ_MAX + 1} rows in the 2^21-tick group of point"
                    f" {point + OFFSET}"
                )
            append(group << SEQ_BITS | seq)
            seq += 1
        return ids

    def _first_free(self, group: int) -> int:
        first = group << SEQ_BITS
        (top,) = self._db.execute(
            "SELECT max(id) FROM events WHERE id BETWEEN ? AND ?", (first, first | SEQ_MAX)
        ).fetchone()
        return 0 if top is None else top - first + 1

    def _write_trigrams(self, ids: list[int], texts: Sequence[str]) -> None:
        """
        On the trigram thread: add the trigram rows of a chunk, in one
        statement over one JSON array of C{[id, text]} pairs, so that the
        whole chunk is written in C with the GIL released (row by row,
        C{executemany} takes the GIL back after every row, and waits for it
        while the other threads run Python).
        """
        self._tg.execute(
            "INSERT INTO trigrams (rowid, text)"
            " SELECT json_extract(value, '$[0]'), json_extract(value, '$[1]') FROM json_each(?)",
            (json.dumps(list(zip(ids, texts)), ensure_ascii=False),),
        )

    def _stored(self, row_id: int) -> bool:
        return self._db.execute("SELECT 1 FROM events WHERE id = ?", (row_id,)).fetchone() is not None

    def _index_new(self, ids: list[int], tokens: Sequence[str], trigrams: Sequence[str]) -> None:
        """
        Index rows just added to C{events}: their ids, the text of the
        C{tokens} table and the trigram text (written by the trigram
        thread, while this one writes the tokens).
        """
        db = self._db
        self._tg_pending.append(self._tg_writer.submit(self._write_trigrams, ids, trigrams))
        db.executemany("INSERT INTO tokens (rowid, toks) VALUES (?, ?)", zip(ids, tokens))
        shift = _BLOCK_ID_SHIFT
        blocks = Counter(row_id >> shift for row_id in ids)
        db.executemany(
            "INSERT INTO blocks (block, n) VALUES (?, ?)"
            " ON CONFLICT (block) DO UPDATE SET n = n + excluded.n",
            sorted(blocks.items()),
        )

    # -- searching ---------------------------------------------------------

    def search(self, query: Query, *, total: bool = True) -> SearchResult:
        """
        One page of events matching C{query}, newest first (ties: the later
        loaded first).

        @param total: also count all matches (L{count}); when every
            candidate must be checked (substrings), counting stops at
            L{TOTAL_CAP} and C{total_exact} is false.
        """
        plan = _Plan(query)
        lo, hi = plan.id_range()
        extra: list[str] = []
        if query.cursor is not None:
            point, row_id = decode_cursor(query.cursor)
            hi = min(hi, _group_ids(point + OFFSET)[1])
            extra.append("(+e.point < :cp OR (+e.point = :cp AND e.id < :cid))")
            plan.params.update(cp=point, cid=row_id)
        rows = self._page_rows(plan, lo, hi, extra, query.limit)
        page = rows[: query.limit]
        nxt = encode_cursor(page[-1][1], page[-1][0]) if len(rows) > query.limit else None
        result = SearchResult(events=[_event(row) for row in page], next=nxt)
        if not total:
            result.total = len(page)
        elif plan.exact_beyond_time():
            result.total = self._count_rows(plan, *plan.id_range(), cap=TOTAL_CAP + 1)
            if result.total > TOTAL_CAP:
                result.total, result.total_exact = TOTAL_CAP, False
        else:
            result.total = self.count(query)
        return result

    def _page_rows(self, plan: _Plan, lo: int, hi: int, extra: list[str],
                   limit: int) -> list[Row]:
        """
        The first C{limit + 1} matching rows (or fewer), newest first.

        Candidates come in row id order, which is point order between
        groups: reading stops at the first group after C{limit + 1} rows.
        """
        if lo > hi:
            return []
        cur = self._db.execute(plan.select(_COLUMNS, lo, hi, extra), plan.params)
        found: list[Row] = []
        group = None
        for row in cur:
            g = row[0] >> SEQ_BITS
            if g != group and len(found) > limit:
                break
            group = g
            found.append(row)
        cur.close()
        found.sort(key=lambda r: (r[1], r[0]), reverse=True)
        return found[: limit + 1]

    def count(self, query: Query) -> int:
        """
        The exact number of events matching C{query}.

        Without substrings, only the edges of the time range are read from
        C{events}: the inside is counted from the FTS5 doclists (terms,
        hosts, apps) or from C{blocks} (a time range alone).  Substrings
        are checked on each candidate of the trigram prefilter.
        """
        plan = _Plan(query)
        lo, hi = plan.id_range()
        if lo > hi:
            return 0
        if plan.exact_beyond_time():
            return self._count_rows(plan, lo, hi)
        if plan.tq is not None:
            point_bits, id_bits = GROUP_SHIFT, SEQ_BITS
        else:
            point_bits, id_bits = BLOCK_SHIFT, _BLOCK_ID_SHIFT
        # the units (groups or blocks) whose points all lie in the range
        first = 0 if query.start is None else -(-query.start >> point_bits)
        inner_lo = max(lo, first << id_bits)
        inner_hi = hi if query.end is None else min(hi, ((query.end >> point_bits) << id_bits) - 1)
        if inner_lo > inner_hi:
            return self._count_rows(plan, lo, hi)
        n = self._count_inner(plan, inner_lo, inner_hi)
        if lo < inner_lo:
            n += self._count_rows(plan, lo, inner_lo - 1)
        if inner_hi < hi:
            n += self._count_rows(plan, inner_hi + 1, hi)
        return n

    def _count_rows(self, plan: _Plan, lo: int, hi: int, cap: int | None = None) -> int:
        if lo > hi:
            return 0
        if cap is None:
            sql = plan.select("count(*)", lo, hi, order=False)
        else:
            sql = f"SELECT count(*) FROM ({plan.select('1', lo, hi, order=False)} LIMIT {int(cap)})"
        (n,) = self._db.execute(sql, plan.params).fetchone()
        return int(n)

    def _count_inner(self, plan: _Plan, lo: int, hi: int) -> int:
        """
        The matches with ids in C{[lo, hi]}, whose points are all in the
        query's time range: from the index alone.
        """
        if plan.tq is not None:
            sql = f"SELECT count(*) FROM tokens WHERE tokens MATCH :tq AND rowid BETWEEN {lo} AND {hi}"
            (n,) = self._db.execute(sql, {"tq": plan.tq}).fetchone()
            return int(n)
        b_lo, b_hi = lo >> _BLOCK_ID_SHIFT, hi >> _BLOCK_ID_SHIFT
        sql = "SELECT coalesce(sum(n), 0) FROM blocks WHERE block BETWEEN ? AND ?"
        (n,) = self._db.execute(sql, (b_lo, b_hi)).fetchone()
        return int(n)

    # -- retention and lifetime ---------------------------------------------

    def drop_before(self, point: int) -> int:
        """
        Remove every event whose point is less than C{point}, in
        transactions of at most L{DELETE_CHUNK} rows (oldest first).

        @return: how many were removed.
        """
        if point <= 0:
            return 0
        hi = min(_group_ids(point)[1], MAX_ID)
        removed = 0
        while True:
            n = self._drop_chunk(hi, point - OFFSET)
            removed += n
            if n < DELETE_CHUNK:
                break
        self._log.info("Dropped {removed} events before point {point} from {path}",
                       removed=removed, point=point, path=str(self.path))
        return removed

    def _drop_chunk(self, hi: int, stored_point: int) -> int:
        """
        Remove up to L{DELETE_CHUNK} of the oldest rows before
        C{stored_point}: from the main file in one transaction, then their
        trigrams in one of the trigram file (a crash in between leaves
        stale trigram rows, which only add candidates that C{instr}
        rejects; never an event without its trigrams).
        """
        db = self._db
        db.execute("DROP TABLE IF EXISTS temp.doomed")
        with self._transaction():
            db.execute(
                "CREATE TEMP TABLE doomed AS SELECT id, logship_text(message) AS text FROM events"
                " WHERE id <= ? AND point < ? ORDER BY id LIMIT ?",
                (hi, stored_point, DELETE_CHUNK),
            )
            doomed = "FROM events WHERE id IN (SELECT id FROM temp.doomed)"
            db.execute(
                "INSERT INTO tokens (tokens, rowid, toks)"
                f" SELECT 'delete', id, toks || ' @h' || hex(shn) || ' @a' || hex(app) {doomed}"
            )
            for block, n in db.execute(
                f"SELECT id >> {_BLOCK_ID_SHIFT}, count(*) {doomed} GROUP BY 1"
            ).fetchall():
                db.execute("UPDATE blocks SET n = n - ? WHERE block = ?", (n, block))
            db.execute("DELETE FROM blocks WHERE n <= 0")
            db.execute(f"DELETE {doomed}")
            (n,) = db.execute("SELECT changes()").fetchone()
        with self._transaction():
            db.execute("INSERT INTO tg.trigrams (trigrams, rowid, text)"
                       " SELECT 'delete', id, text FROM temp.doomed")
        db.execute("DROP TABLE temp.doomed")
        return int(n)

    def close(self) -> None:
        """
        Close the connections (checkpointing the WALs) and the trigram
        thread.
        """
        self._close_connections()

    def _close_connections(self) -> None:
        self._tg_writer.shutdown()
        self._db.close()
        if "_tg" in vars(self):
            self._tg.close()

    def destroy(self) -> None:
        """
        Close and delete the database and the trigram table's file, with
        their WAL and shared-memory files.
        """
        self.close()
        for name in (str(self.path), str(trigram_path(self.path))):
            for suffix in ("", "-wal", "-shm"):
                try:
                    os.remove(name + suffix)
                except FileNotFoundError:
                    pass


class _Transaction:
    """
    C{BEGIN IMMEDIATE} ... C{COMMIT}, or C{ROLLBACK} on an exception.
    """

    def __init__(self, db: sqlite3.Connection) -> None:
        self._db = db

    def __enter__(self) -> None:
        self._db.execute("BEGIN IMMEDIATE")

    def __exit__(self, kind: Any, value: Any, tb: Any) -> None:
        self._db.execute("COMMIT" if kind is None else "ROLLBACK")


class _NoTransaction:
    """
    Joins the transaction already open.
    """

    def __enter__(self) -> None:
        pass

    def __exit__(self, kind: Any, value: Any, tb: Any) -> None:
        pass


_NO_TRANSACTION = _NoTransaction()


def _event(row: Row) -> Event:
    _, point, pri, shn, app, pid, flags, message, ident = row
    return Event(
        point + OFFSET, pri, shn, app, pid, message,
        bool(flags & FLAG_CONTINUED), bool(flags & FLAG_STRUCTURED),
        origin_of_identity(ident),
    )  # fmt: skip


def _legacy_identity(stored_point: int, shn: bytes, app: bytes, crc: int) -> bytes:
    """
    The identity of a version-1 event from its schema-2 row.
    """
    return legacy_identity(stored_point + OFFSET, crc, shn, app)


def trigram_path(path: str | os.PathLike[str]) -> Path:
    """
    The trigram table's database file of the index file C{path}:
    C{DIR/<name>.sqlite-trigrams}.
    """
    return Path(str(path) + TRIGRAM_SUFFIX)


#: Names of the trigram databases of stores kept in memory.
_MEMORY_NAMES = itertools.count()


def database_path(directory: str | os.PathLike[str], name: str) -> Path:
    """
    The database file of the index C{name} in C{directory}.
    """
    return Path(directory) / f"{check_name(name)}.sqlite"


def sqlite_index_names(directory: str | os.PathLike[str]) -> list[str]:
    """
    The names of the sqlite indexes in C{directory}, sorted.

    @raise IndexUnavailable: the directory cannot be listed.
    """
    try:
        files = os.listdir(directory)
    except OSError as e:
        raise IndexUnavailable(f"{directory}: {e.strerror}") from None
    names = []
    for f in files:
        stem, dot, ext = f.rpartition(".")
        if dot and ext == "sqlite":
            try:
                names.append(check_name(stem))
            except ValueError:
                pass
    return sorted(names)


def check_directory(directory: str | os.PathLike[str], create: bool) -> Path:
    """
    Make sure the index directory exists (made if C{create}) and can be
    read and written.

    @raise IndexUnavailable: it cannot.
    """
    path = Path(directory)
    try:
        if create:
            path.mkdir(parents=True, exist_ok=True)
        elif not path.is_dir():
            raise IndexUnavailable(f"{path}: no such directory")
    except OSError as e:
        raise IndexUnavailable(f"{path}: cannot create the index directory: {e.strerror}") from None
    if not path.is_dir():
        raise IndexUnavailable(f"{path}: not a directory")
    if not os.access(path, os.R_OK | os.W_OK | os.X_OK):
        raise IndexUnavailable(f"{path}: the index directory must be readable and writable")
    return path


@implementer(IIndex)
class SqliteIndex:
    """
    L{IIndex} over a L{SqliteStore} that lives on one dedicated thread
    (SQLite connections belong to the thread that made them).  Calls are
    run in order, one at a time.
    """

    _log = Logger()

    def __init__(self, directory: str | os.PathLike[str], name: str, reactor: Any, *,
                 create: bool = True, **store_options: Any) -> None:
        """
        @param directory: the index directory (made if C{create}).
        @param name: the index name.
        @param reactor: the reactor the Deferreds fire in.
        @param create: create the database if missing.
        @param store_options: passed to L{SqliteStore}.
        @raise IndexUnavailable: the directory cannot be used, or (without
            C{create}) the index does not exist.
        """
        self.path = database_path(check_directory(directory, create), name)
        if not create and not self.path.is_file():
            raise IndexUnavailable(f"{self.path}: no such index")
        self._reactor = reactor
        self._pool = ThreadPool(minthreads=1, maxthreads=1, name=f"logship-index-{name}")
        self._pool.start()
        self._prep_pool = ThreadPool(minthreads=0, maxthreads=1, name=f"logship-prep-{name}")
        self._prep_pool.start()
        self._shutdown = reactor.addSystemEventTrigger("during", "shutdown", self._on_shutdown)
        self._store: SqliteStore | None = None
        self._options = dict(store_options, create=create)

    def _run(self, work: Callable[[SqliteStore], T]) -> Deferred[T]:
        """
        Run C{work(store)} on the index's thread, the store opened first
        if it is not yet.
        """
        return deferToThreadPool(self._reactor, self._pool, lambda: work(self._opened()))

    def _opened(self) -> SqliteStore:
        if self._store is None:
            self._store = SqliteStore(self.path, **self._options)
        return self._store

    def load(self, events: Sequence[Event]) -> Deferred[int]:
        """
        See L{IIndex.load}.  The events are written in one transaction, in
        chunks of L{LOAD_CHUNK}; each chunk is prepared (L{prepare}) on a
        second thread while the one before is written.
        """
        d = ensureDeferred(self._load(list(events), self._prepare))
        return d.addCallback(lambda loaded: loaded.new)

    async def _load(
        self, items: list[T], prepare_chunk: Callable[[list[T]], Deferred[Prepared]]
    ) -> Loaded:
        chunks = [items[i : i + LOAD_CHUNK] for i in range(0, len(items), LOAD_CHUNK)]
        new = corrupt = 0
        first_error = None
        if not chunks:
            return Loaded(0)
        upcoming = prepare_chunk(chunks[0])
        # the chunk being prepared, if any, when a failure comes
        pending: Deferred[Prepared] | None = upcoming
        try:
            await self._run(SqliteStore.begin)
            for i in range(len(chunks)):
                rows, bad, error = await upcoming
                pending = None
                if i + 1 < len(chunks):
                    upcoming = pending = prepare_chunk(chunks[i + 1])
                corrupt += bad
                first_error = first_error or error
                new += await self._run(lambda store: store.write(rows))
            await self._run(SqliteStore.commit)
        except BaseException:
            if pending is not None:
                pending.addErrback(lambda _: None)
            try:
                await self._run(SqliteStore.rollback)
            except Exception:  # the store could not even be opened
                pass
            raise
        return Loaded(new, corrupt, first_error)

    def _prepare(self, chunk: list[Event]) -> Deferred[Prepared]:
        d = deferToThreadPool(self._reactor, self._prep_pool, prepare, chunk)
        return d.addCallback(lambda rows: (rows, 0, None))

    def load_serialized(self, records: Sequence[bytes]) -> Deferred[Loaded]:
        """
        Like L{load} for serialized events (L{logship.core.event.encode}, the
        form a buck's bucket holds): each is decoded once here, its crc
        checked, and its stored tokens used instead of tokenizing again
        (L{prepare_serialized}).  Corrupt records are skipped and counted
        in the result, not raised.
        """
        return ensureDeferred(self._load(list(records), self._prepare_serialized))

    def _prepare_serialized(self, chunk: list[bytes]) -> Deferred[Prepared]:
        return deferToThreadPool(self._reactor, self._prep_pool, prepare_serialized, chunk)

    def search(self, query: Query) -> Deferred[SearchResult]:
        """
        See L{IIndex.search}.
        """
        return self._run(lambda store: store.search(query))

    def count(self, query: Query) -> Deferred[int]:
        """
        See L{IIndex.count}.
        """
        return self._run(lambda store: store.count(query))

    def drop_before(self, point: int) -> Deferred[int]:
        """
        See L{IIndex.drop_before}.
        """
        return self._run(lambda store: store.drop_before(point))

    def destroy(self) -> Deferred[None]:
        """
        See L{IIndex.destroy}.
        """
        d = deferToThreadPool(self._reactor, self._pool, self._destroy)
        d.addBoth(self._finish)
        return d

    def _destroy(self) -> None:
        self._opened().destroy()
        self._store = None

    def close(self) -> Deferred[None]:
        """
        See L{IIndex.close}.
        """
        d = deferToThreadPool(self._reactor, self._pool, self._close)
        d.addBoth(self._finish)
        return d

    def _close(self) -> None:
        if self._store is not None:
            self._store.close()
            self._store = None

    def _finish(self, result: Any) -> Any:
        self._stop_pool()
        return result

    def _stop_pool(self) -> None:
        if self._shutdown is not None:
            self._reactor.removeSystemEventTrigger(self._shutdown)
            self._shutdown = None
            self._pool.stop()
            self._prep_pool.stop()

    def _on_shutdown(self) -> None:
        self._shutdown = None
        self._pool.stop()
        self._prep_pool.stop()
