"""A small installation for the incident tools' tests: bucket files, a sqlite index, a dir archive.

Made as logship makes them: C{logship import} of corpus files (a real
process), the index loaded with L{SqliteStore} from those bucket files,
and the archive written with the porter's own functions (merge, pack,
C{archive_key}) through a C{dir:} archive.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from logship.archive.dirstore import DirArchive, inline
from logship.cli.reading import read_bucket
from logship.core.bucket import iter_records, list_buckets
from logship.core.event import encode
from logship.core.pack import pack
from logship.core.query import MAX_LIMIT, Query
from logship.index.sqlite import SqliteStore
from logship.porter.merge import merge
from logship.porter.service import archive_key
from tests.corpus import corpus_file

#: The corpus files, read as of 2026 on host "h".
FILES = ("Linux_2k.log", "OpenSSH_2k.log")
READING = ("--tz", "UTC", "--year", "2026", "--host", "h")
#: A range holding every event, as the commands take it.
RANGE = ("--from", "2026-01-01", "--to", "2027-01-01")
SECONDS = 60


def make_buckets(tmp: Path, run: object) -> Path:
    """
    Import the corpus files into C{tmp/buckets} with C{run("import", ...)}
    (the C{logship} command); return the directory.
    """
    buckets = tmp / "buckets"
    result = run("import", *READING, *(str(corpus_file(f)) for f in FILES),  # type: ignore[operator]
                 "--buckets", str(buckets))
    assert result.returncode == 0, result.stderr
    return buckets


def make_index(buckets: Path, directory: Path, name: str = "recent") -> None:
    """
    Load the bucket files into the sqlite index C{name} in C{directory}.
    """
    directory.mkdir(parents=True, exist_ok=True)
    store = SqliteStore(directory / f"{name}.sqlite")
    try:
        for _, path in list_buckets(buckets):
            store.load(read_bucket(path, _fail))
    finally:
        store.close()


def make_archive(buckets: Path, root: Path) -> list[str]:
    """
    Archive every bucket file as the porter does, under C{root}; return
    the keys.
    """
    archive = DirArchive(root, run=inline)
    keys = []
    for start, path in list_buckets(buckets):
        key = archive_key(start, SECONDS)
        failures: list[object] = []
        archive.put(key, pack(merge([read_bucket(path, _fail)]))).addErrback(failures.append)
        assert not failures, failures
        keys.append(key)
    return keys


def records(root: Path) -> dict[str, list[bytes]]:
    """
    The records of every bucket file under C{root}, by bucket path,
    sorted: what must be byte-equal after a round trip.
    """
    found = {}
    for _, path in list_buckets(root):
        with open(path, "rb") as f:
            found[path.relative_to(root).as_posix()] = sorted(r for _, r in iter_records(f))
    return found


def index_contents(directory: Path, name: str = "recent") -> list[tuple[bytes, bytes]]:
    """
    Every event of a sqlite index as C{(identity, serialized event)},
    sorted.
    """
    store = SqliteStore(directory / f"{name}.sqlite", create=False)
    try:
        found = []
        query = Query(limit=MAX_LIMIT)
        while True:
            page = store.search(query, total=False)
            found += [(e.identity, encode(e)) for e in page.events]
            if page.next is None:
                return sorted(found)
            query = replace(query, cursor=page.next)
    finally:
        store.close()


def _fail(problem: str) -> None:
    raise AssertionError(problem)
