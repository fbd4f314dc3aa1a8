"""Where the shared corpus is, for tests that read it in place.

The corpus (real logs and parser vectors written by others) lives beside the
project in C{../shared/corpus}; its licence asks that it travel with its
notices, so tests read it there and never copy it.  C{LOGSHIP_CORPUS} points
elsewhere.  Where it is absent, tests that need it skip and say so.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from logship.core.ingest import split_lines

_DEFAULT = Path(__file__).resolve().parent.parent.parent / "shared" / "corpus"

CORPUS = Path(os.environ.get("LOGSHIP_CORPUS", _DEFAULT))

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
    The path of one corpus file, or skip the calling test with a clear reason.
    """
    path = CORPUS / name
    if not path.is_file():
        pytest.skip(f"shared corpus absent: {path} not found (set LOGSHIP_CORPUS)")
    return path


def corpus_lines(name: str) -> list[bytes]:
    """
    The lines of one corpus log, without their CRLF or LF terminators.
    """
    return list(split_lines([corpus_file(name).read_bytes()]))
