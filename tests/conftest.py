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


@pytest.fixture(scope="session")
def fer2013_cache(shared_dataset, tmp_path_factory) -> tuple[Path, Path]:
    """``(root, cache)``: the shared FER2013 and a session cache folder holding it parsed (parsed once per session).

    Point ``OPENFER_CACHE`` at ``cache`` (``monkeypatch.setenv``) and readers load it in well under a second.
    """
    from openfer.data.fer2013 import load_fer2013

    root = shared_dataset("fer2013")
    cache = tmp_path_factory.mktemp("fer2013-cache")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("OPENFER_CACHE", str(cache))
        load_fer2013(root)
    return root, cache


@pytest.fixture(scope="session")
def tiny_fer2013(tmp_path_factory) -> Path:
    """``fer2013.csv`` in the real layout: 64 / 16 / 16 random 48 x 48 faces in Training / PublicTest / PrivateTest,
    labels 0..6 in turn."""
    import numpy as np

    rng = np.random.default_rng(0)
    path = tmp_path_factory.mktemp("tiny-fer2013") / "fer2013.csv"
    lines = ["emotion,pixels,Usage"]
    for usage, count in (("Training", 64), ("PublicTest", 16), ("PrivateTest", 16)):
        for i in range(count):
            lines.append(f"{i % 7},{' '.join(map(str, rng.integers(0, 256, 48 * 48)))},{usage}")
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture(scope="session")
def shared_photos() -> Path:
    """The shared photos folder (group photos with labelled face boxes, a no-face photo, a video), or skip."""
    path = Path(os.environ.get("OPENFER_SHARED", REPO.parent / "shared")) / "photos"
    if not (path / "voc_faces_testing.xml").is_file():
        pytest.skip(f"shared photos not found at {path} (set OPENFER_SHARED)")
    return path


@pytest.fixture(scope="session")
def random_model_file(tmp_path_factory) -> Path:
    """Weights of a randomly initialised ``openfer_vgg`` (seed 0) with the shipped model's metadata."""
    import torch

    import openfer
    from openfer.checkpoints import save_safetensors
    from openfer.labels import FER2013

    torch.manual_seed(0)
    net = openfer.create_model("openfer_vgg", num_classes=7)
    path = tmp_path_factory.mktemp("random-model") / "openfer_vgg_random.safetensors"
    metadata = {"model": "openfer_vgg", "model_options": {}, "classes": list(FER2013), "input_size": [1, 48, 48], "mean": 0.5, "std": 0.25}
    save_safetensors(net.state_dict(), path, metadata=metadata)
    return path
