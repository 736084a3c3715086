"""Inference on face crops: :class:`ExpressionModel` and :func:`load_model` (the shipped default)."""

from __future__ import annotations

import contextlib
import functools
import importlib.util
import inspect
from pathlib import Path
from typing import Any, Iterator, Sequence

import numpy as np
import torch
from torch import nn

# The TTA views live in openfer.augment beside the training augmentation; their names stay importable here.
from openfer.augment import AFFINE_VIEWS, TENCROP_FRACTION, TTA_MODES, VIEWS_PER_FACE, affine_view, tta_views  # noqa: F401
from openfer.checkpoints import MIXED_ENSEMBLE, check_state_dict, read_state_dict
from openfer.errors import CheckpointError, ConfigError, ImageError
from openfer.imageio import to_model_input_size
from openfer.labels import FER2013
from openfer.losses import logits_of
from openfer.models.registry import create_model, info_of, list_models, model_info
from openfer.models.layers import fuse_conv_bn
from openfer.options import PRECISIONS, PRESETS

WEIGHTS_DIR = Path(__file__).parent / "weights"
DEFAULT_WEIGHTS = WEIGHTS_DIR / "openfer_vgg_fer2013.safetensors"
#: The single network of the ``fast`` preset: distilled from the shipped ensemble (model card).
FAST_WEIGHTS = WEIGHTS_DIR / "openfer_vgg_fer2013_fast.safetensors"
#: The int8 export of :data:`FAST_WEIGHTS` (``openfer export --int8``, calibrated on 512 FER2013 Training faces),
#: what the recogniser's ``backend="onnx-int8"`` (and ``"auto"`` on CPUs without AMX) runs.
FAST_INT8 = WEIGHTS_DIR / "openfer_vgg_fer2013_fast.int8.onnx"

Faces = np.ndarray | Sequence[np.ndarray]

@functools.cache
@functools.lru_cache(maxsize=None)
def has_amx() -> bool:
    """Whether this CPU has AMX tiles (Intel Sapphire Rapids and later), read from ``/proc/cpuinfo`` (False elsewhere)."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as handle:
            return any(line.startswith("flags") and " amx_tile" in line for line in handle)
    except OSError:
        return False


def native_bf16() -> bool:
    """Whether this CPU computes bfloat16 natively (AMX or AVX512-BF16), where bf16 inference pays off."""
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


class ExpressionModel:
    """A network plus what it needs to read faces: classes, input size, channels, normalisation.

    ``predict_proba`` takes uint8 face crops, (N, H, W) grey or (N, H, W, 3) RGB of any size (or a list
    of crops of different sizes) and returns an (N, len(classes)) array of probabilities.
    ``tta`` averages the probabilities over views of each face (:func:`tta_views`); the views of a batch
    go through the network together, ``batch_size`` images per forward pass.
    ``precision``: ``"auto"`` (default: bf16 where the CPU computes it natively, see :func:`native_bf16`, else
    fp32), ``"bf16"`` (bfloat16 autocast and channels_last: faster on CPUs with AMX or AVX512-BF16,
    probabilities close to fp32; figures in docs/benchmarks.md) or ``"fp32"`` (exact; what gradients, such as
    Grad-CAM's, always use).
    """

    def __init__(
        self,
        net: nn.Module,
        classes: Sequence[str],
        image_size: int | None = None,
        channels: int | None = None,
        mean: float | None = None,
        std: float | None = None,
        tta: str = "flip",
        batch_size: int = 256,
        name: str = "",
        precision: str = "auto",
        weights_file: str | Path | None = None,
    ) -> None:
        self.net = net.eval()
        self.classes: tuple[str, ...] = tuple(classes)
        info = info_of(net)  # what is not given comes from the network's registry entry
        self.image_size = info.image_size if image_size is None else image_size
        self.channels = info.channels if channels is None else channels
        self.mean = info.mean if mean is None else mean
        self.std = info.std if std is None else std
        self.tta = tta
        self.batch_size = batch_size
        self.name = name
        #: The weights file the network was read from (:func:`load_model` sets it; the ONNX cache keys on it).
        self.weights_file = Path(weights_file) if weights_file is not None else None
        self.bf16 = False
        self._fused: tuple[nn.Module, nn.Module] | None = None
        self.set_precision(precision)

    @property
    def tta(self) -> str:
        """The test-time augmentation that :meth:`predict_proba` and evaluation apply (one of :data:`TTA_MODES`)."""
        return self._tta

    @tta.setter
    def tta(self, tta: str) -> None:
        if tta not in TTA_MODES:
            raise ConfigError(f"unknown tta {tta!r}; available: {', '.join(TTA_MODES)}")
        self._tta = tta

    def set_precision(self, precision: str) -> None:
        """Switch between ``"fp32"``, ``"bf16"`` and ``"auto"`` inference (see the class notes)."""
        if precision not in PRECISIONS:
            raise ConfigError(f"precision must be one of {', '.join(PRECISIONS)}; got {precision!r}")
        self.bf16 = precision == "bf16" or (precision == "auto" and native_bf16())
        self.net = self.net.to(memory_format=torch.channels_last if self.bf16 else torch.contiguous_format)

    @contextlib.contextmanager
    def exact(self) -> Iterator["ExpressionModel"]:
        """fp32 inference inside the ``with`` block whatever the precision (checks against exact references)."""
        saved, self.bf16 = self.bf16, False
        try:
            yield self
        finally:
            self.bf16 = saved

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
                return logits_of(self._bf16_net()(x.contiguous(memory_format=torch.channels_last))).float()
        return logits_of(self.net(x)).float()

    def _bf16_net(self) -> nn.Module:
        """``net`` with its conv + BatchNorm pairs folded (:func:`openfer.models.layers.fuse_conv_bn`), built once
        per network: bf16 inference runs the folded copy, fp32 and gradients (Grad-CAM) the network itself."""
        if self._fused is None or self._fused[0] is not self.net:
            self._fused = (self.net, fuse_conv_bn(self.net).to(memory_format=torch.channels_last))
        return self._fused[1]

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


def _from_state(
    state: dict[str, torch.Tensor], meta: dict[str, Any], source: Path, members: int | None = None, **options: Any
) -> ExpressionModel:
    """An :class:`ExpressionModel` from the tensors and metadata read from ``source``; keys and shapes are checked.

    The metadata names the architecture, its options and classes. ``members``: for an ensemble file
    (``openfer weights ensemble``), keep only its first ``members`` networks (1: a single network, the
    fastest; a single-network file counts as an ensemble of one); ``options`` go to :class:`ExpressionModel`.
    """
    name = meta.get("model")
    if name == MIXED_ENSEMBLE:
        return _mixed_from_state(state, meta, source, members, **options)
    name, classes, model_options, input_size = checked_metadata(meta, source)
    net = create_model(name, num_classes=len(classes), **model_options)
    check_state_dict(net, state, str(source))
    net.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in state.items()})
    if members is not None:
        total = len(getattr(net, "members", [])) or 1  # a single network is an ensemble of one
        if not 1 <= members <= total:
            raise ConfigError(f"{source}: members must be between 1 and {total}, got {members}")
        if members < total:
            kept = list(net.members)[:members]
            net = kept[0] if members == 1 else type(net)(kept)
            name = f"{name}[{members}/{total}]"
    info = model_info(meta["model"])
    model = ExpressionModel(
        net,
        classes,
        image_size=input_size[1],
        channels=input_size[0],
        mean=float(meta.get("mean", info.mean)),
        std=float(meta.get("std", info.std)),
        name=name,
        weights_file=source,
        **options,
    )
    _check_input_size(model, source)
    return model


#: Checkpoints listing more classes than this are refused before a network is built (a 3-million-class
#: head would allocate gigabytes); expression vocabularies have 6 to a few dozen.
MAX_CLASSES = 1000
#: The side of a square network input that a checkpoint may declare, in pixels.
INPUT_SIDES = (8, 1024)


def checked_metadata(meta: dict[str, Any], source: Path) -> tuple[str, list[str], dict[str, Any], tuple[int, int]]:
    """(model name, classes, model options, (channels, side)) from a checkpoint's metadata, each checked
    against the registry before anything is built; :class:`CheckpointError` names the file and the entry."""
    name = meta.get("model")
    if not name:
        raise CheckpointError(f"{source}: no 'model' entry in its metadata; pass the registered model name with it (load_model(name, checkpoint=...))")
    if not isinstance(name, str) or name not in list_models():
        raise CheckpointError(f"{source}: its metadata names the model {name!r}, which is not registered (see openfer.list_models())")
    info = model_info(name)
    classes = meta.get("classes")
    if not classes:
        count = meta.get("num_classes", 7)
        if not isinstance(count, int) or isinstance(count, bool) or not 1 <= count <= MAX_CLASSES:
            raise CheckpointError(f"{source}: 'num_classes' in its metadata must be an integer from 1 to {MAX_CLASSES}, got {str(count)[:40]}")
        classes = [str(i) for i in range(count)]
    if not isinstance(classes, (list, tuple)) or not classes or len(classes) > MAX_CLASSES:
        size = f"{len(classes):,} entries" if isinstance(classes, (list, tuple)) else type(classes).__name__
        raise CheckpointError(f"{source}: 'classes' in its metadata must list 1 to {MAX_CLASSES} class names, got {size}")
    if not all(isinstance(c, str) for c in classes) or len(set(classes)) != len(classes):
        raise CheckpointError(f"{source}: 'classes' in its metadata must be distinct strings")
    model_options = meta.get("model_options") or {}
    if not isinstance(model_options, dict):
        raise CheckpointError(f"{source}: 'model_options' in its metadata must be a mapping, got {type(model_options).__name__}")
    parameters = inspect.signature(info.factory).parameters
    if not any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values()):
        unknown = sorted(set(model_options) - (set(parameters) - {"num_classes"}))
        if unknown:
            accepted = ", ".join(sorted(set(parameters) - {"num_classes"})) or "none"
            raise CheckpointError(f"{source}: unknown model_options for {name}: {', '.join(map(str, unknown))} (accepted: {accepted})")
    declared = meta.get("input_size") or [meta.get("channels", info.channels), meta.get("image_size", info.image_size)]
    try:
        channels, side = int(declared[0]), int(declared[-1])
    except (TypeError, ValueError, IndexError):
        raise CheckpointError(f"{source}: 'input_size' in its metadata must be [channels, height, width], got {str(declared)[:60]}") from None
    if channels not in (1, 3) or not INPUT_SIDES[0] <= side <= INPUT_SIDES[1]:
        raise CheckpointError(
            f"{source}: input of {channels} channels x {side} pixels in its metadata; expected 1 or 3 channels and {INPUT_SIDES[0]} to {INPUT_SIDES[1]} pixels"
        )
    return name, list(classes), model_options, (channels, side)


def _check_input_size(model: ExpressionModel, source: Path) -> None:
    """One forward pass of a blank face, so that a network whose input differs from what the metadata
    (or the registry) says fails here, naming the file, and not on the first face."""
    blank = torch.zeros(1, model.channels, model.image_size, model.image_size)
    was_training = model.net.training
    model.net.eval()
    try:
        with torch.inference_mode():
            model.net(blank)
    except RuntimeError as error:
        raise CheckpointError(
            f"{source}: the network does not take {model.channels} x {model.image_size} x {model.image_size} inputs "
            f"({str(error).splitlines()[0][:160]}); store the right 'input_size' in its metadata"
        ) from None
    finally:
        model.net.train(was_training)


def _mixed_from_state(
    state: dict[str, torch.Tensor], meta: dict[str, Any], source: Path, members: int | None = None, **options: Any
) -> Any:
    """A :class:`~openfer.ensemble.mixed.MixedEnsemble` from a ``mixed_ensemble`` file: each member rebuilt with
    its own metadata (:func:`_from_state`); ``options`` go to every member, ``members`` keeps the first ones."""
    from openfer.ensemble.mixed import MixedEnsemble

    described = list(meta.get("member_metadata") or [])
    total = len(described)
    if members is not None and not 1 <= members <= total:
        raise ConfigError(f"{source}: members must be between 1 and {total}, got {members}")
    count = total if members is None else members
    models = []
    for i, member_meta in enumerate(described[:count]):
        prefix = f"members.{i}."
        member_state = {k[len(prefix) :]: v for k, v in state.items() if k.startswith(prefix)}
        model = _from_state(member_state, member_meta, source, **options)
        model.name = f"{member_meta.get('file', i)} ({member_meta['model']})"
        models.append(model)
    weights = meta.get("weights")
    return MixedEnsemble(
        models,
        meta.get("classes"),
        rule=meta.get("rule", "average"),
        alpha=meta.get("alpha", 1.9),
        beta=meta.get("beta", 1.0),
        weights=None if weights is None else weights[:count],
        name=f"{source.name}" + (f"[{count}/{total}]" if count < total else ""),
    )


def _from_name(name: str, checkpoint: Path, **options: Any) -> ExpressionModel:
    """Registered architecture ``name`` with the weights in ``checkpoint``, whose metadata (if any) must name it."""
    state, meta = read_state_dict(checkpoint)
    stored = meta.get("model")
    if stored and stored != name:
        raise CheckpointError(f"{checkpoint}: holds weights of model {stored!r}, not {name!r}")
    if not stored:  # bare weights: the architecture, its input and normalisation come from the registry
        # Bare weights of a model whose authors release checkpoints in their own class order (ResEmoteNet)
        # are read in that order; openfer.convert writes it into a file's metadata.
        authors = model_info(name).extras.get("authors_classes")
        meta = {"model": name, "classes": meta.get("classes") or list(authors or FER2013)}
    return _from_state(state, meta, checkpoint, **options)


def _from_onnx(path: Path, **options: Any) -> ExpressionModel:
    """An ONNX file exported by openfer, run in onnxruntime."""
    unused = sorted(set(options) - set(ONNX_OPTIONS))
    if unused:
        raise ConfigError(f"{path}: an ONNX model takes only the options {', '.join(ONNX_OPTIONS)}; got {', '.join(unused)}")
    if importlib.util.find_spec("onnxruntime") is None:
        raise ConfigError(f"{path}: running an ONNX file needs onnxruntime: pip install onnxruntime")
    from openfer.export import OnnxExpressionModel

    return OnnxExpressionModel(path, **options)


# PRESETS (openfer.options) names the variants of the shipped model: the whole ensemble with the 14 affine TTA
# views (the most accurate), and one network distilled from it with flip TTA (the recogniser's default: 14x fewer
# forward passes per face; model card and docs/recognize.md#speed). Options given to load_model override these.
#: The file each preset reads.
PRESET_WEIGHTS: dict[str, Path] = {"default": DEFAULT_WEIGHTS, "fast": FAST_WEIGHTS}
#: The options an ``.onnx`` file takes (those of :class:`openfer.export.OnnxExpressionModel`).
ONNX_OPTIONS = ("tta", "batch_size", "threads")


def preset_name(spec: str | Path | None) -> str | None:
    """The preset of the shipped model that ``spec`` names (None: ``"default"``), else None.

    A file of the same name as a preset wins over the preset."""
    if spec is None:
        return "default"
    if isinstance(spec, str) and spec in PRESETS and not Path(spec).is_file():
        return spec
    return None


def load_model(spec: str | Path | None = None, checkpoint: str | Path | None = None, **options: Any) -> ExpressionModel:
    """The one resolver from a name to a model; each file is read once.

    ``spec``: None or a preset (``"default"``, ``"fast"``: see :data:`PRESETS`) for the shipped model; an
    openfer weights file (``.safetensors``; a ``mixed_ensemble`` file of ``openfer ensemble pack`` gives an
    :class:`openfer.ensemble.mixed.MixedEnsemble`) or Lightning checkpoint (``.ckpt``); an ``.onnx`` file exported
    by openfer (run in onnxruntime); or a registered model name (``openfer.list_models()``) with its weights
    in ``checkpoint``. ``options``: ``members`` and those of :class:`ExpressionModel` (``tta``,
    ``precision``, ``batch_size``; for ``.onnx`` files :data:`ONNX_OPTIONS`). Nothing is downloaded.
    """
    preset = preset_name(spec)
    if preset is not None:
        if checkpoint is not None:
            raise ConfigError(f"checkpoint: not used with the shipped model {preset!r}")
        weights = PRESET_WEIGHTS[preset]
        if not weights.is_file():
            raise CheckpointError(f"{weights}: the shipped weights of preset {preset!r} are missing from this installation")
        return _from_state(*read_state_dict(weights), weights, **{**PRESETS[preset], **options})
    if not isinstance(spec, (str, Path)):
        raise ConfigError(f"model: expected a preset, a file or a registered model name; got {type(spec).__name__}")
    if checkpoint is not None:
        return _from_name(str(spec), Path(checkpoint), **options)
    path = Path(spec)
    if path.is_file():
        return _from_onnx(path, **options) if path.suffix == ".onnx" else _from_state(*read_state_dict(path), path, **options)
    if str(spec) in list_models():
        raise ConfigError(f"model {str(spec)!r} is a registered architecture: pass checkpoint=PATH with its weights")
    raise CheckpointError(f"{spec}: no such checkpoint file, and not a registered model name (see openfer.list_models())")
