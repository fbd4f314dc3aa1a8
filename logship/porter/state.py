"""What the porter has done, kept in C{STATE/porter.sqlite}.

Three tables:

- C{copies}: per bucket and buck, how many bytes of the buck's file were
  loaded into the recent index (C{loaded}) and how many the archive holds
  (C{archived}, with their SHA-256 in C{archived_sha256}, which the
  porter's receipt to the buck names); a file that grew past either is
  loaded or archived again.  With C{loaded}, the size and SHA-256 of the
  last record loaded (C{tail_size}, C{tail_sha256}: a L{LoadedTail}), by
  which the porter tells the file it loaded from another file of the same
  bucket (C{docs/porter.md}, "A file replaced").
- C{manifest}: per archived bucket, its object's key, event count, size and
  SHA-256; the same entries are written to the archive by day
  (C{manifest/YYYY-MM-DD.json}) so that the archive can be read without
  this file.
- C{history}: the history indexes requested, their state and expiry.

The database is small (a row per bucket and buck for the buckets still on
the bucks, a row per archived bucket) and every change is one short
transaction on the reactor thread, so a porter killed at any moment finds
its last finished step on restart; every step is idempotent, so redoing
an unfinished one is harmless.
"""

from __future__ import annotations

import enum
import sqlite3
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

STATE_FILE = "porter.sqlite"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS copies (
    start INTEGER NOT NULL,
    node TEXT NOT NULL,
    loaded INTEGER NOT NULL DEFAULT 0,
    archived INTEGER,
    archived_sha256 TEXT,
    tail_size INTEGER,
    tail_sha256 BLOB,
    PRIMARY KEY (start, node)
);
CREATE TABLE IF NOT EXISTS manifest (
    start INTEGER PRIMARY KEY,
    key TEXT NOT NULL,
    events INTEGER NOT NULL,
    size INTEGER NOT NULL,
    sha256 TEXT NOT NULL,
    archived_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS history (
    id TEXT PRIMARY KEY,
    start INTEGER NOT NULL,
    end INTEGER NOT NULL,
    created REAL NOT NULL,
    expires REAL NOT NULL,
    state TEXT NOT NULL,
    done INTEGER NOT NULL DEFAULT 0,
    total INTEGER NOT NULL DEFAULT 0,
    events INTEGER NOT NULL DEFAULT 0,
    error TEXT
);
"""


#: Columns added to C{copies} since its first version: C{ALTER TABLE} adds
#: them to a state written by an earlier porter (its rows have no tail).
_ADDED_COLUMNS = {"archived_sha256": "TEXT", "tail_size": "INTEGER", "tail_sha256": "BLOB"}


@dataclass(frozen=True)
class LoadedTail:
    """
    The last record loaded of a buck's bucket file: it ends at the loaded
    offset.  A file whose bytes before that offset are still this record is
    taken for the file that was loaded; any other is another file.

    @ivar size: the record's bytes, its 2-byte length included.
    @ivar sha256: their SHA-256.
    """

    size: int
    sha256: bytes


@dataclass(frozen=True)
class ManifestEntry:
    """
    One archived bucket.

    @ivar start: the bucket's start (epoch seconds).
    @ivar key: its object's key in the archive.
    @ivar events: how many events the object holds.
    @ivar size: the object's size in bytes.
    @ivar sha256: the object's SHA-256, hex.
    @ivar archived_at: when it was (last) archived, epoch seconds.
    """

    start: int
    key: str
    events: int
    size: int
    sha256: str
    archived_at: float


class JobState(enum.StrEnum):
    """
    Where a history job is; the API's C{state} field holds the value.
    """

    #: Asked for, not started yet.
    QUEUED = "queued"
    #: Its buckets are being loaded into its index.
    LOADING = "loading"
    #: Its index is complete.
    READY = "ready"
    #: Loading failed (the job's C{error} says why).
    FAILED = "failed"
    #: Its index was dropped.
    EXPIRED = "expired"


#: States after which a job no longer changes (until it expires).
FINAL_STATES = frozenset({JobState.READY, JobState.FAILED, JobState.EXPIRED})


@dataclass(frozen=True)
class HistoryJob:
    """
    One requested history index.

    @ivar id: the job's id (the index is C{history-<id>}).
    @ivar start: the range's first point (inclusive).
    @ivar end: the range's end point (exclusive).
    @ivar created: when it was requested, epoch seconds.
    @ivar expires: when its index is dropped, epoch seconds.
    @ivar state: where it is.
    @ivar done: buckets loaded so far.
    @ivar total: buckets to load.
    @ivar events: events loaded so far.
    @ivar error: why it failed, if it did.
    """

    id: str
    start: int
    end: int
    created: float
    expires: float
    state: JobState
    done: int
    total: int
    events: int
    error: str | None

    @classmethod
    def from_row(cls, row: tuple[Any, ...]) -> HistoryJob:
        """
        A job from its row of the C{history} table.
        """
        job = cls(*row)
        return replace(job, state=JobState(job.state))

    @property
    def index(self) -> str:
        """
        The name of its index.
        """
        return f"history-{self.id}"


class StateError(Exception):
    """
    The state database cannot be opened (the message says where and why).
    """


class PorterState:
    """
    The porter's state database (see the module docstring).
    """

    def __init__(self, directory: Path) -> None:
        """
        Open (creating it if needed) C{directory/porter.sqlite}.

        @raise StateError: if the directory cannot be created or the
            database opened (a full disk, an I/O error, not a database).
        """
        path = directory / STATE_FILE
        try:
            directory.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(path, isolation_level=None)
        except (OSError, sqlite3.Error) as e:
            raise StateError(f"{path}: {e}") from None
        try:
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")
            self._db.executescript(_SCHEMA)
            columns = {row[1] for row in self._db.execute("PRAGMA table_info(copies)")}
            for name, kind in _ADDED_COLUMNS.items():
                if name not in columns:  # a state of an earlier version
                    self._db.execute(f"ALTER TABLE copies ADD COLUMN {name} {kind}")
        except sqlite3.Error as e:
            self._db.close()
            raise StateError(f"{path}: {e}") from None

    def close(self) -> None:
        """
        Close the database.
        """
        self._db.close()

    # -- copies on the bucks

    def copies(self, start: int) -> dict[str, tuple[int, int | None]]:
        """
        C{{node: (loaded, archived)}} of bucket C{start}.
        """
        rows = self._db.execute(
            "SELECT node, loaded, archived FROM copies WHERE start = ?", (start,)
        )
        return {node: (loaded, archived) for node, loaded, archived in rows}

    def tails(self, start: int) -> dict[str, LoadedTail]:
        """
        C{{node: tail}} of bucket C{start}: the last record loaded of each
        buck's file (of the copies that have one).
        """
        rows = self._db.execute(
            "SELECT node, tail_size, tail_sha256 FROM copies"
            " WHERE start = ? AND tail_size IS NOT NULL",
            (start,),
        )
        return {node: LoadedTail(size, bytes(digest)) for node, size, digest in rows}

    def set_loaded(
        self, start: int, node: str, loaded: int, tail: LoadedTail | None = None
    ) -> None:
        """
        C{loaded} bytes of C{node}'s file of bucket C{start} are in the
        recent index, the last record of them being C{tail} (C{None} when
        nothing is loaded).
        """
        size, digest = (None, None) if tail is None else (tail.size, tail.sha256)
        self._db.execute(
            "INSERT INTO copies (start, node, loaded, tail_size, tail_sha256)"
            " VALUES (?, ?, ?, ?, ?)"
            " ON CONFLICT (start, node) DO UPDATE SET loaded = excluded.loaded,"
            " tail_size = excluded.tail_size, tail_sha256 = excluded.tail_sha256",
            (start, node, loaded, size, digest),
        )

    def archived_digests(self, start: int) -> dict[str, str]:
        """
        C{{node: SHA-256 hex}} of the archived part of each buck's file of
        bucket C{start} (those archived with a digest only).
        """
        rows = self._db.execute(
            "SELECT node, archived_sha256 FROM copies"
            " WHERE start = ? AND archived_sha256 IS NOT NULL",
            (start,),
        )
        return {node: digest for node, digest in rows}

    def forget_archived(self, start: int, node: str) -> None:
        """
        The archive does not hold C{node}'s file of bucket C{start} as it is
        (the buck kept it): archive it again.
        """
        self._db.execute(
            "UPDATE copies SET archived = NULL, archived_sha256 = NULL"
            " WHERE start = ? AND node = ?",
            (start, node),
        )

    def forget_copies(self, start: int, nodes: list[str]) -> None:
        """
        The bucks C{nodes} no longer have a file of bucket C{start}.
        """
        self._db.executemany(
            "DELETE FROM copies WHERE start = ? AND node = ?", [(start, n) for n in nodes]
        )

    def forget_absent(self, node: str, present: set[int]) -> list[int]:
        """
        Buck C{node} listed its files, and has none of the buckets not in
        C{present}: forget its copies of those (a file of one of them that
        comes later is another file).

        @return: the starts of the copies forgotten, ascending.
        """
        rows = self._db.execute("SELECT start FROM copies WHERE node = ?", (node,))
        absent = sorted(start for (start,) in rows if start not in present)
        self._db.executemany(
            "DELETE FROM copies WHERE start = ? AND node = ?", [(s, node) for s in absent]
        )
        return absent

    # -- the manifest

    def archived(
        self,
        start: int,
        entry: ManifestEntry,
        sizes: dict[str, int],
        digests: dict[str, str] | None = None,
    ) -> None:
        """
        Bucket C{start} is archived (C{entry}), holding C{sizes[node]} bytes
        of each buck's file, whose SHA-256 (hex) is C{digests[node]}.
        """
        digests = digests or {}
        with self._db:
            self._db.execute("BEGIN")
            self._db.execute(
                "INSERT OR REPLACE INTO manifest VALUES (?, ?, ?, ?, ?, ?)",
                (start, entry.key, entry.events, entry.size, entry.sha256, entry.archived_at),
            )
            self._db.executemany(
                "INSERT INTO copies (start, node, archived, archived_sha256) VALUES (?, ?, ?, ?)"
                " ON CONFLICT (start, node) DO UPDATE SET archived = excluded.archived,"
                " archived_sha256 = excluded.archived_sha256",
                [(start, node, size, digests.get(node)) for node, size in sizes.items()],
            )

    def manifest_entry(self, start: int) -> ManifestEntry | None:
        """
        The manifest entry of bucket C{start}, if it was archived.
        """
        row = self._db.execute("SELECT * FROM manifest WHERE start = ?", (start,)).fetchone()
        return None if row is None else ManifestEntry(*row)

    def manifest_range(self, first: int, end: int) -> list[ManifestEntry]:
        """
        The manifest entries of the buckets starting in C{[first, end)}.
        """
        rows = self._db.execute(
            "SELECT * FROM manifest WHERE start >= ? AND start < ? ORDER BY start",
            (first, end),
        )
        return [ManifestEntry(*row) for row in rows]

    def archived_count(self) -> int:
        """
        How many buckets the manifest holds.
        """
        (count,) = self._db.execute("SELECT count(*) FROM manifest").fetchone()
        return int(count)

    # -- history jobs

    def add_history(self, job: HistoryJob) -> None:
        """
        Record a new history job.
        """
        self._db.execute(
            "INSERT INTO history VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                job.id, job.start, job.end, job.created, job.expires,
                job.state, job.done, job.total, job.events, job.error,
            ),
        )

    def update_history(self, job_id: str, **fields: object) -> None:
        """
        Change some fields of a history job (C{state}, C{done}, C{total},
        C{events}, C{error}).
        """
        allowed = {"state", "done", "total", "events", "error"}
        if not fields or not set(fields) <= allowed:
            raise ValueError(f"cannot update {sorted(fields)}")
        assignments = ", ".join(f"{name} = ?" for name in fields)
        self._db.execute(
            f"UPDATE history SET {assignments} WHERE id = ?", (*fields.values(), job_id)
        )

    def history(self, job_id: str) -> HistoryJob | None:
        """
        The history job C{job_id}, if there is one.
        """
        row = self._db.execute("SELECT * FROM history WHERE id = ?", (job_id,)).fetchone()
        return None if row is None else HistoryJob.from_row(row)

    def history_counts(self) -> dict[str, int]:
        """
        How many history jobs are in each state (states with none left out).
        """
        rows = self._db.execute("SELECT state, count(*) FROM history GROUP BY state")
        return {str(state): int(count) for state, count in rows}

    def histories(self) -> list[HistoryJob]:
        """
        Every history job, newest first.
        """
        rows = self._db.execute("SELECT * FROM history ORDER BY created DESC")
        return [HistoryJob.from_row(row) for row in rows]
