"""Class-folder datasets: split folders each holding one folder of images per class.

``root/<split>/<class>/<image>`` gives one split per split folder; ``root/<class>/<image>`` (no split
level) gives the single split ``all``. Class folder names are resolved by meaning
(``Angry``, ``angry`` and ``anger`` are one class). Images are decoded lazily, on access.

Inside a class folder every file must be an image (:data:`openfer.imageio.IMAGE_EXTENSIONS`); hidden
files (``.DS_Store``), ``Thumbs.db``, ``desktop.ini``, ``README*`` and ``LICENSE*`` are skipped, and
anything else raises :class:`~openfer.errors.DatasetError` naming it. In the root and split folders,
files other than images (label lists, archives, READMEs) are ignored.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from openfer import labels as vocab
from openfer.data.base import Dataset, FaceSplit
from openfer.errors import DatasetError, LabelError
from openfer.imageio import IMAGE_EXTENSIONS, is_image_file

#: Maps a class folder name to a class index, ``None`` to leave the folder out on purpose, or raises
#: :class:`~openfer.errors.LabelError` for a name it does not know.
ClassIndex = Callable[[str], int | None]

_SKIPPED_NAMES = {"thumbs.db", "desktop.ini", "__macosx"}


def is_skipped(path: Path) -> bool:
    """Hidden and system files (``.DS_Store``, ``Thumbs.db``, ``__MACOSX``) and ``README*`` / ``LICENSE*``."""
    name = path.name.lower()
    return name.startswith((".", "readme", "license")) or name in _SKIPPED_NAMES


def _entries(folder: Path) -> list[tuple[Path, bool]]:
    """(path, is a folder) of the entries of ``folder`` not skipped, sorted by name (one scandir, no stats)."""
    with os.scandir(folder) as scan:
        found = [(Path(e.path), e.is_dir()) for e in scan if not is_skipped(Path(e.name))]
    return sorted(found)


def list_images(folder: Path) -> list[Path]:
    """The image files in ``folder`` sorted by name; any other entry (except skipped ones) raises DatasetError."""
    images = []
    for path, is_folder in _entries(folder):
        if is_folder:
            raise DatasetError(f"{path}: unexpected folder inside an image folder")
        if not is_image_file(path):
            raise DatasetError(
                f"{path}: not an image file (expected one of {', '.join(IMAGE_EXTENSIONS)}); "
                "move it out of the dataset folder"
            )
        images.append(path)
    return images


def subfolders(folder: Path) -> list[Path]:
    """Visible subfolders of ``folder``, sorted; an image file at this level raises DatasetError."""
    found = []
    for path, is_folder in _entries(folder):
        if is_folder:
            found.append(path)
        elif is_image_file(path):
            raise DatasetError(f"{path}: image outside a class folder (expected <split>/<class>/<image>)")
    return found


def class_index_by_meaning(classes: Sequence[str]) -> ClassIndex:
    """Resolve a folder name to the index of the class in ``classes`` with the same meaning."""
    position = {vocab.canonical(c): i for i, c in enumerate(classes)}

    def index(name: str) -> int:
        meaning = vocab.canonical(name)
        if meaning not in position:
            raise LabelError(f"class {name!r} ({meaning}) is not one of this dataset's classes {list(classes)}")
        return position[meaning]

    return index


def load_class_folders(
    root: str | Path,
    classes: Sequence[str] | None,
    grey: bool,
    class_index: ClassIndex | None = None,
) -> Dataset:
    """Read a class-folder dataset lazily into ``{split: FaceSplit}``.

    ``classes`` is the class vocabulary (folder names are resolved by meaning, or by ``class_index``);
    ``None`` takes the classes from the folder names found (canonical names when all are expressions).
    """
    root = Path(root)
    layout = _layout(root)
    if classes is None:
        classes, class_index = _classes_found([f.name for folders in layout.values() for f in folders])
    elif class_index is None:
        class_index = class_index_by_meaning(classes)
    dataset: Dataset = {}
    for split_name, class_folders in layout.items():
        paths: list[Path] = []
        labels: list[int] = []
        for folder in class_folders:
            try:
                index = class_index(folder.name)
            except LabelError as error:
                raise DatasetError(f"{folder}: unknown class folder name ({error})") from None
            if index is None:
                continue
            images = list_images(folder)
            if not images:
                raise DatasetError(f"{folder}: empty class folder (no images)")
            paths += images
            labels += [index] * len(images)
        dataset[split_name] = FaceSplit(
            name=split_name,
            classes=tuple(classes),
            labels=np.asarray(labels, dtype=np.int64),
            paths=paths,
            grey=grey,
            image_ids=[p.relative_to(root).as_posix() for p in paths],
        )
    return dataset


def load_folder(root: Path, grey: bool = False, classes: str | Sequence[str] | None = None) -> Dataset:
    """The generic ``folder`` dataset: any class-folder tree, classes from the folder names unless given.

    ``classes`` may be a vocabulary name (``"fer2013"``), comma-separated names or a sequence of names.
    """
    if isinstance(classes, str):
        names = [c.strip() for c in classes.split(",")]
        classes = vocab.vocabulary(classes) if len(names) == 1 and classes.lower() in vocab.VOCABULARIES else names
    return load_class_folders(root, classes, grey=grey)


def _layout(root: Path) -> dict[str, list[Path]]:
    """``{split name: class folders}``; the split level is present when the root's folders hold folders."""
    if not root.is_dir():
        raise DatasetError(f"{root}: not a folder (expected class folders or split folders)")
    top = subfolders(root)
    if not top:
        raise DatasetError(f"{root}: no class folders or split folders found")
    if not any(_has_subfolder(folder) for folder in top):
        return {"all": top}
    layout = {}
    for split in sorted(top, key=_split_order):
        class_folders = subfolders(split)
        if not class_folders:
            raise DatasetError(f"{split}: split folder holds no class folders")
        layout[split.name] = class_folders
    return layout


def _has_subfolder(folder: Path) -> bool:
    return any(is_folder for _, is_folder in _entries(folder))


def _split_order(folder: Path) -> tuple[int, str]:
    """Training splits first, then validation, then test, then any other in name order."""
    name = folder.name.lower()
    for rank, prefix in enumerate(("train", "val", "test")):
        if name.startswith(prefix):
            return rank, name
    return 3, name


def _classes_found(names: list[str]) -> tuple[tuple[str, ...], ClassIndex]:
    """Classes from folder names: canonical expressions when every name is one, else the sorted names."""
    try:
        meanings = {vocab.canonical(n) for n in names}
    except LabelError:
        exact = tuple(sorted(set(names)))
        return exact, exact.index
    classes = tuple(c for c in vocab.CANONICAL if c in meanings)
    return classes, class_index_by_meaning(classes)
