"""Fixtures shared by the whole test suite. Keep each small; add new ones at the end."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Callable

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def shared_dataset() -> Callable[[str], Path]:
    """``shared_dataset("fer2013")``: that folder of the shared datasets, or skip the test if it is absent.

    The shared folder is ``$OPENFER_SHARED``, else ``shared/`` beside the repository.
    """
    shared = Path(os.environ.get("OPENFER_SHARED", REPO.parent / "shared"))

    def locate(name: str) -> Path:
        path = shared / "datasets" / name
        if not path.exists():
            pytest.skip(f"shared dataset {name} not found at {path} (set OPENFER_SHARED)")
        return path

    return locate
