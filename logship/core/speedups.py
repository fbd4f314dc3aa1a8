"""Which implementation of the codec's hot path runs: compiled C or pure Python.

Pure code, no I/O but the environment variable.  The pure-Python functions of
L{logship.core.tokenize}, L{logship.core.event} and L{logship.core.parse} are
the reference.  C{logship.core._speedups} (C{_speedups.c}, built by
C{pip install} when the machine has a C compiler) does the same work faster
and hands every input it does not cover back to them (C{docs/speedups.md}).

Each of those modules calls L{install} once at its end, naming the functions
the compiled module replaces: their pure versions are remembered, the compiled
module is given what it needs (classes, fallbacks), and the module's public
names are bound to the implementation in use.  Other modules that import
those names get the one in use at import time.

The compiled path is used when it was built, unless the environment variable
C{LOGSHIP_PURE} is set to anything but C{""} or C{"0"} (for tests and
comparisons).  L{select} switches at run time, for the tests that run the
codec through both.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from types import ModuleType
from typing import Any, Literal

#: The environment variable that forces the pure-Python implementation.
ENV_PURE = "LOGSHIP_PURE"

Implementation = Literal["compiled", "pure"]


def _load() -> tuple[ModuleType | None, str]:
    """
    The compiled module, or C{None} and why not.
    """
    if os.environ.get(ENV_PURE, "") not in ("", "0"):
        return None, f"{ENV_PURE} is set"
    try:
        from logship.core import _speedups  # type: ignore[attr-defined]
    except ImportError as e:
        return None, f"the compiled module is not built: {e}"
    return _speedups, ""


#: The compiled module (C{None} when it is not built or not wanted).
compiled: ModuleType | None
compiled, _why_pure = _load()

#: The implementation in use now.
active: Implementation = "pure" if compiled is None else "compiled"

#: Per module name: the replaced functions' names.
_installed: dict[str, tuple[str, ...]] = {}
_pure: dict[tuple[str, str], Callable[..., Any]] = {}
_compiled: dict[tuple[str, str], Callable[..., Any]] = {}


def install(
    namespace: dict[str, Any],
    names: tuple[str, ...],
    configure: Callable[[Any], object],
) -> None:
    """
    Register the pure functions of a module and bind its public names to
    the implementation in use.

    @param namespace: the module's C{globals()}.
    @param names: the functions the compiled module replaces (same names).
    @param configure: called with the compiled module (if there is one) to
        hand it the module's classes and fallbacks.
    """
    module = namespace["__name__"]
    _installed[module] = names
    for name in names:
        _pure[module, name] = namespace[name]
    if compiled is not None:
        configure(compiled)
        for name in names:
            _compiled[module, name] = getattr(compiled, name)
    _bind(module, namespace)


def _bind(module: str, namespace: dict[str, Any]) -> None:
    table = _compiled if active == "compiled" else _pure
    for name in _installed[module]:
        namespace[name] = table[module, name]


def pure(module: str, name: str) -> Callable[..., Any]:
    """
    The pure-Python reference of a replaced function.

    @param module: e.g. C{"logship.core.event"}.
    @param name: e.g. C{"decode"}.
    """
    return _pure[module, name]


def compiled_function(module: str, name: str) -> Callable[..., Any]:
    """
    The compiled version of a replaced function.

    @raise LookupError: the compiled module is not in use.
    """
    try:
        return _compiled[module, name]
    except KeyError:
        raise LookupError(f"no compiled {module}.{name}: {describe()}") from None


def available() -> list[Implementation]:
    """
    The implementations that can run here: C{["compiled", "pure"]} or
    C{["pure"]}.
    """
    return ["compiled", "pure"] if compiled is not None else ["pure"]


def select(implementation: Implementation) -> None:
    """
    Bind the replaced names of every installed module to C{implementation}.

    Modules that imported a name before keep what they got then.

    @raise LookupError: C{"compiled"} when it is not available.
    """
    global active
    if implementation == "compiled" and compiled is None:
        raise LookupError(describe())
    active = implementation
    for module in _installed:
        _bind(module, vars(sys.modules[module]))


def installed() -> dict[str, tuple[str, ...]]:
    """
    The modules that registered with L{install}, and the names each has
    replaced.
    """
    return dict(_installed)


def module_of(name: str) -> ModuleType:
    """
    An installed module, by name.
    """
    return sys.modules[name]


def describe() -> str:
    """
    One line saying which implementation runs, for the startup log.
    """
    if active == "compiled":
        return "compiled (logship.core._speedups)"
    if compiled is None:
        return f"pure Python ({_why_pure})"
    return "pure Python (selected)"
