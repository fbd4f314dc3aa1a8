"""RELP, the server's side, sans-IO: a byte stream → frames → messages and responses.

RELP (rsyslog's Reliable Event Logging Protocol, as librelp speaks it) is
a command/response protocol over TCP: every frame the sender sends is
answered by an C{rsp} frame with the same transaction number, and the
sender keeps (and resends after a reconnect) each message until its
answer came.

  1. A frame is C{TXNR SP COMMAND SP DATALEN [SP DATA] LF}: TXNR 1 to 9
     digits, COMMAND 1 to 32 ASCII letters, DATALEN 1 to 9 digits (at most
     C{max_data}); a DATALEN of 0 is followed by the LF at once, any other
     by a space, exactly DATALEN bytes and the LF (L{RelpFramer}).
  2. The session (L{RelpSession}) opens with C{open}, TXNR 1, whose data
     are the sender's offers (C{name=value,value} lines: C{relp_version},
     C{relp_software}, C{commands}); it is answered C{200 OK} and our
     offers (C{commands=syslog}), or C{500} and the end of the session if
     the sender does not offer the C{syslog} command.
  3. Each C{syslog} frame carries one message, answered C{200 OK} once the
     message is stored (the caller stores first, then sends the answer).
  4. C{close} is answered with an empty C{rsp} and the session ends; a
     server that stops sends the hint C{0 serverclose 0} before closing.
  5. The transaction numbers go up by one from 1, frame after frame.

Anything else, a frame that breaks rule 1, a transaction number out of
sequence, a command before C{open} or one a server does not take
(C{rsp}, C{serverclose}, an unknown one), is a L{RelpError}: the stream
cannot be trusted from there on, and the connection must be closed
(librelp's server breaks the session the same way).  Every frame before
the error was handed on intact; the errors and frames depend only on the
bytes, never on how the stream was cut into reads.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from logship import __version__

#: The default largest DATALEN accepted (librelp's own default is 128 KiB;
#: rsyslog sends messages of at most its C{maxMessageSize}).
MAX_DATA = 1 << 20

#: The largest transaction number (9 digits); the next one is 1 again.
MAX_TXNR = 999_999_999

#: The protocol version we speak (librelp's).
RELP_VERSION = 0

_HEADER = re.compile(rb"([0-9]{1,9}) ([A-Za-z]{1,32}) ([0-9]{1,9})([ \n])")
_DIGITS = frozenset(b"0123456789")
_LETTERS = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz")

OK = b"200 OK"


class RelpError(ValueError):
    """
    The stream broke the protocol: the connection must be closed.
    """


@dataclass(frozen=True)
class Frame:
    """
    One RELP frame.

    @ivar txnr: its transaction number.
    @ivar command: its command (C{b"syslog"}, C{b"open"}, ...).
    @ivar data: its data (empty for a DATALEN of 0).
    @ivar offset: where its data starts in the stream.
    """

    txnr: int
    command: bytes
    data: bytes
    offset: int


def encode_frame(txnr: int, command: bytes, data: bytes = b"") -> bytes:
    """
    A frame's bytes (the data part only if there is data, as librelp writes it).
    """
    if data:
        return b"%d %s %d %s\n" % (txnr, command, len(data), data)
    return b"%d %s 0\n" % (txnr, command)


#: The hint a server sends before it closes a session.
SERVERCLOSE = encode_frame(0, b"serverclose")


def _bad_header(buffer: bytes, pos: int, offset: int) -> RelpError | None:
    """
    Why the header starting at C{pos} is invalid, or C{None} if it may
    still become valid (the buffer ends inside it).

    @param offset: the stream offset of C{buffer[0]}, for the message.
    """
    fields = (("txnr", _DIGITS, 9), ("command", _LETTERS, 32), ("data length", _DIGITS, 9))
    i = pos
    for name, allowed, longest in fields:
        start = i
        while i < len(buffer) and buffer[i] in allowed and i - start < longest:
            i += 1
        if i == len(buffer):
            return None
        if buffer[i] != 0x20 or i == start:
            what = "a non-digit" if allowed is _DIGITS else "a non-letter"
            if i - start == longest:
                what = "too many characters"
            elif i == start and buffer[i] == 0x20:
                what = "nothing"
            return RelpError(
                f"bad {name} at byte {offset + start}: {what}"
                f" ({bytes(buffer[start : i + 1])!r})"
            )
        i += 1
    raise AssertionError("a valid header that _HEADER did not match")


class RelpFramer:
    """
    The frames of one connection, fed as it arrives.
    """

    def __init__(self, max_data: int = MAX_DATA) -> None:
        """
        @param max_data: the largest DATALEN accepted.
        """
        if max_data < 1:
            raise ValueError("max_data must be > 0")
        self._max_data = max_data
        self._buffer = b""
        self._offset = 0  # of the buffer's first byte in the stream
        self._dead = False

    def feed_until_error(self, data: bytes) -> tuple[list[Frame], RelpError | None]:
        """
        Take the next bytes of the stream.

        @return: the frames they complete, and the error that stopped the
            stream (C{None} if none did; once one did, every later call
            gives it again).
        """
        if self._dead:
            return [], RelpError("the stream was already lost to a framing error")
        buffer = self._buffer + data if self._buffer else data
        frames: list[Frame] = []
        pos = 0
        error = None
        while pos < len(buffer):
            match = _HEADER.match(buffer, pos)
            if match is None:
                error = _bad_header(buffer, pos, self._offset)
                break
            length = int(match.group(3))
            start = match.end()
            if match.group(4) == b"\n":
                if length:
                    error = RelpError(
                        f"bad frame at byte {self._offset + match.start(4)}:"
                        f" data length {length} and no data")
                    break
                frames.append(Frame(int(match.group(1)), match.group(2), b"", self._offset + start))
                pos = start
                continue
            if length == 0:
                error = RelpError(
                    f"bad frame at byte {self._offset + match.start(4)}:"
                    " a space after a data length of 0")
                break
            if length > self._max_data:
                error = RelpError(
                    f"data length {length} at byte {self._offset + match.start(3)}"
                    f" over the limit ({self._max_data})")
                break
            end = start + length
            if end >= len(buffer):
                break  # the data or its LF is still to come
            if buffer[end] != 0x0A:
                error = RelpError(
                    f"bad frame at byte {self._offset + end}: no LF after {length} bytes of data")
                break
            frames.append(Frame(int(match.group(1)), match.group(2), buffer[start:end],
                                self._offset + start))
            pos = end + 1
        if error is not None:
            self._dead = True
            self._buffer = b""
        else:
            self._buffer = buffer[pos:]
            self._offset += pos
        return frames, error


def parse_offers(data: bytes) -> dict[bytes, list[bytes]]:
    """
    The offers of an C{open} frame: one C{NAME[=VALUE[,VALUE]...]} a line.
    """
    offers: dict[bytes, list[bytes]] = {}
    for line in data.split(b"\n"):
        if not line:
            continue
        name, _, values = line.partition(b"=")
        offers[name] = [v for v in values.split(b",") if v]
    return offers


@dataclass(frozen=True)
class Reply:
    """
    What to do about one frame.

    @ivar response: the C{rsp} frame to send (after storing C{message}).
    @ivar message: a C{syslog} frame whose message must be stored before
        the response is sent, or C{None}.
    @ivar close: close the connection after the response.
    """

    response: bytes
    message: Frame | None = None
    close: bool = False


class RelpSession:
    """
    The rules of one server session (module docstring, steps 2 to 5).
    """

    def __init__(self) -> None:
        self._next = 1
        self._open = False

    @property
    def opened(self) -> bool:
        """
        Whether the sender's C{open} was accepted.
        """
        return self._open

    def receive(self, frame: Frame) -> Reply:
        """
        Check the next frame and say what to answer.

        @raise RelpError: it breaks the protocol.
        """
        if frame.txnr != self._next:
            raise RelpError(f"txnr {frame.txnr} out of sequence (expected {self._next})")
        self._next = 1 if self._next >= MAX_TXNR else self._next + 1
        command = frame.command
        if command == b"open":
            return self._open_reply(frame)
        if not self._open:
            raise RelpError(f"{command.decode()!r} before 'open'")
        if command == b"syslog":
            return Reply(encode_frame(frame.txnr, b"rsp", OK), message=frame)
        if command == b"close":
            return Reply(encode_frame(frame.txnr, b"rsp"), close=True)
        raise RelpError(f"command {command.decode()!r} not taken by a server")

    def _open_reply(self, frame: Frame) -> Reply:
        if self._open:  # as librelp: harmless
            return Reply(encode_frame(frame.txnr, b"rsp", b"200 connection already open - ignored"))
        offers = parse_offers(frame.data)
        version = offers.get(b"relp_version", [])
        if not version or not version[0].isdigit():
            raise RelpError(f"open without a relp_version ({frame.data[:80]!r})")
        if b"syslog" not in offers.get(b"commands", []):
            return Reply(encode_frame(frame.txnr, b"rsp",
                                      b"500 required command not supported by client"),
                         close=True)
        self._open = True
        ours = b"%s\nrelp_version=%d\nrelp_software=logship,%s\ncommands=syslog" % (
            OK, min(int(version[0]), RELP_VERSION), __version__.encode())
        return Reply(encode_frame(frame.txnr, b"rsp", ours))
