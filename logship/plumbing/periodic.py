"""Periodic jobs that survive their own failures."""

from __future__ import annotations

from collections.abc import Callable

from twisted.application.internet import TimerService
from twisted.application.service import Service
from twisted.internet.defer import Deferred, succeed
from twisted.internet.interfaces import IDelayedCall, IReactorTime
from twisted.logger import Logger


def never_fails(job: Callable[[], object], log: Logger) -> Callable[[], None]:
    """
    Wrap a periodic job so that an exception is logged and the next tick
    still happens (a L{TimerService} stops for good at its first failure).
    """

    def tick() -> None:
        try:
            job()
        except Exception:
            log.failure("Periodic job {job} failed", job=job.__name__)

    tick.__name__ = job.__name__
    return tick


class _Delayed(TimerService):
    """
    A L{TimerService} whose first call comes C{first} seconds after it
    starts, not at once.
    """

    def __init__(self, step: float, tick: Callable[[], None], first: float) -> None:
        super().__init__(step, tick)
        self._first = first
        self._pending: IDelayedCall | None = None

    def startService(self) -> None:
        Service.startService(self)
        clock = self.clock
        assert clock is not None, "TimerService sets its clock"
        self._pending = clock.callLater(self._first, self._begin)

    def _begin(self) -> None:
        self._pending = None
        super().startService()

    def stopService(self) -> Deferred[None]:
        if self._pending is None:
            return super().stopService()  # type: ignore[no-any-return]
        self._pending.cancel()
        self._pending = None
        Service.stopService(self)
        return succeed(None)


def periodic(
    interval: float,
    job: Callable[[], object],
    clock: IReactorTime,
    log: Logger,
    first: float = 0.0,
) -> TimerService:
    """
    A L{TimerService} running C{job} every C{interval} seconds on C{clock},
    logging and surviving its failures.

    @param first: seconds from the service's start to the first run (0:
        at once, as a L{TimerService} does).
    """
    tick = never_fails(job, log)
    timer = TimerService(interval, tick) if first <= 0 else _Delayed(interval, tick, first)
    timer.clock = clock
    return timer
