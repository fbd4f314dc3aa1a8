"""The live tail's Autobahn protocol: one client's WebSocket, a thin dispatcher.

A browser page (or any WebSocket client) connects to C{ws://HOST:PORT/live}
on every buck, sends a filter, and receives the matching events the buck
writes from then on, as JSON.  Lossy by design (docs/design.md "live"): the disk
path never waits for a client.  The protocol, in steps (C{docs/live.md}
is the reference):

  1. HTTP upgrade on path C{/live}.  Another path is refused (404); when the
     buck has a token (C{--live-token}), a request without the right one in
     C{?token=} or C{Authorization: Bearer} is refused (401); a browser's
     C{Origin} must match the allowed patterns (403); beyond
     C{max_per_address} clients of one IP address, 429; beyond
     C{max_clients} clients, 503.
  2. On open the buck sends C{{"type": "hello", "node": NODE}}.
  3. The client sends C{{"type": "filter", "hosts": [..], "apps": [..],
     "substring": TEXT|null, "rate": N}} (every key optional).  Until its
     first filter a client receives nothing; one that sends none within
     C{filter_timeout} seconds is closed (4008).  A new filter replaces the
     previous one (events pending under the old one are discarded).  A bad
     filter is answered C{{"type": "error", "error": WHY}}; the connection
     and the previous filter stay.
  4. The buck sends C{{"type": "events", "events": [EVENT, ...]}} batches,
     at most one every C{flush_interval} seconds, each at most the client's
     rate allows; events it had to drop (slow client, rate) are announced
     by C{{"type": "skipped", "count": N}} before the next batch.
  5. A binary message, a text message that is not JSON (or nested too
     deeply to read), or a message over 64 KiB closes the connection
     (codes 4003, 4007, 4009); a client whose transport has not drained
     for C{stall_timeout} seconds is closed (4008).  A message the buck
     fails to handle for any other reason (a bug) closes it with 4011,
     never an exception into Autobahn.

The protocol only dispatches: the request checks, the stream and the
shared encoder are its L{LiveFactory}'s, a message is read by
L{read_message}, and the events are pulled and sent by the client's
L{LiveStream} (the push producer of its transport).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, cast

from autobahn.twisted.websocket import WebSocketServerProtocol
from autobahn.websocket.types import ConnectionDeny, ConnectionRequest
from twisted.internet.interfaces import IConsumer, IDelayedCall
from twisted.logger import Logger

from logship.buck.live.filter import BadMessage, LiveFilter, Unreadable, read_message
from logship.buck.live.messages import (
    CLOSE_INTERNAL,
    CLOSE_NO_FILTER,
    CLOSE_OVERLOADED,
    CLOSE_TOO_BIG,
    error_message,
    hello_message,
)
from logship.buck.live.stream import LiveStream
from logship.buck.pubsub import TooManySubscribers

if TYPE_CHECKING:
    from logship.buck.live.factory import LiveFactory

#: Bytes a client's message may have at most.
MAX_MESSAGE = 64 * 1024


class LiveProtocol(WebSocketServerProtocol):
    """
    One live client: has its upgrade request checked, says hello, reads
    filters, and writes what its L{LiveStream} produces.
    """

    _log = Logger()  # Autobahn owns .log
    factory: LiveFactory
    stream: LiveStream | None = None
    client: str = "?"
    #: The client's IP address (what the per-address limit counts).
    address: str = "?"
    _filter_call: IDelayedCall | None = None

    def onConnect(self, request: ConnectionRequest) -> None:
        """
        Have the factory check the path, the token, the origin and the
        number of clients.
        """
        self.client = request.peer
        assert self.transport is not None
        self.address = str(getattr(self.transport.getPeer(), "host", request.peer))
        try:
            self.factory.check_request(request, self.address)
        except ConnectionDeny as e:
            self._log.info(
                "Live client {client} refused: {code} {reason}",
                client=self.client, code=e.code, reason=e.reason,
            )
            raise
        except Exception:
            self._log.failure("Live client {client}: cannot check its request", client=self.client)
            raise ConnectionDeny(500, "internal error") from None

    def onOpen(self) -> None:
        """
        Register the stream as the transport's producer, say hello, and
        wait C{filter_timeout} seconds for a filter.
        """
        factory = self.factory
        self.stream = factory.new_stream(f"live {self.client}", self._send_text, self._close_with)
        factory.opened(self)
        self._filter_call = factory.clock.callLater(factory.filter_timeout, self._no_filter)
        # A TCP transport is a consumer: it pauses the stream when it is full.
        cast(IConsumer, self.transport).registerProducer(self.stream, True)
        self._send_text(hello_message(factory.node))

    def onMessageFrameBegin(self, length: int) -> None:
        """
        Refuse a message that would exceed L{MAX_MESSAGE} before reading
        its payload: close (4009) and stop reading.
        """
        super().onMessageFrameBegin(length)
        if self.message_data_total_length > MAX_MESSAGE:
            self._close_with(
                CLOSE_TOO_BIG, f"a message may have at most {MAX_MESSAGE} bytes"
            )
            self.dropConnection(abort=False)

    def onMessage(self, payload: bytes, isBinary: bool) -> None:
        """
        Read a client's message and dispatch it (see the module docstring,
        steps 3 and 5).
        """
        if self.stream is None:
            return
        try:
            live_filter = read_message(payload, isBinary)
        except Unreadable as e:
            self._close_with(e.code, e.reason)
        except BadMessage as e:
            self._send_text(error_message(str(e)))
        except Exception:
            self._log.failure("Live client {client}: cannot read its message", client=self.client)
            self._close_with(CLOSE_INTERNAL, "the buck failed to read this message")
        else:
            self.handle_filter(live_filter)

    def onClose(self, wasClean: bool, code: int | None, reason: str | None) -> None:
        """
        Stop the stream and unsubscribe.
        """
        self._cancel_filter_timeout()
        stream = self.stream
        if stream is None:
            return
        stream.close()
        self.factory.closed(self)
        self._log.info(
            "Live client {client} gone ({code}): {sent} events sent, {skipped} skipped",
            client=self.client, code=code, sent=stream.sent, skipped=stream.skipped,
        )

    def handle_filter(self, live_filter: LiveFilter) -> None:
        """
        A new filter: (re)start the stream with it; close (4013) if the
        channel has too many subscribers.
        """
        assert self.stream is not None
        self._cancel_filter_timeout()
        try:
            self.stream.set_filter(live_filter)
        except TooManySubscribers:
            self._close_with(CLOSE_OVERLOADED, "the buck has too many subscribers")

    # -- internals

    def _no_filter(self) -> None:
        self._filter_call = None
        self._close_with(
            CLOSE_NO_FILTER, f"no filter within {self.factory.filter_timeout:g} s"
        )

    def _cancel_filter_timeout(self) -> None:
        if self._filter_call is not None and self._filter_call.active():
            self._filter_call.cancel()
        self._filter_call = None

    def _send_text(self, data: bytes) -> None:
        if self.state == WebSocketServerProtocol.STATE_OPEN:
            self.sendMessage(data, isBinary=False)

    def _close_with(self, code: int, reason: str) -> None:
        self._log.info(
            "Closing live client {client}: {code} {reason}",
            client=self.client, code=code, reason=reason,
        )
        if self.stream is not None:
            self.stream.close()
        self.sendClose(code, reason)
