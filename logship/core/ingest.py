"""From raw lines of one source to events: parse, fill points, split long lines.

The one place that turns a line into L{Event}s, used by C{logship import} and
C{logship parse} now and by the tailer later, so that all of them give the
same events (and the same points) for the same lines.
"""

from __future__ import annotations

import hashlib
import socket
from collections.abc import Iterable, Iterator
from datetime import tzinfo

from logship.core.event import (
    MAX_NAME,
    MAX_PART,
    Event,
    pack_origin,
    split_event,
    split_message,
)
from logship.core import parse
from logship.core.formats import check_format
from logship.core.parse import Parsed
from logship.core.points import PointSequencer



def this_host() -> bytes:
    """
    This machine's short host name, the default host of lines naming none.
    """
    return (socket.gethostname().split(".")[0] or "localhost").encode()


def check_host(host: bytes) -> bytes:
    """
    Check a configured host name: 1 to 255 bytes, no spaces.

    @return: C{host}.
    @raise ValueError: if it is not one.
    """
    if not 0 < len(host) <= MAX_NAME or b" " in host:
        raise ValueError(f"a host name is 1 to {MAX_NAME} bytes, no spaces, not {host!r}")
    return host


def file_source_tag(name: bytes, head: bytes) -> int:
    """
    The source tag of a file read whole, as C{logship import} reads it:
    derived from its name and its first bytes, so that importing the same
    file again gives the same origins (its events collapse with the first
    import's) while another file gets another tag.

    @param name: the file's absolute path.
    @param head: its first L{FILE_TAG_HEAD} bytes (fewer if it is shorter).
    @return: the tag, C{0} to C{2**32 - 1}.
    """
    digest = hashlib.blake2b(name + b"\0" + head, digest_size=4, person=b"logship-import")
    return int.from_bytes(digest.digest(), "big")


#: How many first bytes of a file L{file_source_tag} covers.
FILE_TAG_HEAD = 1024


def lines_at(chunks: Iterable[bytes]) -> Iterator[tuple[int, bytes]]:
    """
    Cut a stream of byte chunks into lines without their terminators, each
    with the offset in the stream where it starts.

    A line ends with LF; one CR before it is part of the terminator too.  A
    last line without LF is a line as well.

    @return: C{(offset, line)} pairs, in order.
    """
    rest = b""
    offset = 0
    for chunk in chunks:
        lines = (rest + chunk).split(b"\n")
        rest = lines.pop()
        for line in lines:
            yield offset, line[:-1] if line.endswith(b"\r") else line
            offset += len(line) + 1
    if rest:
        yield offset, rest[:-1] if rest.endswith(b"\r") else rest


def split_lines(chunks: Iterable[bytes]) -> Iterator[bytes]:
    """
    The lines of L{lines_at}, without their offsets.
    """
    return (line for _, line in lines_at(chunks))


class LineEncoder:
    """
    Turns the lines of one source (one file of one host) into events.

    Each event carries its origin (L{logship.core.event.pack_origin}): the
    source tag given here, and the file number and offset given with each
    line, so that the same line read again gets the same identity.

    @ivar points: the source's point sequencer; its state goes with the
        source's read offset, so that re-reading gives the same points.
    """

    def __init__(
        self,
        *,
        host: bytes,
        tz: tzinfo,
        source: int,
        year: int | None = None,
        points: PointSequencer | None = None,
        hint: str | None = None,
    ) -> None:
        """
        @param host: host name for lines that do not name one.
        @param tz: time zone of timestamps without an offset.
        @param source: the source tag of the events' origins, C{0} to
            C{2**32 - 1}.
        @param year: year of timestamps without one (inferred if C{None}).
        @param points: the sequencer to continue from (a new one if C{None}).
        @param hint: the format of the source's lines, one of
            L{logship.core.formats.FORMAT_NAMES}; C{None} or C{"auto"}: guess.
        @raise ValueError: an unknown host or format name.
        """
        self._host = check_host(host)
        pack_origin(source, 0, 0)
        self._source = source
        self._tz = tz
        self._year = year
        self._hint = check_format(hint)
        self.points = PointSequencer() if points is None else points
        self._unended: tuple[Parsed, bytes] | None = None

    def events(
        self,
        raw: bytes,
        now: float,
        offset: int,
        *,
        file: int = 0,
        ended: bool = True,
        first: int | None = None,
    ) -> list[Event]:
        """
        The events of one line: one, or several parts of a long line.

        A reader that must cut a huge line into pieces (to bound its memory)
        passes each piece but the last with C{ended=False}: the next piece
        is not parsed but continues the same event (same host, app, pid,
        priority), and the last event of an unended piece is flagged
        C{continued}, so the line is joined again on display.

        @param raw: the line (or piece) without its terminator.
        @param now: the reading time, seconds since the epoch.
        @param offset: where the line (or piece) starts in its file.
        @param file: the file's number within the source.
        @param ended: C{False} if the next call continues this line.
        @param first: for several lines joined into one event
            (L{logship.core.multiline}), the length of the first: the
            header is parsed from it, and the message is the first line's
            followed by the other lines, verbatim.
        """
        head = self._unended
        if head is None:
            line = raw if first is None else raw[:first]
            parsed = parse.parse_line(line, now=now, tz=self._tz, year=self._year, hint=self._hint)
            shn = self._host if parsed.host is None else parsed.host
            message = parsed.message if first is None else parsed.message + raw[first:]
            structured = parsed.structured
        else:
            parsed, shn = head
            message = raw
            structured = False
        self._unended = None if ended else (parsed, shn)
        origin = pack_origin(self._source, file, offset)
        next_point = self.points.next
        if len(message) <= MAX_PART:
            point = next_point(parsed.point, parsed.resolution)
            return [
                Event(point, parsed.pri, shn, parsed.app, parsed.pid, message, not ended,
                      structured, origin)
            ]  # fmt: skip
        points = [
            next_point(parsed.point, parsed.resolution) for _ in split_message(message)
        ]
        event = Event(
            points[0], parsed.pri, shn, parsed.app, parsed.pid, message, not ended,
            structured, origin,
        )  # fmt: skip
        return split_event(event, points)
