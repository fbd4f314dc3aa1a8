"""Settings for the whole test suite."""

import pytest
from hypothesis import settings

# No per-example deadline: this 2-core machine is shared and its speed
# swings by 2x, which made timing-based failures that said nothing about
# the code.  Speed is measured in bench/, never asserted in tests.
settings.register_profile("logship", deadline=None)
settings.load_profile("logship")


@pytest.hookimpl(tryfirst=True)
def pytest_pyfunc_call(pyfuncitem: pytest.Function) -> None:
    """
    Let one hypothesis test run as several items (parametrized, e.g. over
    the codec's implementations, tests/core/conftest.py): pytest-twisted
    wraps the test's C{hypothesis.inner_test} for each item it runs, and
    the items share it, so the second item would get the first's wrapper.
    Each item starts again from the original.
    """
    hypothesis_handle = getattr(pyfuncitem.obj, "hypothesis", None)
    if hypothesis_handle is None:
        return
    original = getattr(hypothesis_handle, "_logship_inner_test", None)
    if original is None:
        hypothesis_handle._logship_inner_test = hypothesis_handle.inner_test
    else:
        hypothesis_handle.inner_test = original
