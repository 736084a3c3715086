"""RAF-DB basic (Li et al., 2017): 15,339 colour faces, seven basic expressions, splits ``train`` and ``test``.

Layout: ``EmoLabel/list_patition_label.txt`` (lines ``train_00001.jpg 5``, labels 1..7 -> indices 0..6
of ``labels.RAFDB``) and ``Image/aligned/train_00001_aligned.jpg`` (100 x 100), or with
``aligned=False`` ``Image/original/train_00001.jpg``. The label file may also sit directly in ``root``
(then the images are looked for in ``root/Image/<kind>`` or ``root/<kind>``), or be ``root`` itself.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from openfer import labels as vocab
from openfer.data.base import Dataset, FaceSplit
from openfer.errors import DatasetError

LABEL_FILE = "list_patition_label.txt"  # (sic) the file name in the RAF-DB release
SPLITS = ("train", "test")


def load_rafdb(root: str | Path, aligned: bool = True) -> Dataset:
    """RAF-DB basic as ``{"train": ..., "test": ...}``, decoded lazily as RGB."""
    label_file = _label_file(Path(root))
    base = label_file.parent.parent if label_file.parent.name == "EmoLabel" else label_file.parent
    kind = "aligned" if aligned else "original"
    image_dir = next((d for d in (base / "Image" / kind, base / kind) if d.is_dir()), None)
    if image_dir is None:
        raise DatasetError(f"{base}: no image folder Image/{kind} or {kind}")
    rows: dict[str, tuple[list[Path], list[int]]] = {name: ([], []) for name in SPLITS}
    with open(label_file, encoding="utf-8-sig") as f:
        for line_number, line in enumerate(f, start=1):
            if not line.strip():
                continue
            where = f"{label_file}: line {line_number}"
            fields = line.split()
            if len(fields) != 2 or not fields[1].isdigit():
                raise DatasetError(f"{where}: expected '<image name> <label>', got {line.strip()!r}")
            name, label = fields[0], int(fields[1])
            if not 1 <= label <= len(vocab.RAFDB):
                raise DatasetError(f"{where}: label {label} outside 1..{len(vocab.RAFDB)}")
            split = name.split("_", 1)[0]
            if split not in rows:
                raise DatasetError(f"{where}: image name {name!r} does not start with train_ or test_")
            path = image_dir / (f"{Path(name).stem}_aligned.jpg" if aligned else name)
            if not path.is_file():
                raise DatasetError(f"{where}: image {path} not found")
            rows[split][0].append(path)
            rows[split][1].append(label - 1)
    return {
        name: FaceSplit(
            name=name,
            classes=vocab.RAFDB,
            labels=np.asarray(labels, dtype=np.int64),
            paths=paths,
            grey=False,
            image_ids=[p.name for p in paths],
        )
        for name, (paths, labels) in rows.items()
        if paths
    }


def _label_file(root: Path) -> Path:
    if root.is_file():
        return root
    for candidate in (root / "EmoLabel" / LABEL_FILE, root / LABEL_FILE):
        if candidate.is_file():
            return candidate
    raise DatasetError(f"{root}: no EmoLabel/{LABEL_FILE} or {LABEL_FILE}")
