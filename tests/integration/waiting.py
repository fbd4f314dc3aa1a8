"""Waiting for a condition in the tests on real processes, sockets and the real reactor.

One polling loop: look at a condition every L{POLL_INTERVAL} seconds until
it gives something true, and fail with L{WaitTimeout} (naming what was
awaited, and what C{on_timeout} says about the state) once C{timeout}
seconds have passed.  Never a fixed sleep: the deadline is only the limit
of a wait, not an expected duration.

  - L{wait_until}: on the reactor (C{await} it in a pytest-twisted test);
    the reactor runs between two looks.  The condition may be a coroutine
    function (an HTTP request, say).
  - L{wait_until_blocking}: the same loop for code without a reactor
    (process fixtures, tests driving processes or a browser).
"""

from __future__ import annotations

import inspect
import time
from collections.abc import Callable, Generator
from typing import Any

from twisted.internet.task import deferLater

#: Seconds between two looks at a condition.
POLL_INTERVAL = 0.05


class WaitTimeout(AssertionError):
    """
    A condition did not hold within its timeout.
    """


def _looks(
    timeout: float, what: str, on_timeout: Callable[[], str]
) -> Generator[float, Any, Any]:
    """
    The polling loop: send it each look's result; it yields the pause
    before the next look, stops with the first true result, and raises
    L{WaitTimeout} once the deadline has passed.
    """
    deadline = time.monotonic() + timeout
    while True:
        result = yield POLL_INTERVAL
        if result:
            return result
        if time.monotonic() > deadline:
            detail = on_timeout()
            raise WaitTimeout(
                f"{what}: not within {timeout:g} s" + (f"; {detail}" if detail else "")
            )


async def wait_until(
    condition: Callable[[], Any],
    timeout: float,
    what: str = "condition",
    *,
    on_timeout: Callable[[], str] = str,
    reactor: Any = None,
) -> Any:
    """
    Poll C{condition} on the reactor until it returns something true.

    @param condition: a function, or a coroutine function, to look with.
    @param what: what is awaited (for the failure's message).
    @param on_timeout: says more about the state when the time is up.
    @return: what C{condition} returned.
    @raise WaitTimeout: if it did not within C{timeout} seconds.
    """
    if reactor is None:
        from twisted.internet import reactor
    looks = _looks(timeout, what, on_timeout)
    pause = next(looks)
    while True:
        result = condition()
        if inspect.isawaitable(result):
            result = await result
        try:
            pause = looks.send(result)
        except StopIteration as done:
            return done.value
        await deferLater(reactor, pause, lambda: None)


def wait_until_blocking(
    condition: Callable[[], Any],
    timeout: float,
    what: str = "condition",
    *,
    on_timeout: Callable[[], str] = str,
) -> Any:
    """
    Poll C{condition} until it returns something true, blocking in
    between (for code that does not run the reactor).

    @return: what C{condition} returned.
    @raise WaitTimeout: if it did not within C{timeout} seconds.
    """
    looks = _looks(timeout, what, on_timeout)
    pause = next(looks)
    while True:
        try:
            pause = looks.send(condition())
        except StopIteration as done:
            return done.value
        time.sleep(pause)
