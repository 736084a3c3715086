"""FER2013 (Goodfellow et al., 2013): the challenge CSV and the common image-folder layout."""

from __future__ import annotations

import csv
import gzip
import io
from pathlib import Path

import numpy as np

from openfer import labels as vocab
from openfer import cache
from openfer.data.base import Dataset, FaceSplit
from openfer.errors import DatasetError

SPLITS = ("Training", "PublicTest", "PrivateTest")
IMAGE_SIZE = 48
_CSV_NAMES = ("fer2013.csv", "fer2013.csv.gz")


def find_csv(root: Path) -> Path:
    """``root`` itself when it is the CSV, else ``fer2013.csv[.gz]`` inside it."""
    root = Path(root)
    if root.is_file():
        return root
    for name in _CSV_NAMES:
        if (root / name).is_file():
            return root / name
    raise DatasetError(f"{root}: no fer2013.csv or fer2013.csv.gz found")


def _open_text(path: Path) -> io.TextIOBase:
    """The CSV as text; a UTF-8 byte-order mark (spreadsheet exports write one) is dropped."""
    if path.suffix == ".gz":
        return io.TextIOWrapper(gzip.open(path, "rb"), encoding="utf-8-sig", newline="")
    return open(path, encoding="utf-8-sig", newline="")


def parse_csv(path: Path) -> dict[str, np.ndarray]:
    """Parse ``fer2013.csv`` into ``pixels`` (N x 48 x 48 uint8), ``labels`` and ``usage`` arrays.

    Raises :class:`DatasetError` naming the file and row (1 = first data row; line = row + 1) on a
    short row, a non-numeric pixel, a label outside 0..6 or an unknown Usage.
    """
    n_pixels = IMAGE_SIZE * IMAGE_SIZE
    pixels: list[np.ndarray] = []
    labels: list[int] = []
    usage: list[int] = []
    try:
        with _open_text(path) as f:
            reader = csv.reader(f)
            header = next(reader, None)
            if header is None or [h.strip() for h in header[:3]] != ["emotion", "pixels", "Usage"]:
                raise DatasetError(f"{path}: expected header 'emotion,pixels,Usage', got {header}")
            for row_number, row in enumerate(reader, start=1):
                where = f"{path}: row {row_number} (line {row_number + 1})"
                if not any(field.strip() for field in row):  # a blank line (one often ends the file)
                    continue
                if len(row) < 3:
                    raise DatasetError(f"{where}: expected 3 fields, got {len(row)}")
                try:
                    label = int(row[0])
                    values = np.fromstring(row[1], dtype=np.int64, sep=" ")  # parses in C, unlike str.split()
                except ValueError:
                    raise DatasetError(f"{where}: non-numeric label or pixel value") from None
                if not 0 <= label < len(vocab.FER2013):
                    raise DatasetError(f"{where}: label {label} outside 0..{len(vocab.FER2013) - 1}")
                if values.size != n_pixels:
                    raise DatasetError(f"{where}: {values.size} pixel values, expected {n_pixels}")
                if values.min() < 0 or values.max() > 255:
                    raise DatasetError(f"{where}: pixel value outside 0..255")
                if row[2] not in SPLITS:
                    raise DatasetError(f"{where}: unknown Usage {row[2]!r}, expected one of {SPLITS}")
                pixels.append(values.astype(np.uint8).reshape(IMAGE_SIZE, IMAGE_SIZE))
                labels.append(label)
                usage.append(SPLITS.index(row[2]))
    except (OSError, EOFError, gzip.BadGzipFile, UnicodeDecodeError, csv.Error) as error:
        raise DatasetError(f"{path}: cannot read ({error})") from None
    if not pixels:
        raise DatasetError(f"{path}: no data rows")
    return {
        "pixels": np.stack(pixels),
        "labels": np.asarray(labels, dtype=np.int64),
        "usage": np.asarray(usage, dtype=np.int64),
    }


def load_arrays(root: Path) -> dict[str, np.ndarray]:
    """The parsed CSV as arrays, parsed once and then read from the cache (well under a second)."""
    path = find_csv(Path(root))
    key = cache.cache_key(path, "fer2013")
    arrays = cache.load(key)
    if arrays is None:
        arrays = parse_csv(path)
        cache.save(key, arrays)
    return arrays


def load_fer2013(root: str | Path) -> Dataset:
    """FER2013 splits ``Training``, ``PublicTest`` and ``PrivateTest``.

    ``root`` is the CSV file, a folder holding ``fer2013.csv[.gz]``, or a folder in the image-folder
    layout (``train/<class>/*.jpg``, ``test/<class>/*.jpg``, optionally ``val``/``validation``).
    """
    root = Path(root)
    if root.is_dir() and not any((root / n).is_file() for n in _CSV_NAMES):
        from openfer.data.folders import load_class_folders

        return load_class_folders(root, vocab.FER2013, grey=True)
    arrays = load_arrays(root)
    rows = np.arange(len(arrays["labels"]))
    return {
        name: FaceSplit(
            name=name,
            classes=vocab.FER2013,
            labels=arrays["labels"][arrays["usage"] == i],
            images=arrays["pixels"][arrays["usage"] == i],
            image_ids=[str(r) for r in rows[arrays["usage"] == i]],
        )
        for i, name in enumerate(SPLITS)
    }
