"""Residual Masking Network (Pham, Vu and Tran, "Facial Expression Recognition using Residual Masking
Network", ICPR 2020; authors' code: phamquiluan/ResidualMaskingNetwork, ``resmasking_dropout1``).

A ResNet-34 whose four stages are each followed by a masking block: a U-Net (contracting path of
residual blocks with max-pooling, expanding path of transposed convolutions with skip concatenations) of
depth 4, 3, 2, 1 after ``layer1`` ... ``layer4``. Its output ``m`` re-weights the stage's features with
the attention-residual rule ``x * (1 + m)``, so a mask can emphasise features but never erase them.

The authors' released checkpoints (e.g. ``resmasking_dropout1_rot30_2019Nov17_14.33``, FER2013) load with
:func:`load_authors_checkpoint`, which renames their keys with :func:`convert_authors_state_dict`.
"""

from __future__ import annotations

import functools
import re
from pathlib import Path
from typing import Literal, Mapping

import torch
import torch.nn.functional as F
from torch import nn

from openfer.checkpoints import load_backbone_weights, read_state_dict
from openfer.errors import CheckpointError, ConfigError
from openfer.models.backbones.resnet import WIDTHS, BasicBlock, ResNet, init_conv_bn, resnet
from openfer.models.registry import register_model

MaskActivation = Literal["softmax", "sigmoid"]
#: U-Net depth of the masking block after each ResNet stage (authors' code).
MASK_DEPTHS = (4, 3, 2, 1)


class MaskingBlock(nn.Module):
    """A U-Net of ``depth`` levels on a C-channel map, returning a C-channel mask of the same size.

    Level i (0-based) is a residual block C*2^i -> C*2^(i+1); levels are joined by 2x2 max-pooling on the way
    down and by a 2x2 transposed conv-BN-ReLU (C*2^(i+1) -> C*2^i) plus concatenation with the matching
    level's output on the way up; a last residual block maps 2C -> C. Widths follow the authors' code.
    """

    def __init__(self, channels: int, depth: int, activation: MaskActivation = "softmax") -> None:
        super().__init__()
        if depth < 1:
            raise ValueError(f"depth must be >= 1, got {depth}")
        self.activation = activation
        widths = [channels * 2**i for i in range(depth + 1)]
        self.down = nn.ModuleList(BasicBlock(widths[i], widths[i + 1]) for i in range(depth))
        self.up_pool = nn.ModuleList(
            nn.Sequential(nn.ConvTranspose2d(widths[i + 1], widths[i], 2, 2), nn.BatchNorm2d(widths[i]), nn.ReLU(inplace=True))
            for i in range(depth - 1, 0, -1)
        )
        self.up = nn.ModuleList(BasicBlock(widths[i + 1], widths[i]) for i in range(depth - 1, 0, -1))
        self.out = BasicBlock(widths[1], widths[0])
        # The authors' initialisation: Kaiming-normal convs, BN weight 1 / bias 0, and the last BN of every
        # residual block zeroed so each block starts as its shortcut (Goyal et al., 2017).
        init_conv_bn(self)
        for module in self.modules():
            if isinstance(module, BasicBlock):
                nn.init.zeros_(module.bn2.weight)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        skips = []
        for level, block in enumerate(self.down):
            x = block(x if level == 0 else F.max_pool2d(x, 2))
            skips.append(x)
        for up_pool, block, skip in zip(self.up_pool, self.up, reversed(skips[:-1])):
            x = block(torch.cat([up_pool(x), skip], dim=1))
        x = self.out(x)
        # Authors' code: softmax over channels (a sigmoid variant is left commented out there).
        return torch.softmax(x, dim=1) if self.activation == "softmax" else torch.sigmoid(x)


class ResidualMaskingNetwork(nn.Module):
    """RMN on a ResNet-34 trunk; ``forward`` returns logits.

    ``trunk`` (34, or 18) and ``mask_depths`` (the U-Net depth of the masking block after each stage; the
    authors' (4, 3, 2, 1); 0 leaves a stage unmasked) give CPU-scale variants. The masks of the wide late stages
    hold most of RMN's parameters (the one after stage 4 alone, depth 1: 21 M).
    """

    def __init__(
        self,
        num_classes: int = 7,
        in_channels: int = 3,
        dropout: float = 0.4,
        mask_activation: MaskActivation = "softmax",
        backbone_weights: str | None = None,
        trunk: int = 34,
        mask_depths: tuple[int, ...] = MASK_DEPTHS,
    ) -> None:
        super().__init__()
        if trunk not in (18, 34) or len(mask_depths) != len(WIDTHS) or min(mask_depths) < 0:
            raise ConfigError(f"RMN: trunk must be 18 or 34 and mask_depths hold {len(WIDTHS)} depths; got {trunk}, {tuple(mask_depths)}")
        self.backbone: ResNet = resnet(trunk, num_classes=0, in_channels=in_channels, backbone_weights=backbone_weights)
        # A depth of 0 leaves that stage without a masking block (identity mask, x * (1 + 0)).
        self.masks = nn.ModuleList(MaskingBlock(w, d, mask_activation) if d > 0 else nn.Identity() for w, d in zip(WIDTHS, mask_depths))
        self.mask_depths = tuple(mask_depths)
        # ``resmasking_dropout1``: Dropout(0.4) before the classifier.
        self.fc = nn.Sequential(nn.Dropout(dropout), nn.Linear(self.backbone.num_features, num_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.backbone.stem(x)
        for index, (mask, depth) in enumerate(zip(self.masks, self.mask_depths), start=1):
            x = getattr(self.backbone, f"layer{index}")(x)
            if depth > 0:
                x = x * (1 + mask(x))  # RMN paper: attention residual learning keeps the trunk's features
        return self.fc(x.mean(dim=(2, 3)))


# The authors' key layout (phamquiluan/ResidualMaskingNetwork: models/resmasking.py ``ResMasking`` /
# ``resmasking_dropout1``, models/masking.py ``Masking1`` ... ``Masking4``, models/resnet.py ``ResNet``):
#   trunk          conv1.*, bn1.*, layer{1-4}.{b}.*                    -> backbone.<same>
#   classifier     fc.1.*  (Sequential(Dropout(0.4), Linear(512, 7)))  -> fc.1.*
#   masking block  mask{k}.* (k = 1..4, U-Net depth d = 4, 3, 2, 1)    -> masks.{k-1}.*, inside which
#     conv{i}                  (i = 1..d, contracting path)             -> down.{i-1}
#     up_pool{d+1+j}, conv{d+1+j}  (j = 0..d-2, expanding path)        -> up_pool.{j}, up.{j}
#     conv{2d}                 (last residual block)                    -> out
#     downsample{n}            (n = 1..2d): the shortcut of conv{n}, registered a second time, so its
#                              tensors also appear as conv{n}.downsample.* -> dropped once checked equal
_AUTHORS_TRUNK = ("conv1", "bn1", "layer1", "layer2", "layer3", "layer4")
_AUTHORS_MASK = re.compile(r"mask(\d+)")
_AUTHORS_DUPLICATE = re.compile(r"mask(\d+)\.downsample(\d+)\.(.+)")


def _authors_mask_names(depth: int) -> dict[str, str]:
    """The authors' submodule names inside a masking block of ``depth`` levels -> ours (:class:`MaskingBlock`)."""
    names = {f"conv{i + 1}": f"down.{i}" for i in range(depth)}
    for j in range(depth - 1):
        names[f"up_pool{depth + 1 + j}"] = f"up_pool.{j}"
        names[f"conv{depth + 1 + j}"] = f"up.{j}"
    names[f"conv{2 * depth}"] = "out"
    return names


def convert_authors_state_dict(
    state: Mapping[str, torch.Tensor], *, source: str = "authors' state dict"
) -> dict[str, torch.Tensor]:
    """Rename a state dict of the authors' ``resmasking_dropout1`` to the keys of :class:`ResidualMaskingNetwork`.

    The trunk moves under ``backbone.``, ``mask1`` ... ``mask4`` become ``masks.0`` ... ``masks.3`` with their
    blocks renamed (see the table above), and ``fc`` is kept. Each duplicate shortcut entry
    ``mask{k}.downsample{n}.*`` is dropped after checking that it equals ``mask{k}.conv{n}.downsample.*``;
    a differing one raises :class:`~openfer.errors.CheckpointError` naming ``source``. A duplicate without its
    kept copy, and any key outside the authors' layout, is passed through unchanged so that the strict check
    of :func:`load_authors_checkpoint` reports it.
    """
    converted: dict[str, torch.Tensor] = {}
    for key, value in state.items():
        head, _, rest = key.partition(".")
        duplicate = _AUTHORS_DUPLICATE.fullmatch(key)
        mask = _AUTHORS_MASK.fullmatch(head)
        if duplicate is not None:
            index, block, leaf = duplicate.groups()
            kept = state.get(f"mask{index}.conv{block}.downsample.{leaf}")
            if kept is None:
                converted[key] = value
            elif kept.shape != value.shape or not torch.equal(kept, value):
                raise CheckpointError(
                    f"{source}: {key} differs from mask{index}.conv{block}.downsample.{leaf}; the authors' model "
                    "registers one shortcut under both names, so the two must hold the same tensor"
                )
        elif head in _AUTHORS_TRUNK:
            converted[f"backbone.{key}"] = value
        elif mask is not None and 1 <= int(mask.group(1)) <= len(MASK_DEPTHS):
            index = int(mask.group(1))
            block, _, leaf = rest.partition(".")
            ours = _authors_mask_names(MASK_DEPTHS[index - 1]).get(block)
            converted[f"masks.{index - 1}.{ours}.{leaf}" if ours is not None else key] = value
        else:
            converted[key] = value
    return converted


def load_authors_checkpoint(model: ResidualMaskingNetwork, path: str | Path) -> list[str]:
    """Load a checkpoint saved by the authors' trainer (``{"net": state_dict, ...}``) into ``model``.

    The file is read with :func:`openfer.checkpoints.read_state_dict` (tensors only; ``net`` and DataParallel
    ``module.`` prefixes unwrapped), renamed by :func:`convert_authors_state_dict` (duplicate shortcuts
    checked equal), and loaded by :func:`openfer.checkpoints.load_backbone_weights`, head included, which
    checks every key and shape against ``model`` before loading: any mismatch raises
    :class:`~openfer.errors.CheckpointError` naming the file. ``model`` must match ``resmasking_dropout1``:
    ``rmn(num_classes=7, in_channels=3)``; the authors' masks use ``mask_activation="softmax"`` (the default).
    Returns the authors' keys that were not loaded: the duplicate shortcut entries, each equal to a loaded one.
    """
    state, _ = read_state_dict(path)
    convert = functools.partial(convert_authors_state_dict, source=str(path))
    load_backbone_weights(model, path, None, state=state, convert=convert)
    return [key for key in state if _AUTHORS_DUPLICATE.fullmatch(key)]


@register_model(
    "rmn",
    input_size=(3, 224, 224),
    mean=0.0,  # the authors' code feeds pixels in [0, 1] unnormalised
    std=1.0,
    head="fc",
    paper="Pham, Vu and Tran, Facial Expression Recognition using Residual Masking Network, ICPR 2020",
)
def rmn(
    num_classes: int = 7,
    in_channels: int = 3,
    dropout: float = 0.4,
    mask_activation: MaskActivation = "softmax",
    backbone_weights: str | None = None,
    trunk: int = 34,
    mask_depths: tuple[int, ...] = MASK_DEPTHS,
) -> ResidualMaskingNetwork:
    """Residual Masking Network (137,796,423 parameters for 7 classes; 21.9 GMACs at 224 x 224); ``trunk`` and
    ``mask_depths`` give the CPU-scale variants (see :class:`ResidualMaskingNetwork`).

    ``backbone_weights``: a user-held torchvision-layout ResNet-34 checkpoint (ImageNet upstream).
    The authors' trained checkpoints (``resmasking_dropout1``, e.g. their FER2013
    ``resmasking_dropout1_rot30_2019Nov17_14.33``) load into ``rmn()`` with :func:`load_authors_checkpoint`.
    """
    return ResidualMaskingNetwork(num_classes, in_channels, dropout, mask_activation, backbone_weights, trunk, tuple(mask_depths))
