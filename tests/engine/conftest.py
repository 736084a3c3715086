"""Fixtures for the engine tests: an isolated cache and a tiny training recipe."""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import pytest
import yaml


@pytest.fixture(autouse=True)
def isolated_cache(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """Parsed datasets go to the test's own cache folder, never the user's."""
    folder = tmp_path / "openfer-cache"
    monkeypatch.setenv("OPENFER_CACHE", str(folder))
    return folder


@pytest.fixture
def tiny_recipe(tiny_fer2013: Path, tmp_path: Path) -> Callable[..., Path]:
    """``tiny_recipe(**sections)``: a recipe YAML training a 2-stage openfer_vgg on 24 x 24 faces of the tiny CSV.

    Keyword arguments update the sections (``trainer={"max_epochs": 2}``); ``run_dir`` defaults to ``tmp_path/run``.
    """

    def write(run_dir: Path | None = None, **sections: dict) -> Path:
        recipe = {
            "run_dir": str(run_dir or tmp_path / "run"),
            "seed": 0,
            "trainer": {
                "max_epochs": 1,
                "limit_train_batches": 2,
                "limit_val_batches": 1,
                "num_sanity_val_steps": 0,
                "enable_model_summary": False,
                "enable_progress_bar": False,
                "log_every_n_steps": 1,
            },
            "model": {
                "model": "openfer_vgg",
                "model_options": {"widths": [8, 16], "hidden": 16, "dropout": 0.0},
                "lr": 0.05,
                "scheduler": "cosine",
                "augment": {"output_size": 24},
            },
            "data": {"dataset": "fer2013", "root": str(tiny_fer2013), "image_size": 24, "batch_size": 16},
        }
        for section, values in sections.items():
            recipe[section].update(values)
        path = tmp_path / f"recipe-{len(list(tmp_path.glob('recipe-*.yaml')))}.yaml"
        path.write_text(yaml.safe_dump(recipe))
        return path

    return write
