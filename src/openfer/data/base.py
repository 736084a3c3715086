"""The one container every dataset reader returns: a split of face images with labels."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np

from openfer.errors import DatasetError


@dataclass
class FaceSplit:
    """One split of a dataset under its own name (``Training``, ``PrivateTest``, ``train``, fold ``3``).

    Images are either held in memory (``images``: uint8 array, N x H x W grey or N x H x W x 3 RGB) or
    decoded lazily from ``paths`` on access, so large sets (AffectNet) never sit in RAM whole.
    ``soft_labels`` (N x C, rows summing to 1) carries vote distributions where a dataset has them;
    ``groups`` carries subject ids where a dataset has them.
    """

    name: str
    classes: tuple[str, ...]
    labels: np.ndarray
    images: np.ndarray | None = None
    paths: Sequence[Path] | None = None
    soft_labels: np.ndarray | None = None
    groups: np.ndarray | None = None
    grey: bool = True
    image_ids: Sequence[str] | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        self.labels = np.asarray(self.labels, dtype=np.int64)
        if (self.images is None) == (self.paths is None):
            raise ValueError("a FaceSplit holds either images or paths, not both or neither")
        n = len(self.images) if self.images is not None else len(self.paths)
        if len(self.labels) != n:
            raise ValueError(f"split {self.name}: {n} images but {len(self.labels)} labels")
        if n and (self.labels.min() < 0 or self.labels.max() >= len(self.classes)):
            raise DatasetError(f"split {self.name}: label out of range 0..{len(self.classes) - 1}")

    def __len__(self) -> int:
        return len(self.labels)

    def image(self, index: int) -> np.ndarray:
        """The uint8 image at ``index`` (decoded from disk for lazy splits)."""
        if self.images is not None:
            return self.images[index]
        from openfer.imageio import read_image

        return read_image(self.paths[index], grey=self.grey)

    def counts(self) -> list[int]:
        """Number of images per class, in class order."""
        return np.bincount(self.labels, minlength=len(self.classes)).tolist()

    def subset(self, indices: np.ndarray, name: str | None = None) -> "FaceSplit":
        """A new split holding the given rows."""
        indices = np.asarray(indices, dtype=np.int64)
        pick = lambda seq: None if seq is None else (  # noqa: E731
            seq[indices] if isinstance(seq, np.ndarray) else [seq[i] for i in indices]
        )
        return FaceSplit(
            name=name or self.name,
            classes=self.classes,
            labels=self.labels[indices],
            images=pick(self.images),
            paths=pick(self.paths),
            soft_labels=pick(self.soft_labels),
            groups=pick(self.groups),
            grey=self.grey,
            image_ids=pick(self.image_ids),
        )

    def image_size(self) -> tuple[int, int] | None:
        """(height, width) of the images when known without decoding them all (first image for lazy splits)."""
        if len(self) == 0:
            return None
        return tuple(self.image(0).shape[:2])  # type: ignore[return-value]


Dataset = dict[str, FaceSplit]
