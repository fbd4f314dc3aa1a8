"""A wall time the test sets, for services on the real reactor."""

from __future__ import annotations

from typing import Any

from twisted.internet.interfaces import IDelayedCall, IReactorTime
from zope.interface import implementer


@implementer(IReactorTime)
class SetTime:
    """
    The clock of a service under test on the real reactor: its timers
    (connection retries, request timeouts) run on the reactor, in real
    seconds, while C{seconds()}, the service's wall time, is what the test
    set, so that data at fixed dates has a fixed age whatever the day.

    @ivar now: what C{seconds()} answers.
    """

    def __init__(self, reactor: Any, now: float) -> None:
        self._reactor = reactor
        self.now = now

    def seconds(self) -> float:
        return self.now

    def callLater(self, delay: float, callable: Any, *args: Any, **kw: Any) -> IDelayedCall:
        return self._reactor.callLater(delay, callable, *args, **kw)  # type: ignore[no-any-return]

    def getDelayedCalls(self) -> list[IDelayedCall]:
        return self._reactor.getDelayedCalls()  # type: ignore[no-any-return]
