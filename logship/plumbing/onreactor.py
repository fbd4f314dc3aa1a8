"""Running one piece of asynchronous work from a command-line tool."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from twisted.internet.defer import ensureDeferred

T = TypeVar("T")


def run_on_reactor(work: Callable[[Any], Awaitable[T]]) -> T:
    """
    Run C{work(reactor)} (a coroutine function, or one returning a
    Deferred) on the global reactor, started for it and stopped after it.

    @return: its result.
    @raise Exception: what it raised.
    @raise KeyboardInterrupt: if the reactor stopped first (Ctrl-C).
    """
    from twisted.internet import reactor

    outcome: list[Any] = []

    def finish(result: object) -> None:
        outcome.append(result)
        reactor.stop()  # type: ignore[attr-defined]

    def begin() -> None:
        ensureDeferred(work(reactor)).addBoth(finish)  # type: ignore[arg-type]

    reactor.callWhenRunning(begin)  # type: ignore[attr-defined]
    reactor.run()  # type: ignore[attr-defined]
    if not outcome:
        raise KeyboardInterrupt
    (result,) = outcome
    if hasattr(result, "raiseException"):
        result.raiseException()
    return result  # type: ignore[no-any-return]
