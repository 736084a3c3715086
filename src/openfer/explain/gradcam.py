"""Grad-CAM and Grad-CAM++ maps of any registered model, per attention head for DAN, on face crops and photos.

Grad-CAM (Selvaraju et al., ICCV 2017, Eqs. 1-2): for target class c with score y^c (its logit) and the
activations A (K, h, w) of a layer, the channel weights are ``w_k = mean_ij dy^c / dA_kij`` and the map is
``ReLU(sum_k w_k A_k)``. Grad-CAM++ (Chattopadhay et al., WACV 2018, Eq. 19 with the exponential of the
score) weighs the positive gradients instead: ``w_k = sum_ij a_kij ReLU(g_kij)`` with
``a_kij = g_kij^2 / (2 g_kij^2 + sum_ab A_kab g_kij^3)``, g = dy^c / dA.
Maps are upsampled bilinearly to the network's input and scaled to [0, 1] per face.

Written here rather than taken from the ``grad-cam`` package: that package imports torchvision (which must
match torch's exact version) and ttach, expects a tensor output (our DAN returns a dict) and aggregates its
target layers into one map, so DAN's per-head maps would take one pass per head; these hooks give every
layer's map from one forward and one backward pass.
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from openfer.errors import ConfigError
from openfer.inference import ExpressionModel, Faces, load_model
from openfer.losses import logits_of

METHODS = ("gradcam", "gradcam++")

#: Target layers by architecture where the general rule (the last module whose output is a 4-D feature map,
#: see :func:`default_layers`) picks the wrong one: the VGG's last ReLU before its last pooling (6 x 6 rather
#: than 3 x 3 at 48 px) and DAN's trunk plus one map per cross-attention head (its spatial attention output
#: s_j, DAN paper Eq. 3), as the paper's Figure 1 shows them.
ARCHITECTURE_LAYERS: dict[str, Callable[[nn.Module], list[str]]] = {
    "openfer_vgg": lambda net: [f"features.{len(net.features) - 2}"],
    "dan": lambda net: ["backbone.layer4"] + [f"heads.{j}.sa" for j in range(len(net.heads))],
}


def _architecture(net: nn.Module) -> str:
    return str(getattr(net, "openfer_name", ""))


def _last_feature_map(net: nn.Module, input_shape: Sequence[int]) -> str:
    """The module whose 4-D output (spatial size above 1) is computed last in a forward pass of one random input."""
    finished: list[str] = []
    names = {module: name for name, module in net.named_modules() if name}

    def record(module: nn.Module, inputs: Any, output: Any) -> None:
        if torch.is_tensor(output) and output.ndim == 4 and min(output.shape[-2:]) > 1:
            finished.append(names[module])

    hooks = [module.register_forward_hook(record) for module in names]
    try:
        with torch.no_grad():
            net(torch.zeros(1, *input_shape))
    finally:
        for hook in hooks:
            hook.remove()
    if not finished:
        raise ConfigError(f"{type(net).__name__}: no module gives a 4-D feature map; pass layer= explicitly")
    return finished[-1]


def default_layers(net: nn.Module, input_shape: Sequence[int]) -> list[str]:
    """Target layers of ``net``: those of :data:`ARCHITECTURE_LAYERS`, else the last 4-D feature map;
    for a probability-averaging ensemble, each member's (their maps are averaged)."""
    members = getattr(net, "members", None)
    if isinstance(members, nn.ModuleList):
        return [f"members.{j}.{layer}" for j, member in enumerate(members) for layer in default_layers(member, input_shape)]
    for pattern, rule in ARCHITECTURE_LAYERS.items():
        if fnmatch.fnmatch(_architecture(net), pattern):
            return rule(net)
    return [_last_feature_map(net, input_shape)]


def class_activation_maps(
    net: nn.Module,
    x: torch.Tensor,
    layers: Sequence[str],
    targets: torch.Tensor | None = None,
    methods: Sequence[str] = METHODS,
) -> tuple[dict[str, dict[str, torch.Tensor]], torch.Tensor]:
    """``(maps, logits)``: ``maps[method][layer]`` (N, H, W) in [0, 1] at the input's size, every method and
    layer from one forward and one backward pass of a preprocessed batch ``x`` (N, C, H, W).

    ``targets`` (N,) are the classes explained, the predicted ones by default. The gradient taken is that of
    the sum of the faces' target scores, and the network runs in eval mode, so each face's map is the one it
    would get alone in its batch.
    """
    unknown = [method for method in methods if method not in METHODS]
    if unknown or not methods:
        raise ConfigError(f"method must be one of {', '.join(METHODS)}; got {', '.join(unknown) or 'none'}")
    modules = dict(net.named_modules())
    missing = [name for name in layers if name not in modules]
    if missing:
        candidates = [name for name, m in modules.items() if name and isinstance(m, (nn.Conv2d, nn.Sequential))][-8:]
        raise ConfigError(f"layer {missing[0]!r}: no such module in {type(net).__name__}; e.g. {', '.join(candidates)}")
    net.eval()
    activations: dict[str, torch.Tensor] = {}

    def keep(name: str) -> Callable[..., None]:
        def hook(module: nn.Module, inputs: Any, output: Any) -> None:
            if not (torch.is_tensor(output) and output.ndim == 4):
                raise ConfigError(f"layer {name!r}: its output is not an (N, C, h, w) feature map")
            activations[name] = output

        return hook

    hooks = [modules[name].register_forward_hook(keep(name)) for name in layers]
    try:
        with torch.enable_grad():
            logits = logits_of(net(x.float())).float()
            chosen = logits.argmax(1) if targets is None else torch.as_tensor(targets, dtype=torch.long)
            score = logits.gather(1, chosen.view(-1, 1)).sum()
            gradients = torch.autograd.grad(score, [activations[name] for name in layers])
    finally:
        for hook in hooks:
            hook.remove()
    maps: dict[str, dict[str, torch.Tensor]] = {method: {} for method in methods}
    for name, gradient in zip(layers, gradients):
        activation, gradient = activations[name].detach().float(), gradient.float()
        for method in methods:
            maps[method][name] = _map(activation, gradient, method, x.shape[-2:])
    return maps, logits.detach()


def _map(activation: torch.Tensor, gradient: torch.Tensor, method: str, size: Sequence[int]) -> torch.Tensor:
    """One method's map (N, *size) in [0, 1] from a layer's activations and gradients (N, K, h, w)."""
    if method == "gradcam":
        weights = gradient.mean(dim=(2, 3))  # Grad-CAM paper, Eq. 1
    else:
        squared = gradient.pow(2)  # Grad-CAM++ paper, Eq. 19
        denominator = 2 * squared + (activation * gradient.pow(3)).sum(dim=(2, 3), keepdim=True)
        alpha = squared / torch.where(denominator != 0, denominator, torch.ones_like(denominator))
        weights = (alpha * F.relu(gradient)).sum(dim=(2, 3))
    cam = F.relu((weights[:, :, None, None] * activation).sum(1, keepdim=True))  # Grad-CAM paper, Eq. 2
    cam = F.interpolate(cam, size=tuple(size), mode="bilinear", align_corners=False)[:, 0]
    low = cam.flatten(1).min(1).values[:, None, None]
    high = cam.flatten(1).max(1).values[:, None, None]
    return torch.where(high > low, (cam - low) / (high - low).clamp_min(1e-12), torch.zeros_like(cam))


def _label(layer: str, layers: Sequence[str]) -> str:
    """A short name for a map: ``head1``.. for DAN's heads, else the layer path."""
    if layer.startswith("heads.") and layer.endswith(".sa"):
        return f"head{int(layer.split('.')[1]) + 1}"
    return layer


@dataclass
class CamResult:
    """Maps of N faces: ``maps[method][name]`` (N, S, S) in [0, 1] at the model's input size S, with the
    explained class of each face (``targets``), its probabilities and the faces as the model saw them."""

    classes: tuple[str, ...]
    maps: dict[str, dict[str, np.ndarray]]
    probabilities: np.ndarray
    targets: np.ndarray
    faces: list[np.ndarray] = field(repr=False)

    def overlay(self, index: int, method: str = "gradcam", name: str | None = None, alpha: float = 0.45) -> np.ndarray:
        """RGB uint8 image of face ``index`` (at its own size) under its map coloured with the jet colormap."""
        maps = self.maps[method]
        heat = maps[name or next(iter(maps))][index]
        return blend(to_rgb(self.faces[index]), heat, alpha)


def to_rgb(image: np.ndarray) -> np.ndarray:
    """(H, W) grey or (H, W, 1|3) as (H, W, 3) uint8."""
    image = np.asarray(image)
    if image.ndim == 3 and image.shape[2] == 3:
        return image
    return np.repeat(image.reshape(image.shape[0], image.shape[1], 1), 3, axis=2)


def colour_map(heat: np.ndarray) -> np.ndarray:
    """(H, W) values in [0, 1] as (H, W, 3) RGB uint8 through the jet colormap."""
    values = np.clip(np.asarray(heat, dtype=np.float32) * 255.0, 0, 255).astype(np.uint8)
    return cv2.cvtColor(cv2.applyColorMap(values, cv2.COLORMAP_JET), cv2.COLOR_BGR2RGB)


def blend(image_rgb: np.ndarray, heat: np.ndarray, alpha: float = 0.45, mask: np.ndarray | None = None) -> np.ndarray:
    """``image_rgb`` with ``heat`` (resized to it) laid over at opacity ``alpha`` (times ``mask`` in [0, 1] if given)."""
    height, width = image_rgb.shape[:2]
    if heat.shape != (height, width):
        heat = cv2.resize(heat.astype(np.float32), (width, height), interpolation=cv2.INTER_LINEAR)
    weight = alpha if mask is None else alpha * mask[..., None]
    mixed = image_rgb.astype(np.float32) * (1 - weight) + colour_map(heat).astype(np.float32) * weight
    return np.clip(mixed + 0.5, 0, 255).astype(np.uint8)


def _as_model(model: ExpressionModel | str | Path) -> ExpressionModel:
    return model if isinstance(model, ExpressionModel) else load_model(model)


def gradcam(
    model: ExpressionModel | str | Path,
    faces: Faces,
    *,
    methods: Sequence[str] = METHODS,
    layer: str | Sequence[str] | None = None,
    targets: Sequence[int] | None = None,
    batch_size: int = 32,
) -> CamResult:
    """Grad-CAM / Grad-CAM++ maps of uint8 face crops (as :meth:`ExpressionModel.predict_proba` takes them).

    ``model``: an ExpressionModel or anything :func:`openfer.load_model` accepts (``"fast"``, a .safetensors
    or .ckpt path). ``layer``: a module path such as ``"features.20"`` (or several), else
    :func:`default_layers`; an ensemble's member maps are averaged into one. ``targets``: class indices
    explained, the predicted classes by default. One view per face (no test-time augmentation).
    """
    model = _as_model(model)
    crops = list(faces) if not isinstance(faces, np.ndarray) or faces.ndim > 2 else [faces]
    if not crops:
        raise ConfigError("faces: no face to explain")
    input_shape = (model.channels, model.image_size, model.image_size)
    layers = [layer] if isinstance(layer, str) else list(layer or default_layers(model.net, input_shape))
    members = getattr(model.net, "members", None)
    averaged = layer is None and isinstance(members, nn.ModuleList) and len(layers) == len(members)
    maps: dict[str, dict[str, list[np.ndarray]]] = {method: {} for method in methods}
    probabilities, chosen = [], []
    for start in range(0, len(crops), batch_size):
        x = model.preprocess(crops[start : start + batch_size])
        batch_targets = None if targets is None else torch.as_tensor(targets[start : start + batch_size], dtype=torch.long)
        cams_by_method, logits = class_activation_maps(model.net, x, layers, batch_targets, methods)
        for method, cams in cams_by_method.items():
            if averaged:
                cams = {"members": torch.stack(list(cams.values())).mean(0)}
            for name, cam in cams.items():
                maps[method].setdefault(_label(name, layers), []).append(cam.numpy())
        probabilities.append(torch.softmax(logits, 1).numpy())
        chosen.append(logits.argmax(1).numpy() if batch_targets is None else batch_targets.numpy())
    return CamResult(
        classes=tuple(model.classes),
        maps={method: {name: np.concatenate(parts) for name, parts in by_name.items()} for method, by_name in maps.items()},
        probabilities=np.concatenate(probabilities),
        targets=np.concatenate(chosen),
        faces=[np.asarray(crop) for crop in crops],
    )


@dataclass
class PhotoExplanation:
    """Grad-CAM maps of the faces found in one photo: ``cams`` for the crops, ``detections`` where they are,
    ``matrices`` (2 x 3, photo -> crop pixels) and ``sides`` of the crops (:func:`openfer.faces.crop_matrix`)."""

    source: str
    image: np.ndarray = field(repr=False)
    cams: CamResult = field(repr=False)
    detections: list[Any] = field(default_factory=list)
    matrices: list[np.ndarray] = field(default_factory=list, repr=False)
    sides: list[int] = field(default_factory=list)

    def overlay(self, method: str = "gradcam", name: str | None = None, alpha: float = 0.45) -> np.ndarray:
        """The photo with each face's map warped back onto the face region it was cut from, box and label drawn."""
        if not self.detections:
            return self.cams.overlay(0, method, name, alpha)
        maps = self.cams.maps[method]
        heat_maps = maps[name or next(iter(maps))]
        height, width = self.image.shape[:2]
        out = to_rgb(self.image)
        for index, (matrix, side) in enumerate(zip(self.matrices, self.sides)):
            heat = cv2.resize(heat_maps[index].astype(np.float32), (side, side), interpolation=cv2.INTER_LINEAR)
            warp = {"dsize": (width, height), "flags": cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP, "borderValue": 0}
            photo_heat = cv2.warpAffine(heat, matrix, **warp)
            mask = cv2.warpAffine(np.ones((side, side), np.float32), matrix, **warp)
            out = blend(out, photo_heat, alpha, mask)
        from openfer.recognize.results import Results

        labelled = Results(self.source, self.cams.classes, self.detections, self.cams.probabilities, image=out)
        return labelled.plot()


def explain_photo(
    model: ExpressionModel | str | Path,
    image: np.ndarray,
    *,
    source: str = "",
    detector: Any = "auto",
    whole_image: bool = False,
    **options: Any,
) -> PhotoExplanation:
    """Maps of every face in an RGB/grey uint8 photo, cut as :class:`openfer.Recognizer` cuts them (its
    detector, margin and eye alignment); a photo with no face found, or ``whole_image``, counts as one face crop.
    ``options`` go to :func:`gradcam`."""
    from openfer.faces.align import crop_matrix, face_crop
    from openfer.recognize import Recognizer

    model = _as_model(model)
    detections: list[Any] = []
    if not whole_image:
        recognizer = Recognizer(model, detector=detector)
        detections = recognizer.detector.detect(image)
        crops = [face_crop(image, d, recognizer.margin, recognizer.align) for d in detections]
        geometry = [crop_matrix(d, recognizer.margin, recognizer.align) for d in detections]
    if not detections:
        crops, geometry = [image], []
    cams = gradcam(model, crops, **options)
    return PhotoExplanation(source, image, cams, detections, [m for m, _ in geometry], [s for _, s in geometry])


def save_gradcam(
    model: ExpressionModel | str | Path,
    images: Sequence[str | Path],
    output: str | Path,
    *,
    detector: Any = "auto",
    whole_image: bool = False,
    **options: Any,
) -> list[Path]:
    """Write ``STEM.METHOD[.MAP].png`` overlays per image into ``output`` (MAP names a layer or DAN head when
    there are several) and ``faces.csv`` (image, face, box, class explained, its probability); returns the paths."""
    import csv
    import io

    from openfer.files import write_bytes
    from openfer.imageio import read_image, write_image

    model = _as_model(model)
    output = Path(output)
    written: list[Path] = []
    rows = [["image", "face", "x", "y", "w", "h", "explained", "probability"]]
    for path in map(Path, images):
        photo = read_image(path, grey=False)
        explanation = explain_photo(model, photo, source=str(path), detector=detector, whole_image=whole_image, **options)
        for method, maps in explanation.cams.maps.items():
            for name in maps:
                suffix = "" if len(maps) == 1 else f".{name}"
                written.append(write_image(output / f"{path.stem}.{method}{suffix}.png", explanation.overlay(method, name)))
        cams = explanation.cams
        for face, target in enumerate(cams.targets):
            box = explanation.detections[face].box if explanation.detections else (0, 0, photo.shape[1], photo.shape[0])
            rows.append([str(path), face, *box, cams.classes[target], f"{cams.probabilities[face, target]:.4f}"])
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerows(rows)
    written.append(write_bytes(output / "faces.csv", buffer.getvalue().encode()))
    return written
