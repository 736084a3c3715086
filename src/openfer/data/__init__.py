"""Dataset readers. ``load_dataset(name, root)`` returns ``{split_name: FaceSplit}``."""

from __future__ import annotations

import inspect
from pathlib import Path
from typing import Any, Callable

from openfer.data.base import Dataset, FaceSplit
from openfer.errors import ConfigError, DatasetError


def _readers() -> dict[str, Callable[..., Dataset]]:
    """Every reader by the name :func:`load_dataset` takes, imported on first use."""
    from openfer.data.affectnet import load_affectnet
    from openfer.data.ckplus import load_ckplus
    from openfer.data.fer2013 import load_fer2013
    from openfer.data.ferplus import load_ferplus
    from openfer.data.folders import load_folder
    from openfer.data.hdf5 import load_hdf5
    from openfer.data.jaffe import load_jaffe
    from openfer.data.rafdb import load_rafdb
    from openfer.data.sfew import load_sfew

    return {
        "affectnet": load_affectnet,
        "ckplus": load_ckplus,
        "fer2013": load_fer2013,
        "ferplus": load_ferplus,
        "folder": load_folder,
        "hdf5": load_hdf5,
        "jaffe": load_jaffe,
        "rafdb": load_rafdb,
        "sfew": load_sfew,
    }


def list_datasets() -> list[str]:
    """Names accepted by :func:`load_dataset`."""
    return sorted(_readers())


def load_dataset(name: str, root: str | Path, **options: Any) -> Dataset:
    """Read dataset ``name`` from ``root`` into its splits, under the dataset's own split names."""
    readers = _readers()
    if name not in readers:
        raise ConfigError(f"unknown dataset {name!r}; available: {', '.join(sorted(readers))}")
    reader = readers[name]
    try:
        inspect.signature(reader).bind(root, **options)
    except TypeError as error:
        raise ConfigError(f"dataset {name!r}: bad options {sorted(options)} ({error})") from None
    root = Path(root)
    if not root.exists():
        raise DatasetError(f"{root}: no such file or folder")
    return reader(root, **options)


__all__ = ["Dataset", "FaceSplit", "list_datasets", "load_dataset"]
