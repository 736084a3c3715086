"""What every curation step writes: a new dataset (class folders or one HDF5 file) and its provenance.

Outputs are built under a temporary name beside their destination and renamed into place when complete,
so a failed run leaves nothing half-written, and a destination that exists, or lies inside the source,
is refused: curation never writes into (or over) the dataset it reads.
"""

from __future__ import annotations

import csv
import datetime
import json
import os
import secrets
import shutil
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator, Sequence

from openfer.data.base import Dataset
from openfer.errors import ConfigError
from openfer.files import file_sha256, atomic_write

HDF5_SUFFIXES = (".h5", ".hdf5")


def is_hdf5_path(path: str | Path) -> bool:
    """Whether ``path`` names an HDF5 file (``.h5`` / ``.hdf5``) rather than a dataset folder."""
    return Path(path).suffix.lower() in HDF5_SUFFIXES


def sidecar(output: str | Path, name: str) -> Path:
    """The file ``name`` (``provenance.json``, ``dropped.csv``) belonging to ``output``: inside a dataset
    folder, or beside an HDF5 file as ``f.provenance.json``."""
    output = Path(output)
    if is_hdf5_path(output):
        return output.with_name(f"{output.stem}.{name}")
    return output / name


def provenance(tool: str, source: dict[str, Any], parameters: dict[str, Any], **extra: Any) -> dict[str, Any]:
    """The provenance record of one output: the tool, its parameters, the source, the openfer version, the date."""
    from openfer import __version__

    return {
        "tool": tool,
        "openfer_version": __version__,
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "source": source,
        "parameters": parameters,
        **extra,
    }


def describe_source(dataset: str, root: str | Path, splits: Sequence[str]) -> dict[str, Any]:
    """The source of a curation step: reader name, absolute root, splits read, and a SHA-256 when it is one file."""
    root = Path(root).resolve()
    record: dict[str, Any] = {"dataset": dataset, "root": str(root), "splits": list(splits)}
    if root.is_file():
        record["sha256"] = file_sha256(root)
        record["bytes"] = root.stat().st_size
    return record


def write_json(path: str | Path, record: dict[str, Any]) -> Path:
    with atomic_write(path, "w") as handle:
        json.dump(record, handle, indent=2, default=str)
        handle.write("\n")
    return Path(path)


def write_csv(path: str | Path, header: Sequence[str], rows: Sequence[Sequence[Any]]) -> Path:
    with atomic_write(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)
    return Path(path)


def check_destination(output: str | Path, source_root: str | Path) -> Path:
    """``output`` as an absolute path, refused (ConfigError) when it exists or lies inside the source."""
    output, source = Path(output).resolve(), Path(source_root).resolve()
    if output.exists():
        raise ConfigError(f"--output {output}: already exists; curation writes a new dataset, choose another path")
    source_folder = source if source.is_dir() else source.parent
    if source.is_dir() and (output == source_folder or source_folder in output.parents):
        raise ConfigError(f"--output {output}: inside the source dataset {source}; write the new dataset elsewhere")
    return output


@contextmanager
def new_folder(output: Path) -> Iterator[Path]:
    """A temporary folder beside ``output``, renamed onto it when the block ends without an exception, else removed."""
    output.parent.mkdir(parents=True, exist_ok=True)
    temporary = output.with_name(f".{output.name}.{secrets.token_hex(4)}.tmp")
    temporary.mkdir()
    try:
        yield temporary
    except BaseException:
        shutil.rmtree(temporary, ignore_errors=True)
        raise
    os.replace(temporary, output)


def write_dataset(dataset: Dataset, output: str | Path, record: dict[str, Any], extra_files: dict[str, tuple] | None = None) -> Path:
    """Write ``dataset`` to ``output`` (HDF5 file by suffix, else class folders) with ``provenance.json`` and
    the CSVs in ``extra_files`` (``{name: (header, rows)}``) beside it; returns ``output``."""
    from openfer.curate.hdf5 import write_hdf5

    output = Path(output)
    extra_files = extra_files or {}
    if is_hdf5_path(output):
        write_hdf5(dataset, output, record)
        write_json(sidecar(output, "provenance.json"), record)
        for name, (header, rows) in extra_files.items():
            write_csv(sidecar(output, name), header, rows)
        return output
    with new_folder(output) as folder:
        write_class_folders(dataset, folder)
        write_json(folder / "provenance.json", record)
        for name, (header, rows) in extra_files.items():
            write_csv(folder / name, header, rows)
    return output


def write_class_folders(dataset: Dataset, folder: Path) -> None:
    """``folder/<split>/<class>/<image id>.png`` for every image (the layout ``load_dataset("folder", ...)`` reads).

    PNG keeps the pixels exactly; image ids with path separators are flattened with ``__``.
    """
    from openfer.imageio import encode_image

    for split_name, split in dataset.items():
        ids = split.image_ids or [str(i) for i in range(len(split))]
        for index in range(len(split)):
            class_folder = folder / split_name / split.classes[split.labels[index]]
            class_folder.mkdir(parents=True, exist_ok=True)
            stem = Path(str(ids[index])).with_suffix("").as_posix().replace("/", "__")
            # Written plainly: the whole folder is renamed into place at the end (new_folder), so a crash
            # leaves only the temporary folder, and one fsync per image would cost more than the encoding.
            (class_folder / f"{stem}.png").write_bytes(encode_image(split.image(index), ".png", name=str(ids[index])))
