"""openfer's HDF5 dataset file (written by ``openfer data export-hdf5``): every split of a dataset in one file.

Layout (format version 1)::

    /                     attrs: openfer_format="openfer-dataset", format_version=1,
                                 splits (JSON list, in order), provenance (JSON)
    /splits/<name>/       attrs: classes (JSON list), grey (bool)
        images            uint8, N x H x W (grey) or N x H x W x 3 (RGB)
        labels            int64, N
        image_ids         UTF-8 strings, N (when the source has them)
        soft_labels       N x C (when the source has them), groups N (when the source has them)

The reader holds every split in memory, as the FER2013 reader does.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from openfer.data.base import Dataset, FaceSplit
from openfer.errors import DatasetError

FORMAT_NAME = "openfer-dataset"
FORMAT_VERSION = 1


def load_hdf5(root: Path) -> Dataset:
    """Every split of an openfer HDF5 dataset file, under its split names and in its order."""
    import h5py

    try:
        handle = h5py.File(root, "r")
    except OSError as error:
        raise DatasetError(f"{root}: not a readable HDF5 file ({error})") from None
    with handle:
        if handle.attrs.get("openfer_format") != FORMAT_NAME:
            raise DatasetError(f"{root}: not an openfer dataset file (no openfer_format={FORMAT_NAME!r} attribute)")
        version = int(handle.attrs.get("format_version", 0))
        if version != FORMAT_VERSION:
            raise DatasetError(f"{root}: format version {version}, this openfer reads version {FORMAT_VERSION}")
        dataset: Dataset = {}
        for name in json.loads(handle.attrs["splits"]):
            group = handle["splits"].get(name)
            if group is None:
                raise DatasetError(f"{root}: split {name!r} listed but /splits/{name} is missing")
            dataset[name] = _read_split(group, name)
    return dataset


def read_provenance(root: str | Path) -> dict[str, Any]:
    """The provenance record stored in an openfer HDF5 dataset file."""
    import h5py

    with h5py.File(root, "r") as handle:
        return json.loads(handle.attrs.get("provenance", "{}"))


def _read_split(group: Any, name: str) -> FaceSplit:
    def optional(key: str) -> np.ndarray | None:
        return group[key][()] if key in group else None

    ids = optional("image_ids")
    groups = optional("groups")
    if groups is not None and groups.dtype.kind == "O":
        groups = np.asarray([g.decode("utf-8") for g in groups])
    return FaceSplit(
        name=name,
        classes=tuple(json.loads(group.attrs["classes"])),
        labels=group["labels"][()],
        images=group["images"][()],
        soft_labels=optional("soft_labels"),
        groups=groups,
        grey=bool(group.attrs["grey"]),
        image_ids=None if ids is None else [i.decode("utf-8") for i in ids],
    )
