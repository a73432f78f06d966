"""Fixtures shared by unit tests."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.support.idp_files import IDP


@pytest.fixture
def idp(tmp_path: Path) -> Path:
    """A copy of the repository's idp/ that a test may change."""
    copy = tmp_path / "idp"
    shutil.copytree(IDP, copy)
    return copy
