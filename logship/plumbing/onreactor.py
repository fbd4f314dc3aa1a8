"""Running one piece of asynchronous work from a command-line tool."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

from twisted.internet.defer import Deferred, ensureDeferred
from twisted.python.failure import Failure

T = TypeVar("T")


def run_on_reactor(work: Callable[[Any], Coroutine[Any, Any, T] | Deferred[T]]) -> T:
    """
    Run C{work(reactor)} (a coroutine function, or one returning a
    Deferred) on the global reactor, started for it and stopped after it.

    @return: its result.
    @raise Exception: what it raised.
    @raise KeyboardInterrupt: if the reactor stopped first (Ctrl-C).
    """
    from twisted.internet import reactor

    outcome: list[T | Failure] = []

    def finish(result: T | Failure) -> None:
        outcome.append(result)
        reactor.stop()

    def begin() -> None:
        ensureDeferred(work(reactor)).addBoth(finish)

    reactor.callWhenRunning(begin)
    reactor.run()
    if not outcome:
        raise KeyboardInterrupt
    (result,) = outcome
    if isinstance(result, Failure):
        result.raiseException()
    return result
