"""ConvNeXt (Liu et al., "A ConvNet for the 2020s", CVPR 2022), tiny/small/base/large/xlarge.

State-dict keys follow the authors' release (facebookresearch/ConvNeXt: ``downsample_layers``, ``stages``,
``dwconv``, ``norm``, ``pwconv1``, ``pwconv2``, ``gamma``, ``norm``, ``head``), which is what EmoNeXt loads
and the only release with an xlarge model. Checkpoints in torchvision's layout (``features.*``,
``classifier.*``) are converted on load by :func:`load_release_weights`.
"""

from __future__ import annotations

import functools
import re
from pathlib import Path

import torch
from torch import nn

from openfer.checkpoints import load_backbone_weights
from openfer.models.registry import IMAGENET_GREY_MEAN, IMAGENET_GREY_STD, register_model

#: (blocks per stage, channels per stage) of each size (ConvNeXt paper, Sec. 2.6; xlarge from the release).
CONFIGS: dict[str, tuple[tuple[int, ...], tuple[int, ...]]] = {
    "tiny": ((3, 3, 9, 3), (96, 192, 384, 768)),
    "small": ((3, 3, 27, 3), (96, 192, 384, 768)),
    "base": ((3, 3, 27, 3), (128, 256, 512, 1024)),
    "large": ((3, 3, 27, 3), (192, 384, 768, 1536)),
    "xlarge": ((3, 3, 27, 3), (256, 512, 1024, 2048)),
}
PAPER = "Liu et al., A ConvNet for the 2020s, CVPR 2022"
HEAD = "head"


class LayerNorm2d(nn.LayerNorm):
    """LayerNorm over the channels of an (N, C, H, W) map."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)


class DropPath(nn.Module):
    """Stochastic depth (Huang et al., 2016): drop a residual branch for whole samples during training."""

    def __init__(self, probability: float = 0.0) -> None:
        super().__init__()
        self.probability = probability

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.probability == 0.0:
            return x
        keep = 1.0 - self.probability
        mask = x.new_empty((x.shape[0],) + (1,) * (x.dim() - 1)).bernoulli_(keep)
        return x * mask / keep


class Block(nn.Module):
    """ConvNeXt block: 7x7 depthwise conv, LayerNorm, 4x MLP with GELU, layer scale, residual."""

    def __init__(self, dim: int, drop_path: float = 0.0, layer_scale_init_value: float = 1e-6) -> None:
        super().__init__()
        self.dwconv = nn.Conv2d(dim, dim, kernel_size=7, padding=3, groups=dim)
        self.norm = nn.LayerNorm(dim, eps=1e-6)
        self.pwconv1 = nn.Linear(dim, 4 * dim)
        self.act = nn.GELU()
        self.pwconv2 = nn.Linear(4 * dim, dim)
        self.gamma = nn.Parameter(torch.full((dim,), layer_scale_init_value))
        self.drop_path = DropPath(drop_path)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.dwconv(x).permute(0, 2, 3, 1)
        y = self.gamma * self.pwconv2(self.act(self.pwconv1(self.norm(y))))
        return x + self.drop_path(y.permute(0, 3, 1, 2))


class ConvNeXt(nn.Module):
    """ConvNeXt; ``num_classes=0`` drops the head (``forward`` then returns the pooled, normed features)."""

    def __init__(
        self,
        depths: tuple[int, ...] = CONFIGS["tiny"][0],
        dims: tuple[int, ...] = CONFIGS["tiny"][1],
        num_classes: int = 1000,
        in_channels: int = 3,
        drop_path_rate: float = 0.0,
        layer_scale_init_value: float = 1e-6,
    ) -> None:
        super().__init__()
        self.depths, self.dims = tuple(depths), tuple(dims)
        stem = nn.Sequential(nn.Conv2d(in_channels, dims[0], kernel_size=4, stride=4), LayerNorm2d(dims[0], eps=1e-6))
        self.downsample_layers = nn.ModuleList([stem])
        for i in range(3):
            self.downsample_layers.append(
                nn.Sequential(LayerNorm2d(dims[i], eps=1e-6), nn.Conv2d(dims[i], dims[i + 1], kernel_size=2, stride=2))
            )
        total = sum(depths)
        rates = [drop_path_rate * i / max(total - 1, 1) for i in range(total)]  # linear decay rule
        self.stages = nn.ModuleList()
        for i, depth in enumerate(depths):
            start = sum(depths[:i])
            self.stages.append(nn.Sequential(*[Block(dims[i], rates[start + j], layer_scale_init_value) for j in range(depth)]))
        self.norm = nn.LayerNorm(dims[-1], eps=1e-6)
        self.num_features = dims[-1]
        self.head: nn.Module = nn.Linear(dims[-1], num_classes) if num_classes > 0 else nn.Identity()
        # The authors' initialisation: truncated normal (std 0.02) weights, zero biases.
        for module in self.modules():
            if isinstance(module, (nn.Conv2d, nn.Linear)):
                nn.init.trunc_normal_(module.weight, std=0.02)
                nn.init.zeros_(module.bias)

    def forward_stages(self, x: torch.Tensor) -> torch.Tensor:
        """The last stage's feature map (N, C, H/32, W/32)."""
        for downsample, stage in zip(self.downsample_layers, self.stages):
            x = stage(downsample(x))
        return x

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """Global average pooling and the final LayerNorm: (N, C)."""
        return self.norm(self.forward_stages(x).mean(dim=(2, 3)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.forward_features(x))


def from_torchvision_layout(state: dict[str, torch.Tensor], depths: tuple[int, ...]) -> dict[str, torch.Tensor]:
    """Rename a torchvision ConvNeXt state dict (``features.*``, ``classifier.*``) to the authors' layout;
    a state dict already in the authors' layout is returned as it is."""
    if not any(re.match(r"features\.\d+\.", key) for key in state):
        return state
    stage_of = {2 * i + 1: i for i in range(len(depths))}  # features.1/3/5/7 are the stages
    block_part = {"0": "dwconv", "2": "norm", "3": "pwconv1", "5": "pwconv2"}
    converted: dict[str, torch.Tensor] = {}
    for key, value in state.items():
        parts = key.split(".")
        if parts[0] == "classifier":
            converted[{"0": "norm", "2": "head"}[parts[1]] + "." + parts[2]] = value
            continue
        index = int(parts[1])
        if index == 0:
            converted[f"downsample_layers.0.{parts[2]}.{parts[3]}"] = value
        elif index in stage_of:
            prefix = f"stages.{stage_of[index]}.{parts[2]}"
            if parts[3] == "layer_scale":
                converted[f"{prefix}.gamma"] = value.flatten()
            else:
                converted[f"{prefix}.{block_part[parts[4]]}.{parts[5]}"] = value
        else:
            converted[f"downsample_layers.{index // 2}.{parts[2]}.{parts[3]}"] = value
    return converted


def plain_convnext(model: ConvNeXt) -> ConvNeXt:
    """A headless ConvNeXt of ``model``'s depths, widths and input channels on the meta device: the keys a
    release checkpoint holds, whatever ``model`` adds to it (EmoNeXt's STN, SE and attention)."""
    with torch.device("meta"):
        return ConvNeXt(model.depths, model.dims, 0, model.downsample_layers[0][0].in_channels)


def load_release_weights(model: ConvNeXt, path: str | Path) -> list[str]:
    """Load a ConvNeXt checkpoint (the release's or torchvision's layout) into ``model`` with
    :func:`openfer.checkpoints.load_backbone_weights`; the head and any added modules are left as initialised."""
    return load_backbone_weights(
        model, path, HEAD, convert=functools.partial(from_torchvision_layout, depths=model.depths), backbone=plain_convnext(model)
    )


def _convnext(size: str, num_classes: int, in_channels: int, drop_path_rate: float, backbone_weights: str | None) -> ConvNeXt:
    depths, dims = CONFIGS[size]
    model = ConvNeXt(depths, dims, num_classes, in_channels, drop_path_rate)
    if backbone_weights is not None:
        load_release_weights(model, backbone_weights)
    return model


@register_model("convnext_tiny", input_size=(3, 224, 224), mean=IMAGENET_GREY_MEAN, std=IMAGENET_GREY_STD, head=HEAD, paper=PAPER)
def convnext_tiny(num_classes: int = 7, in_channels: int = 3, drop_path_rate: float = 0.1, backbone_weights: str | None = None) -> ConvNeXt:
    """ConvNeXt-T classifier (28,589,128 parameters with 1000 classes)."""
    return _convnext("tiny", num_classes, in_channels, drop_path_rate, backbone_weights)


@register_model("convnext_small", input_size=(3, 224, 224), mean=IMAGENET_GREY_MEAN, std=IMAGENET_GREY_STD, head=HEAD, paper=PAPER)
def convnext_small(num_classes: int = 7, in_channels: int = 3, drop_path_rate: float = 0.1, backbone_weights: str | None = None) -> ConvNeXt:
    """ConvNeXt-S classifier (50,223,688 parameters with 1000 classes)."""
    return _convnext("small", num_classes, in_channels, drop_path_rate, backbone_weights)


@register_model("convnext_base", input_size=(3, 224, 224), mean=IMAGENET_GREY_MEAN, std=IMAGENET_GREY_STD, head=HEAD, paper=PAPER)
def convnext_base(num_classes: int = 7, in_channels: int = 3, drop_path_rate: float = 0.1, backbone_weights: str | None = None) -> ConvNeXt:
    """ConvNeXt-B classifier (88,591,464 parameters with 1000 classes)."""
    return _convnext("base", num_classes, in_channels, drop_path_rate, backbone_weights)


@register_model("convnext_large", input_size=(3, 224, 224), mean=IMAGENET_GREY_MEAN, std=IMAGENET_GREY_STD, head=HEAD, paper=PAPER)
def convnext_large(num_classes: int = 7, in_channels: int = 3, drop_path_rate: float = 0.1, backbone_weights: str | None = None) -> ConvNeXt:
    """ConvNeXt-L classifier (197,767,336 parameters with 1000 classes)."""
    return _convnext("large", num_classes, in_channels, drop_path_rate, backbone_weights)


@register_model("convnext_xlarge", input_size=(3, 224, 224), mean=IMAGENET_GREY_MEAN, std=IMAGENET_GREY_STD, head=HEAD, paper=PAPER)
def convnext_xlarge(num_classes: int = 7, in_channels: int = 3, drop_path_rate: float = 0.1, backbone_weights: str | None = None) -> ConvNeXt:
    """ConvNeXt-XL classifier (350,196,968 parameters with 1000 classes)."""
    return _convnext("xlarge", num_classes, in_channels, drop_path_rate, backbone_weights)
