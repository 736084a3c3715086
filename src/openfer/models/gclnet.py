"""GCLNet (a.k.a. LSDC-FER, GCLENet) – Chen et al., "Improved Facial Expression Recognition Algorithm Based on
Local Feature Enhancement and Global Information Association", Electronics 2024, 13, 2813. No public code.

A ResNet-34 whose 64-channel map F (after ``layer1`` by default) passes two parallel branches:
LFA (local): F split into a 2x2 grid, each 28x28 part through two asymmetric conv blocks (ACB) with its own
weights, re-assembled and added to F (paper §3.2, Eq. 1); at test time each ACB folds into one 3x3 conv (``fuse``).
MGC (global): a multi-scale split of F into 4 channel groups with 1x1 / stacked-3x3 convs (Eq. 2), each
branch c/2 = 32 channels wide as the paper's complexity formula O(c^2/4 + 3c^2k^2/2) implies (``global_width``
128; 64 is the narrower literal Eq. 2 reading), then ACmix (Pan et al., CVPR 2022; code LeapLabTHU/ACmix)
mixing local self-attention and shifted convolution, back to 64 channels.
The two branch outputs are summed and continue through ``layer2`` ... ``layer4``, GAP and the classifier.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from openfer.errors import ConfigError
from openfer.models.backbones.resnet import ResNet, resnet
from openfer.models.layers import conv_bn_relu
from openfer.models.registry import IMAGENET_GREY_MEAN, IMAGENET_GREY_STD, register_model

INSERTION_POINTS = ("stem", "layer1")


class AsymmetricConvBlock(nn.Module):
    """ACB (Ding et al., ACNet, ICCV 2019; GCLNet paper, Eq. 1): ``conv3x3(F) + conv1x3(F) + conv3x1(F)``.

    The GCLNet paper names no BN; ``batchnorm=True`` gives each branch its own BN as in ACNet (the fused conv
    then carries a bias). :meth:`fuse` returns the equivalent single 3x3 convolution for eval mode.
    """

    def __init__(self, in_channels: int, out_channels: int, batchnorm: bool = False) -> None:
        super().__init__()
        self.square = self._branch(in_channels, out_channels, (3, 3), (1, 1), batchnorm)
        self.horizontal = self._branch(in_channels, out_channels, (1, 3), (0, 1), batchnorm)
        self.vertical = self._branch(in_channels, out_channels, (3, 1), (1, 0), batchnorm)

    @staticmethod
    def _branch(in_channels: int, out_channels: int, kernel: tuple[int, int], padding: tuple[int, int], batchnorm: bool) -> nn.Sequential:
        layers: list[nn.Module] = [nn.Conv2d(in_channels, out_channels, kernel, padding=padding, bias=False)]
        if batchnorm:
            layers.append(nn.BatchNorm2d(out_channels))
        return nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.square(x) + self.horizontal(x) + self.vertical(x)

    @torch.no_grad()
    def fuse(self) -> nn.Conv2d:
        """One 3x3 conv equal to the block in eval mode: BN folded into each branch, the 1x3 and 3x1 kernels
        added to the centre row and column of the 3x3 kernel (GCLNet paper, Fig. 3b)."""
        weight = torch.zeros_like(self.square[0].weight)
        bias = torch.zeros(weight.shape[0], device=weight.device, dtype=weight.dtype)
        for branch, pad in ((self.square, (0, 0, 0, 0)), (self.horizontal, (0, 0, 1, 1)), (self.vertical, (1, 1, 0, 0))):
            kernel = branch[0].weight
            if len(branch) > 1:
                bn: nn.BatchNorm2d = branch[1]
                scale = bn.weight / torch.sqrt(bn.running_var + bn.eps)
                kernel = kernel * scale[:, None, None, None]
                bias += bn.bias - bn.running_mean * scale
            weight += F.pad(kernel, pad)
        conv = nn.Conv2d(weight.shape[1], weight.shape[0], 3, padding=1, bias=len(self.square) > 1)
        conv = conv.to(device=weight.device, dtype=weight.dtype)
        conv.weight.copy_(weight)
        if conv.bias is not None:
            conv.bias.copy_(bias)
        return conv


class LocalFeatureEnhancement(nn.Module):
    """LFA: per 2x2-grid part, ACB -> ReLU -> ACB with separate weights; parts re-stitched and added to F.

    The paper does not say what lies between the two ACBs; we put a ReLU there (two linear convs in a row
    would collapse into one 5x5 conv).
    """

    def __init__(self, channels: int = 64, batchnorm: bool = False, split: bool = True, asymmetric: bool = True) -> None:
        super().__init__()
        self.split = split

        def block() -> nn.Module:
            # Table 6's "feature map segmentation" row keeps the split with plain 3x3 convs.
            return AsymmetricConvBlock(channels, channels, batchnorm) if asymmetric else nn.Conv2d(channels, channels, 3, padding=1, bias=False)

        # Table 6's "asymmetric convolution" row: one ACB -> ReLU -> ACB over the whole map, no split.
        self.parts = nn.ModuleList(nn.Sequential(block(), nn.ReLU(inplace=True), block()) for _ in range(4 if split else 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.split:
            return x + self.parts[0](x)
        h, w = x.shape[-2] // 2, x.shape[-1] // 2
        top, bottom = x[:, :, :h], x[:, :, h:]
        tl, tr, bl, br = (part(region) for part, region in zip(self.parts, (top[..., :w], top[..., w:], bottom[..., :w], bottom[..., w:])))
        return x + torch.cat([torch.cat([tl, tr], dim=3), torch.cat([bl, br], dim=3)], dim=2)

    def fuse(self) -> None:
        """Replace every ACB by its single fused 3x3 conv (deploy form: 8 x 64*64*9 = 294,912 weights)."""
        for part in self.parts:
            for index, module in enumerate(part):
                if isinstance(module, AsymmetricConvBlock):
                    part[index] = module.fuse()


def _position_grid(height: int, width: int, like: torch.Tensor) -> torch.Tensor:
    """(1, 2, H, W) normalised x and y coordinates in [-1, 1] (ACmix's positional input)."""
    ys = torch.linspace(-1.0, 1.0, height, device=like.device, dtype=like.dtype)
    xs = torch.linspace(-1.0, 1.0, width, device=like.device, dtype=like.dtype)
    grid_y, grid_x = torch.meshgrid(ys, xs, indexing="ij")
    return torch.stack([grid_x, grid_y])[None]


class ACmix(nn.Module):
    """ACmix (Pan et al., "On the Integration of Self-Attention and Convolution", CVPR 2022), stride 1.

    Shared 1x1 projections q, k, v feed (a) local self-attention over a ``kernel_attention`` window
    (reflection padding, relative positions from a 1x1 conv on the coordinate grid, q scaled by
    head_dim^-0.5) and (b) a convolution path: a 1x1 ``fc`` from the 3 x heads q/k/v maps to k^2 maps, then
    a grouped 3x3 ``shift_conv`` initialised to shift kernels (paper Eqs. 3-5). Output
    ``rate_attention * attention + rate_conv * convolution``. As in the authors' code the shift conv has no bias
    (their ``init_rate_0`` returns None, which removes it): ACmix(64, 64, 4 heads) has 17,822 parameters.
    """

    def __init__(self, in_channels: int, out_channels: int, heads: int = 4, kernel_attention: int = 7, kernel_conv: int = 3) -> None:
        super().__init__()
        if out_channels % heads:
            raise ConfigError(f"ACmix: out_channels ({out_channels}) must be divisible by heads ({heads})")
        self.heads = heads
        self.head_dim = out_channels // heads
        self.kernel_attention = kernel_attention
        self.kernel_conv = kernel_conv
        self.query = nn.Conv2d(in_channels, out_channels, 1)
        self.key = nn.Conv2d(in_channels, out_channels, 1)
        self.value = nn.Conv2d(in_channels, out_channels, 1)
        self.position = nn.Conv2d(2, self.head_dim, 1)
        self.fc = nn.Conv2d(3 * heads, kernel_conv**2, 1, bias=False)
        self.shift_conv = nn.Conv2d(kernel_conv**2 * self.head_dim, out_channels, kernel_conv, padding=kernel_conv // 2, groups=self.head_dim, bias=False)
        self.rate_attention = nn.Parameter(torch.tensor([0.5]))
        self.rate_conv = nn.Parameter(torch.tensor([0.5]))
        with torch.no_grad():
            shifts = torch.zeros(kernel_conv**2, kernel_conv, kernel_conv)
            for index in range(kernel_conv**2):
                shifts[index, index // kernel_conv, index % kernel_conv] = 1.0
            self.shift_conv.weight.copy_(shifts.repeat(out_channels, 1, 1, 1))

    def _windows(self, x: torch.Tensor) -> torch.Tensor:
        """(B, D, H, W) -> (B, D, k*k, H, W): each pixel's reflection-padded k x k neighbourhood."""
        b, d, h, w = x.shape
        pad = self.kernel_attention // 2
        patches = F.unfold(F.pad(x, (pad, pad, pad, pad), mode="reflect"), self.kernel_attention)
        return patches.view(b, d, self.kernel_attention**2, h, w)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        q, k, v = self.query(x), self.key(x), self.value(x)
        b, _, h, w = q.shape
        heads, dim = self.heads, self.head_dim
        # (a) local self-attention with relative position encoding.
        position = self.position(_position_grid(h, w, x))
        q_heads = q.reshape(b * heads, dim, h, w) * dim**-0.5
        relative = position.unsqueeze(2) - self._windows(position)
        logits = (q_heads.unsqueeze(2) * (self._windows(k.reshape(b * heads, dim, h, w)) + relative)).sum(1)
        weights = logits.softmax(dim=1)
        attention = (weights.unsqueeze(1) * self._windows(v.reshape(b * heads, dim, h, w))).sum(2).reshape(b, -1, h, w)
        # (b) convolution: k^2 maps from the q/k/v heads, then the shift convolution over them.
        stacked = torch.cat([t.reshape(b, heads, dim, h * w) for t in (q, k, v)], dim=1)
        maps = self.fc(stacked).permute(0, 2, 1, 3).reshape(b, -1, h, w)
        convolution = self.shift_conv(maps)
        return self.rate_attention * attention + self.rate_conv * convolution


class MultiScaleGlobalAssociation(nn.Module):
    """MGC: GCLNet paper, Eq. 2, then ACmix.

    F (``channels``) is split into ``groups`` equal channel groups F_i; ``Y_1 = o(F_1)`` (1x1 conv) and ``Y_i`` =
    (i - 1) stacked 3x3 convs of ``F_i`` (receptive fields 1, 3, 5, 7 for n = 4); ``Y = concat(Y_1..Y_n)`` has
    ``width`` channels, i.e. every branch is ``width / groups`` wide (the first conv of a branch reads its
    ``channels / groups`` input channels); ACmix maps Y back to ``channels``. Each conv is followed by BN and
    ReLU (not stated). ``width`` defaults to ``2 * channels``: branches c/2 = 32 wide, as the paper's space
    complexity O(c^2/4 + 3c^2k^2/2) implies (seven convs of (c/2)^2 k^2 weights, four times the c/4-wide
    layout); 72,542 parameters, the paper's "MGC 0.07 M". ``width=channels`` is the narrower literal reading of
    Eq. 2 (c/4-wide branches, 32,126 parameters).
    """

    def __init__(self, channels: int = 64, groups: int = 4, heads: int = 4, width: int | None = None, multiscale: bool = True, acmix: bool = True) -> None:
        super().__init__()
        width = 2 * channels if width is None else width
        if channels % groups or width % groups:
            raise ConfigError(f"MGC: channels ({channels}) and global width ({width}) must be divisible by groups ({groups})")
        split, branch = channels // groups, width // groups
        self.groups = groups
        self.width = width
        self.multiscale = multiscale
        # Table 7's ablation: without the multi-scale convolutions a 3x3 conv (BN, ReLU) maps F to the width;
        # without ACmix a 3x3 conv (BN, ReLU) maps the width back to F's channels.
        self.scales = (
            nn.ModuleList(
                [conv_bn_relu(split, branch, 1)]
                + [nn.Sequential(*(conv_bn_relu(split if j == 0 else branch, branch, 3) for j in range(i))) for i in range(1, groups)]
            )
            if multiscale
            else nn.ModuleList([conv_bn_relu(channels, width, 3)])
        )
        self.acmix = ACmix(width, channels, heads) if acmix else conv_bn_relu(width, channels, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.multiscale:
            return self.acmix(self.scales[0](x))
        parts = x.chunk(self.groups, dim=1)
        return self.acmix(torch.cat([scale(part) for scale, part in zip(self.scales, parts)], dim=1))


class GCLNet(nn.Module):
    """GCLNet on ResNet-34; ``insert_after`` ("layer1" default, or "stem") picks where F is taken (both 64 x 56 x 56).

    ``global_width``: channels of the MGC's multi-scale map (4 branches of ``global_width / 4``); 128 (default)
    follows the paper's complexity formula and 0.07 M, 64 the literal Eq. 2 split (see ``MultiScaleGlobalAssociation``).
    ``lfa`` / ``mgc``: keep the local / global branch (the module ablation of the paper's Table 5); with one of
    them F is that branch's output, with neither the network is the plain ResNet-34. ``lfa_split`` /
    ``lfa_asymmetric`` (Table 6) and ``mgc_multiscale`` / ``mgc_acmix`` (Table 7) switch each module's parts.
    """

    def __init__(
        self,
        num_classes: int = 7,
        in_channels: int = 3,
        insert_after: str = "layer1",
        acb_batchnorm: bool = False,
        heads: int = 4,
        backbone_weights: str | None = None,
        global_width: int = 128,
        lfa: bool = True,
        mgc: bool = True,
        lfa_split: bool = True,
        lfa_asymmetric: bool = True,
        mgc_multiscale: bool = True,
        mgc_acmix: bool = True,
    ) -> None:
        super().__init__()
        if insert_after not in INSERTION_POINTS:
            raise ConfigError(f"insert_after must be one of {INSERTION_POINTS}, got {insert_after!r}")
        self.insert_after = insert_after
        self.backbone: ResNet = resnet(34, num_classes, in_channels, backbone_weights)
        self.local_branch = LocalFeatureEnhancement(64, acb_batchnorm, lfa_split, lfa_asymmetric) if lfa else None
        self.global_branch = MultiScaleGlobalAssociation(64, 4, heads, global_width, mgc_multiscale, mgc_acmix) if mgc else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        net = self.backbone
        f = net.stem(x)
        if self.insert_after == "layer1":
            f = net.layer1(f)
        # Fusion of the two branches: element-wise sum (the paper only says "fused").
        branches = [branch(f) for branch in (self.local_branch, self.global_branch) if branch is not None]
        if branches:
            f = branches[0] if len(branches) == 1 else branches[0] + branches[1]
        if self.insert_after == "stem":
            f = net.layer1(f)
        return net.forward_head(net.layer4(net.layer3(net.layer2(f))))

    def fuse(self) -> "GCLNet":
        """Fold the LFA's asymmetric blocks into single 3x3 convs (the paper's test-time form); returns ``self``."""
        if self.local_branch is not None:
            self.local_branch.fuse()
        return self


@register_model(
    "gclnet",
    input_size=(3, 224, 224),
    mean=IMAGENET_GREY_MEAN,
    std=IMAGENET_GREY_STD,
    head="backbone.fc",
    paper="Chen et al., Improved Facial Expression Recognition Algorithm Based on Local Feature Enhancement and Global Information Association, Electronics 2024",
    default_losses=("cross_entropy",),
    pretrained="imagenet",  # then its 50k-face pre-training stage; ImageNet is what the recipes can load
)
def gclnet(
    num_classes: int = 7,
    in_channels: int = 3,
    insert_after: str = "layer1",
    acb_batchnorm: bool = False,
    heads: int = 4,
    backbone_weights: str | None = None,
    global_width: int = 128,
    lfa: bool = True,
    mgc: bool = True,
    lfa_split: bool = True,
    lfa_asymmetric: bool = True,
    mgc_multiscale: bool = True,
    mgc_acmix: bool = True,
) -> GCLNet:
    """GCLNet (ResNet-34 + LFA + MGC); call ``fuse()`` before deployment. ``lfa``/``mgc``: the module ablation
    (Table 5); ``lfa_split``/``lfa_asymmetric`` and ``mgc_multiscale``/``mgc_acmix``: their internals (Tables 6-7)."""
    return GCLNet(
        num_classes, in_channels, insert_after, acb_batchnorm, heads, backbone_weights, global_width, lfa, mgc,
        lfa_split, lfa_asymmetric, mgc_multiscale, mgc_acmix,
    )  # fmt: skip
