"""Dataset readers. ``load_dataset(name, root)`` returns ``{split_name: FaceSplit}``."""

from __future__ import annotations

import inspect
from pathlib import Path
from typing import Any, Callable

from openfer.data.base import Dataset, FaceSplit
from openfer.errors import ConfigError, DatasetError


def _readers() -> dict[str, Callable[..., Dataset]]:
    from openfer.data.fer2013 import load_fer2013

    readers: dict[str, Callable[..., Dataset]] = {"fer2013": load_fer2013}
    try:
        from openfer.data import extra_readers
    except ImportError:  # pragma: no cover - only while readers are being added
        return readers
    readers.update(extra_readers.READERS)
    return readers


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
