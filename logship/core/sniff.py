"""What a file is, from its first bytes: a bucket file, a packed bucket, or what else.

Pure code.  The commands that read logship's files (C{logship cat}) look
before they read, so that a file of another kind gets one line saying
what it looks like (C{x.gz: gzip data, not a logship bucket file or
archive object}) instead of a misleading complaint about its first
record.

  - A B{packed bucket} (an archive object, C{.lsp}) begins with the magic
    C{LSPK} and a version byte (L{logship.core.pack}).
  - A B{bucket file} (C{.b}) has no magic: it is records, each a 2-byte
    length and a serialized event (L{logship.core.bucket}).  It is
    recognised by its records: an empty file is an empty bucket, and
    otherwise one of its first L{RECORDS_TRIED} records must decode (the
    crc makes chance matches one in 2^32), or the file must end inside a
    first record whose length and format version are plausible (a writer
    that crashed during its first append) and that is not text.
  - Anything else is described by its magic number when it has a known
    one, as text when it reads as text, else as data with its first bytes.
"""

from __future__ import annotations

import enum
import struct
from dataclasses import dataclass

from logship.core.bucket import MIN_EVENT_SIZE
from logship.core.event import (
    FORMAT_VERSION,
    LEGACY_VERSION,
    VERSION_MASK,
    CorruptEvent,
    decode,
)
from logship.core.pack import MAGIC, READABLE_VERSIONS

#: How many bytes of a file L{sniff} wants: enough for a few whole records.
HEAD_SIZE = 4 * (2 + 0xFFFF)

#: How many of the first records may fail to decode in a bucket file.
RECORDS_TRIED = 4

_LENGTH = struct.Struct(">H")

#: Magic numbers of formats people meet among log files, and their names.
_MAGICS: tuple[tuple[int, bytes, str], ...] = (
    (0, b"\x1f\x8b", "gzip data"),
    (0, b"\xfd7zXZ\x00", "xz data"),
    (0, b"\x28\xb5\x2f\xfd", "zstd data"),
    (0, b"BZh", "bzip2 data"),
    (0, b"\x04\x22\x4d\x18", "lz4 data"),
    (0, b"\x5d\x00\x00", "lzma data"),
    (0, b"PK\x03\x04", "a zip archive"),
    (257, b"ustar", "a tar archive"),
    (0, b"SQLite format 3\x00", "an SQLite database"),
    (0, b"\x7fELF", "an ELF executable"),
    (0, b"%PDF", "a PDF document"),
    (0, b"\x89PNG", "a PNG image"),
    (0, b"\xff\xd8\xff", "a JPEG image"),
    (0, b"\x00\x00\x00\x00\x00\x00\x00\x00", "zeros"),
)

#: Descriptions of text: never a torn bucket record (its point and crc are binary).
_TEXTS = ("text", "JSON text")

#: What to do instead with some of them.
_HINTS = {
    "text": "a log file? read it with logship parse or logship import",
    "an SQLite database": "an index? read it with logship search or logship export",
}


class Kind(enum.Enum):
    """
    The kinds of file L{sniff} tells apart.
    """

    BUCKET = "a logship bucket file"
    PACK = "a logship archive object"
    OTHER = "not a logship file"


@dataclass(frozen=True)
class Sniffed:
    """
    What L{sniff} found.

    @ivar kind: the kind of file.
    @ivar description: what it looks like, for a message
        (C{"gzip data"}, C{"a logship archive object of version 9"}).
    @ivar readable: whether logship can read it (a bucket file, or a
        packed bucket of a version it reads).
    @ivar hint: what to do with it instead, or C{""}.
    """

    kind: Kind
    description: str
    readable: bool
    hint: str = ""


def sniff(head: bytes) -> Sniffed:
    """
    What a file is, from its first bytes.

    @param head: the file's first L{HEAD_SIZE} bytes (all of it if shorter).
    @return: its kind and a description; never raises.
    """
    if head[: len(MAGIC)] == MAGIC:
        if len(head) > len(MAGIC) and head[len(MAGIC)] not in READABLE_VERSIONS:
            versions = " and ".join(map(str, READABLE_VERSIONS))
            return Sniffed(Kind.PACK, f"a logship archive object of version {head[len(MAGIC)]}"
                           f" (this logship reads versions {versions})", False)
        return Sniffed(Kind.PACK, Kind.PACK.value, True)
    if not head or _decodes(head):
        return Sniffed(Kind.BUCKET, Kind.BUCKET.value, True)
    for offset, magic, name in _MAGICS:
        if head[offset : offset + len(magic)] == magic:
            return Sniffed(Kind.OTHER, name, False, _HINTS.get(name, ""))
    description = _other(head)
    if description not in _TEXTS and _torn_first(head):
        return Sniffed(Kind.BUCKET, Kind.BUCKET.value, True)
    return Sniffed(Kind.OTHER, description, False, _HINTS.get(description, ""))


def _decodes(head: bytes) -> bool:
    """
    Whether one of the first L{RECORDS_TRIED} records of C{head} decodes.
    """
    position = 0
    for _ in range(RECORDS_TRIED):
        if len(head) - position < 2:
            return False
        (length,) = _LENGTH.unpack_from(head, position)
        record = head[position + 2 : position + 2 + length]
        if length < MIN_EVENT_SIZE or len(record) < length:
            return False
        try:
            decode(record)
        except CorruptEvent:
            position += 2 + length
            continue
        return True
    return False


def _torn_first(head: bytes) -> bool:
    """
    Whether C{head} is a whole file that ends inside its first record,
    whose length and format version are plausible.
    """
    if len(head) < 3 or len(head) >= HEAD_SIZE:
        return False
    (length,) = _LENGTH.unpack_from(head)
    return (MIN_EVENT_SIZE <= length and len(head) < 2 + length
            and head[2] & VERSION_MASK in (LEGACY_VERSION, FORMAT_VERSION))


def _other(head: bytes) -> str:
    """
    A description of bytes that are no logship file and have no known
    magic number.
    """
    sample = head[:4096]
    try:
        text = sample.decode("utf-8")
    except UnicodeDecodeError as e:
        # a multi-byte character cut by the sample's end is still text
        text = sample[: e.start].decode("utf-8") if e.start >= len(sample) - 3 else ""
    if text and sum(c.isprintable() or c in "\t\r\n" for c in text) >= 0.95 * len(text):
        return "JSON text" if text.lstrip()[:1] in ("{", "[") else "text"
    return f"data beginning {head[:8].hex(' ')}"


def not_logship(name: str, sniffed: Sniffed) -> str:
    """
    The one-line message for a file that logship cannot read.

    @param name: the file's name, as the user gave it.
    """
    if sniffed.kind is Kind.PACK:
        return f"{name}: {sniffed.description}"
    hint = f" ({sniffed.hint})" if sniffed.hint else ""
    return f"{name}: {sniffed.description}, not a logship bucket file or archive object{hint}"
