"""Small image operations shared by the readers, the engine and the recogniser (NumPy + OpenCV)."""

from __future__ import annotations

import cv2
import numpy as np


def to_channels(image: np.ndarray, channels: int) -> np.ndarray:
    """Grey (H, W) or RGB (H, W, 3) uint8 -> (H, W) for ``channels=1`` or (H, W, 3) for ``channels=3``."""
    if image.ndim == 3 and image.shape[2] == 1:
        image = image[:, :, 0]
    if channels == 1:
        return image if image.ndim == 2 else cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)
    return cv2.cvtColor(image, cv2.COLOR_GRAY2RGB) if image.ndim == 2 else image


def resize(image: np.ndarray, size: int | tuple[int, int]) -> np.ndarray:
    """Resize to ``size`` (int: square; tuple: (height, width)); area interpolation when shrinking."""
    h, w = (size, size) if isinstance(size, int) else size
    if image.shape[:2] == (h, w):
        return image
    shrink = h < image.shape[0] or w < image.shape[1]
    return cv2.resize(image, (w, h), interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR)


def to_model_input_size(image: np.ndarray, size: int, channels: int) -> np.ndarray:
    """A uint8 image as a C x size x size array for the network."""
    image = resize(to_channels(image, channels), size)
    return image[None] if image.ndim == 2 else image.transpose(2, 0, 1)
