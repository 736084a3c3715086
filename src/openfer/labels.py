"""Class vocabularies of every supported dataset, and mapping between them by meaning.

Every vocabulary is a tuple of dataset-specific names in the dataset's own index order. Each name
resolves to one *canonical* expression (``anger``, ``contempt``, ``disgust``, ``fear``, ``happiness``,
``neutral``, ``sadness``, ``surprise``), and mapping between vocabularies goes through that meaning.
A class without a counterpart in the target vocabulary (e.g. contempt -> FER2013) is either dropped
(mapped to ``-1``) or raises :class:`~openfer.errors.LabelError`; it is never shifted onto another class.
"""

from __future__ import annotations

from typing import Literal, Sequence

import numpy as np

from openfer.errors import LabelError

CANONICAL: tuple[str, ...] = (
    "anger", "contempt", "disgust", "fear", "happiness", "neutral", "sadness", "surprise",
)

# Synonyms used by the datasets, resolved to the canonical names above.
_SYNONYMS: dict[str, str] = {
    "angry": "anger", "anger": "anger", "an": "anger",
    "contempt": "contempt", "co": "contempt",
    "disgust": "disgust", "disgusted": "disgust", "di": "disgust",
    "fear": "fear", "fearful": "fear", "fe": "fear",
    "happy": "happiness", "happiness": "happiness", "ha": "happiness",
    "neutral": "neutral", "ne": "neutral",
    "sad": "sadness", "sadness": "sadness", "sa": "sadness",
    "surprise": "surprise", "surprised": "surprise", "su": "surprise",
}

#: FER2013 (Goodfellow et al., 2013), labels 0..6 of ``fer2013.csv``.
FER2013: tuple[str, ...] = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")
#: FERPlus (Barsoum et al., 2016), the vote columns of ``fer2013new.csv`` without unknown / NF.
FERPLUS: tuple[str, ...] = (
    "neutral", "happiness", "surprise", "sadness", "anger", "disgust", "fear", "contempt",
)
#: RAF-DB basic: file labels 1..7 are indices 0..6 here.
RAFDB: tuple[str, ...] = ("surprise", "fear", "disgust", "happiness", "sadness", "anger", "neutral")
#: AffectNet-8 (Mollahosseini et al., 2017), labels 0..7.
AFFECTNET8: tuple[str, ...] = (
    "neutral", "happy", "sad", "surprise", "fear", "disgust", "anger", "contempt",
)
#: AffectNet-7: AffectNet-8 without contempt.
AFFECTNET7: tuple[str, ...] = AFFECTNET8[:7]
#: CK+ (Lucey et al., 2010): the seven emotion folders in alphabetical order, then neutral.
CKPLUS: tuple[str, ...] = (
    "anger", "contempt", "disgust", "fear", "happy", "sadness", "surprise", "neutral",
)
#: JAFFE file-name codes, alphabetical.
JAFFE: tuple[str, ...] = ("AN", "DI", "FE", "HA", "NE", "SA", "SU")
#: SFEW 2.0 class folders (the EmotiW names).
SFEW: tuple[str, ...] = ("Angry", "Disgust", "Fear", "Happy", "Neutral", "Sad", "Surprise")

#: The order of ResEmoteNet's released checkpoints (ArnabKumarRoy02/ResEmoteNet, eval_image.py), not FER2013's.
RESEMOTENET_AUTHORS: tuple[str, ...] = ("happy", "surprise", "sad", "anger", "disgust", "fear", "neutral")

VOCABULARIES: dict[str, tuple[str, ...]] = {
    "fer2013": FER2013,
    "ferplus": FERPLUS,
    "rafdb": RAFDB,
    "affectnet7": AFFECTNET7,
    "affectnet8": AFFECTNET8,
    "ckplus": CKPLUS,
    "jaffe": JAFFE,
    "sfew": SFEW,
    "resemotenet_authors": RESEMOTENET_AUTHORS,
}

MissingPolicy = Literal["drop", "error"]


def canonical(name: str) -> str:
    """The canonical expression a class name means (``"Happy"`` -> ``"happiness"``)."""
    key = name.strip().lower()
    if key not in _SYNONYMS:
        raise LabelError(f"unknown expression name {name!r}; known: {sorted(set(_SYNONYMS))}")
    return _SYNONYMS[key]


def vocabulary(name_or_classes: str | Sequence[str]) -> tuple[str, ...]:
    """A vocabulary by dataset name (``"fer2013"``), or an explicit sequence of class names."""
    if isinstance(name_or_classes, str):
        key = name_or_classes.lower()
        if key not in VOCABULARIES:
            raise LabelError(f"unknown label vocabulary {name_or_classes!r}; known: {sorted(VOCABULARIES)}")
        return VOCABULARIES[key]
    classes = tuple(name_or_classes)
    for c in classes:
        canonical(c)
    return classes


def mapping(
    source: str | Sequence[str],
    target: str | Sequence[str],
    missing: MissingPolicy = "error",
) -> np.ndarray:
    """Index map from ``source`` to ``target`` classes by meaning: ``target_index = m[source_index]``.

    A source class with no counterpart in ``target`` maps to ``-1`` when ``missing="drop"`` and raises
    :class:`LabelError` when ``missing="error"``.
    """
    src, dst = vocabulary(source), vocabulary(target)
    position = {canonical(c): i for i, c in enumerate(dst)}
    out = np.full(len(src), -1, dtype=np.int64)
    for i, c in enumerate(src):
        meaning = canonical(c)
        if meaning in position:
            out[i] = position[meaning]
        elif missing == "error":
            raise LabelError(
                f"class {c!r} ({meaning}) has no counterpart in the target vocabulary {list(dst)}; "
                "pass missing='drop' to drop such samples"
            )
    return out


def map_labels(
    labels: np.ndarray,
    source: str | Sequence[str],
    target: str | Sequence[str],
    missing: MissingPolicy = "error",
) -> np.ndarray:
    """Map integer labels between vocabularies; dropped classes come back as ``-1``."""
    labels = np.asarray(labels, dtype=np.int64)
    table = mapping(source, target, missing="drop")
    n = len(table)
    if labels.size and (labels.min() < 0 or labels.max() >= n):
        raise LabelError(f"label out of range 0..{n - 1} for vocabulary {list(vocabulary(source))}")
    out = table[labels]
    if missing == "error" and (out < 0).any():
        bad = vocabulary(source)[int(labels[np.argmax(out < 0)])]
        raise LabelError(
            f"class {bad!r} has no counterpart in the target vocabulary {list(vocabulary(target))}; "
            "pass missing='drop' to drop such samples"
        )
    return out


def map_probabilities(
    probabilities: np.ndarray, source: str | Sequence[str], target: str | Sequence[str]
) -> np.ndarray:
    """Move class probabilities to another vocabulary; mass on classes it lacks is dropped and rows renormalised."""
    probabilities = np.asarray(probabilities, dtype=np.float64)
    table = mapping(source, target, missing="drop")
    out = np.zeros(probabilities.shape[:-1] + (len(vocabulary(target)),))
    for i, j in enumerate(table):
        if j >= 0:
            out[..., j] += probabilities[..., i]
    total = out.sum(axis=-1, keepdims=True)
    return np.divide(out, total, out=np.zeros_like(out), where=total > 0)
