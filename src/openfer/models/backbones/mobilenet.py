"""MobileNetV1 (Howard et al., "MobileNets: Efficient Convolutional Neural Networks for Mobile Vision
Applications", arXiv:1704.04861, 2017), width multiplier 1.0, as Keras ships it and PAtt-Lite truncates it.

Module names are the Keras layer names (``conv1``, ``conv1_bn``, ``conv_dw_1``, ``conv_dw_1_bn``,
``conv_pw_1`` ... ``conv_pw_13_bn``, ``conv_preds``), so a state dict converted from the Keras ImageNet
weights maps name for name (Keras kernels transposed to PyTorch's (out, in, h, w); gamma/beta/moving_mean/
moving_variance -> weight/bias/running_mean/running_var). As in Keras, BatchNorm uses eps 1e-3, activations
are ReLU6 and stride-2 convolutions pad one pixel on the bottom and right only.
"""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from openfer.checkpoints import load_backbone_weights
from openfer.keras_weights import read_keras_h5
from openfer.models.registry import register_model

#: Output channels and stride of the 13 depthwise-separable blocks (MobileNet paper, Table 1).
BLOCKS: tuple[tuple[int, int], ...] = (
    (64, 1), (128, 2), (128, 1), (256, 2), (256, 1), (512, 2),
    (512, 1), (512, 1), (512, 1), (512, 1), (512, 1), (1024, 2), (1024, 1),
)  # fmt: skip
STEM_CHANNELS = 32
BN_EPS = 1e-3  # Keras BatchNormalization default
HEAD = "conv_preds"


def layer_names(last_layer: str = "conv_pw_13") -> list[str]:
    """Keras names of the convolutions up to and including ``last_layer`` (``conv1``, ``conv_dw_1``, ...)."""
    names = ["conv1"] + [f"conv_{kind}_{i}" for i in range(1, len(BLOCKS) + 1) for kind in ("dw", "pw")]
    if last_layer not in names:
        raise ValueError(f"last_layer must be one of {names}, got {last_layer!r}")
    return names[: names.index(last_layer) + 1]


class MobileNetV1(nn.Module):
    """MobileNetV1 up to ``last_layer`` (each conv followed by BN and ReLU6).

    With ``num_classes > 0`` (only for the full network) the Keras top is added: global average pooling,
    dropout and the 1x1 convolution ``conv_preds``; ``forward`` returns logits. With ``num_classes=0``
    ``forward`` returns the feature map of ``last_layer`` (PAtt-Lite uses ``conv_dw_9``: 512 x 14 x 14 at 224).
    """

    def __init__(
        self, num_classes: int = 1000, in_channels: int = 3, last_layer: str = "conv_pw_13", dropout: float = 1e-3
    ) -> None:
        super().__init__()
        self.last_layer = last_layer
        self.layers = layer_names(last_layer)
        if num_classes > 0 and last_layer != "conv_pw_13":
            raise ValueError(f"a classifier needs the full network (last_layer='conv_pw_13'), got {last_layer!r}")
        # Keras pads a stride-2 3x3 conv by one pixel on the bottom and right only (ZeroPadding2D / TF 'same').
        self.paddings: dict[str, tuple[int, int, int, int]] = {"conv1": (0, 1, 0, 1)}
        channels = in_channels
        for name in self.layers:
            if name == "conv1":
                conv = nn.Conv2d(channels, STEM_CHANNELS, 3, 2, bias=False)
                channels = STEM_CHANNELS
            else:
                kind, index = name.split("_")[1], int(name.split("_")[2])
                width, stride = BLOCKS[index - 1]
                if kind == "dw":
                    conv = nn.Conv2d(channels, channels, 3, stride, groups=channels, bias=False)
                    self.paddings[name] = (0, 1, 0, 1) if stride == 2 else (1, 1, 1, 1)
                else:
                    conv = nn.Conv2d(channels, width, 1, bias=False)
                    channels = width
            setattr(self, name, conv)
            setattr(self, f"{name}_bn", nn.BatchNorm2d(channels, eps=BN_EPS))
        self.num_features = channels
        self.dropout = nn.Dropout(dropout) if num_classes > 0 else None
        self.conv_preds = nn.Conv2d(channels, num_classes, 1) if num_classes > 0 else None

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """The feature map after ``last_layer``'s BN and ReLU6."""
        for name in self.layers:
            if name in self.paddings:
                x = F.pad(x, self.paddings[name])
            x = F.relu6(getattr(self, f"{name}_bn")(getattr(self, name)(x)))
        return x

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.forward_features(x)
        if self.conv_preds is None:
            return x
        x = self.dropout(x.mean(dim=(2, 3), keepdim=True))
        return torch.flatten(self.conv_preds(x), 1)


def load_keras_layout_weights(model: MobileNetV1, path: str | Path) -> list[str]:
    """Load a MobileNetV1 checkpoint in this module's key layout into ``model`` with
    :func:`openfer.checkpoints.load_backbone_weights`; return what was not loaded.

    The classifier ``conv_preds`` and the layers beyond a truncated model's ``last_layer`` are skipped and
    reported. A Keras HDF5 file (``.h5``, e.g. the Keras ImageNet ``mobilenet_1_0_224_tf_no_top.h5``) is
    converted by :func:`openfer.keras_weights.read_keras_h5`; Keras keeps no BN step counters, so the model
    keeps its own.
    """
    state = None
    if Path(path).suffix.lower() in (".h5", ".hdf5"):
        state = read_keras_h5(path, depthwise_layers={name for name in layer_names() if name.startswith("conv_dw_")})
    kept, every = set(model.layers), set(layer_names())

    def beyond(key: str) -> str | None:
        layer = key.split(".")[0].removesuffix("_bn")
        return f"beyond {model.last_layer}, not loaded" if layer in every and layer not in kept else None

    return load_backbone_weights(model, path, HEAD, state=state, skip=beyond)


@register_model(
    "mobilenet_v1",
    input_size=(3, 224, 224),
    mean=0.5,  # Keras MobileNet preprocessing: pixels to [-1, 1]
    std=0.5,
    head=HEAD,
    paper="Howard et al., MobileNets: Efficient Convolutional Neural Networks for Mobile Vision Applications, 2017",
)
def mobilenet_v1(
    num_classes: int = 7, in_channels: int = 3, dropout: float = 1e-3, backbone_weights: str | None = None
) -> MobileNetV1:
    """MobileNetV1 classifier (4,231,976 parameters with 1000 classes), optionally from a user-held checkpoint."""
    model = MobileNetV1(num_classes, in_channels, dropout=dropout)
    if backbone_weights is not None:
        load_keras_layout_weights(model, backbone_weights)
    return model
