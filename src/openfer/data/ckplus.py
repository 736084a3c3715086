"""CK+ (Lucey et al., 2010) in the common CK+48 layout: one folder per expression, 48 x 48 grey PNGs.

Class folders ``anger contempt disgust fear happy sadness surprise`` (and ``neutral`` where a copy has
it) hold files ``S<subject>_<sequence>_<frame>.png``. CK+ has no official split: the dataset is the
split ``all`` with the subject ids (``S010``) as ``groups``, or subject-independent folds
(:mod:`openfer.data.splits`).
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from openfer import labels as vocab
from openfer.data.base import Dataset
from openfer.data.folders import load_class_folders
from openfer.data.splits import select_folds
from openfer.errors import DatasetError

_FILE_NAME = re.compile(r"(S\d+)_\d+_\d+\.\w+")


def load_ckplus(
    root: str | Path, fold: int | None = None, num_folds: int | None = None, validation: bool = True, seed: int = 0, holdout: float | None = None
) -> Dataset:
    """CK+ as ``{"all": ...}``, the test folds ``fold0``.. (``num_folds``), or fold ``fold``'s train/val/test.

    See :func:`openfer.data.splits.select_folds` for ``validation``, ``seed`` and ``holdout`` (a seeded random
    image-level split, e.g. 0.2 for GCLNet's 4:1).
    """
    root = Path(root)
    data = load_class_folders(root, vocab.CKPLUS, grey=True)
    if list(data) != ["all"]:
        raise DatasetError(f"{root}: expected class folders directly in it (CK+48 layout), found splits {list(data)}")
    split = data["all"]
    subjects = []
    for path in split.paths:
        match = _FILE_NAME.fullmatch(path.name)
        if match is None:
            raise DatasetError(f"{path}: file name is not S<subject>_<sequence>_<frame>.png")
        subjects.append(match.group(1))
    split.groups = np.asarray(subjects)
    return select_folds(split, fold, num_folds, validation, seed, holdout)
