"""The cache folder (parsed datasets, ONNX exports) and an on-disk cache of NumPy arrays, keyed by a
source file's path, size and modification time."""

from __future__ import annotations

import hashlib
import os
import zipfile
from pathlib import Path

import numpy as np

from openfer.files import atomic_write

# What a truncated, corrupt or foreign cache file raises when read; such a file counts as absent.
_UNREADABLE = (zipfile.BadZipFile, EOFError, OSError, ValueError, KeyError)


def cache_dir() -> Path:
    """The cache folder: ``$OPENFER_CACHE``, else ``$XDG_CACHE_HOME/openfer``, else ``~/.cache/openfer``."""
    if "OPENFER_CACHE" in os.environ:
        return Path(os.environ["OPENFER_CACHE"])
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "openfer"


def cache_key(source: Path, tag: str) -> str:
    """A name that changes whenever the source file changes."""
    stat = source.stat()
    digest = hashlib.sha1(f"{source.resolve()}|{stat.st_size}|{stat.st_mtime_ns}|{tag}".encode()).hexdigest()
    return f"{tag}-{digest[:16]}"


def load(key: str) -> dict[str, np.ndarray] | None:
    """Arrays stored under ``key``, or ``None`` when absent or unreadable (then the caller rebuilds them)."""
    path = cache_dir() / f"{key}.npz"
    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as data:
            return {name: data[name] for name in data.files}
    except _UNREADABLE:
        return None


def save(key: str, arrays: dict[str, np.ndarray]) -> None:
    """Store arrays under ``key`` atomically (a failed write never leaves a partial cache file)."""
    with atomic_write(cache_dir() / f"{key}.npz") as handle:
        np.savez(handle, **arrays)
