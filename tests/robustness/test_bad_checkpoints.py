"""Checkpoints whose metadata does not fit their network are refused before anything is built."""

from __future__ import annotations

import json
import resource
import struct
from pathlib import Path

import numpy as np
import pytest

import openfer
from openfer.checkpoints import save_safetensors
from openfer.cli import main
from openfer.errors import CheckpointError
from openfer.inference import MAX_CLASSES


def grey_resnet18(path: Path, **metadata) -> Path:
    """A valid ResNet-18 trained on grey faces, saved with ``metadata`` (no input size unless given)."""
    net = openfer.create_model("resnet18", num_classes=7, in_channels=1)
    save_safetensors(net.state_dict(), path, {"model": "resnet18", "model_options": {"in_channels": 1}, "classes": list("abcdefg"), **metadata})
    return path


def safetensors_with_metadata(path: Path, metadata: dict) -> Path:
    """A tiny safetensors file (one tensor) whose header carries ``metadata`` (JSON-encoded values)."""
    header = {"__metadata__": {k: json.dumps(v) for k, v in metadata.items()}, "w": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}}
    encoded = json.dumps(header).encode()
    path.write_bytes(struct.pack("<Q", len(encoded)) + encoded + np.zeros(1, np.float32).tobytes())
    return path


def predict_with(model: Path, shared_photos: Path, capsys) -> tuple[int, str]:
    status = main(["predict", str(shared_photos / "obama_240p.jpg"), "--model", str(model), "--backend", "torch", "--detector", "haar"])
    return status, capsys.readouterr().err


def test_a_network_whose_input_differs_from_the_metadata_fails_at_load(tmp_path: Path, shared_photos: Path, capsys) -> None:
    path = grey_resnet18(tmp_path / "grey_resnet18.safetensors")
    with pytest.raises(CheckpointError, match=r"grey_resnet18\.safetensors: the network does not take 3 x 224 x 224 inputs.*input_size"):
        openfer.load_model(path)
    status, err = predict_with(path, shared_photos, capsys)
    assert status == 2 and err.strip().count("\n") == 0 and "Traceback" not in err
    fixed = grey_resnet18(tmp_path / "with_size.safetensors", input_size=[1, 64, 64])
    assert openfer.load_model(fixed).predict_proba(np.zeros((1, 64, 64), np.uint8)).shape == (1, 7)


def test_unknown_model_options_are_named(tmp_path: Path, shared_photos: Path, capsys) -> None:
    path = grey_resnet18(tmp_path / "odd.safetensors", model_options={"in_channels": 1, "depth_multiplier": 2})
    with pytest.raises(CheckpointError, match=r"odd\.safetensors: unknown model_options for resnet18: depth_multiplier \(accepted: .*in_channels"):
        openfer.load_model(path)
    status, err = predict_with(path, shared_photos, capsys)
    assert status == 2 and "depth_multiplier" in err and err.strip().count("\n") == 0


def test_three_million_classes_are_refused_before_any_allocation(tmp_path: Path, shared_photos: Path, capsys) -> None:
    path = safetensors_with_metadata(tmp_path / "huge.safetensors", {"model": "resnet18", "classes": [f"c{i}" for i in range(3_000_000)]})
    assert path.stat().st_size > 10_000_000
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    with pytest.raises(CheckpointError, match=rf"huge\.safetensors: 'classes' in its metadata must list 1 to {MAX_CLASSES} class names, got 3,000,000 entries"):
        openfer.load_model(path)
    assert (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024 < 1000  # MB: no 6 GB head was built
    status, err = predict_with(path, shared_photos, capsys)
    assert status == 2 and "3,000,000 entries" in err


@pytest.mark.parametrize(
    "metadata, message",
    [
        ({"model": "resnet18", "num_classes": 3_000_000}, "'num_classes' in its metadata must be an integer from 1 to"),
        ({"model": "no_such_net"}, "names the model 'no_such_net', which is not registered"),
        ({"model": "resnet18", "model_options": [1, 2]}, "'model_options' in its metadata must be a mapping"),
        ({"model": "resnet18", "input_size": [5, 224, 224]}, "expected 1 or 3 channels"),
        ({"model": "resnet18", "classes": ["a", "a"]}, "must be distinct strings"),
    ],
    ids=["num-classes", "unknown-model", "options-not-a-mapping", "five-channels", "duplicate-classes"],
)
def test_other_bad_metadata_is_named(tmp_path: Path, metadata: dict, message: str) -> None:
    with pytest.raises(CheckpointError, match=message):
        openfer.load_model(safetensors_with_metadata(tmp_path / "bad.safetensors", metadata))
