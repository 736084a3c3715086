"""Writing recognition outputs: face records (CSV / JSON lines), annotated images and videos, and
probability-over-time plots. Every file is written atomically (:mod:`openfer.files`), so an interrupted
run never leaves a half-written output.
"""

from __future__ import annotations

import csv
import json
import sys
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Sequence

import cv2
import numpy as np
import pandas as pd

from openfer.errors import ConfigError, ImageError
from openfer.files import PendingFile, atomic_path
from openfer.imageio import display_path, write_image  # noqa: F401  (write_image re-exported: the annotated-image writer)
from openfer.recognize.results import FACE_COLUMNS, record_of, smooth_columns
from openfer.options import FORMATS

if TYPE_CHECKING:
    from openfer.recognize.results import Results

#: Formats of a face-records file.


#: The records "file" that means standard output.
STDOUT = "-"


class RecordWriter:
    """Streams one record per face to a CSV or JSON-lines file, renamed into place on a clean close;
    ``path`` ``"-"`` streams them to standard output instead (flushed after each image or frame).

    CSV columns: :data:`~openfer.recognize.results.FACE_COLUMNS`, one column per class, then one
    ``smooth_<class>`` column per class. JSON lines: ``{"source", "frame", "time", "track", "box": [x, y, w, h],
    "detector_score", "label", "label_probability", "probabilities": {class: p}, "smoothed": {class: p}}``.
    """

    def __init__(self, path: str | Path, classes: Sequence[str], format: str | None = None) -> None:
        self.to_stdout = str(path) == STDOUT
        path = Path(path)
        self.format = format or ("jsonl" if path.suffix.lower() in (".jsonl", ".json") else "csv")
        if self.format not in FORMATS:
            raise ConfigError(f"format must be one of {', '.join(FORMATS)}; got {self.format!r}")
        self.classes = tuple(classes)
        if self.to_stdout:
            self._target, self._file = None, sys.stdout
        else:
            check_output_file(path, "output")
            self._target = PendingFile(path)
            self._file = open(self._target.temporary, "w", newline="", encoding="utf-8")
        self._csv = csv.writer(self._file) if self.format == "csv" else None
        if self._csv is not None:
            self._csv.writerow([*FACE_COLUMNS, *self.classes, *smooth_columns(self.classes)])
        self.count = 0

    @property
    def path(self) -> Path:
        return Path(STDOUT) if self._target is None else self._target.path

    def write(self, results: Results) -> None:
        """Append the faces of one result."""
        if tuple(results.classes) != self.classes:
            raise ValueError(f"{results.source}: classes {list(results.classes)}, the records file has {list(self.classes)}")
        for row in results.rows():
            if self._csv is not None:
                self._csv.writerow(row)
            else:
                self._file.write(json.dumps(record_of(row, self.classes)) + "\n")
            self.count += 1
        if self.to_stdout:
            self._file.flush()

    def close(self, commit: bool = True) -> None:
        """Finish the file: renamed into place when ``commit``, else deleted (standard output is flushed)."""
        if self._target is None:
            self._file.flush()
            return
        self._file.close()
        self._target.finish(commit)

    def __enter__(self) -> RecordWriter:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None) -> None:
        self.close(commit=kind is None)


def check_output_file(path: str | Path, argument: str) -> None:
    """Raise :class:`ConfigError` unless ``path`` can become a file: not a folder, not below a file."""
    path = Path(path)
    if path.is_dir():
        raise ConfigError(f"{argument} {display_path(path)} is a folder; give a file name such as {display_path(path / 'faces.csv')}")
    for parent in path.parents:
        if parent.exists():
            if not parent.is_dir():
                raise ConfigError(f"{argument} {display_path(path)}: {display_path(parent)} is a file, not a folder")
            break


def check_output_folder(path: str | Path, argument: str) -> None:
    """Raise :class:`ConfigError` unless ``path`` is a folder or can be made one."""
    path = Path(path)
    for folder in (path, *path.parents):
        if folder.exists():
            if not folder.is_dir():
                where = "" if folder == path else f": {display_path(folder)}"
                raise ConfigError(f"{argument} {display_path(path)}{where} is a file, not a folder")
            break


class VideoWriter:
    """Writes annotated frames of one video to an MP4 file (``mp4v``), renamed into place on close."""

    def __init__(self, path: str | Path, fps: float, size: tuple[int, int]) -> None:
        self._target = PendingFile(Path(path).with_suffix(".mp4"), keep_suffix=True)
        self._writer = cv2.VideoWriter(str(self._target.temporary), cv2.VideoWriter_fourcc(*"mp4v"), fps, size)
        if not self._writer.isOpened():
            self._target.discard()
            raise ImageError(f"{self._target.path}: cannot open a video writer (mp4v codec missing?)")
        self.size = size

    @property
    def path(self) -> Path:
        return self._target.path

    def write(self, image_rgb: np.ndarray) -> None:
        """Append one RGB frame (resized to the writer's size if needed)."""
        if (image_rgb.shape[1], image_rgb.shape[0]) != self.size:
            image_rgb = cv2.resize(image_rgb, self.size)
        self._writer.write(cv2.cvtColor(image_rgb, cv2.COLOR_RGB2BGR))

    def close(self, commit: bool = True) -> None:
        """Finish the file: renamed into place when ``commit``, else deleted."""
        self._writer.release()
        self._target.finish(commit)


def plot_timeline(
    table: pd.DataFrame, source: str, path: str | Path, classes: Sequence[str] | None = None, frames: Sequence[tuple[int, float | None]] | None = None
) -> Path:
    """A PNG of each class's probability (mean over the faces in a frame, ``table.fer.timeline(source)``)
    against time for one video. ``frames``: every sampled ``(frame, time)``; those without a face are
    gaps in the lines, shaded grey."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    classes = list(classes or table.fer.classes)
    per_frame = table.fer.timeline(source, frames)
    no_face = per_frame["label"].isna().to_numpy()
    if per_frame.empty or no_face.all():
        raise ValueError(f"{source}: no video frames with faces to plot")
    has_time = per_frame["time"].notna().all()
    x = (per_frame["time"] if has_time else per_frame["frame"]).astype("float64").to_numpy()
    figure = Figure(figsize=(10, 4), dpi=100)
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    for name in classes:
        axes.plot(x, per_frame[name].astype("float64").to_numpy(), label=name, linewidth=1.5)
    if no_face.any():
        axes.fill_between(x, 0, 1, where=no_face, step="mid", color="0.88", linewidth=0, label="no face")
    axes.set(xlabel="time (s)" if has_time else "frame", ylabel="probability", ylim=(0, 1), title=str(source))
    axes.legend(loc="upper right", ncol=min(len(classes) + int(no_face.any()), 4), fontsize="small")
    figure.tight_layout()
    with atomic_path(path) as temporary:
        figure.savefig(temporary, format="png")
    return Path(path)
