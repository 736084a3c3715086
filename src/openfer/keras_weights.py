"""Keras HDF5 weights -> PyTorch tensors, for networks whose module names are the Keras layer names.

The Keras ImageNet weights of MobileNet (``mobilenet_1_0_224_tf_no_top.h5``, used by PAtt-Lite) and
other ``keras.applications`` files are in the Keras 2 HDF5 layout: the root (or its ``model_weights``
group) lists ``layer_names``; each layer's group lists ``weight_names`` such as ``conv_dw_1/depthwise_kernel:0``.
This module reads that layout with h5py (no TensorFlow) and converts each variable to PyTorch's convention:

* ``kernel`` of a convolution, (h, w, in, out) -> ``<layer>.weight`` (out, in, h, w);
* ``depthwise_kernel``, (h, w, in, m) -> ``<layer>.weight`` (in * m, 1, h, w);
* ``kernel`` of a dense layer, (in, out) -> ``<layer>.weight`` (out, in);
* ``bias`` -> ``<layer>.bias``; BatchNorm ``gamma``, ``beta``, ``moving_mean``, ``moving_variance`` ->
  ``weight``, ``bias``, ``running_mean``, ``running_var``.

Keras 2 names a depthwise kernel ``depthwise_kernel``; Keras 3's legacy writer names it ``kernel``, so
the caller names its depthwise layers (``depthwise_layers``) and their ``kernel`` is read as depthwise.

Keras 3's ``.weights.h5`` layout (``layers/<name>/vars/<i>``) does not name its variables, so it is
refused with a message; re-save such a model with the legacy HDF5 writer or export a state dict.
"""

from __future__ import annotations

from collections.abc import Container
from pathlib import Path

import numpy as np
import torch

from openfer.errors import CheckpointError

VARIABLE_KEYS = {
    "bias": "bias",
    "gamma": "weight",
    "beta": "bias",
    "moving_mean": "running_mean",
    "moving_variance": "running_var",
}


def _text(value: object) -> str:
    return value.decode("utf8") if isinstance(value, bytes) else str(value)


def convert_variable(name: str, array: np.ndarray, depthwise: bool = False) -> tuple[str, torch.Tensor]:
    """PyTorch (suffix, tensor) of one Keras variable, e.g. ``("weight", ...)`` for ``depthwise_kernel``.

    ``depthwise``: the variable belongs to a depthwise convolution (its ``kernel`` is (h, w, in, m)).
    """
    tensor = torch.from_numpy(np.ascontiguousarray(array)).float()
    if depthwise and name == "kernel":
        name = "depthwise_kernel"
    if name == "kernel" and tensor.ndim == 4:
        return "weight", tensor.permute(3, 2, 0, 1).contiguous()
    if name == "depthwise_kernel" and tensor.ndim == 4:
        height, width, channels, multiplier = tensor.shape
        return "weight", tensor.permute(2, 3, 0, 1).reshape(channels * multiplier, 1, height, width).contiguous()
    if name == "kernel" and tensor.ndim == 2:
        return "weight", tensor.t().contiguous()
    if name in VARIABLE_KEYS and tensor.ndim == 1:
        return VARIABLE_KEYS[name], tensor
    raise ValueError(f"no PyTorch counterpart for Keras variable {name!r} of shape {tuple(array.shape)}")


def read_keras_h5(path: str | Path, depthwise_layers: Container[str] = ()) -> dict[str, torch.Tensor]:
    """The weights of a Keras HDF5 file as a PyTorch state dict keyed ``<keras layer>.<torch name>``.

    ``depthwise_layers``: names of depthwise-convolution layers (see the module notes).

    Raises :class:`~openfer.errors.CheckpointError` naming the file for a missing, non-HDF5 or Keras 3
    file, or a variable with no PyTorch counterpart.
    """
    import h5py

    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: no such weights file")
    try:
        handle = h5py.File(path, "r")
    except OSError as error:
        raise CheckpointError(f"{path}: not a readable HDF5 file ({error})") from None
    state: dict[str, torch.Tensor] = {}
    with handle:
        root = handle["model_weights"] if "model_weights" in handle else handle
        if "layer_names" not in root.attrs:
            layout = "Keras 3 .weights.h5" if "layers" in root else "unknown"
            raise CheckpointError(
                f"{path}: not in the Keras 2 HDF5 weights layout (found the {layout} layout; "
                "save it with the legacy HDF5 writer or convert it to a PyTorch state dict)"
            )
        for layer in map(_text, root.attrs["layer_names"]):
            group = root[layer]
            for weight_name in map(_text, group.attrs.get("weight_names", [])):
                # "conv1/kernel:0", or "<sub-model>/conv1/kernel:0" when the layer is a nested model.
                parts = weight_name.split("/")
                owner, variable = (parts[-2] if len(parts) > 1 else layer), parts[-1].split(":")[0]
                try:
                    suffix, tensor = convert_variable(variable, group[weight_name][()], owner in depthwise_layers)
                except (KeyError, ValueError) as error:
                    raise CheckpointError(f"{path}: layer {owner!r}: {error}") from None
                state[f"{owner}.{suffix}"] = tensor
    if not state:
        raise CheckpointError(f"{path}: holds no weights")
    return state
