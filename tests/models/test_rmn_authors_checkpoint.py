"""Residual Masking Network: loading the authors' own checkpoints (phamquiluan/ResidualMaskingNetwork)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import torch

from openfer.errors import CheckpointError
from openfer.models import create_model
from openfer.models.rmn import MASK_DEPTHS, ResidualMaskingNetwork, load_authors_checkpoint

# The authors' key layout, read in phamquiluan/ResidualMaskingNetwork (models/resmasking.py, models/masking.py,
# models/resnet.py; rmn/models/ holds the same masking.py and an equivalent resmasking.py):
# - resnet.py ``ResNet`` (inherited by resmasking.py ``ResMasking``): the trunk at the top level,
#   ``conv1.weight``, ``bn1.*``, ``layer{1-4}.{b}.{conv1,bn1,conv2,bn2}.*``, ``layer{2-4}.0.downsample.{0,1}.*``.
# - resmasking.py ``resmasking_dropout1``: ``fc = Sequential(Dropout(0.4), Linear(512, 7))`` -> ``fc.1.{weight,bias}``;
#   ``mask1`` ... ``mask4`` = masking.py ``masking(C, C, depth)`` with depth 4, 3, 2, 1.
# - masking.py ``Masking{d}``: contracting blocks ``conv1`` ... ``conv{d}``, expanding ``up_pool{d+1+j}``
#   (ConvTranspose2d ``.0``, BatchNorm2d ``.1``) and ``conv{d+1+j}`` for j = 0 .. d-2, last block ``conv{2d}``;
#   every block ``conv{n}`` is a BasicBlock whose shortcut Sequential(conv1x1, BN) is also registered on the
#   masking block itself as ``downsample{n}``, so each shortcut tensor is stored twice:
#   ``mask{k}.conv{n}.downsample.{0,1}.*`` and ``mask{k}.downsample{n}.{0,1}.*``.
AUTHORS_TRUNK = ("conv1.", "bn1.", "layer1.", "layer2.", "layer3.", "layer4.")


def to_authors_layout(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Our ``rmn`` state dict in the authors' ``resmasking_dropout1`` key layout (duplicate shortcuts included)."""
    authors: dict[str, torch.Tensor] = {}
    for key, value in state.items():
        if key.startswith("backbone."):
            authors[key.removeprefix("backbone.")] = value
            continue
        if key.startswith("fc."):
            authors[key] = value
            continue
        match = re.fullmatch(r"masks\.(\d)\.(down|up_pool|up|out)\.(?:(\d+)\.)?(.+)", key)
        assert match is not None, key
        mask, part, position, leaf = int(match[1]), match[2], int(match[3] or 0), match[4]
        depth = MASK_DEPTHS[mask]
        name = {
            "down": f"conv{position + 1}",
            "up_pool": f"up_pool{depth + 1 + position}",
            "up": f"conv{depth + 1 + position}",
            "out": f"conv{2 * depth}",
        }[part]
        authors[f"mask{mask + 1}.{name}.{leaf}"] = value
        if leaf.startswith("downsample."):
            authors[f"mask{mask + 1}.downsample{name.removeprefix('conv')}.{leaf.removeprefix('downsample.')}"] = value
    return authors


@pytest.fixture(scope="module")
def model() -> ResidualMaskingNetwork:
    """``rmn`` with every BN weight, bias and running statistic randomised (the masks' last BNs start at zero)."""
    torch.manual_seed(0)
    model = create_model("rmn").eval()
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, torch.nn.BatchNorm2d):
                module.weight.uniform_(0.5, 1.5)
                module.bias.uniform_(-0.1, 0.1)
                module.running_mean.uniform_(-0.1, 0.1)
                module.running_var.uniform_(0.5, 1.5)
                module.num_batches_tracked.fill_(int(torch.randint(1, 10_000, ())))
    return model


@pytest.fixture(scope="module")
def authors_state(model: ResidualMaskingNetwork) -> dict[str, torch.Tensor]:
    return to_authors_layout(model.state_dict())


def save_authors(state: dict[str, torch.Tensor], path: Path) -> Path:
    """What the authors' trainer writes: the weights under ``net`` beside training statistics."""
    torch.save({"net": state, "best_val_acc": 0.74, "val_acc": [0.70, 0.74]}, path)
    return path


def test_the_inverse_follows_the_authors_layout(
    model: ResidualMaskingNetwork, authors_state: dict[str, torch.Tensor]
) -> None:
    # 20 residual blocks in the four masks (2 x (4 + 3 + 2 + 1)), each shortcut stored a second time with 6 entries.
    assert len(authors_state) == len(model.state_dict()) + 20 * 6
    assert not any(k.startswith(("backbone.", "masks.")) for k in authors_state)
    assert all(k.startswith(AUTHORS_TRUNK + ("fc.1.", "mask1.", "mask2.", "mask3.", "mask4.")) for k in authors_state)
    shapes = {  # widths of masking.py's filters = [C, 2C, 4C, 8C, 16C] for mask1 (C = 64) ... mask4 (C = 512)
        "layer2.0.downsample.0.weight": (128, 64, 1, 1),
        "fc.1.weight": (7, 512),
        "mask1.conv4.conv1.weight": (1024, 512, 3, 3),
        "mask1.up_pool5.0.weight": (1024, 512, 2, 2),
        "mask1.conv7.downsample.0.weight": (128, 256, 1, 1),
        "mask1.downsample8.1.running_var": (64,),
        "mask2.up_pool5.1.weight": (256,),
        "mask3.conv3.conv1.weight": (512, 1024, 3, 3),
        "mask4.downsample1.0.weight": (1024, 512, 1, 1),
        "mask4.conv2.bn2.weight": (512,),
    }
    assert {k: tuple(authors_state[k].shape) for k in shapes} == shapes
    assert "mask4.up_pool2.0.weight" not in authors_state  # depth 1: no expanding path


def test_authors_checkpoint_restores_tensors_and_logits(
    model: ResidualMaskingNetwork, authors_state: dict[str, torch.Tensor], tmp_path: Path
) -> None:
    path = save_authors(authors_state, tmp_path / "resmasking_dropout1_rot30_2019Nov17_14.33")
    x = torch.randn(1, 3, 64, 64, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        expected = model(x)
        for tensor in model.state_dict().values():  # forget every weight, then load them back
            tensor.zero_()
    dropped = load_authors_checkpoint(model, path)
    assert len(dropped) == 20 * 6 and all(re.fullmatch(r"mask\d\.downsample\d\..+", k) for k in dropped)
    saved = torch.load(path, weights_only=True)["net"]
    loaded = to_authors_layout(model.state_dict())
    assert loaded.keys() == saved.keys()
    for key, value in saved.items():
        assert torch.equal(loaded[key], value), key
    with torch.no_grad():
        assert torch.equal(model(x), expected)


def test_a_differing_duplicate_shortcut_is_refused(
    model: ResidualMaskingNetwork, authors_state: dict[str, torch.Tensor], tmp_path: Path
) -> None:
    state = dict(authors_state)
    state["mask2.downsample5.1.running_mean"] = state["mask2.downsample5.1.running_mean"] + 1
    path = save_authors(state, tmp_path / "tampered.pth")
    with pytest.raises(CheckpointError, match=r"tampered\.pth: mask2\.downsample5\.1\.running_mean differs"):
        load_authors_checkpoint(model, path)


def test_a_missing_key_is_refused(
    model: ResidualMaskingNetwork, authors_state: dict[str, torch.Tensor], tmp_path: Path
) -> None:
    state = {k: v for k, v in authors_state.items() if k != "mask3.conv4.bn2.running_var"}
    path = save_authors(state, tmp_path / "incomplete.pth")
    with pytest.raises(CheckpointError, match=r"incomplete\.pth: .*missing: masks\.2\.out\.bn2\.running_var"):
        load_authors_checkpoint(model, path)
