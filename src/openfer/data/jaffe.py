"""JAFFE (Lyons et al., 1998): 213 grey images of 10 Japanese women, labelled in the file name.

``KA.AN1.39.tiff``: subject initials ``KA``, expression code ``AN`` (the two letters after the first
dot; codes in ``labels.JAFFE``), pose number, image number. All files sit in one folder; the dataset is
the split ``all`` with the subject initials as ``groups``, or subject-independent folds
(:mod:`openfer.data.splits`; ``num_folds=10`` leaves one subject out per fold).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from openfer import labels as vocab
from openfer.data.base import Dataset, FaceSplit
from openfer.data.folders import list_images
from openfer.data.splits import select_folds
from openfer.errors import DatasetError


def load_jaffe(
    root: str | Path, fold: int | None = None, num_folds: int | None = None, validation: bool = True, seed: int = 0, holdout: float | None = None
) -> Dataset:
    """JAFFE as ``{"all": ...}``, the test folds ``fold0``.. (``num_folds``), or fold ``fold``'s train/val/test.

    See :func:`openfer.data.splits.select_folds` for ``validation``, ``seed`` and ``holdout`` (a seeded random
    image-level split, e.g. 0.2 for GCLNet's 4:1).
    """
    root = Path(root)
    if not root.is_dir():
        raise DatasetError(f"{root}: not a folder (expected the JAFFE image folder)")
    paths = list_images(root)
    if not paths:
        raise DatasetError(f"{root}: no images")
    labels, subjects = [], []
    for path in paths:
        parts = path.name.split(".")
        code = parts[1][:2].upper() if len(parts) >= 3 else ""
        if code not in vocab.JAFFE:
            raise DatasetError(
                f"{path}: file name is not <subject>.<code><n>.<number>.tiff with a code in {vocab.JAFFE}"
            )
        labels.append(vocab.JAFFE.index(code))
        subjects.append(parts[0].upper())
    split = FaceSplit(
        name="all",
        classes=vocab.JAFFE,
        labels=np.asarray(labels),
        paths=paths,
        groups=np.asarray(subjects),
        grey=True,
        image_ids=[p.name for p in paths],
    )
    return select_folds(split, fold, num_folds, validation, seed, holdout)
