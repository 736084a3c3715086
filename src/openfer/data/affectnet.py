"""AffectNet (Mollahosseini et al., 2017) in the common class-folder layout, read lazily as RGB.

Split folders ``train_set``/``val_set`` or ``train``/``val`` (named ``train`` and ``val`` here), each
with class folders named by the AffectNet index ``0``..``7`` (``labels.AFFECTNET8`` order) or by
expression name. ``classes=7`` leaves the contempt folder (``7``) out; ``classes=8`` keeps it.
"""

from __future__ import annotations

from pathlib import Path

from openfer import labels as vocab
from openfer.data.base import Dataset
from openfer.data.folders import class_index_by_meaning, load_class_folders
from openfer.errors import ConfigError, LabelError


def load_affectnet(root: str | Path, classes: int = 8) -> Dataset:
    """AffectNet-7 or AffectNet-8 splits (``train``, ``val``) with labels in ``labels.AFFECTNET8`` order."""
    if classes not in (7, 8):
        raise ConfigError(f"affectnet: classes={classes!r}; expected 7 or 8")
    vocabulary = vocab.AFFECTNET8 if classes == 8 else vocab.AFFECTNET7
    by_meaning = class_index_by_meaning(vocab.AFFECTNET8)

    def class_index(folder_name: str) -> int | None:
        if folder_name.isdigit():
            index = int(folder_name)
            if index >= len(vocab.AFFECTNET8):
                raise LabelError(f"AffectNet index {index} is not an expression (0..7)")
        else:
            index = by_meaning(folder_name)
        return index if index < len(vocabulary) else None

    data = load_class_folders(root, vocabulary, grey=False, class_index=class_index)
    renamed = {name.removesuffix("_set"): split for name, split in data.items()}
    for name, split in renamed.items():
        split.name = name
    return renamed
