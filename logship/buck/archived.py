"""Which uploads a buck can prove archived: the porter's receipts for the files that had merged them.

A tailer keeps its local copy of a bucket until the buck that took its
upload shows that the porter archived that upload (C{docs/security.md},
"Deletion needs proof").  The buck can only show it if it remembers:
L{ArchivedRecord} is that memory, kept in one small append-only text file,
C{DATA/archived}::

    merged 1795680000 <sha256 hex>        an upload was merged into the
                                          present file of bucket 1795680000
    porter <id> <credential b64>          a porter credential (written once;
                                          its id: 16 bytes of its SHA-256)
    archived 1795680000 <receipt b64> <signature b64 or -> <id or ->
                                          the file was deleted on this
                                          receipt: it covers every upload
                                          merged into it since the last
                                          "archived" line of that bucket

Each change is one appended line, flushed before the buck answers.  A file
deleted without merged uploads records nothing (no tailer will ask).  At
start the file is replayed, entries of buckets older than the keeping
period are dropped and the file is rewritten (atomically) when that
shrinks it.  Lines of an older format (C{+START}, C{-START}: bucket
starts without proof) are skipped: tailers then keep those copies until
their own age and size limits delete them.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

from twisted.logger import Logger

#: Seconds a bucket's proofs are remembered (a tailer that stays away longer
#: keeps its copies until its own age and size limits delete them).
DEFAULT_KEEP_SECONDS = 30 * 86400

ARCHIVED_FILE = "archived"


@dataclass(frozen=True)
class SignedReceipt:
    """
    A porter's archive receipt as the buck received it.

    @ivar body: the receipt (L{logship.core.receipts}).
    @ivar signature: the porter's signature, empty in lab mode.
    @ivar credential: the porter's credential, empty in lab mode.
    """

    body: bytes
    signature: bytes
    credential: bytes


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode() if data else "-"


def _unb64(text: str) -> bytes:
    return b"" if text == "-" else base64.b64decode(text, validate=True)


class ArchivedRecord:
    """
    The uploads merged into each bucket file, and the receipts of the files
    deleted once archived, on disk.

    @ivar path: the record's file.
    """

    _log = Logger()

    def __init__(self, path: Path, now: float, keep_seconds: float = DEFAULT_KEEP_SECONDS) -> None:
        """
        Load the record at C{path} (empty if there is none), forgetting the
        buckets older than C{now - keep_seconds}.

        @raise OSError: if the file cannot be read or rewritten.
        """
        self.path = path
        #: The uploads merged into the present file of each bucket.
        self._current: dict[int, set[bytes]] = {}
        #: The receipt that covers each archived upload.
        self._proofs: dict[tuple[int, bytes], SignedReceipt] = {}
        #: The porter credentials already written, by their id in the file.
        self._porters: dict[str, bytes] = {}
        lines = self._replay(now - keep_seconds)
        if lines > self._needed_lines():
            self._rewrite()
        self._file = open(path, "a", encoding="ascii")

    # -- loading

    def _replay(self, oldest: float) -> int:
        try:
            text = self.path.read_text(encoding="ascii", errors="replace")
        except FileNotFoundError:
            return 0
        lines = text.splitlines()
        for number, line in enumerate(lines, 1):
            words = line.split(" ")
            try:
                self._take(words, oldest)
            except (IndexError, KeyError, ValueError, binascii.Error):
                # A torn last line (a crash mid-append) or damage: skip it.
                self._log.warn(
                    "{path}:{number}: ignored a malformed line {line!r}",
                    path=str(self.path),
                    number=number,
                    line=line[:40],
                )
        return len(lines)

    def _take(self, words: list[str], oldest: float) -> None:
        kind = words[0]
        if kind[:1] in ("+", "-") and kind[1:].isdigit():
            return  # the older format: no proof to give
        if kind == "porter" and len(words) == 3:
            self._porters[words[1]] = _unb64(words[2])
            return
        start = int(words[1])
        if kind == "merged" and len(words) == 3:
            upload = bytes.fromhex(words[2])
            if len(upload) != 32:
                raise ValueError("not a digest")
            if start >= oldest:
                self._current.setdefault(start, set()).add(upload)
            return
        if kind == "archived" and len(words) == 5:
            porter = words[4]
            credential = b"" if porter == "-" else self._porters[porter]
            receipt = SignedReceipt(_unb64(words[2]), _unb64(words[3]), credential)
            for upload in self._current.pop(start, set()):
                self._proofs[(start, upload)] = receipt
            return
        raise ValueError(f"unknown line {kind!r}")

    def _needed_lines(self) -> int:
        receipts = {id(r): r for r in self._proofs.values()}
        porters = {r.credential for r in receipts.values() if r.credential}
        return (
            len(self._proofs)
            + len(receipts)
            + len(porters)
            + sum(len(u) for u in self._current.values())
        )

    def _rewrite(self) -> None:
        by_receipt: dict[int, tuple[int, SignedReceipt, list[bytes]]] = {}
        for (start, upload), receipt in sorted(self._proofs.items()):
            by_receipt.setdefault(id(receipt), (start, receipt, []))[2].append(upload)
        lines: list[str] = []
        self._porters = {}
        for start, receipt, uploads in by_receipt.values():
            lines += [f"merged {start} {u.hex()}\n" for u in uploads]
            lines += self._receipt_lines(start, receipt)
        for start, merged in sorted(self._current.items()):
            lines += [f"merged {start} {u.hex()}\n" for u in sorted(merged)]
        temporary = self.path.with_name(self.path.name + ".new")
        with open(temporary, "w", encoding="ascii") as out:
            out.writelines(lines)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temporary, self.path)

    def _receipt_lines(self, start: int, receipt: SignedReceipt) -> list[str]:
        """
        The lines recording that bucket C{start} was archived on
        C{receipt} (its porter's credential first, once in the file).
        """
        lines = []
        porter = "-"
        if receipt.credential:
            porter = hashlib.sha256(receipt.credential).hexdigest()[:32]
            if porter not in self._porters:
                lines.append(f"porter {porter} {_b64(receipt.credential)}\n")
                self._porters[porter] = receipt.credential
        lines.append(
            f"archived {start} {_b64(receipt.body)} {_b64(receipt.signature)} {porter}\n"
        )
        return lines

    # -- using

    def __len__(self) -> int:
        return len(self._proofs)

    def merged(self, start: int, upload: bytes) -> None:
        """
        Remember that an upload (by its SHA-256) was merged into the
        present file of bucket C{start}.
        """
        uploads = self._current.setdefault(start, set())
        if upload not in uploads:
            self._append([f"merged {start} {upload.hex()}\n"])
            uploads.add(upload)

    def archived(self, start: int, receipt: SignedReceipt) -> int:
        """
        The file of bucket C{start} was deleted on C{receipt}: it proves
        every upload merged into that file archived.

        @return: how many uploads it covers.
        """
        uploads = self._current.pop(start, set())
        if not uploads:
            return 0
        self._append(self._receipt_lines(start, receipt))
        for upload in uploads:
            self._proofs[(start, upload)] = receipt
        return len(uploads)

    def proof(self, start: int, upload: bytes) -> SignedReceipt | None:
        """
        The receipt proving the upload archived, if there is one.
        """
        return self._proofs.get((start, upload))

    def knows(self, start: int, upload: bytes) -> bool:
        """
        Whether the upload was merged here and is remembered: in the
        present file of its bucket, or proven archived.  A buck that lost
        its disk, or forgot the bucket (older than the keeping period),
        does not know it: its tailer ships it again.
        """
        return upload in self._current.get(start, ()) or (start, upload) in self._proofs

    def _append(self, lines: list[str]) -> None:
        self._file.writelines(lines)
        self._file.flush()

    def close(self) -> None:
        """
        Close the file.
        """
        self._file.close()

