"""Length-prefixed frames: a sans-IO framer and its encoder.

Protocol steps (this layer only; C{docs/protocol.md} has the whole picture):

  1. A frame is a 4-byte big-endian unsigned length followed by that many
     bytes of body.  An empty body is allowed by this layer (the layers
     above reject it).
  2. The length is checked against the cap (L{MAX_FRAME} unless told
     otherwise) as soon as its 4 bytes have arrived, before any of the body
     is buffered: a larger length raises L{FrameTooLarge} at once.
  3. Complete bodies are returned in arrival order; a partial frame stays
     buffered until the rest arrives.  The caller decides how long to wait
     for the rest (see the frame timeout in L{logship.wire.protocol}).
  4. After L{FrameTooLarge} the stream has lost its framing: the framer
     refuses further input and the connection must close.

Nothing here does I/O: L{Framer.feed} takes bytes and returns bodies.
"""

from __future__ import annotations

import struct

from logship.wire import WireError

#: The largest frame body accepted and sent: 8 MiB.  A batch is at most
#: 4 MiB before compression and a bucket chunk 1 MiB, so this leaves room.
MAX_FRAME = 8 * 1024 * 1024

_LENGTH = struct.Struct(">I")
PREFIX_SIZE = _LENGTH.size


class FrameTooLarge(WireError):
    """
    A length prefix, or a body to send, exceeds the frame cap.

    @ivar length: the announced (or attempted) body length.
    @ivar limit: the cap it exceeds.
    """

    code = "frame-too-large"

    def __init__(self, length: int, limit: int) -> None:
        super().__init__(f"frame of {length} bytes exceeds the limit of {limit} bytes")
        self.length = length
        self.limit = limit


def frame_prefix(body: bytes, max_frame: int = MAX_FRAME) -> bytes:
    """
    The length prefix of one frame: write it, then the body, with the
    transport's C{writeSequence}, and the body is not copied.

    @param body: the frame body.
    @param max_frame: the cap to respect (the receiver's).
    @return: the 4-byte big-endian length.
    @raise FrameTooLarge: if C{body} is longer than C{max_frame}; a frame
        the peer would reject is never sent.
    """
    if len(body) > max_frame:
        raise FrameTooLarge(len(body), max_frame)
    return _LENGTH.pack(len(body))


def encode_frame(body: bytes, max_frame: int = MAX_FRAME) -> bytes:
    """
    Frame one body: its 4-byte big-endian length, then the body.

    @param body: the frame body.
    @param max_frame: the cap to respect (the receiver's).
    @return: the bytes to write to the transport.
    @raise FrameTooLarge: as L{frame_prefix}.
    """
    return frame_prefix(body, max_frame) + body


class Framer:
    """
    Splits a byte stream into frame bodies.

    Feed it whatever the transport delivers, in any chunking; it returns the
    bodies completed by each chunk.  Memory is bounded by the cap plus one
    chunk.
    """

    def __init__(self, max_frame: int = MAX_FRAME) -> None:
        """
        @param max_frame: the largest body accepted, at most 2**32 - 1.
        """
        if not 0 <= max_frame < 1 << 32:
            raise ValueError(f"max_frame must fit in 4 bytes, not {max_frame}")
        self._max_frame = max_frame
        self._buffer = bytearray()
        self._broken: FrameTooLarge | None = None

    @property
    def buffered(self) -> int:
        """
        How many bytes of an incomplete frame are waiting for the rest.
        """
        return len(self._buffer)

    def feed(self, data: bytes) -> list[bytes]:
        """
        Add received bytes and return the bodies they complete.

        @param data: the next bytes of the stream.
        @return: the complete bodies, oldest first (often empty).
        @raise FrameTooLarge: as soon as a length prefix exceeds the cap;
            again on every later call, since the stream is out of step.
        """
        if self._broken is not None:
            raise self._broken
        buffer = self._buffer
        buffer += data
        bodies: list[bytes] = []
        position = 0
        available = len(buffer)
        max_frame = self._max_frame
        while available - position >= PREFIX_SIZE:
            (length,) = _LENGTH.unpack_from(buffer, position)
            if length > max_frame:
                del buffer[:]
                self._broken = FrameTooLarge(length, max_frame)
                raise self._broken
            end = position + PREFIX_SIZE + length
            if end > available:
                break
            bodies.append(bytes(buffer[position + PREFIX_SIZE : end]))
            position = end
        if position:
            del buffer[:position]
        return bodies
