"""Fixtures of the explain tests: a FER2013 test face, and a run folder in the layout ``openfer train`` writes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest


@pytest.fixture(scope="module")
def fer2013_test_faces(fer2013_cache) -> np.ndarray:
    """The first eight faces of the shared FER2013 PrivateTest (48 x 48 uint8), or skip."""
    from openfer.data import load_dataset

    root, cache = fer2013_cache
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("OPENFER_CACHE", str(cache))
        split = load_dataset("fer2013", root)["PrivateTest"]
    return np.stack([split.image(i) for i in range(8)])


def make_run_dir(folder: Path, model_file: Path) -> Path:
    """``folder/run`` as ``openfer train`` lays it out: ``checkpoints/best.ckpt`` (``model_file``'s weights saved as
    Lightning saves them), ``logs/metrics.csv`` (four epochs) and ``logs/config.yaml``."""
    import torch

    from openfer.checkpoints import read_state_dict

    state, metadata = read_state_dict(model_file)
    run = folder / "run"
    (run / "checkpoints").mkdir(parents=True)
    (run / "logs").mkdir()
    torch.save({"state_dict": {f"net.{k}": v for k, v in state.items()}, "hyper_parameters": metadata}, run / "checkpoints" / "best.ckpt")
    rows = ["epoch,step,train/loss,train/acc,val/loss,val/acc"]
    for epoch in range(4):
        rows.append(f"{epoch},{10 * epoch},{2 - 0.3 * epoch},{0.2 + 0.1 * epoch},,")
        rows.append(f"{epoch},{10 * epoch},,,{2.1 - 0.2 * epoch},{0.2 + 0.08 * epoch}")
    (run / "logs" / "metrics.csv").write_text("\n".join(rows) + "\n")
    (run / "logs" / "config.yaml").write_text("seed: 0\nmodel:\n  model: openfer_vgg\n")
    return run


@pytest.fixture(scope="session")
def run_dir(tmp_path_factory, random_model_file: Path) -> Path:
    """A run folder of the random ``openfer_vgg`` (:func:`make_run_dir`); read, never changed, by the tests."""
    return make_run_dir(tmp_path_factory.mktemp("run"), random_model_file)
