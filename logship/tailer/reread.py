"""Lines read again after a crash: the ones the spool already holds.

A tailer killed between storing lines in its spool (and sending them) and
saving its checkpoint reads them again when it starts: from the saved
offset, the same lines at the same origins (C{docs/format.md},
"Identity").  Their events are the same occurrences, but not always the
same bytes: a line without a timestamp takes the time it is read, and a
year missing from a timestamp is inferred from it.  Another time may put
the copy in another bucket, where the porter, which merges one bucket at a
time, would keep both.

So, at start, L{spooled_since} collects the identities (origin, crc, host)
of the events the spool received after the checkpoint was written: those
of the followed sources, at or after the position the checkpoint saved for
each.  Lines read again whose events have those identities are not stored
again: the spool already holds them, and delivers them as it would have.
The identity, not the origin alone: a multi-line event
(L{logship.core.multiline}) cut by its timeout before the crash may be
joined of more lines when read again, and must then be stored too.

Pure file reading, no Twisted.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from pathlib import Path

from logship.core.bucket import TornRecord, iter_records, list_buckets
from logship.core.event import identity_key, origin_field, unpack_origin

#: Files modified this long before the checkpoint are read too (a file
#: appended to in the same tick as the checkpoint was written).
MTIME_SLACK = 2.0


def spooled_since(
    roots: Iterable[Path], since: float, positions: Mapping[int, tuple[int, int]]
) -> set[bytes]:
    """
    The identities (L{identity_key}) of the events in the spool files
    under C{roots} that were stored after the checkpoint: in files modified since C{since} (minus
    L{MTIME_SLACK}), of a source in C{positions}, at or after its saved
    position.

    @param since: when the checkpoint was written (its file's mtime).
    @param positions: the saved position of each followed source:
        C{source tag -> (file number, offset)}.
    @return: the identities (L{logship.core.event.Event.identity} bytes).
    """
    found: set[bytes] = set()
    for root in roots:
        for _, path in list_buckets(root):
            try:
                if os.stat(path).st_mtime < since - MTIME_SLACK:
                    continue
                with open(path, "rb") as f:
                    for _, data in iter_records(f):
                        origin = origin_field(data)
                        if origin and _at_or_after(origin, positions):
                            found.add(identity_key(data))
            except (OSError, TornRecord):
                continue  # the spool's own restore has said what is wrong
    return found


def _at_or_after(origin: bytes, positions: Mapping[int, tuple[int, int]]) -> bool:
    """
    Whether C{origin} is of a source in C{positions} and not before its
    saved position (file numbers compared modulo 2**16, as origins hold
    them).
    """
    source, file, offset = unpack_origin(origin)
    saved = positions.get(source)
    if saved is None:
        return False
    saved_file, saved_offset = saved
    ahead = (file - saved_file) & 0xFFFF
    if ahead == 0:
        return offset >= saved_offset
    return ahead < 0x8000
