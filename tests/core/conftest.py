"""The codec tests run through both implementations (L{logship.core.speedups}).

A test module of the codec marks itself with
C{pytestmark = pytest.mark.usefixtures("implementation")}: its tests then run
once with the compiled hot path and once with the pure-Python reference (only
the latter where the compiled module is not built).  The fixture binds the
replaced functions in the core modules and in the test module itself.
"""

from __future__ import annotations

from collections.abc import Iterator
from types import ModuleType

import pytest

from logship.core import speedups


def _rebind(module: ModuleType) -> dict[str, object]:
    """
    Bind the names of C{module} that hold a replaced function to the
    implementation in use; what they held before.
    """
    previous: dict[str, object] = {}
    namespace = vars(module)
    for name, value in list(namespace.items()):
        for core, names in speedups.installed().items():
            for replaced in names:
                versions = [speedups.pure(core, replaced)]
                if speedups.compiled is not None:
                    versions.append(speedups.compiled_function(core, replaced))
                if any(value is version for version in versions):
                    previous[name] = value
                    namespace[name] = vars(speedups.module_of(core))[replaced]
    return previous


@pytest.fixture(scope="module", params=speedups.available())
def implementation(request: pytest.FixtureRequest) -> Iterator[str]:
    """
    The implementation the module's tests run through: C{"compiled"} or
    C{"pure"}.
    """
    before = speedups.active
    speedups.select(request.param)
    previous = _rebind(request.module)
    try:
        yield request.param
    finally:
        speedups.select(before)
        vars(request.module).update(previous)
