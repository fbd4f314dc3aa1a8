"""Fixtures of the integration tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.processes import ProcessGroup


@pytest.fixture
def group(tmp_path: Path) -> Iterator[ProcessGroup]:
    """
    The processes a test starts, all stopped when it ends, whatever happened.
    """
    processes = ProcessGroup(tmp_path)
    try:
        yield processes
    finally:
        processes.stop_all()
