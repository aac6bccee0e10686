from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from content.loader import SHIPPED_DIR, Library, load_library


@pytest.fixture(scope="session")
def library() -> Library:
    return load_library()


@pytest.fixture
def packs_copy(tmp_path: Path) -> Path:
    """A copy of all shipped packs, to break on purpose."""
    dst = tmp_path / "packs"
    shutil.copytree(SHIPPED_DIR, dst)
    return dst
