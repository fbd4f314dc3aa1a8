"""Syslog transport framing, sans-IO: a TCP stream or a UDP datagram → messages.

TCP (RFC 6587) has two framings, and senders mix them; as rsyslog's imtcp
does, each frame is classified by its first bytes:

  1. A frame that starts with a run of 1 to L{MAX_COUNT_DIGITS} digits and
     a space is octet-counted: C{MSG-LEN SP SYSLOG-MSG}, exactly MSG-LEN
     bytes.  A count of 0, one with a leading zero, or one over
     C{max_frame} is a L{FramingError}: the stream cannot be resynchronised,
     so the connection must be closed (what came before is kept).
  2. Any other frame is non-transparent (LF-terminated): it runs to the next
     LF.  An empty one (a blank line, or the LF some senders put after an
     octet-counted frame) is no message.

UDP (RFC 5426): one datagram is one message.

Each message loses its trailing LF and NUL bytes and is handed on in
L{Piece}s, as the file follower hands on lines: a message longer than
C{max_line} comes as pieces of C{max_line} bytes with C{ended=False}, the
last (1 to C{max_line} bytes before the trim) with C{ended=True}, so memory
stays bounded and the events carry the continuation flag.  The pieces and
their offsets depend only on the bytes of the stream, never on how it was
cut into reads.
"""

from __future__ import annotations

from enum import Enum
from typing import NamedTuple

#: The longest digit run read as an octet count; a longer run starts an
#: LF-terminated frame.
MAX_COUNT_DIGITS = 10

#: The default largest message, in bytes (an octet count above it is refused).
MAX_FRAME = 64 << 20

#: The default piece size (the follower's longest line).
MAX_LINE = 1 << 20

_TRIM = b"\n\0"
_DIGITS = frozenset(b"0123456789")


class Piece(NamedTuple):
    """
    One message, or one piece of a long message.

    @ivar data: its bytes (the last piece without trailing LF and NUL).
    @ivar offset: where its first byte is in the stream (for a datagram,
        the offset given for it).
    @ivar ended: C{False} for a piece that the next one continues.
    """

    data: bytes
    offset: int
    ended: bool


class FramingError(ValueError):
    """
    A frame that cannot be read (a bad octet count): the stream is lost
    from here on.
    """


class _State(Enum):
    START = "start"
    OCTETS = "octets"
    LINE = "line"
    DEAD = "dead"


def _pieces(
    message: bytes, offset: int, max_line: int, out: list[Piece], continued: bool = False
) -> None:
    """
    Append the pieces of the rest of a message: C{max_line} bytes each but
    the last, which is trimmed (and dropped if the whole message is empty).

    @param continued: pieces of this message were handed on already (then
        an empty last piece still ends it).
    """
    start = 0
    while len(message) - start > max_line:
        out.append(Piece(message[start : start + max_line], offset + start, False))
        start += max_line
    last = message[start:].rstrip(_TRIM)
    if last or start or continued:
        out.append(Piece(last, offset + start, True))


def datagram_pieces(datagram: bytes, offset: int, max_line: int = MAX_LINE) -> list[Piece]:
    """
    The message of one UDP datagram (RFC 5426), in pieces.

    @param offset: the datagram's place in the listener's stream.
    @return: no piece for an empty message.
    """
    out: list[Piece] = []
    _pieces(datagram, offset, max_line, out)
    return out


class StreamFramer:
    """
    The messages of one TCP connection (RFC 6587), fed as it arrives.

    @ivar messages: messages completed so far.
    """

    def __init__(self, max_line: int = MAX_LINE, max_frame: int = MAX_FRAME) -> None:
        """
        @param max_line: the piece size of long messages.
        @param max_frame: the largest octet count accepted.
        """
        if max_line < 1 or max_frame < 1:
            raise ValueError("max_line and max_frame must be > 0")
        self._max_line = max_line
        self._max_frame = max_frame
        self._buffer = b""
        self._offset = 0  # of the buffer's first byte in the stream
        self._state = _State.START
        self._remaining = 0  # of an octet-counted frame
        self._started = False  # the current message has had a piece
        self.messages = 0

    def feed(self, data: bytes) -> list[Piece]:
        """
        Take the next bytes of the stream.

        @return: the pieces completed by them, in order.
        @raise FramingError: a bad octet count; the framer takes nothing
            more (the pieces before it were returned by earlier calls, or
            are lost with this one only if they came in the same call: see
            L{feed_until_error}).
        """
        pieces, error = self.feed_until_error(data)
        if error is not None:
            raise error
        return pieces

    def feed_until_error(self, data: bytes) -> tuple[list[Piece], FramingError | None]:
        """
        Take the next bytes of the stream, and give back the pieces that
        came before a framing error too.

        @return: the pieces completed, and the error that stopped the
            stream (C{None} if none did).
        """
        if self._state is _State.DEAD:
            return [], FramingError("the stream was already lost to a framing error")
        buffer = self._buffer + data if self._buffer else data
        out: list[Piece] = []
        pos = 0
        error = None
        while pos < len(buffer):
            if self._state is _State.START:
                if buffer[pos] not in _DIGITS:
                    self._state = _State.LINE
                    continue
                end = pos
                limit = min(len(buffer), pos + MAX_COUNT_DIGITS + 1)
                while end < limit and buffer[end] in _DIGITS:
                    end += 1
                if end == len(buffer) and end - pos <= MAX_COUNT_DIGITS:
                    break  # the count may go on
                if end - pos > MAX_COUNT_DIGITS or buffer[end] != 0x20:
                    self._state = _State.LINE
                    continue
                digits = buffer[pos:end]
                count = int(digits)
                if digits[0] == 0x30 or count > self._max_frame:
                    self._state = _State.DEAD
                    error = FramingError(
                        f"bad octet count {digits.decode()!r} at byte {self._offset + pos}"
                        f" (1 to {self._max_frame}, no leading zero)"
                    )
                    break
                pos = end + 1
                self._remaining = count
                self._state = _State.OCTETS
            elif self._state is _State.OCTETS:
                available = len(buffer) - pos
                if available >= self._remaining:
                    end = pos + self._remaining
                    self._finish(buffer[pos:end], self._offset + pos, out)
                    pos = end
                    continue
                start = pos
                pos = self._partial(buffer, pos, out)
                self._remaining -= pos - start
                break
            else:  # LINE
                end = buffer.find(b"\n", pos)
                if end >= 0:
                    self._finish(buffer[pos:end], self._offset + pos, out)
                    pos = end + 1
                    continue
                pos = self._partial(buffer, pos, out)
                break
        self._buffer = buffer[pos:]
        self._offset += pos
        return out, error

    def close(self) -> list[Piece]:
        """
        The stream ended: what is left is the last message (an
        LF-terminated one without its LF, or an octet-counted one cut
        short by the sender), handed on as it is.

        @return: its pieces (none if nothing is left, or after an error).
        """
        out: list[Piece] = []
        if self._state is not _State.DEAD and (self._buffer or self._started):
            self._finish(self._buffer, self._offset, out)
            self._offset += len(self._buffer)
            self._buffer = b""
        self._state = _State.DEAD
        return out

    def _partial(self, buffer: bytes, pos: int, out: list[Piece]) -> int:
        """
        A message not complete yet: hand on its full pieces, keep the rest
        (1 to C{max_line} bytes).

        @return: where the kept rest starts.
        """
        max_line = self._max_line
        while len(buffer) - pos > max_line:
            out.append(Piece(buffer[pos : pos + max_line], self._offset + pos, False))
            pos += max_line
            self._started = True
        return pos

    def _finish(self, message: bytes, offset: int, out: list[Piece]) -> None:
        """
        The rest of a message: its last pieces (none for an empty message).
        """
        before = len(out)
        _pieces(message, offset, self._max_line, out, self._started)
        if len(out) > before:
            self.messages += 1
        self._started = False
        self._state = _State.START
