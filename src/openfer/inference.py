"""Inference on face crops: :class:`ExpressionModel` and :func:`load_model` (the shipped default)."""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from openfer.checkpoints import check_state_dict, read_state_dict
from openfer.data.augment import affine_warp
from openfer.data.imageops import to_model_input_size
from openfer.errors import CheckpointError, ConfigError, ImageError
from openfer.losses import logits_of
from openfer.models.registry import create_model

WEIGHTS_DIR = Path(__file__).parent / "weights"
DEFAULT_WEIGHTS = WEIGHTS_DIR / "openfer_vgg_fer2013.safetensors"

Faces = np.ndarray | Sequence[np.ndarray]

TTA_MODES = ("none", "flip", "tencrop", "affine")
PRECISIONS = ("fp32", "bf16", "auto")
TENCROP_FRACTION = 0.9
#: The ``affine`` TTA views as (zoom, shift x, shift y) in affine_grid units (a shift of 0.08 moves the face
#: by 4 % of its width), each also mirrored; all inside the range the training augmentation draws.
AFFINE_VIEWS: tuple[tuple[float, float, float], ...] = (
    (1.0, 0.0, 0.0),
    (1.08, 0.0, 0.0),
    (0.93, 0.0, 0.0),
    (1.0, 0.08, 0.0),
    (1.0, -0.08, 0.0),
    (1.0, 0.0, 0.08),
    (1.0, 0.0, -0.08),
)

VIEWS_PER_FACE = {"none": 1, "flip": 2, "tencrop": 10, "affine": 2 * len(AFFINE_VIEWS)}


def affine_view(x: torch.Tensor, zoom: float = 1.0, dx: float = 0.0, dy: float = 0.0, degrees: float = 0.0) -> torch.Tensor:
    """``x`` (N, C, S, S) warped by the training augmentation's own warp (:func:`openfer.data.augment.affine_warp`),
    the same for every face: ``zoom`` > 1 zooms in, ``dx``/``dy`` shift in affine_grid units, ``degrees`` rotates."""
    n = x.shape[0]

    def same(value: float) -> torch.Tensor:
        return torch.full((n,), float(value))

    return affine_warp(x, same(zoom), same(np.deg2rad(degrees)), same(dx), same(dy), same(1.0), x.shape[-1])


@functools.cache
def native_bf16() -> bool:
    """Whether this CPU computes bfloat16 natively (AMX or AVX512-BF16), where bf16 inference pays off."""
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


def tta_views(x: torch.Tensor, tta: str) -> list[torch.Tensor]:
    """The views of a preprocessed batch (N, C, S, S) whose probabilities are averaged.

    ``none``: the face as it is; ``flip``: the face and its mirror image; ``tencrop``: the four corner
    crops and the centre crop of side ``round(0.9 * S)``, each resized back to S, and their mirror
    images (a 1.11x zoom plus a shift of up to 5 %, inside the range the training augmentation draws);
    ``affine``: the face warped as the training augmentation warps faces (:data:`AFFINE_VIEWS`: as it is,
    zoomed in and out, shifted four ways), and the mirror image of each.
    """
    if tta not in TTA_MODES:
        raise ValueError(f"unknown tta {tta!r}; available: {', '.join(TTA_MODES)}")
    if tta == "none":
        return [x]
    if tta == "flip":
        return [x, x.flip(-1)]
    if tta == "affine":
        views = [x if view == (1.0, 0.0, 0.0) else affine_view(x, *view) for view in AFFINE_VIEWS]
        return views + [view.flip(-1) for view in views]
    height, width = x.shape[-2:]
    crop_h, crop_w = round(height * TENCROP_FRACTION), round(width * TENCROP_FRACTION)
    corners = [(0, 0), (0, width - crop_w), (height - crop_h, 0), (height - crop_h, width - crop_w)]
    centre = ((height - crop_h) // 2, (width - crop_w) // 2)
    crops = [
        F.interpolate(x[..., top : top + crop_h, left : left + crop_w], size=(height, width), mode="bilinear", align_corners=False)
        for top, left in corners + [centre]
    ]
    return crops + [crop.flip(-1) for crop in crops]


class ExpressionModel:
    """A network plus what it needs to read faces: classes, input size, channels, normalisation.

    ``predict_proba`` takes uint8 face crops, (N, H, W) grey or (N, H, W, 3) RGB of any size (or a list
    of crops of different sizes) and returns an (N, len(classes)) array of probabilities.
    ``tta`` averages the probabilities over views of each face (:func:`tta_views`); the views of a batch
    go through the network together, ``batch_size`` images per forward pass.
    ``precision``: ``"fp32"`` (default), ``"bf16"`` (bfloat16 autocast and channels_last: about 3x faster
    on CPUs with AMX or AVX512-BF16, probabilities within about 1e-2 of fp32), or ``"auto"`` (bf16 where
    the CPU computes it natively, see :func:`native_bf16`, else fp32).
    """

    def __init__(
        self,
        net: nn.Module,
        classes: Sequence[str],
        image_size: int = 48,
        channels: int = 1,
        mean: float = 0.5,
        std: float = 0.25,
        tta: str = "flip",
        batch_size: int = 256,
        name: str = "",
        precision: str = "fp32",
    ) -> None:
        if tta not in TTA_MODES:
            raise ValueError(f"tta must be one of {TTA_MODES}, got {tta!r}")
        self.net = net.eval()
        self.classes: tuple[str, ...] = tuple(classes)
        self.image_size, self.channels = image_size, channels
        self.mean, self.std, self.tta = mean, std, tta
        self.batch_size = batch_size
        self.name = name
        self.bf16 = False
        self.set_precision(precision)

    def set_precision(self, precision: str) -> None:
        """Switch between ``"fp32"``, ``"bf16"`` and ``"auto"`` inference (see the class notes)."""
        if precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {PRECISIONS}, got {precision!r}")
        self.bf16 = precision == "bf16" or (precision == "auto" and native_bf16())
        self.net = self.net.to(memory_format=torch.channels_last if self.bf16 else torch.contiguous_format)

    def __repr__(self) -> str:
        return (
            f"ExpressionModel({self.name or type(self.net).__name__}, classes={list(self.classes)}, "
            f"input={self.channels}x{self.image_size}x{self.image_size}, tta={self.tta}{', bf16' if self.bf16 else ''})"
        )

    def preprocess(self, faces: Faces) -> torch.Tensor:
        """uint8 crops -> a normalised float tensor (N, C, S, S)."""
        if isinstance(faces, np.ndarray):
            if faces.ndim not in (3, 4) or (faces.ndim == 4 and faces.shape[-1] not in (1, 3)):
                raise ImageError(f"faces must be (N, H, W) or (N, H, W, 3) uint8, got shape {faces.shape}")
            crops: Sequence[np.ndarray] = list(faces)
        else:
            crops = list(faces)
        batch = np.empty((len(crops), self.channels, self.image_size, self.image_size), dtype=np.uint8)
        for i, crop in enumerate(crops):
            crop = np.asarray(crop)
            if crop.dtype != np.uint8:
                raise ImageError(f"face {i}: expected uint8 pixels, got {crop.dtype}")
            if crop.ndim not in (2, 3) or min(crop.shape[:2]) < 1:
                raise ImageError(f"face {i}: expected an (H, W) or (H, W, 3) image, got shape {crop.shape}")
            batch[i] = to_model_input_size(crop, self.image_size, self.channels)
        x = torch.from_numpy(batch).float().div_(255.0)
        return (x - self.mean) / self.std

    @torch.inference_mode()
    def logits(self, x: torch.Tensor) -> torch.Tensor:
        """Class logits of preprocessed faces (one view; ``predict_proba`` averages the TTA views)."""
        if self.bf16:
            with torch.autocast("cpu", dtype=torch.bfloat16):
                return logits_of(self.net(x.contiguous(memory_format=torch.channels_last))).float()
        return logits_of(self.net(x)).float()

    def predict_proba(self, faces: Faces) -> np.ndarray:
        """Probabilities (N, len(classes)) for uint8 face crops of any size."""
        n = len(faces)
        if n == 0:
            return np.zeros((0, len(self.classes)), dtype=np.float32)
        views_per_face = VIEWS_PER_FACE[self.tta]
        step = max(1, self.batch_size // views_per_face)
        out = []
        for start in range(0, n, step):
            views = tta_views(self.preprocess(faces[start : start + step]), self.tta)
            probabilities = torch.softmax(self.logits(torch.cat(views)), dim=1)
            out.append(probabilities.view(len(views), -1, probabilities.shape[1]).mean(0).numpy())
        return np.concatenate(out).astype(np.float32)

    def predict(self, faces: Faces) -> list[str]:
        """The most probable class name of each face."""
        return [self.classes[i] for i in self.predict_proba(faces).argmax(1)]


def model_from_weights(path: str | Path, members: int | None = None, **options: Any) -> ExpressionModel:
    """Build an :class:`ExpressionModel` from a safetensors file or Lightning checkpoint written by openfer.

    The file's metadata names the architecture, its options and classes; keys and shapes are checked.
    ``members``: for an ensemble file (``openfer weights ensemble``), keep only its first ``members``
    networks (1: a single network, the fastest; a single-network file counts as an ensemble of one);
    ``options`` go to :class:`ExpressionModel`.
    """
    state, meta = read_state_dict(path)
    name = meta.get("model")
    if not name:
        raise CheckpointError(f"{path}: no 'model' entry in its metadata; build the model and use openfer.checkpoints.load_weights")
    classes = meta.get("classes") or [str(i) for i in range(int(meta.get("num_classes", 7)))]
    net = create_model(name, num_classes=len(classes), **(meta.get("model_options") or {}))
    check_state_dict(net, state, str(path))
    net.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in state.items()})
    if members is not None:
        total = len(getattr(net, "members", [])) or 1  # a single network is an ensemble of one
        if not 1 <= members <= total:
            raise ConfigError(f"{path}: members must be between 1 and {total}, got {members}")
        if members < total:
            kept = list(net.members)[:members]
            net = kept[0] if members == 1 else type(net)(kept)
            name = f"{name}[{members}/{total}]"
    input_size = meta.get("input_size") or [meta.get("channels", 1), meta.get("image_size", 48), meta.get("image_size", 48)]
    return ExpressionModel(
        net,
        classes,
        image_size=int(input_size[-1]),
        channels=int(input_size[0]),
        mean=float(meta.get("mean", 0.5)),
        std=float(meta.get("std", 0.25)),
        name=name,
        **options,
    )


#: Named variants of the shipped model: the whole ensemble with the 14 affine TTA views (the most
#: accurate), and its first network alone with flip TTA (the recogniser's default: 14x fewer forward
#: passes per face; model card and docs/recognize.md#speed). Options given to load_model override these.
PRESETS: dict[str, dict[str, Any]] = {"default": {"tta": "affine"}, "fast": {"members": 1}}


def load_model(path: str | Path | None = None, **options: Any) -> ExpressionModel:
    """The shipped model (no argument, ``"default"``, or ``"fast"``: see :data:`PRESETS`), or a model from
    an openfer weights/checkpoint file. ``options``: ``members`` and those of :class:`ExpressionModel`
    (``tta``, ``precision``, ``batch_size``).

    Loads offline from files inside the package; nothing is downloaded.
    """
    if path is None or (isinstance(path, str) and path in PRESETS and not Path(path).is_file()):
        if not DEFAULT_WEIGHTS.is_file():
            raise CheckpointError(f"{DEFAULT_WEIGHTS}: the default weights are missing from this installation")
        options = {**PRESETS[path or "default"], **options}
        path = DEFAULT_WEIGHTS
    return model_from_weights(path, **options)
