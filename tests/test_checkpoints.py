"""read_state_dict: the checkpoint layouts of the authors' repositories, and files that are not checkpoints."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from openfer.checkpoints import load_weights, read_state_dict
from openfer.errors import CheckpointError
from openfer.models import create_model

TINY = {"widths": [4, 8], "hidden": 8}


@pytest.fixture()
def net() -> torch.nn.Module:
    torch.manual_seed(0)
    return create_model("openfer_vgg", num_classes=7, **TINY)


def same_weights(a: torch.nn.Module, b: torch.nn.Module) -> bool:
    return all(torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values()))


@pytest.mark.parametrize(
    "layout",
    [
        "plain",  # torch.save(model.state_dict())
        "rmn",  # Residual Masking Network trainer: {"net": state_dict, "best_val_acc": ..., ...}
        "dan",  # DAN: {"iter": epoch, "model_state_dict": ..., "optimizer_state_dict": ...}
        "dataparallel",  # keys prefixed "module."
        "legacy_pickle",  # torch.save(..., _use_new_zipfile_serialization=False)
    ],
)
def test_authors_checkpoint_layouts_load_key_for_key(net: torch.nn.Module, tmp_path: Path, layout: str) -> None:
    state = net.state_dict()
    payload = {
        "plain": state,
        "rmn": {"net": state, "best_val_loss": 0.9, "best_val_acc": 0.73, "test_acc": 0.74, "optimizer": "sgd"},
        "dan": {"iter": 12, "model_state_dict": state, "optimizer_state_dict": {"state": {}, "param_groups": [{"lr": 0.1}]}},
        "dataparallel": {f"module.{k}": v for k, v in state.items()},
        "legacy_pickle": state,
    }[layout]
    path = tmp_path / f"{layout}.pth"
    torch.save(payload, path, _use_new_zipfile_serialization=layout != "legacy_pickle")
    loaded, _ = read_state_dict(path)
    assert list(loaded) == list(state)
    fresh = create_model("openfer_vgg", num_classes=7, **TINY)
    assert not same_weights(fresh, net)
    assert load_weights(fresh, path) == []
    assert same_weights(fresh, net)


def test_a_dictionary_without_weights_names_its_keys(tmp_path: Path) -> None:
    path = tmp_path / "log.pth"
    torch.save({"epoch": 3, "history": [0.5, 0.6]}, path)
    with pytest.raises(CheckpointError, match=r"log.pth: no state dict of tensors inside \(top-level keys: epoch, history\)"):
        read_state_dict(path)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"epoch,acc\n1,0.5\n", "metrics.ckpt: not a checkpoint file"),
        (b"", "metrics.ckpt: not a checkpoint file"),
        (b"\x89HDF\r\n\x1a\n" + bytes(64), "metrics.ckpt: a Keras/HDF5 weights file; read it with openfer.keras_weights.read_keras_h5"),
    ],
)
def test_files_that_are_not_checkpoints_are_named(tmp_path: Path, content: bytes, message: str) -> None:
    path = tmp_path / "metrics.ckpt"
    path.write_bytes(content)
    with pytest.raises(CheckpointError, match=message):
        read_state_dict(path)


def test_backbone_loader_fills_a_models_trunk_and_refuses_another_backbone(tmp_path) -> None:
    from openfer.checkpoints import load_backbone_weights
    from openfer.models import create_model, model_info

    torch.manual_seed(0)
    trunk = create_model("resnet18", num_classes=1000)
    path = tmp_path / "resnet18_imagenet.pth"
    torch.save({"state_dict": {f"module.{k}": v for k, v in trunk.state_dict().items()}}, path)
    dan = create_model("dan", num_classes=7, backbone_weights=str(path))  # through the one loader, head "fc" left out
    assert all(torch.equal(v, trunk.state_dict()[k]) for k, v in dan.backbone.state_dict().items())
    fresh = create_model("resnet18", num_classes=7)
    report = load_backbone_weights(fresh, path, model_info("resnet18").head)
    assert report == ["head not loaded: fc.bias: checkpoint (1000,) vs model (7,)",
                      "head not loaded: fc.weight: checkpoint (1000, 512) vs model (7, 512)"]  # fmt: skip
    assert torch.equal(fresh.layer3[1].conv2.weight, trunk.layer3[1].conv2.weight)
    wrong = tmp_path / "resnet34.pth"
    torch.save(create_model("resnet34", num_classes=1000).state_dict(), wrong)
    with pytest.raises(CheckpointError, match=r"resnet34\.pth: does not match the model"):
        create_model("dan", backbone_weights=str(wrong))
    with pytest.raises(CheckpointError, match="does not match the model"):
        load_backbone_weights(create_model("resnet18"), wrong, "fc")
