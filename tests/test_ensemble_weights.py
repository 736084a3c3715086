"""Packed ensembles (``pack_ensemble``; the command is tested in tests/cli): members averaged in probability, storage, checks."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from openfer.checkpoints import pack_ensemble, read_state_dict, save_safetensors
from openfer.errors import CheckpointError, ConfigError
from openfer.inference import load_model
from openfer.labels import FER2013
from openfer.models import create_model
from openfer.ensemble import ProbabilityAverage

TINY = {"widths": [4, 8], "hidden": 8}


def member(path: Path, seed: int, **options) -> Path:
    torch.manual_seed(seed)
    net = create_model("openfer_vgg", num_classes=7, **{**TINY, **options})
    metadata = {"model": "openfer_vgg", "model_options": {**TINY, **options}, "classes": list(FER2013), "input_size": [1, 48, 48]}
    save_safetensors(net.state_dict(), path, metadata)
    return path


@pytest.fixture()
def faces() -> np.ndarray:
    return np.random.default_rng(1).integers(0, 256, (5, 48, 48), dtype=np.uint8)


@pytest.mark.parametrize(("storage", "tolerance"), [("float32", 1e-5), ("float16", 2e-3), ("int8", 2e-2)])
def test_an_ensemble_averages_its_members_probabilities(tmp_path: Path, faces: np.ndarray, storage: str, tolerance: float) -> None:
    members = [member(tmp_path / f"m{i}.safetensors", seed=i) for i in range(3)]
    packed = pack_ensemble(members, tmp_path / "ensemble.safetensors", storage=storage)
    state, meta = read_state_dict(packed)
    assert meta["model"] == "average_ensemble" and meta["model_options"]["members"] == 3 and meta["storage"] == storage
    stored = {"float32": {torch.float32}, "float16": {torch.float16}, "int8": {torch.float16, torch.float32}}[storage]
    assert {v.dtype for v in state.values() if v.is_floating_point()} <= stored  # int8 comes back as float32
    for tta in ("none", "flip"):
        expected = np.mean([load_model(m, tta=tta).predict_proba(faces) for m in members], axis=0)
        got = load_model(packed, tta=tta).predict_proba(faces)
        np.testing.assert_allclose(got, expected, atol=tolerance)
    assert load_model(packed).classes == FER2013


def test_members_must_share_architecture_and_classes(tmp_path: Path) -> None:
    a = member(tmp_path / "a.safetensors", 0)
    wide = member(tmp_path / "wide.safetensors", 1, hidden=16)
    with pytest.raises(CheckpointError, match="wide.safetensors: differs from .*a.safetensors in model_options"):
        pack_ensemble([a, wide], tmp_path / "x.safetensors")
    with pytest.raises(CheckpointError, match="at least two"):
        pack_ensemble([a], tmp_path / "x.safetensors")
    assert not (tmp_path / "x.safetensors").exists()


def test_members_keeps_the_first_networks_of_an_ensemble(tmp_path: Path, faces: np.ndarray) -> None:
    paths = [member(tmp_path / f"m{i}.safetensors", seed=i) for i in range(3)]
    packed = pack_ensemble(paths, tmp_path / "ensemble.safetensors", storage="float32")
    first = load_model(packed, members=1)
    assert first.name == "average_ensemble[1/3]" and not hasattr(first.net, "members")
    np.testing.assert_allclose(first.predict_proba(faces), load_model(paths[0]).predict_proba(faces), atol=1e-5)
    two = load_model(packed, members=2).predict_proba(faces)
    np.testing.assert_allclose(two, np.mean([load_model(p).predict_proba(faces) for p in paths[:2]], axis=0), atol=1e-5)
    assert load_model(packed, members=3).name == "average_ensemble"
    with pytest.raises(ConfigError, match="members must be between 1 and 3, got 4"):
        load_model(packed, members=4)
    assert load_model(paths[0], members=1).name == "openfer_vgg"  # a single network is an ensemble of one


def test_the_fast_preset_is_one_distilled_network_and_the_recogniser_default() -> None:
    from openfer.inference import FAST_WEIGHTS
    from openfer.recognize import resolve_model

    fast, default = load_model("fast"), load_model()
    assert not isinstance(fast.net, ProbabilityAverage) and isinstance(default.net, ProbabilityAverage)
    assert fast.weights_file == FAST_WEIGHTS and fast.name == "openfer_vgg"
    # It is a network of its own (distilled from the ensemble), not one of the ensemble's members.
    fast_state = fast.net.state_dict()
    for member in default.net.members:
        assert any(not torch.equal(v, member.state_dict()[k]) for k, v in fast_state.items() if v.is_floating_point())
    assert resolve_model(None, backend="torch").name == fast.name
    assert resolve_model("default", backend="torch").name == default.name
    assert (default.tta, fast.tta) == ("affine", "flip")  # the presets' test-time augmentation
    assert load_model(tta="none").tta == "none"  # options given to load_model override a preset's


def test_int8_storage_is_per_channel_and_a_quarter_of_float32(tmp_path: Path) -> None:
    from openfer.checkpoints import dequantize_int8, quantize_int8

    weight = torch.randn(8, 4, 3, 3) * torch.logspace(-3, 0, 8).view(8, 1, 1, 1)  # channels of very different scale
    q, scale = quantize_int8(weight)
    assert q.dtype == torch.int8 and scale.shape == (8,)
    restored = dequantize_int8({"w": q, "w::int8_scale": scale})["w"]
    error = (restored - weight).abs().amax(dim=(1, 2, 3))
    assert torch.all(error <= scale / 2 + 1e-7)  # rounding error of each channel stays within half its step
    paths = [member(tmp_path / f"m{i}.safetensors", seed=i, widths=[32, 64], hidden=64) for i in range(2)]
    sizes = {s: pack_ensemble(paths, tmp_path / f"{s}.safetensors", storage=s).stat().st_size for s in ("float32", "int8")}
    assert sizes["int8"] < 0.3 * sizes["float32"]
