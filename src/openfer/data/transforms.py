"""Per-image transforms on NumPy arrays (OpenCV for the geometry), in place of torchvision's.

Every transform is called as ``transform(image, rng)`` with a grey (H, W) or colour (H, W, C) array;
random ones draw only from ``rng`` (a :class:`numpy.random.Generator`), so a seeded generator repeats
the same sequence, and fall back to a fresh unseeded generator when ``rng`` is ``None``. Geometry and
colour transforms keep the dtype; :class:`Normalize` returns float32. For batches of tensors during
training see :mod:`openfer.data.augment`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Protocol, Sequence

import cv2
import numpy as np

from openfer.data import imageops
from openfer.errors import ConfigError

Size = int | tuple[int, int]
Border = Literal["constant", "reflect", "replicate"]
_BORDERS = {"constant": cv2.BORDER_CONSTANT, "reflect": cv2.BORDER_REFLECT_101, "replicate": cv2.BORDER_REPLICATE}


class Transform(Protocol):
    def __call__(self, image: np.ndarray, rng: np.random.Generator | None = None) -> np.ndarray: ...


def _pair(size: Size) -> tuple[int, int]:
    return (size, size) if isinstance(size, int) else (int(size[0]), int(size[1]))


def _generator(rng: np.random.Generator | None) -> np.random.Generator:
    return rng if rng is not None else np.random.default_rng()


def _crop(image: np.ndarray, top: int, left: int, size: tuple[int, int]) -> np.ndarray:
    h, w = size
    if top < 0 or left < 0 or top + h > image.shape[0] or left + w > image.shape[1]:
        raise ConfigError(f"crop size {h}x{w} at ({top}, {left}) does not fit an image of {image.shape[:2]}")
    return image[top : top + h, left : left + w]


def _warp(image: np.ndarray, matrix: np.ndarray, border: Border, fill: float) -> np.ndarray:
    h, w = image.shape[:2]
    channels = 1 if image.ndim == 2 else image.shape[2]
    out = cv2.warpAffine(
        image, matrix, (w, h), flags=cv2.INTER_LINEAR, borderMode=_BORDERS[border], borderValue=(fill,) * channels
    )
    return out.reshape(image.shape)


@dataclass
class Compose:
    """Apply transforms in order, all drawing from the same generator."""

    transforms: Sequence[Transform]

    def __call__(self, image: np.ndarray, rng: np.random.Generator | None = None) -> np.ndarray:
        rng = _generator(rng)
        for transform in self.transforms:
            image = transform(image, rng)
        return image


@dataclass
class Resize:
    """Resize to ``size`` (int: square; tuple: (height, width)), area interpolation when shrinking."""

    size: Size

    def __call__(self, image: np.ndarray, rng: np.random.Generator | None = None) -> np.ndarray:
        return imageops.resize(image, _pair(self.size))


@dataclass
class CenterCrop:
    """The central ``size`` crop (the extra pixel of an odd margin goes to the bottom/right)."""

    size: Size

    def __call__(self, image: np.ndarray, rng: np.random.Generator | None = None) -> np.ndarray:
        h, w = _pair(self.size)
        return _crop(image, (image.shape[0] - h) // 2, (image.shape[1] - w) // 2, (h, w))


@dataclass
class RandomCrop:
    """A random ``size`` crop after padding every side by ``padding`` pixels."""

    size: Size
    padding: int = 0
    border: Border = "constant"
    fill: float = 0

    def __call__(self, image: np.ndarray, rng: np.random.Generator | None = None) -> np.ndarray:
        rng = _generator(rng)
        if self.padding:
            p = self.padding
            padded = cv2.copyMakeBorder(image, p, p, p, p, _BORDERS[self.border], value=(self.fill,) * 4)
            image = padded.reshape((image.shape[0] + 2 * p, image.shape[1] + 2 * p) + image.shape[2:])
        h, w = _pair(self.size)
        top = int(rng.integers(0, image.shape[0] - h + 1))
        left = int(rng.integers(0, image.shape[1] - w + 1))
        return _crop(image, top, left, (h, w))


@dataclass
class TenCrop:
    """The four corner crops and the centre crop, then the same five of the mirrored image.

    Returns a (10, h, w[, C]) array in the order top-left, top-right, bottom-left, bottom-right, centre,
    then the mirrored image's crops in the same order (torchvision's ``TenCrop`` order).
    """

    size: Size

    def __call__(self, image: np.ndarray, rng: np.random.Generator | None = None) -> np.ndarray:
        h, w = _pair(self.size)
        bottom, right = image.shape[0] - h, image.shape[1] - w
        crops = []
        for view in (image, image[:, ::-1]):
            crops += [_crop(view, 0, 0, (h, w)), _crop(view, 0, right, (h, w)), _crop(view, bottom, 0, (h, w)),
                      _crop(view, bottom, right, (h, w)), CenterCrop((h, w))(view)]
        return np.stack(crops)


@dataclass
class HorizontalFlip:
    """Mirror left-right with probability ``p``."""

    p: float = 0.5

    def __call__(self, image: np.ndarray, rng: np.random.Generator | None = None) -> np.ndarray:
        if self.p >= 1 or _generator(rng).random() < self.p:
            return np.ascontiguousarray(image[:, ::-1])
        return image


@dataclass
class RandomAffine:
    """A random rotation (degrees), translation (fraction of the size), scale and shear about the centre."""

    degrees: float = 0.0
    translate: float = 0.0
    scale: tuple[float, float] = (1.0, 1.0)
    shear: float = 0.0
    border: Border = "constant"
    fill: float = 0

    def __call__(self, image: np.ndarray, rng: np.random.Generator | None = None) -> np.ndarray:
        rng = _generator(rng)
        h, w = image.shape[:2]
        angle = rng.uniform(-self.degrees, self.degrees)
        zoom = rng.uniform(*self.scale)
        shear = np.deg2rad(rng.uniform(-self.shear, self.shear))
        shift_x, shift_y = rng.uniform(-self.translate, self.translate, size=2) * (w, h)
        centre = ((w - 1) / 2, (h - 1) / 2)
        rotation = np.vstack([cv2.getRotationMatrix2D(centre, angle, zoom), [0, 0, 1]])
        shearing = np.array([[1, np.tan(shear), -np.tan(shear) * centre[1]], [0, 1, 0], [0, 0, 1]])
        matrix = (rotation @ shearing)[:2]
        matrix[:, 2] += (shift_x, shift_y)
        return _warp(image, matrix, self.border, self.fill)


class RandomRotation(RandomAffine):
    """A random rotation by up to ``degrees`` either way about the centre."""

    def __init__(self, degrees: float, border: Border = "constant", fill: float = 0) -> None:
        super().__init__(degrees=degrees, border=border, fill=fill)


@dataclass
class ColorJitter:
    """Random brightness and contrast: factors drawn from [1 - b, 1 + b] and [1 - c, 1 + c].

    For uint8 images or floats in [0, 1]. Brightness scales the pixel values; contrast blends with the
    image's mean grey level (as torchvision).
    """

    brightness: float = 0.0
    contrast: float = 0.0

    def __call__(self, image: np.ndarray, rng: np.random.Generator | None = None) -> np.ndarray:
        rng = _generator(rng)
        brightness = rng.uniform(max(0.0, 1 - self.brightness), 1 + self.brightness)
        contrast = rng.uniform(max(0.0, 1 - self.contrast), 1 + self.contrast)
        top = 255.0 if image.dtype == np.uint8 else 1.0
        out = np.clip(image.astype(np.float32) * brightness, 0, top)
        grey = imageops.to_channels(out, 1) if out.ndim == 3 else out
        out = np.clip((out - grey.mean()) * contrast + grey.mean(), 0, top)
        return np.round(out).astype(np.uint8) if image.dtype == np.uint8 else out.astype(image.dtype)


@dataclass
class RandomErasing:
    """Random erasing (Zhong et al., 2020): with probability ``p`` fill one rectangle with ``value``.

    The rectangle covers a fraction ``scale`` of the area with aspect ratio in ``ratio`` (log-uniform);
    ``value="random"`` fills with uniform noise in the image's range.
    """

    p: float = 0.5
    scale: tuple[float, float] = (0.02, 0.33)
    ratio: tuple[float, float] = (0.3, 3.3)
    value: float | Literal["random"] = 0

    def __call__(self, image: np.ndarray, rng: np.random.Generator | None = None) -> np.ndarray:
        rng = _generator(rng)
        if rng.random() >= self.p:
            return image
        h, w = image.shape[:2]
        area = rng.uniform(*self.scale) * h * w
        aspect = np.exp(rng.uniform(np.log(self.ratio[0]), np.log(self.ratio[1])))
        eh = int(np.clip(round(np.sqrt(area * aspect)), 1, h))
        ew = int(np.clip(round(np.sqrt(area / aspect)), 1, w))
        top, left = int(rng.integers(0, h - eh + 1)), int(rng.integers(0, w - ew + 1))
        out = image.copy()
        patch = out[top : top + eh, left : left + ew]
        if self.value == "random":
            patch[...] = rng.integers(0, 256, patch.shape) if image.dtype == np.uint8 else rng.random(patch.shape)
        else:
            patch[...] = self.value
        return out


@dataclass
class Normalize:
    """uint8 -> float32 ``(x / 255 - mean) / std``, per channel for colour images."""

    mean: float | Sequence[float]
    std: float | Sequence[float]

    def __call__(self, image: np.ndarray, rng: np.random.Generator | None = None) -> np.ndarray:
        mean = np.asarray(self.mean, dtype=np.float32)
        std = np.asarray(self.std, dtype=np.float32)
        return (image.astype(np.float32) / 255.0 - mean) / std


@dataclass
class ToGrey:
    """RGB (H, W, 3) -> grey (H, W); grey images pass unchanged."""

    def __call__(self, image: np.ndarray, rng: np.random.Generator | None = None) -> np.ndarray:
        return imageops.to_channels(image, 1)


@dataclass
class ToRGB:
    """Grey (H, W) -> RGB (H, W, 3) by repeating the channel; RGB images pass unchanged."""

    def __call__(self, image: np.ndarray, rng: np.random.Generator | None = None) -> np.ndarray:
        return imageops.to_channels(image, 3)
