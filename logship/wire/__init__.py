"""The wire protocol between tailers, bucks and the porter.

Four layers, each in its own module, each testable alone (see
C{docs/protocol.md} for every byte):

  - L{logship.wire.framing}: length-prefixed frames, a sans-IO L{Framer}
    with a hard cap on the frame size;
  - L{logship.wire.seal}: NaCl sealing of frame bodies (the handshake with
    the cluster key, then one session key per direction with counter nonces);
  - L{logship.wire.messages}: typed messages and their msgpack + zlib
    encoding, with bounded, strict decoding;
  - L{logship.wire.protocol}: the thin Twisted protocol and factories that
    glue the three together and hand messages to an L{IWireHandler}.

This module only holds L{WireError}, the base of every error the layers
raise about what a peer sent; it imports none of them, so that the pure
layers stay free of Twisted.
"""

from __future__ import annotations

from typing import ClassVar


class WireError(Exception):
    """
    Something a peer sent breaks the protocol; the connection must close.

    @cvar code: a short, stable name for the kind of failure, used as the
        C{reason} key of log events and as the key of rejection counters.
    @ivar detail: a human-readable explanation, safe to send to the peer.
    """

    code: ClassVar[str] = "protocol-error"

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail
