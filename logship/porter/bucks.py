"""The porter's connection to one buck: requests and their answers.

L{BuckLink} is the L{IWireHandler} of the porter's L{WireClientFactory} for
one buck (kept connected by a C{ClientService}).  Each request carries a
fresh C{request_id}; the answer with that id fires the request's Deferred.
A request fails with L{BuckUnavailable} when the buck is not connected, when
the connection ends before the answer, or when no answer comes within the
timeout (the connection is then closed: an answer that came later would
have nowhere to go).
"""

from __future__ import annotations

import itertools
from typing import Any

from twisted.internet.defer import Deferred, fail
from twisted.internet.interfaces import IDelayedCall, IReactorTime
from twisted.logger import Logger
from zope.interface import implementer

from logship.wire.messages import (
    MAX_CHUNK,
    MAX_LIST,
    Archived,
    ArchivedAck,
    BucketData,
    BucketGet,
    BucketList,
    BucketListing,
    Error,
    Message,
)
from logship.wire.protocol import CloseReason, IPeerConnection, IWireHandler

#: Seconds to wait for an answer.
DEFAULT_REQUEST_TIMEOUT = 60.0


class BuckUnavailable(Exception):
    """
    A buck could not answer: not connected, gone, or too slow.
    """


@implementer(IWireHandler)
class BuckLink:
    """
    Requests to one buck over its current connection.

    @ivar name: the buck's name in the porter's configuration.
    @ivar node: the buck's node name, once it said hello.
    @ivar connections: how many times it connected so far (a new
        connection may be to a buck that restarted with other files).
    """

    _log = Logger()

    def __init__(
        self, name: str, clock: IReactorTime, timeout: float = DEFAULT_REQUEST_TIMEOUT
    ) -> None:
        self.name = name
        self.node: str | None = None
        self.connections = 0
        self._clock = clock
        self._timeout = timeout
        self._peer: IPeerConnection | None = None
        self._ids = itertools.count(1)
        self._pending: dict[int, tuple[Deferred[Any], IDelayedCall, type]] = {}

    @property
    def connected_now(self) -> bool:
        """
        Whether the buck is connected (requests can be sent).
        """
        return self._peer is not None and self._peer.is_open

    # -- IWireHandler

    def connected(self, peer: IPeerConnection) -> None:
        self._log.info("Connected to buck {buck} ({node})", buck=self.name, node=peer.peer_node)
        self._peer = peer
        self.node = peer.peer_node
        self.connections += 1

    def message_received(self, peer: IPeerConnection, message: Message) -> None:
        if isinstance(message, Error):
            return
        request_id = getattr(message, "request_id", None)
        if (
            not isinstance(request_id, int)
            or (entry := self._pending.get(request_id)) is None
            or not isinstance(message, entry[2])
        ):
            peer.close(f"unexpected {message.TYPE} message")
            return
        del self._pending[request_id]
        waiting, timer, _ = entry
        timer.cancel()
        waiting.callback(message)

    def disconnected(self, peer: IPeerConnection, reason: CloseReason) -> None:
        self._log.info("Lost buck {buck}: {reason}", buck=self.name, reason=str(reason))
        if peer is self._peer:
            self._peer = None
        self._fail_all(f"buck {self.name} disconnected ({reason.code})")

    # -- requests

    def _request(self, message: BucketList | BucketGet | Archived, answer: type) -> Deferred[Any]:
        peer = self._peer
        if peer is None or not peer.is_open:
            return fail(BuckUnavailable(f"buck {self.name} is not connected"))
        waiting: Deferred[Any] = Deferred()
        request_id = message.request_id
        timer = self._clock.callLater(self._timeout, self._timed_out, request_id)
        self._pending[request_id] = (waiting, timer, answer)
        peer.send(message)
        return waiting

    def _timed_out(self, request_id: int) -> None:
        waiting, _, _ = self._pending.pop(request_id)
        waiting.errback(BuckUnavailable(f"buck {self.name} did not answer in {self._timeout} s"))
        if self._peer is not None:
            self._peer.close("a request timed out")

    def _fail_all(self, why: str) -> None:
        pending, self._pending = self._pending, {}
        for waiting, timer, _ in pending.values():
            timer.cancel()
            waiting.errback(BuckUnavailable(why))

    async def listing(self, limit: int = MAX_LIST) -> list[tuple[int, int]]:
        """
        Every bucket file of the buck, as C{(start, size)} ascending.

        @param limit: entries per answer (the buck pages the list).
        @raise BuckUnavailable: if the buck cannot answer.
        """
        found: list[tuple[int, int]] = []
        since = 0
        while True:
            answer: BucketListing = await self._request(
                BucketList(next(self._ids), since, limit), BucketListing
            )
            found.extend(answer.buckets)
            if not answer.more or not answer.buckets:
                return found
            since = answer.buckets[-1][0] + 1

    async def read(self, start: int, offset: int, end: int) -> bytes:
        """
        The bytes C{offset} to C{end} of the buck's file of bucket C{start}
        (fewer if the file is shorter now), in chunks of L{MAX_CHUNK}.

        @raise BuckUnavailable: if the buck cannot answer.
        """
        parts: list[bytes] = []
        position = offset
        while position < end:
            length = min(MAX_CHUNK, end - position)
            answer: BucketData = await self._request(
                BucketGet(next(self._ids), start, position, length), BucketData
            )
            if not answer.data:
                break
            parts.append(answer.data)
            position += len(answer.data)
        return b"".join(parts)

    async def archived(self, start: int, size: int, receipt: bytes, signature: bytes) -> bool:
        """
        Tell the buck its file of bucket C{start} was archived at C{size}
        bytes, with the porter's receipt (L{logship.core.receipts}).

        @param receipt: the receipt's body.
        @param signature: its signature, empty in lab mode.
        @return: whether the buck no longer has the file (C{False}: it grew
            since, or is not the copy archived, and was kept).
        @raise BuckUnavailable: if the buck cannot answer.
        """
        answer: ArchivedAck = await self._request(
            Archived(next(self._ids), start, size, receipt, signature), ArchivedAck
        )
        return answer.deleted
