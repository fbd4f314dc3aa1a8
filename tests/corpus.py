"""Where the test corpus is: real logs and parser vectors in C{tests/data}.

The files are byte-for-byte copies of data written by others (see
C{tests/data/SOURCES.md} for where each comes from and its licence, and the
licence files beside them).  A test that needs one reads it through
L{corpus_file}; a missing file is an error, never a skip.
"""

from __future__ import annotations

from pathlib import Path

from logship.core.ingest import lines_at, split_lines

CORPUS = Path(__file__).resolve().parent / "data"

#: The log files of the corpus (not the CSVs or the parser vectors).
LOG_NAMES = (
    "Linux_2k.log",
    "OpenSSH_2k.log",
    "Apache_2k.log",
    "Zookeeper_2k.log",
    "HDFS_2k.log",
)


def corpus_file(name: str) -> Path:
    """
    The path of one corpus file.

    @param name: the file's name in C{tests/data}.
    @return: its path.
    @raise FileNotFoundError: when the file is not there.
    """
    path = CORPUS / name
    if not path.is_file():
        raise FileNotFoundError(f"corpus file missing: {path}")
    return path


def corpus_lines(name: str) -> list[bytes]:
    """
    The lines of one corpus log, without their CRLF or LF terminators.

    @param name: the log's name in C{tests/data}.
    @return: its lines, in order.
    """
    return list(split_lines([corpus_file(name).read_bytes()]))


def corpus_lines_at(name: str) -> list[tuple[int, bytes]]:
    """
    The lines of one corpus log with the offset where each starts.

    @param name: the log's name in C{tests/data}.
    @return: C{(offset, line)} pairs, in order.
    """
    return list(lines_at([corpus_file(name).read_bytes()]))
