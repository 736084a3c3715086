"""SFEW 2.0 (Dhall et al., 2011): faces from film stills, in class folders per split, read lazily as RGB.

Layout: ``Train/<class>/*``, ``Val/<class>/*`` and, when labelled, ``Test/<class>/*``; class folders
named as in EmotiW (``Angry Disgust Fear Happy Neutral Sad Surprise``; any name with the same meaning
works). Splits keep the folder names.
"""

from __future__ import annotations

from pathlib import Path

from openfer import labels as vocab
from openfer.data.base import Dataset
from openfer.data.folders import load_class_folders


def load_sfew(root: str | Path) -> Dataset:
    """SFEW 2.0 splits (``Train``, ``Val``, optionally ``Test``) with labels in ``labels.SFEW`` order."""
    return load_class_folders(root, vocab.SFEW, grey=False)
