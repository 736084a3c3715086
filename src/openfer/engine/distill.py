"""Knowledge distillation targets: a teacher's probabilities over a split, mixed with other label sources.

The targets are computed once (``openfer distill``), stored as an ``.npz`` beside their provenance, and
attached to the training split as soft labels (``data.soft_targets`` in a recipe), so a student trains
with the soft-target cross-entropy of Hinton et al. (2015) at temperature 1 without running the
teacher at every step. Mixing in the one-hot label keeps the student anchored to the dataset's own
labels; FERPlus vote distributions (Barsoum et al., 2016) are a second, human opinion on the same
FER2013 images.
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path
from typing import Callable, Mapping, Sequence

import numpy as np

from openfer.data.base import FaceSplit
from openfer.errors import ConfigError, DatasetError
from openfer.files import atomic_write
from openfer.labels import map_probabilities


def teacher_probabilities(
    predict_proba: Callable[[np.ndarray], np.ndarray],
    split: FaceSplit,
    batch_size: int = 512,
    progress: Callable[[int, int], None] | None = None,
) -> np.ndarray:
    """The teacher's (N, C) probabilities for every face of ``split``, in split order."""
    out = []
    for start in range(0, len(split), batch_size):
        stop = min(len(split), start + batch_size)
        out.append(predict_proba(np.stack([split.image(i) for i in range(start, stop)])))
        if progress is not None:
            progress(stop, len(split))
    if not out:
        raise DatasetError(f"split {split.name!r} is empty: nothing to distil")
    return np.concatenate(out).astype(np.float32)


def ferplus_votes(split: FaceSplit, ferplus: FaceSplit, fer2013_rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """FERPlus vote distributions moved onto ``split``'s classes and rows.

    ``ferplus`` is a FERPlus split in probability mode (its ``image_ids`` are row numbers of fer2013.csv);
    ``fer2013_rows`` are the fer2013.csv rows of ``split``, in order. Returns (N, C) distributions and a
    mask of the rows FERPlus kept (it drops faces its annotators marked unknown or not a face).
    """
    if ferplus.soft_labels is None or ferplus.image_ids is None:
        raise ConfigError("FERPlus must be loaded in probability mode (mode='probability') to give vote distributions")
    votes = map_probabilities(ferplus.soft_labels, ferplus.classes, split.classes).astype(np.float32)
    rows = np.array([int(i) for i in ferplus.image_ids])
    position = np.searchsorted(fer2013_rows, rows)
    position = np.clip(position, 0, len(fer2013_rows) - 1)
    found = fer2013_rows[position] == rows
    found &= votes.sum(1) > 0  # a face whose votes were all on classes this vocabulary lacks (contempt)
    out = np.zeros((len(split), len(split.classes)), dtype=np.float32)
    mask = np.zeros(len(split), dtype=bool)
    out[position[found]] = votes[found]
    mask[position[found]] = True
    return out, mask


def mix_targets(
    labels: np.ndarray,
    num_classes: int,
    parts: Sequence[tuple[float, np.ndarray, np.ndarray | None]],
) -> np.ndarray:
    """Soft targets: the one-hot label with weight ``1 - sum(weights)`` plus each ``(weight, probabilities,
    mask)`` part; where a part's mask is False its weight goes to the one-hot label instead."""
    labels = np.asarray(labels, dtype=np.int64)
    total = np.zeros((len(labels), num_classes), dtype=np.float64)
    label_weight = np.ones(len(labels))
    for weight, probabilities, mask in parts:
        if not 0.0 <= weight <= 1.0:
            raise ConfigError(f"a distillation weight must lie in [0, 1], got {weight}")
        if probabilities.shape != total.shape:
            raise ConfigError(f"targets of shape {probabilities.shape} do not match {total.shape}")
        used = np.ones(len(labels), dtype=bool) if mask is None else mask
        total[used] += weight * probabilities[used]
        label_weight[used] -= weight
    if (label_weight < -1e-6).any():
        raise ConfigError("the distillation weights sum to more than 1")
    total[np.arange(len(labels)), labels] += np.clip(label_weight, 0.0, None)
    return (total / total.sum(1, keepdims=True)).astype(np.float32)


def save_targets(path: str | Path, targets: np.ndarray, split: FaceSplit, provenance: Mapping[str, object], **parts: np.ndarray) -> Path:
    """Write ``targets`` for ``split`` (and any raw ``parts``) with their provenance, atomically."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    meta = {"split": split.name, "classes": list(split.classes), "num_faces": len(split), **provenance}
    with atomic_write(path) as handle:
        np.savez(handle, targets=targets, labels=split.labels, meta=np.array(json.dumps(meta)), **parts)
    return path


def load_targets(path: str | Path, split: FaceSplit) -> np.ndarray:
    """The soft targets stored for ``split``; refuses a file made for another split, size or label set."""
    path = Path(path)
    if not path.is_file():
        raise DatasetError(f"{path}: no such distillation-targets file")
    try:
        with np.load(path, allow_pickle=False) as data:
            targets, labels, meta = data["targets"], data["labels"], json.loads(str(data["meta"]))
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as error:
        raise DatasetError(f"{path}: not a distillation-targets file written by openfer distill ({error})") from None
    if targets.shape != (len(split), len(split.classes)) or tuple(meta.get("classes", ())) != tuple(split.classes):
        raise DatasetError(
            f"{path}: targets for {meta.get('num_faces')} faces of classes {meta.get('classes')}, but split "
            f"{split.name!r} has {len(split)} faces of classes {list(split.classes)}"
        )
    if not np.array_equal(labels, split.labels):
        raise DatasetError(f"{path}: its labels differ from split {split.name!r}'s; it was made for other data")
    return targets.astype(np.float32)
