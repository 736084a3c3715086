"""Writing recognition outputs: face records (CSV / JSON lines), annotated images and videos, per-video
summaries and probability-over-time plots. Every file is written under a temporary name and renamed
when complete, so an interrupted run never leaves a half-written output.
"""

from __future__ import annotations

import csv
import json
import os
import tempfile
from pathlib import Path
from types import TracebackType
from typing import IO, TYPE_CHECKING, Sequence

import cv2
import numpy as np
import pandas as pd

from openfer.errors import ImageError

if TYPE_CHECKING:
    from openfer.recognize.results import Results

FORMATS = ("csv", "jsonl")


class _AtomicFile:
    """A file written under a temporary name beside ``path`` and renamed onto it by :meth:`commit`."""

    def __init__(self, path: str | Path, suffix: str) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=f".{self.path.name}.", suffix=suffix)
        os.close(fd)
        self.tmp = Path(tmp)

    def commit(self) -> Path:
        os.replace(self.tmp, self.path)
        return self.path

    def discard(self) -> None:
        self.tmp.unlink(missing_ok=True)

    def finish(self, commit: bool) -> None:
        """Rename into place when ``commit``, else delete the temporary file."""
        if commit:
            self.commit()
        else:
            self.discard()


def write_image(path: str | Path, image_rgb: np.ndarray) -> Path:
    """Encode an RGB (or grey) uint8 image by ``path``'s suffix and write it atomically."""
    path = Path(path)
    bgr = image_rgb if image_rgb.ndim == 2 else cv2.cvtColor(image_rgb, cv2.COLOR_RGB2BGR)
    try:
        ok, encoded = cv2.imencode(path.suffix or ".png", bgr)
    except cv2.error:
        ok = False
    if not ok:
        raise ImageError(f"{path}: cannot encode an image with suffix {path.suffix!r} (use .jpg or .png)")
    target = _AtomicFile(path, path.suffix)
    try:
        target.tmp.write_bytes(encoded.tobytes())
        return target.commit()
    except BaseException:
        target.discard()
        raise


class RecordWriter:
    """Streams one record per face to a CSV or JSON-lines file, renamed into place on a clean close.

    CSV columns: source, frame, time, x, y, w, h, score, label, then one column per class. JSON lines:
    ``{"source", "frame", "time", "box": [x, y, w, h], "score", "label", "probabilities": {class: p}}``.
    """

    def __init__(self, path: str | Path, classes: Sequence[str], format: str | None = None) -> None:
        path = Path(path)
        self.format = format or ("jsonl" if path.suffix.lower() in (".jsonl", ".json") else "csv")
        if self.format not in FORMATS:
            raise ValueError(f"format must be one of {', '.join(FORMATS)}; got {self.format!r}")
        self.classes = tuple(classes)
        self._target = _AtomicFile(path, ".tmp")
        self._file: IO[str] = open(self._target.tmp, "w", newline="", encoding="utf-8")
        self._csv = csv.writer(self._file) if self.format == "csv" else None
        if self._csv is not None:
            self._csv.writerow(["source", "frame", "time", "x", "y", "w", "h", "score", "label", *self.classes])
        self.count = 0

    @property
    def path(self) -> Path:
        return self._target.path

    def write(self, results: Results) -> None:
        """Append the faces of one result."""
        for record in results.to_records():
            if self._csv is not None:
                probabilities = [record["probabilities"][c] for c in self.classes]
                frame = "" if record["frame"] is None else record["frame"]
                seconds = "" if record["time"] is None else record["time"]
                self._csv.writerow([record["source"], frame, seconds, *record["box"], record["score"], record["label"], *probabilities])
            else:
                self._file.write(json.dumps(record) + "\n")
            self.count += 1

    def close(self, commit: bool = True) -> None:
        """Finish the file: renamed into place when ``commit``, else deleted."""
        self._file.close()
        self._target.finish(commit)

    def __enter__(self) -> RecordWriter:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None) -> None:
        self.close(commit=kind is None)


class VideoWriter:
    """Writes annotated frames of one video to an MP4 file (``mp4v``), renamed into place on close."""

    def __init__(self, path: str | Path, fps: float, size: tuple[int, int]) -> None:
        self._target = _AtomicFile(Path(path).with_suffix(".mp4"), ".mp4")
        self._writer = cv2.VideoWriter(str(self._target.tmp), cv2.VideoWriter_fourcc(*"mp4v"), fps, size)
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


def frame_labels(table: pd.DataFrame, classes: Sequence[str]) -> pd.DataFrame:
    """Per (source, frame): the mean class probabilities over its faces, and the top class of that mean."""
    means = table.groupby(["source", "frame"], sort=True)[list(classes)].mean()
    means["time"] = table.groupby(["source", "frame"], sort=True)["time"].first()
    means["label"] = means[list(classes)].idxmax(axis=1)
    return means


def video_summary(table: pd.DataFrame, classes: Sequence[str] | None = None) -> pd.DataFrame:
    """Per video source: frames with faces, dominant expression and the share of those frames per class.

    A frame's expression is the top class of its faces' mean probabilities; the share of a class is the
    fraction of frames with faces whose expression it is (frames are evenly spaced in time).
    """
    classes = list(classes or table.attrs.get("classes", []))
    video = table[table["frame"].notna()]
    columns = ["source", "frames_with_faces", "dominant", *(f"share_{c}" for c in classes)]
    if video.empty:
        return pd.DataFrame(columns=columns)
    per_frame = frame_labels(video, classes).reset_index()
    shares = pd.crosstab(per_frame["source"], per_frame["label"], normalize="index").reindex(columns=classes, fill_value=0.0)
    summary = pd.DataFrame(
        {
            "frames_with_faces": per_frame.groupby("source")["frame"].count(),
            "dominant": shares.idxmax(axis=1),
            **{f"share_{c}": shares[c] for c in classes},
        }
    )
    return summary.rename_axis("source").reset_index()[columns]


def plot_timeline(table: pd.DataFrame, source: str, path: str | Path, classes: Sequence[str] | None = None) -> Path:
    """A PNG of each class's probability (mean over the faces in a frame) against time for one video."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    classes = list(classes or table.attrs.get("classes", []))
    rows = table[(table["source"] == source) & table["frame"].notna()]
    if rows.empty:
        raise ValueError(f"{source}: no video frames with faces to plot")
    per_frame = frame_labels(rows, classes).reset_index()
    has_time = per_frame["time"].notna().all()
    x = per_frame["time"] if has_time else per_frame["frame"]
    figure = Figure(figsize=(10, 4), dpi=100)
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    for name in classes:
        axes.plot(x, per_frame[name], label=name, linewidth=1.5)
    axes.set(xlabel="time (s)" if has_time else "frame", ylabel="probability", ylim=(0, 1), title=Path(source).name)
    axes.legend(loc="upper right", ncol=min(len(classes), 4), fontsize="small")
    figure.tight_layout()
    target = _AtomicFile(path, ".png")
    try:
        figure.savefig(target.tmp, format="png")
        return target.commit()
    except BaseException:
        target.discard()
        raise

