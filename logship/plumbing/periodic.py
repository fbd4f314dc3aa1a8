"""Periodic jobs that survive their own failures."""

from __future__ import annotations

from collections.abc import Callable

from twisted.application.internet import TimerService
from twisted.internet.interfaces import IReactorTime
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


def periodic(
    interval: float, job: Callable[[], object], clock: IReactorTime, log: Logger
) -> TimerService:
    """
    A L{TimerService} running C{job} every C{interval} seconds on C{clock},
    logging and surviving its failures.
    """
    timer = TimerService(interval, never_fails(job, log))
    timer.clock = clock
    return timer
