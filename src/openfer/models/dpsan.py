"""DPSAN – Dual Path Stacked Attention Network (Zhu et al., "Facial Expression Recognition Using Dual Path
Feature Fusion and Stacked Attention", Future Internet 2022). No public code; defaults as in docs/models/dpsan.md.

Global path: a ResNet-18 trunk (conv1 ... layer4) on the whole face. Local path: one ResNet-18 trunk shared by
four region crops, each resized to the face size. The five 512-channel maps are concatenated (Eq. 1) and pass
two stacked CBAM channel attentions around a 1x1 compression (Eqs. 2-3), then GAP and a linear classifier.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from openfer.errors import ConfigError
from openfer.faces.regions import cut_regions_batch, fixed_four_regions, quadrants
from openfer.models.backbones.resnet import ResNet, resnet
from openfer.models.layers import conv_bn_relu
from openfer.models.registry import IMAGENET_GREY_MEAN, IMAGENET_GREY_STD, register_model

#: Region schemes the model crops itself; "landmarks" needs crops passed to ``forward``.
REGION_SCHEMES = {"fixed": fixed_four_regions, "quadrants": quadrants}
NUM_REGIONS = 4
#: ``paths`` of the paper's ablation (Table 4): both paths (DPN, DPSAN) or the global one alone (GN).
PATHS = ("dual", "global")


class CBAMChannelAttention(nn.Module):
    """CBAM channel attention (Woo et al., ECCV 2018, Eq. 2): ``sigmoid(MLP(AvgPool F) + MLP(MaxPool F))``."""

    def __init__(self, channels: int, reduction: int = 16) -> None:
        super().__init__()
        self.mlp = nn.Sequential(nn.Linear(channels, channels // reduction), nn.ReLU(inplace=True), nn.Linear(channels // reduction, channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        weights = torch.sigmoid(self.mlp(x.mean(dim=(2, 3))) + self.mlp(x.amax(dim=(2, 3))))
        return x * weights[:, :, None, None]


class StackedAttention(nn.Module):
    """DPSAN paper, Eqs. 2-3: ``F' = M_c1(F) * F``; ``F'' = M_c2(conv1x1(F')) * conv1x1(F')``.

    Eq. 3 writes the last product with F' (2560 channels) although M_c2 is computed on the 512-channel
    1x1-conv output; the shapes only match with the conv output, which is what we multiply.
    The 1x1 conv is followed by BN and ReLU (the paper names only the convolution).
    """

    def __init__(self, in_channels: int, out_channels: int = 512, reduction: int = 16) -> None:
        super().__init__()
        self.attention1 = CBAMChannelAttention(in_channels, reduction)
        self.compress = conv_bn_relu(in_channels, out_channels, 1)
        self.attention2 = CBAMChannelAttention(out_channels, reduction)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.attention2(self.compress(self.attention1(x)))


class DPSAN(nn.Module):
    """DPSAN; input the global face (N, C, S, S), crops cut internally by ``regions`` or passed to ``forward``.

    ``regions`` is ``"fixed"`` (the paper's choice), ``"quadrants"`` or ``"landmarks"`` (crops from
    :func:`openfer.faces.regions.landmark_regions` and :func:`~openfer.faces.regions.cut_regions`, passed
    as ``crops`` of shape (N, 4, C, S, S)).

    ``global_size``: the side both paths run at when the input is a higher-resolution face (the paper cuts its
    crops from the 640 x 490 CK+ frames): the whole face is resized to it for the global path, and the crops
    are cut from the input at its own resolution, then resized to it. None: the input size (crops cut from it).

    The ablation of the paper's Table 4: ``paths="global"`` is its GN (the global ResNet-18, GAP, classifier);
    ``attention=False`` its DPN (both paths' maps concatenated, GAP over the 2,560 channels, classifier, no
    stacked attention or 1x1 compression); the defaults are DPSAN.
    """

    def __init__(
        self,
        num_classes: int = 7,
        regions: str = "fixed",
        in_channels: int = 3,
        fused_channels: int = 512,
        reduction: int = 16,
        backbone_weights: str | None = None,
        global_size: int | None = None,
        paths: str = "dual",
        attention: bool = True,
    ) -> None:
        super().__init__()
        if paths not in PATHS:
            raise ConfigError(f"paths must be one of {PATHS}, got {paths!r}")
        if paths == "global" and attention:
            raise ConfigError("paths='global' is the paper's GN baseline, which has no stacked attention: set attention=False")
        self.paths, self.use_attention = paths, attention
        if global_size is not None and global_size < 32:
            raise ConfigError(f"global_size must be at least 32 pixels (a ResNet-18 input), got {global_size}")
        self.global_size = global_size
        if regions not in (*REGION_SCHEMES, "landmarks"):
            raise ConfigError(f"regions must be one of {(*REGION_SCHEMES, 'landmarks')}, got {regions!r}")
        self.regions = regions
        self.global_path: ResNet = resnet(18, num_classes=0, in_channels=in_channels, backbone_weights=backbone_weights)
        width = self.global_path.num_features
        self.local_path: ResNet | None = None
        self.attention: StackedAttention | None = None
        features = width
        if paths == "dual":
            # DPSAN paper, §3.2: one local ResNet-18 shared by the four regions, starting from the same weights.
            self.local_path = resnet(18, num_classes=0, in_channels=in_channels)
            if backbone_weights is not None:
                self.local_path.load_state_dict(self.global_path.state_dict())
            features = (1 + NUM_REGIONS) * width
        if attention:
            self.attention = StackedAttention(features, fused_channels, reduction)
            features = fused_channels
        self.fc = nn.Linear(features, num_classes)

    def crop(self, x: torch.Tensor) -> torch.Tensor:
        """The four region crops of a square face batch, cut at its resolution and each resized to the path size
        (``global_size``, else the face size): (N, 4, C, s, s)."""
        size = x.shape[-1]
        if x.shape[-2] != size:
            raise ValueError(f"DPSAN expects square faces, got {tuple(x.shape[-2:])}")
        if self.regions not in REGION_SCHEMES:
            raise ValueError(f"regions={self.regions!r}: pass the landmark crops to forward(x, crops)")
        return cut_regions_batch(x, REGION_SCHEMES[self.regions](size), self.global_size or size)

    def forward(self, x: torch.Tensor, crops: torch.Tensor | None = None) -> torch.Tensor:
        if self.local_path is None:  # GN: the global path alone
            if self.global_size is not None and x.shape[-1] != self.global_size:
                x = F.interpolate(x, size=(self.global_size, self.global_size), mode="bilinear", align_corners=False, antialias=True)
            return self.fc(self.global_path.forward_features(x).mean(dim=(2, 3)))
        crops = self.crop(x) if crops is None else crops
        if self.global_size is not None and x.shape[-1] != self.global_size:
            x = F.interpolate(x, size=(self.global_size, self.global_size), mode="bilinear", align_corners=False, antialias=True)
        if crops.shape[1] != NUM_REGIONS or crops.shape[-2:] != x.shape[-2:]:
            raise ValueError(f"crops must be (N, {NUM_REGIONS}, C, {x.shape[-2]}, {x.shape[-1]}), got {tuple(crops.shape)}")
        n = x.shape[0]
        global_map = self.global_path.forward_features(x)
        local_maps = self.local_path.forward_features(crops.flatten(0, 1))
        fused = torch.cat([global_map, local_maps.reshape(n, -1, *local_maps.shape[-2:])], dim=1)  # DPSAN paper, Eq. 1
        if self.attention is not None:
            fused = self.attention(fused)
        return self.fc(fused.mean(dim=(2, 3)))


@register_model(
    "dpsan",
    input_size=(3, 96, 96),
    mean=IMAGENET_GREY_MEAN,
    std=IMAGENET_GREY_STD,
    head="fc",
    paper="Zhu et al., Facial Expression Recognition Using Dual Path Feature Fusion and Stacked Attention, Future Internet 2022",
    default_losses=("cross_entropy",),
    pretrained="imagenet",  # the paper is silent; both ResNet-18 paths from ImageNet is the field's default
)
def dpsan(
    num_classes: int = 7,
    regions: str = "fixed",
    in_channels: int = 3,
    fused_channels: int = 512,
    reduction: int = 16,
    backbone_weights: str | None = None,
    global_size: int | None = None,
    paths: str = "dual",
    attention: bool = True,
) -> DPSAN:
    """DPSAN at 96x96 with the fixed four-region crops (the paper trains 8 classes: CK+ and FERPlus);
    ``global_size``: cut the crops from a larger input face; ``paths``/``attention``: the ablation's GN and
    DPN (see :class:`DPSAN`)."""
    return DPSAN(num_classes, regions, in_channels, fused_channels, reduction, backbone_weights, global_size, paths, attention)
