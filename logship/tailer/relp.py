"""The tailer's RELP listener: syslog messages acknowledged once they are stored.

A C{--syslog relp:PORT} listener speaks RELP as rsyslog's omrelp (librelp)
does (L{logship.core.relp}); its connections are streams of the listener's
source like a TCP listener's (L{logship.tailer.syslog}).

  1. The bytes read go through the framer and the session rules; each
     C{syslog} frame's data is a message, whose stream offset is that of
     its data.
  2. The messages of one read are stored together (L{ISyslogSink.store}:
     appended to the spool of the listener's durability and flushed,
     fsynced for C{ack2+fsync}: the point where a file's line may be
     forgotten by its reader), and only then are their C{200 OK} answers
     written: the sender keeps, and resends after a reconnect, every
     message not answered yet.  (C{live} stores nothing: its messages are
     answered once sent.)
  3. A frame that breaks the protocol closes the connection with one log
     line naming the peer and the reason; the frames before it in the
     same read are stored and answered first.  A frame cut short by the
     end of the connection is dropped: it was not answered, the sender
     sends it again.
  4. Backpressure as for TCP: while the sink is backlogged the connection
     stops reading; the sender's window fills and it waits.
  5. When the tailer stops, each connection gets the C{serverclose} hint
     and is closed.
"""

from __future__ import annotations

from twisted.internet.interfaces import IAddress
from twisted.internet.protocol import connectionDone
from twisted.logger import Logger
from twisted.python.failure import Failure

from logship.core.relp import SERVERCLOSE, RelpError, RelpFramer, RelpSession, Reply
from logship.core.syslogframe import datagram_pieces
from logship.tailer.syslog import SyslogTCPFactory, SyslogTCPProtocol

_log = Logger(namespace="logship.tailer.relp")


class RelpProtocol(SyslogTCPProtocol):
    """
    One RELP sender's connection.
    """

    def connectionMade(self) -> None:
        super().connectionMade()
        self._relp = RelpFramer()
        self._session = RelpSession()
        self._closing = False

    def dataReceived(self, data: bytes) -> None:
        if self._closing:  # what still comes after a close or an error is not read
            return
        factory = self.factory
        factory.counters.bytes += len(data)
        frames, error = self._relp.feed_until_error(data)
        replies: list[Reply] = []
        try:
            for frame in frames:
                replies.append(self._session.receive(frame))
                if replies[-1].close:
                    break
        except RelpError as e:
            error = e
        self._answer(replies)
        if replies and replies[-1].close:
            self._closing = True
            self._transport.loseConnection()
        elif error is not None:
            self._closing = True
            factory.counters.rejected += 1
            _log.error(
                "Syslog {listener}: closing the RELP connection of {peer}: {error}",
                listener=factory.listen.endpoint,
                peer=self._peer,
                error=str(error),
            )
            self._transport.loseConnection()
        elif factory.sink.backlogged():
            factory.counters.paused += 1
            self._transport.pauseProducing()
            factory.sink.wait_for_room(self._transport)

    def _answer(self, replies: list[Reply]) -> None:
        """
        Store the messages of C{replies}, then send every answer.
        """
        pieces = [
            piece
            for reply in replies
            if reply.message is not None
            for piece in datagram_pieces(reply.message.data, reply.message.offset)
        ]
        self._store(pieces)
        if replies:
            self._transport.writeSequence([reply.response for reply in replies])
            self.factory.counters.acks += sum(1 for r in replies if r.message is not None)

    def close(self) -> None:
        """
        The service stops: tell the sender (C{serverclose}) and close.
        """
        self._transport.write(SERVERCLOSE)
        self._transport.loseConnection()

    def connectionLost(self, reason: Failure = connectionDone) -> None:
        # a frame cut short was not answered: it is not stored either
        self.factory.connected.discard(self)
        self.factory.sink.forget(self._transport)


class RelpFactory(SyslogTCPFactory):
    """
    The connections of one RELP listener.
    """

    def buildProtocol(self, addr: IAddress | None) -> RelpProtocol:
        return RelpProtocol(self)
