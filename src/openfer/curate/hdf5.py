"""Writing any dataset's splits to one HDF5 file (the layout is described in :mod:`openfer.data.hdf5`)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from openfer.data.base import Dataset, FaceSplit
from openfer.data.hdf5 import FORMAT_NAME, FORMAT_VERSION
from openfer.errors import DatasetError
from openfer.files import atomic_path


def write_hdf5(dataset: Dataset, path: str | Path, record: dict[str, Any], compression: str | None = None) -> Path:
    """Write every split of ``dataset`` to ``path`` atomically, with ``record`` as its provenance attribute.

    Pixels, labels, image ids, soft labels and groups are stored as they are (bit for bit); every image of
    a split must have the same size. ``compression``: None (fastest to load), ``"lzf"`` or ``"gzip"``.
    """
    import h5py

    path = Path(path)
    with atomic_path(path) as temporary:
        with h5py.File(temporary, "w") as handle:
            handle.attrs["openfer_format"] = FORMAT_NAME
            handle.attrs["format_version"] = FORMAT_VERSION
            handle.attrs["splits"] = json.dumps(list(dataset))
            handle.attrs["provenance"] = json.dumps(record, default=str)
            splits = handle.create_group("splits")
            for name, split in dataset.items():
                _write_split(splits.create_group(name), split, compression)
    return path


def split_images(split: FaceSplit) -> np.ndarray:
    """The split's images as one uint8 array (decoding lazy splits); DatasetError when sizes differ."""
    if split.images is not None:
        return np.ascontiguousarray(split.images, dtype=np.uint8)
    if len(split) == 0:
        return np.zeros((0, 1, 1), np.uint8)
    first = split.image(0)
    images = np.empty((len(split), *first.shape), np.uint8)
    images[0] = first
    for index in range(1, len(split)):
        image = split.image(index)
        if image.shape != first.shape:
            where = split.paths[index] if split.paths is not None else index
            raise DatasetError(
                f"split {split.name}: image {where} is {image.shape}, the first is {first.shape}; "
                "an HDF5 split holds images of one size (pass --image-size to resize)"
            )
        images[index] = image
    return images


def _write_split(group: Any, split: FaceSplit, compression: str | None) -> None:
    import h5py

    group.attrs["classes"] = json.dumps(list(split.classes))
    group.attrs["grey"] = bool(split.grey)
    images = split_images(split)
    chunks = (max(1, min(len(images), 1024)), *images.shape[1:]) if len(images) else None
    group.create_dataset("images", data=images, chunks=chunks, compression=compression)
    group.create_dataset("labels", data=np.asarray(split.labels, dtype=np.int64))
    text = h5py.string_dtype("utf-8")
    if split.image_ids is not None:
        group.create_dataset("image_ids", data=np.asarray([str(i) for i in split.image_ids], dtype=object), dtype=text)
    if split.soft_labels is not None:
        group.create_dataset("soft_labels", data=np.asarray(split.soft_labels))
    if split.groups is not None:
        groups = np.asarray(split.groups)
        if groups.dtype.kind in "USO":
            group.create_dataset("groups", data=groups.astype(str).astype(object), dtype=text)
        else:
            group.create_dataset("groups", data=groups)


def export_hdf5(
    dataset: str,
    root: str | Path,
    output: str | Path,
    splits: list[str] | None = None,
    image_size: int | None = None,
    compression: str | None = None,
    **options: Any,
) -> Path:
    """``openfer data export-hdf5``: the chosen splits of ``dataset`` (all by default) to one HDF5 file, with
    its provenance as an attribute and in ``<stem>.provenance.json`` beside it. ``image_size`` resizes
    (square), as the report's export did; without it the pixels are stored unchanged."""
    from openfer.curate.filter import choose_splits
    from openfer.curate.output import check_destination, describe_source, is_hdf5_path, provenance, write_json, sidecar
    from openfer.data import load_dataset
    from openfer.errors import ConfigError
    from openfer.imageio import resize

    if not is_hdf5_path(output):
        raise ConfigError(f"--output {output}: expected a .h5 or .hdf5 file name")
    if compression not in (None, "lzf", "gzip"):
        raise ConfigError(f"--compression must be lzf or gzip, got {compression!r}")
    output = check_destination(output, root)
    source = load_dataset(dataset, root, **options)
    chosen = choose_splits(source, splits)
    selected = {}
    for name in chosen:
        split = source[name]
        if image_size:
            resized = [resize(split.image(i), image_size) for i in range(len(split))]
            split = FaceSplit(
                name=split.name, classes=split.classes, labels=split.labels,
                images=np.stack(resized) if resized else np.zeros((0, image_size, image_size), np.uint8),
                soft_labels=split.soft_labels, groups=split.groups, grey=split.grey, image_ids=split.image_ids,
            )
        selected[name] = split
    parameters = {"image_size": image_size, "compression": compression, "reader_options": options}
    counts = {name: len(split) for name, split in selected.items()}
    record = provenance("openfer data export-hdf5", describe_source(dataset, root, chosen), parameters, counts=counts)
    write_hdf5(selected, output, record, compression)
    write_json(sidecar(output, "provenance.json"), record)
    return output
