"""Replicated delivery: each batch goes to R random bucks and counts as
delivered when R of them acknowledged it.

No I/O of its own: bucks come and go through L{Delivery.connected} and
L{Delivery.disconnected}, acknowledgements arrive through L{Delivery.acked},
and time is an injected C{IReactorTime}.

  1. L{Delivery.send} prepares the batch once (compressed once) and sends
     it to as many connected bucks as it needs acknowledgements, chosen at
     random among those that have not acknowledged it yet.
  2. Each copy waits for its C{Ack} up to C{ack_timeout}.  A timeout or a
     disconnect gives that copy up; the batch goes to another buck (one it
     has not tried yet if there is one, else any connected buck that has
     not acknowledged it).
  3. When fewer bucks are connected than the batch needs, it waits: each
     newly connected buck is offered every batch short of copies.
  4. The batch's Deferred fires once it has its acknowledgements; later
     acks for it are ignored.  A C{live} batch needs none: it is sent to R
     bucks and its Deferred fires at once.
  5. A buck that refuses a batch (an event's host is not one this
     tailer's credential allows) says why: the refusal is logged and
     counted, and that copy waits for its ack timeout like a lost one, so
     the batch is offered again later, not in a loop (it is kept, and goes
     through once the credential allows its hosts).
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from twisted.internet.defer import Deferred
from twisted.internet.interfaces import IDelayedCall, IReactorTime
from twisted.logger import Logger

from logship.wire.messages import Batch, Durability, PreparedMessage, prepare_message
from logship.wire.protocol import IPeerConnection


def acks_needed(durability: Durability, replicas: int) -> int:
    """
    How many buck acknowledgements a batch of C{durability} needs.

    @param replicas: the configured replication factor R.
    """
    return {"live": 0, "ack1": 1}.get(durability, replicas)


@dataclass(eq=False)
class _Batch:
    """
    One batch on its way.
    """

    batch_id: int
    prepared: PreparedMessage
    needed: int
    done: Deferred[None]
    acked: set[str] = field(default_factory=set)
    tried: set[str] = field(default_factory=set)
    waiting: dict[str, IDelayedCall] = field(default_factory=dict)

    def short(self) -> int:
        """
        How many more copies it needs sent now.
        """
        return self.needed - len(self.acked) - len(self.waiting)


@dataclass
class DeliveryStats:
    """
    Counters of a L{Delivery}.
    """

    batches: int = 0
    delivered: int = 0
    copies_sent: int = 0
    acks: int = 0
    timeouts: int = 0
    resends: int = 0
    refused: int = 0


class Delivery:
    """
    Sends batches to R of the connected bucks and waits for their acks.
    """

    _log = Logger()

    def __init__(
        self,
        *,
        replicas: int,
        clock: IReactorTime,
        ack_timeout: float = 30.0,
        rng: random.Random | None = None,
    ) -> None:
        """
        @param replicas: R, the bucks an C{ack2} batch must reach.
        @param ack_timeout: seconds to wait for one buck's ack before the
            copy is sent elsewhere.
        @param rng: the random choice of bucks (seeded in tests).
        """
        if replicas < 1:
            raise ValueError("replicas must be at least 1")
        self.replicas = replicas
        self.stats = DeliveryStats()
        self._clock = clock
        self._ack_timeout = ack_timeout
        self._rng = rng or random.Random()
        self._bucks: dict[str, IPeerConnection] = {}
        self._batches: dict[int, _Batch] = {}
        self._next_id = 1

    @property
    def in_flight(self) -> int:
        """
        Batches sent and not yet delivered.
        """
        return len(self._batches)

    @property
    def bucks(self) -> list[str]:
        """
        The names of the connected bucks.
        """
        return sorted(self._bucks)

    def connected(self, name: str, peer: IPeerConnection) -> None:
        """
        A buck is connected (handshake done): offer it the batches short of
        copies.
        """
        self._bucks[name] = peer
        for batch in list(self._batches.values()):
            self._dispatch(batch)

    def disconnected(self, name: str) -> None:
        """
        A buck is gone: its unacknowledged copies go elsewhere.
        """
        self._bucks.pop(name, None)
        for batch in list(self._batches.values()):
            call = batch.waiting.pop(name, None)
            if call is not None:
                call.cancel()
                self.stats.resends += 1
                self._dispatch(batch)

    def send(self, events: list[bytes], durability: Durability) -> Deferred[None]:
        """
        Send serialized events as one batch.

        @return: a Deferred that fires when enough bucks acknowledged it
            (at once for C{live}); it never fails, it waits.
        """
        batch_id = self._next_id
        self._next_id += 1
        prepared = prepare_message(Batch(batch_id, durability, events))
        self.stats.batches += 1
        done: Deferred[None] = Deferred()
        if durability == "live":
            for name in self._rng.sample(self.bucks, min(self.replicas, len(self._bucks))):
                self._bucks[name].send(prepared)
            done.callback(None)
            return done
        batch = _Batch(batch_id, prepared, acks_needed(durability, self.replicas), done)
        self._batches[batch_id] = batch
        self._dispatch(batch)
        return done

    def acked(self, name: str, batch_id: int) -> None:
        """
        Buck C{name} acknowledged batch C{batch_id}.
        """
        self.stats.acks += 1
        batch = self._batches.get(batch_id)
        if batch is None:
            return
        call = batch.waiting.pop(name, None)
        if call is None:
            return  # an ack from a copy given up on: not counted
        call.cancel()
        batch.acked.add(name)
        if len(batch.acked) >= batch.needed:
            del self._batches[batch_id]
            for late in batch.waiting.values():
                late.cancel()
            batch.waiting.clear()
            self.stats.delivered += 1
            batch.done.callback(None)

    def refused(self, name: str, batch_id: int, reason: str) -> None:
        """
        Buck C{name} refused batch C{batch_id}: log and count it; the copy
        stays unacknowledged until its ack timeout.
        """
        self.stats.refused += 1
        self._log.error(
            "Buck {buck} refused batch {batch_id}: {reason}",
            buck=name,
            batch_id=batch_id,
            reason=reason,
        )

    def _dispatch(self, batch: _Batch) -> None:
        """
        Send copies of C{batch} until it has as many on their way as it
        needs, or no buck is left to take one.
        """
        closing: set[str] = set()
        while batch.short() > 0:
            free = [
                n
                for n in self._bucks
                if n not in batch.acked and n not in batch.waiting and n not in closing
            ]
            untried = [n for n in free if n not in batch.tried]
            choice = untried or free
            if not choice:
                return
            name = self._rng.choice(choice)
            batch.tried.add(name)
            if not self._bucks[name].send(batch.prepared):
                closing.add(name)  # its disconnect comes soon
                continue
            self.stats.copies_sent += 1
            batch.waiting[name] = self._clock.callLater(
                self._ack_timeout, self._timed_out, batch, name
            )

    def _timed_out(self, batch: _Batch, name: str) -> None:
        """
        Buck C{name} did not acknowledge C{batch} in time: try another.
        """
        del batch.waiting[name]
        self.stats.timeouts += 1
        self._log.warn(
            "Batch {batch_id} not acknowledged by {buck} in {timeout} s; resending",
            batch_id=batch.batch_id,
            buck=name,
            timeout=self._ack_timeout,
        )
        self._dispatch(batch)

    def stop(self) -> None:
        """
        Cancel every timer (the batches stay undelivered; the spool resends
        them after a restart).
        """
        for batch in self._batches.values():
            for call in batch.waiting.values():
                call.cancel()
            batch.waiting.clear()
