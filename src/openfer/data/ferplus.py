"""FERPlus (Barsoum et al., 2016): the FER2013 faces relabelled with ten crowd votes each.

Two layouts: ``fer2013new.csv`` (votes, row by row aligned with ``fer2013.csv``, whose pixels it uses),
or the FERPlus image folders ``FER2013Train|FER2013Valid|FER2013Test/label.csv`` + ``ferNNNNNNN.png``.
Splits take the FER2013 names ``Training``, ``PublicTest``, ``PrivateTest``.

Targets follow the FERPlus tools (microsoft/FERPlus ``src/ferplus.py``, ``FERPlusReader._process_data``
and ``load_folders``); see :func:`vote_target`.
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Literal, Sequence

import numpy as np

from openfer import labels as vocab
from openfer.data import fer2013
from openfer.data.base import Dataset, FaceSplit
from openfer.errors import ConfigError, DatasetError

VOTES_FILE = "fer2013new.csv"
LABEL_FILE = "label.csv"
VOTE_COLUMNS: tuple[str, ...] = vocab.FERPLUS + ("unknown", "NF")
HEADER: tuple[str, ...] = ("Usage", "Image name") + VOTE_COLUMNS
#: FER2013 split name -> the FERPlus tools' folder name for it (both are accepted in the Usage column).
SPLIT_FOLDERS = {"Training": "FER2013Train", "PublicTest": "FER2013Valid", "PrivateTest": "FER2013Test"}
_SPLIT_NAMES = {**{name: name for name in SPLIT_FOLDERS}, **{f: name for name, f in SPLIT_FOLDERS.items()}}

Mode = Literal["majority", "probability"]
MODES: tuple[str, ...] = ("majority", "probability")


def vote_target(votes: Sequence[int], mode: Mode) -> np.ndarray | None:
    """The FERPlus tools' target for one image: a distribution over the 8 emotions, or ``None`` if dropped.

    ``votes`` are the 10 counts in :data:`VOTE_COLUMNS` order. As in ``_process_data``:

    * outliers: a class with a single vote is set to 0 votes (``votes < 1 + eps``);
    * ``majority``: kept when the top class holds more than half of the remaining votes (unknown and NF
      included in the total), as a one-hot target. A strict majority is unique, so there are no ties;
      images without one, or whose majority is unknown / NF, are dropped;
    * ``probability`` (the tools' probability / cross-entropy target): the top classes are taken level by
      level (all classes tied at a level together) while they cover less than 75 % of the votes and
      fewer than 3 classes are taken; unknown / NF tied with emotions taken before it is left out and
      ends the walk. Dropped when the classes taken hold at most half of the votes, more than 3 are
      taken, or the top class is unknown / NF. The kept counts are normalised over the 8 emotions.
    """
    remaining = [float(v) if v > 1 else 0.0 for v in votes]
    total = sum(remaining)
    target = [0.0] * len(remaining)
    if mode == "majority":
        top = max(remaining)
        if top <= 0.5 * total:
            return None
        target[remaining.index(top)] = top
    else:
        covered, count, valid = 0.0, 0, True
        while covered < 0.75 * total and count < 3 and valid:
            top = max(remaining)
            for i in range(len(remaining)):
                if remaining[i] == top:
                    target[i], remaining[i] = top, 0.0
                    covered += top
                    count += 1
                    if i >= len(vocab.FERPLUS):  # unknown or NF at this level
                        valid = False
                        if sum(target) > top:  # emotions were taken before it: leave it out
                            target[i] = 0.0
                            count -= 1
                        break
        if sum(target) <= 0.5 * total or count > 3:
            return None
    if int(np.argmax(target)) >= len(vocab.FERPLUS):
        return None
    emotions = np.asarray(target[: len(vocab.FERPLUS)])
    return emotions / emotions.sum()


def load_ferplus(root: str | Path, mode: Mode = "majority", fer2013: str | Path | None = None) -> Dataset:
    """FERPlus splits ``Training``, ``PublicTest``, ``PrivateTest`` with labels in ``labels.FERPLUS`` order.

    ``root``: ``fer2013new.csv`` or its folder (pixels from the FER2013 CSV given by ``fer2013``, else
    found beside it or in ``../fer2013``), or the FERPlus image-folder layout. ``mode="probability"``
    adds the vote distributions as ``soft_labels``; the hard label is their argmax (first class on ties).
    """
    if mode not in MODES:
        raise ConfigError(f"ferplus: unknown mode {mode!r}; expected one of {MODES}")
    root = Path(root)
    votes_csv = root if root.is_file() else root / VOTES_FILE
    if votes_csv.is_file():
        return _load_csv_layout(votes_csv, mode, _fer2013_csv(votes_csv, fer2013))
    if any((root / folder / LABEL_FILE).is_file() for folder in SPLIT_FOLDERS.values()):
        return _load_folder_layout(root, mode)
    raise DatasetError(
        f"{root}: no {VOTES_FILE} and no FERPlus folders ({', '.join(SPLIT_FOLDERS.values())} with {LABEL_FILE})"
    )


def _fer2013_csv(votes_csv: Path, given: str | Path | None) -> Path:
    if given is not None:
        return fer2013.find_csv(Path(given))
    for folder in (votes_csv.parent, votes_csv.parent.parent / "fer2013"):
        try:
            return fer2013.find_csv(folder)
        except DatasetError:
            continue
    raise DatasetError(
        f"{votes_csv}: no FER2013 CSV beside it or in ../fer2013 for the pixels; pass fer2013=PATH"
    )


def _read_votes(path: Path) -> tuple[list[str], np.ndarray]:
    """Usage (as FER2013 split names) and the N x 10 votes of ``fer2013new.csv``."""
    usage, votes = [], []
    with open(path, encoding="utf-8-sig", newline="") as f:  # a byte-order mark is dropped
        reader = csv.reader(f)
        header = tuple(h.strip() for h in next(reader, []))
        if header != HEADER:
            raise DatasetError(f"{path}: expected header {','.join(HEADER)}, got {','.join(header)}")
        for row_number, row in enumerate(reader, start=1):
            where = f"{path}: row {row_number} (line {row_number + 1})"
            if not any(field.strip() for field in row):  # a blank line (one often ends the file)
                continue
            if len(row) != len(HEADER):
                raise DatasetError(f"{where}: expected {len(HEADER)} fields, got {len(row)}")
            if row[0] not in _SPLIT_NAMES:
                raise DatasetError(f"{where}: unknown Usage {row[0]!r}, expected one of {sorted(_SPLIT_NAMES)}")
            usage.append(_SPLIT_NAMES[row[0]])
            votes.append(_parse_votes(row[2:], where))
    return usage, np.asarray(votes, dtype=np.int64).reshape(-1, len(VOTE_COLUMNS))


def _parse_votes(fields: Sequence[str], where: str) -> list[int]:
    try:
        votes = [int(v) for v in fields]
    except ValueError:
        raise DatasetError(f"{where}: non-integer vote count") from None
    if min(votes) < 0:
        raise DatasetError(f"{where}: negative vote count")
    return votes


def _targets(votes: np.ndarray, mode: Mode) -> tuple[np.ndarray, np.ndarray]:
    """Rows kept and their N_kept x 8 targets."""
    targets = [vote_target(row.tolist(), mode) for row in votes]
    keep = np.array([t is not None for t in targets], dtype=bool)
    soft = np.array([t for t in targets if t is not None]).reshape(-1, len(vocab.FERPLUS))
    return keep, soft


def _split(name: str, soft: np.ndarray, mode: Mode, **source: object) -> FaceSplit:
    return FaceSplit(
        name=name,
        classes=vocab.FERPLUS,
        labels=soft.argmax(axis=1),
        soft_labels=soft.astype(np.float32) if mode == "probability" else None,
        grey=True,
        **source,
    )


def _load_csv_layout(votes_csv: Path, mode: Mode, fer2013_csv: Path) -> Dataset:
    usage, votes = _read_votes(votes_csv)
    arrays = fer2013.load_arrays(fer2013_csv)
    if len(arrays["usage"]) != len(usage):
        raise DatasetError(
            f"{votes_csv}: {len(usage)} rows but {fer2013_csv} has {len(arrays['usage'])}; "
            "the two files must align row by row"
        )
    split_of_row = np.array([fer2013.SPLITS.index(u) for u in usage])
    mismatch = np.flatnonzero(split_of_row != arrays["usage"])
    if mismatch.size:
        row = int(mismatch[0]) + 1
        raise DatasetError(
            f"{votes_csv}: row {row} is {usage[row - 1]} but row {row} of {fer2013_csv} is "
            f"{fer2013.SPLITS[arrays['usage'][row - 1]]}; the two files must align row by row"
        )
    dataset: Dataset = {}
    for i, name in enumerate(fer2013.SPLITS):
        rows = np.flatnonzero(split_of_row == i)
        keep, soft = _targets(votes[rows], mode)
        rows = rows[keep]
        dataset[name] = _split(name, soft, mode, images=arrays["pixels"][rows], image_ids=[str(r) for r in rows])
    return dataset


def _load_folder_layout(root: Path, mode: Mode) -> Dataset:
    dataset: Dataset = {}
    for name, folder in SPLIT_FOLDERS.items():
        label_file = root / folder / LABEL_FILE
        if not label_file.is_file():
            continue
        paths, votes = _read_label_file(label_file)
        keep, soft = _targets(votes, mode)
        kept = [p for p, k in zip(paths, keep) if k]
        dataset[name] = _split(name, soft, mode, paths=kept, image_ids=[p.name for p in kept])
    return dataset


def _read_label_file(path: Path) -> tuple[list[Path], np.ndarray]:
    """Image paths and votes of a FERPlus ``label.csv`` (rows ``image_name,box,votes...``).

    The face box is not used: it is the full 48 x 48 frame in every row of the FERPlus release.
    """
    paths, votes = [], []
    with open(path, encoding="utf-8-sig", newline="") as f:  # a byte-order mark is dropped
        for row_number, row in enumerate(csv.reader(f), start=1):
            where = f"{path}: row {row_number}"
            if not any(field.strip() for field in row):  # a blank line (one often ends the file)
                continue
            if len(row) != 2 + len(VOTE_COLUMNS):
                raise DatasetError(f"{where}: expected {2 + len(VOTE_COLUMNS)} fields, got {len(row)}")
            image = path.parent / row[0].strip()
            if not image.is_file():
                raise DatasetError(f"{where}: image {image} not found")
            paths.append(image)
            votes.append(_parse_votes(row[2:], where))
    if not paths:
        raise DatasetError(f"{path}: no rows")
    return paths, np.asarray(votes, dtype=np.int64)
