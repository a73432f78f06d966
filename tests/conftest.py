"""Fixtures shared by the integration and e2e suites (unit tests use none of these)."""

from __future__ import annotations

import pytest

from tests.support.stack import Stack, running_stack


@pytest.fixture(scope="session")
def stack() -> Stack:
    """The running stack (`make up`); a clear failure, never a skip, when it is not up."""
    try:
        return running_stack()
    except RuntimeError as e:
        pytest.fail(str(e), pytrace=False)
