"""``openfer weights``: packing ensembles and one FGA generation from the command line."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from openfer.checkpoints import read_state_dict, save_safetensors
from openfer.cli import main
from openfer.data import load_dataset
from openfer.inference import load_model
from openfer.labels import FER2013
from openfer.models import create_model

TINY = {"widths": [4, 8], "hidden": 8}


def packed_networks(folder: Path, count: int) -> list[str]:
    """Tiny ``openfer_vgg`` networks of seeds 0, 1, ... as packed weights files."""
    for seed in range(count):
        torch.manual_seed(seed)
        state = create_model("openfer_vgg", num_classes=7, **TINY).state_dict()
        save_safetensors(state, folder / f"m{seed}.safetensors", {"model": "openfer_vgg", "model_options": TINY, "classes": list(FER2013), "input_size": [1, 48, 48]})
    return [str(folder / f"m{seed}.safetensors") for seed in range(count)]


def test_cli_packs_an_ensemble_and_refuses_nesting(tmp_path: Path, capsys) -> None:
    members = packed_networks(tmp_path, 2)
    out = tmp_path / "e.safetensors"
    assert main(["weights", "ensemble", *members, "--output", str(out)]) == 0
    assert main(["weights", "ensemble", str(out), members[0], "--output", str(tmp_path / "e2.safetensors")]) == 2
    assert "m0.safetensors: differs from" in capsys.readouterr().err
    assert main(["weights", "ensemble", str(out), str(out), "--output", str(tmp_path / "e3.safetensors")]) == 2
    assert "already an ensemble" in capsys.readouterr().err
    assert not (tmp_path / "e2.safetensors").exists() and not (tmp_path / "e3.safetensors").exists()


def test_cli_writes_fused_files_that_load_and_fine_tune(tmp_path: Path, capsys) -> None:
    paths = packed_networks(tmp_path, 3)
    out = tmp_path / "gen1"
    code = main(["weights", "fga", *paths, "--losses", "0.5", "0.9", "0.7", "--fused", "2", "--select", "2", "--output-dir", str(out)])
    assert code == 0
    record = json.loads((out / "fga.json").read_text())
    assert [f["file"] for f in record["fused"]] == ["fused_0.safetensors", "fused_1.safetensors"]
    for entry in record["fused"]:
        state, meta = read_state_dict(out / entry["file"])
        assert meta["fga_parents"] == entry["parents"] and meta["model"] == "openfer_vgg"
        model = load_model(out / entry["file"])  # loads as a model of its own
        assert model.predict_proba(np.zeros((1, 48, 48), np.uint8)).shape == (1, 7)
    # a training run can start from a fused file (the re-training step)
    from openfer.engine.module import FERModule

    module = FERModule(model="openfer_vgg", model_options=TINY, init_weights=str(out / "fused_0.safetensors"))
    fused_state, _ = read_state_dict(out / "fused_0.safetensors")
    assert torch.equal(module.net.state_dict()["features.0.weight"], fused_state["features.0.weight"])
    assert main(["weights", "fga", *paths, "--losses", "0.5", "--output-dir", str(out)]) == 2
    assert "--losses: 1 values for 3 networks" in capsys.readouterr().err


def test_cli_measures_losses_on_a_dataset_when_none_are_given(tmp_path: Path, tiny_fer2013: Path, capsys) -> None:
    paths = packed_networks(tmp_path, 3)
    out = tmp_path / "gen"
    assert main(["weights", "fga", *paths, "--root", str(tiny_fer2013), "--fused", "1", "--output-dir", str(out)]) == 0
    record = json.loads((out / "fga.json").read_text())
    split = load_dataset("fer2013", tiny_fer2013)["Training"]
    for path, loss in zip(paths, record["losses"]):
        probabilities = load_model(path, tta="none").predict_proba(np.stack([split.image(i) for i in range(len(split))]))
        expected = -np.log(probabilities[np.arange(len(split)), split.labels]).mean()
        assert loss == pytest.approx(expected, rel=1e-4)
    assert "cross-entropy" in capsys.readouterr().out


def test_split_gives_each_network_of_an_ensemble_file_alone(tmp_path: Path, capsys) -> None:
    """Both kinds of ensemble file: each split member predicts exactly as that member inside the ensemble."""
    from openfer.labels import AFFECTNET8, FER2013
    from openfer.models import create_model

    files = []
    for seed, classes in ((1, FER2013), (2, AFFECTNET8)):
        torch.manual_seed(seed)
        net = create_model("openfer_vgg", num_classes=len(classes), widths=[4], hidden=4)
        files.append(tmp_path / f"m{seed}.safetensors")
        save_safetensors(net.state_dict(), files[-1], {"model": "openfer_vgg", "model_options": {"widths": [4], "hidden": 4}, "classes": list(classes), "input_size": [1, 24, 24]})
    assert main(["ensemble", "pack", *map(str, files), "--output", str(tmp_path / "mixed.safetensors")]) == 0
    assert main(["weights", "split", str(tmp_path / "mixed.safetensors"), "--output-dir", str(tmp_path / "parts")]) == 0
    faces = np.random.default_rng(0).integers(0, 256, (3, 24, 24), dtype=np.uint8)
    for i, original in enumerate(files):
        part = tmp_path / "parts" / f"mixed_{i}.safetensors"
        np.testing.assert_array_equal(load_model(part, tta="none").predict_proba(faces), load_model(original, tta="none").predict_proba(faces))
        assert read_state_dict(part)[1]["split_from"] == f"mixed.safetensors#{i}"
    assert main(["weights", "split", "default", "--output-dir", str(tmp_path / "shipped")]) == 0
    shipped = load_model("default", tta="none", precision="fp32")
    for i in range(2):
        alone = load_model(tmp_path / "shipped" / f"openfer_vgg_fer2013_{i}.safetensors", tta="none", precision="fp32")
        shipped.net = load_model("default", tta="none", precision="fp32").net.members[i]
        np.testing.assert_array_equal(alone.predict_proba(faces), shipped.predict_proba(faces))
    capsys.readouterr()
    assert main(["weights", "split", str(files[0]), "--output-dir", str(tmp_path / "none")]) == 2
    assert "not an ensemble file" in capsys.readouterr().err
