"""Results of one image or video frame: boxes, labels and probabilities, drawn or tabulated.

:data:`FACE_COLUMNS` is the one face-record schema: the columns of :func:`to_dataframe`, of the CSV and
JSON-lines records (:mod:`openfer.recognize.outputs`) and of the faces the HTTP service returns. The
``df.fer`` accessor registered here reads such a table back (class columns, per-video summaries, timelines).
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any, Iterable, Sequence

import cv2
import numpy as np
import pandas as pd

from openfer.faces.detection import Detection
from openfer.imageio import write_image

#: Columns of a face record, in order; one probability column per class follows them, then one smoothed
#: probability per class (``smooth_<class>``, see :func:`smooth_columns`). ``track`` is the face's track id
#: within its source (:mod:`openfer.recognize.tracking`; each face of an image is a track of its own).
#: ``detector_score`` is the face detector's confidence that the box holds a face (its own scale: YuNet
#: 0..1, Haar a count of neighbours); ``label_probability`` is the classifier's probability of ``label``,
#: the top class of the raw probabilities.
FACE_COLUMNS = ("source", "frame", "time", "track", "x", "y", "w", "h", "detector_score", "label", "label_probability")
#: The columns that say where the face was found (left out of the service's per-image answer).
SOURCE_COLUMNS = FACE_COLUMNS[:3]
#: The face box ``x, y, w, h`` in pixels (one ``box`` list in JSON records).
BOX_COLUMNS = FACE_COLUMNS[4:8]
#: Prefix of the smoothed-probability columns.
SMOOTH_PREFIX = "smooth_"


def smooth_columns(classes: Sequence[str]) -> list[str]:
    """The smoothed-probability column of each class, in class order."""
    return [SMOOTH_PREFIX + name for name in classes]

# One colour (RGB) per class index, repeated when there are more classes.
_PALETTE = ((230, 25, 75), (60, 180, 75), (145, 30, 180), (255, 200, 25), (0, 130, 200), (245, 130, 48), (128, 128, 128), (70, 240, 240))


class Results:
    """The faces and expressions found in one image or video frame.

    ``boxes`` (N, 4) ``x, y, w, h`` in pixels, ``scores`` (N,) detector scores, ``probabilities``
    (N, len(classes)), ``labels`` the most probable class of each face; ``tracks`` (N,) track ids and
    ``smoothed`` (N, len(classes)) the track-smoothed probabilities (set by a
    :class:`~openfer.recognize.tracking.FaceTracker`; untracked, each face is its own track and smoothed
    equals raw). ``frame`` and ``time`` (seconds)
    are set for video and webcam frames, ``fps`` for video files. A file that could not be read gives a result with ``error``
    set and no faces; a readable image without faces gives an empty result.
    """

    def __init__(
        self,
        source: str,
        classes: Sequence[str],
        detections: Sequence[Detection] = (),
        probabilities: np.ndarray | None = None,
        image: np.ndarray | None = None,
        name: str = "",
        frame: int | None = None,
        time: float | None = None,
        fps: float | None = None,
        kind: str = "image",
        error: str | None = None,
    ) -> None:
        self.source, self.name, self.kind = source, name or Path(source).name, kind
        self.classes: tuple[str, ...] = tuple(classes)
        self.image, self.frame, self.time, self.fps, self.error = image, frame, time, fps, error
        self.boxes = np.array([d.box for d in detections], dtype=np.int64).reshape(-1, 4)
        self.scores = np.array([d.score for d in detections], dtype=np.float32)
        self.landmarks = [d.landmarks for d in detections]
        if probabilities is None:
            probabilities = np.zeros((len(detections), len(self.classes)), dtype=np.float32)
        self.probabilities = np.asarray(probabilities, dtype=np.float32).reshape(len(detections), len(self.classes))
        self.tracks = np.arange(1, len(detections) + 1, dtype=np.int64)
        self.smoothed = self.probabilities.copy()

    @property
    def labels(self) -> list[str]:
        """The most probable class of each face."""
        return [self.classes[i] for i in self.probabilities.argmax(1)] if len(self) else []

    @property
    def ok(self) -> bool:
        """Whether the source was read (an image without faces is ok)."""
        return self.error is None

    def __len__(self) -> int:
        return len(self.boxes)

    def __getitem__(self, index: int | slice) -> Results:
        """The result of one face (or a slice of faces) of this image or frame, same source and image."""
        if isinstance(index, (int, np.integer)):
            if not -len(self) <= index < len(self):
                raise IndexError(f"{self.source}: face {index} of {len(self)}")
            index = slice(int(index) % len(self), int(index) % len(self) + 1)
        elif not isinstance(index, slice):
            raise TypeError(f"Results indices are integers or slices, not {type(index).__name__}")
        picked = list(range(len(self))[index])
        detections = [Detection(tuple(self.boxes[i].tolist()), float(self.scores[i]), self.landmarks[i]) for i in picked]
        part = Results(
            self.source, self.classes, detections, self.probabilities[picked], image=self.image, name=self.name,
            frame=self.frame, time=self.time, fps=self.fps, kind=self.kind, error=self.error,
        )
        part.tracks, part.smoothed = self.tracks[picked], self.smoothed[picked]
        return part

    def __repr__(self) -> str:
        where = f" frame {self.frame}" if self.frame is not None else ""
        if self.error:
            return f"Results({self.source}{where}: error: {self.error})"
        return f"Results({self.source}{where}: {len(self)} faces {self.labels})"

    def plot(self) -> np.ndarray:
        """A copy of the image (RGB) with each face's box and ``label probability`` drawn on it; the labels
        stay inside the image and never cover one another (:func:`label_placements`)."""
        if self.image is None:
            raise ValueError(f"{self.source}: no image to draw on ({self.error or 'image not kept'})")
        canvas = np.ascontiguousarray(self.image.copy())
        height, width = canvas.shape[:2]
        thickness = max(1, round(min(height, width) / 300))
        font_scale = max(0.4, min(height, width) / 900)
        best = self.probabilities.argmax(1) if len(self) else np.zeros(0, np.int64)
        texts = [f"{self.classes[b]} {row[b]:.2f}" for b, row in zip(best, self.probabilities)]
        sizes = [cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, font_scale, thickness) for text in texts]
        labels = label_placements(self.boxes, [(w + 2, h + baseline + 2) for (w, h), baseline in sizes], (width, height))
        for (x, y, w, h), b in zip(self.boxes.tolist(), best):
            cv2.rectangle(canvas, (x, y), (x + w - 1, y + h - 1), _PALETTE[b % len(_PALETTE)], thickness)
        for text, ((_, text_h), _), (left, top, label_w, label_h), b in zip(texts, sizes, labels, best):
            colour = _PALETTE[b % len(_PALETTE)]
            cv2.rectangle(canvas, (left, top), (left + label_w - 1, top + label_h - 1), colour, -1)
            cv2.putText(canvas, text, (left + 1, top + text_h + 1), cv2.FONT_HERSHEY_SIMPLEX, font_scale, (255, 255, 255), thickness, cv2.LINE_AA)
        return canvas

    def save(self, path: str | Path) -> Path:
        """Write :meth:`plot` to ``path`` (format from the suffix), atomically; returns the path."""
        return write_image(path, self.plot())

    def rows(self) -> list[tuple[Any, ...]]:
        """One tuple per face: the values of :data:`FACE_COLUMNS`, one probability per class, then one
        smoothed probability per class."""
        time = None if self.time is None else round(self.time, 4)
        return [
            (self.source, self.frame, time, int(track), *(int(v) for v in box), round(float(score), 4), label, round(float(row.max()), 6),
             *(round(float(p), 6) for p in row), *(round(float(p), 6) for p in smooth))
            for track, box, score, label, row, smooth in zip(self.tracks, self.boxes, self.scores, self.labels, self.probabilities, self.smoothed)
        ]

    def to_records(self, include_source: bool = True) -> list[dict[str, Any]]:
        """One dict per face: source, frame, time, track, box [x, y, w, h], detector_score, label,
        label_probability, probabilities {class: p}, smoothed {class: p}.

        ``include_source=False`` leaves out source, frame and time (the HTTP service answers per image).
        """
        return [record_of(row, self.classes, include_source) for row in self.rows()]

    def to_json(self, indent: int | None = None) -> str:
        """The faces as a JSON array of :meth:`to_records` (one JSON-lines record per face)."""
        return json.dumps(self.to_records(), indent=indent)

    def to_df(self) -> pd.DataFrame:
        """One row per face: the :data:`FACE_COLUMNS`, then one column per class."""
        return to_dataframe([self])


def record_of(row: Sequence[Any], classes: Sequence[str], include_source: bool = True) -> dict[str, Any]:
    """A face row (:meth:`Results.rows`) as a JSON record: the box as one list, the probabilities as one dict."""
    values = dict(zip(FACE_COLUMNS, row))
    record = {name: values[name] for name in SOURCE_COLUMNS} if include_source else {}
    record["track"] = values["track"]
    record["box"] = [values[name] for name in BOX_COLUMNS]
    for name in ("detector_score", "label", "label_probability"):
        record[name] = values[name]
    start = len(FACE_COLUMNS)
    record["probabilities"] = dict(zip(classes, row[start : start + len(classes)]))
    record["smoothed"] = dict(zip(classes, row[start + len(classes) :]))
    return record


def label_placements(boxes: np.ndarray | Sequence[Sequence[int]], label_sizes: Sequence[tuple[int, int]], image_size: tuple[int, int]) -> list[tuple[int, int, int, int]]:
    """Where to draw each face's label: a rectangle ``(x, y, w, h)`` of the given ``(w, h)`` size per face box
    ``(x, y, w, h)``, inside the image ``(width, height)`` and overlapping no other label.

    Each label goes just above its box when that space is free, else to the free spot nearest it (scanning
    rows half a label apart and three horizontal anchors, then the whole width). Faces are placed top to
    bottom. Only when the labels cannot all fit in the image does one overlap another.
    """
    width, height = image_size
    boxes = np.asarray(boxes, dtype=np.int64).reshape(-1, 4)
    placed: list[tuple[int, int, int, int] | None] = [None] * len(boxes)
    taken: list[tuple[int, int, int, int]] = []
    for index in sorted(range(len(boxes)), key=lambda i: (int(boxes[i][1]), int(boxes[i][0]))):
        x, y, w, h = (int(v) for v in boxes[index])
        label_w, label_h = min(int(label_sizes[index][0]), width), min(int(label_sizes[index][1]), height)
        max_x, max_y = width - label_w, height - label_h
        want_x, want_y = min(max(x, 0), max_x), min(max(y - label_h, 0), max_y)
        step_y = max(1, label_h // 2)
        rows = sorted({want_y, min(max(y, 0), max_y), min(max(y + h, 0), max_y), *range(0, max_y + 1, step_y), max_y}, key=lambda r: abs(r - want_y))
        anchors = sorted({want_x, min(max(x + w - label_w, 0), max_x), min(max(x + (w - label_w) // 2, 0), max_x)}, key=lambda c: abs(c - want_x))
        spot = _free_spot(rows, anchors, label_w, label_h, taken)
        if spot is None:
            columns = sorted({*range(0, max_x + 1, max(1, label_w // 4)), max_x}, key=lambda c: abs(c - want_x))
            spot = _free_spot(rows, columns, label_w, label_h, taken) or (want_x, want_y)
        placed[index] = (spot[0], spot[1], label_w, label_h)
        taken.append(placed[index])
    return [rect for rect in placed if rect is not None]


def _free_spot(rows: Sequence[int], columns: Sequence[int], w: int, h: int, taken: Sequence[tuple[int, int, int, int]]) -> tuple[int, int] | None:
    """The (column, row) nearest the first of each (city-block distance) where a ``w`` x ``h`` rectangle overlaps nothing taken."""
    for distance, row, column in sorted((abs(r - rows[0]) + abs(c - columns[0]), r, c) for r in rows for c in columns):
        if not any(column < tx + tw and tx < column + w and row < ty + th and ty < row + h for tx, ty, tw, th in taken):
            return column, row
    return None


def to_dataframe(results: Iterable[Results]) -> pd.DataFrame:
    """One row per face over many results (sources that failed are left out); ``attrs["classes"]`` is set."""
    results = list(results)
    classes: tuple[str, ...] = results[0].classes if results else ()
    frame = pd.DataFrame([row for result in results for row in result.rows()], columns=[*FACE_COLUMNS, *classes, *smooth_columns(classes)])
    frame["frame"] = frame["frame"].astype("Int64")
    frame["track"] = frame["track"].astype("int64")
    frame["time"] = frame["time"].astype("float64")
    frame.attrs["classes"] = list(classes)
    return frame


@pd.api.extensions.register_dataframe_accessor("fer")
class FaceTable:
    """``df.fer``: a table of face records (:func:`to_dataframe`, or a records CSV read back) by meaning.

    The class columns are ``df.attrs["classes"]`` when set, else every column after :data:`FACE_COLUMNS`
    that is not a ``smooth_<class>`` column. Per track: :meth:`tracks`, :meth:`segments`, ``timeline(source, track=)``.
    """

    def __init__(self, table: pd.DataFrame) -> None:
        missing = [name for name in ("source", "frame", "time") if name not in table.columns]
        if missing:
            raise AttributeError(f"df.fer needs a table of face records (openfer.recognize.FACE_COLUMNS); missing columns {missing}")
        self._table = table

    @property
    def classes(self) -> list[str]:
        """The class names, in the order of their probability columns."""
        return list(self._table.attrs.get("classes") or [c for c in self._table.columns if c not in FACE_COLUMNS and not str(c).startswith(SMOOTH_PREFIX)])

    def _smoothed_or_raw(self) -> list[str]:
        """The smoothed-probability columns when the table has them, else the raw class columns."""
        smooth = smooth_columns(self.classes)
        return smooth if all(c in self._table.columns for c in smooth) else self.classes

    def segments(self) -> pd.DataFrame:
        """Expression segments of the video rows: per (source, track), each run of frames whose smoothed
        top class stays the same: ``label``, first and last frame and time, and the number of sampled frames."""
        from openfer.recognize.tracking import segments_of

        if "track" not in self._table.columns:
            raise AttributeError("df.fer.segments() needs the 'track' column (records written with tracking)")
        video = self._table[self._table["frame"].notna()].sort_values(["source", "frame"], kind="stable")
        columns = self._smoothed_or_raw()
        labels = np.asarray(self.classes, dtype=object)[video[columns].to_numpy(np.float64).argmax(1)] if len(video) else []
        times = video["time"].astype("float64").to_numpy()
        rows = zip(video["source"], video["track"].astype("int64"), video["frame"].astype("int64"), (None if math.isnan(t) else t for t in times), labels)
        return segments_of(rows)

    def tracks(self) -> pd.DataFrame:
        """One row per (source, track) of the video rows: first and last frame and time, duration in
        seconds, sampled frames, dominant expression and share of the track's frames per class."""
        from openfer.recognize.tracking import track_summaries

        return track_summaries(self.segments(), self.classes)

    @property
    def emotions(self) -> pd.DataFrame:
        """The class-probability columns, one row per face."""
        return self._table[self.classes]

    def frames(self) -> pd.DataFrame:
        """Per (source, frame) of the video rows: the mean class probabilities over its faces, the time, and
        ``label``, the top class of that mean."""
        classes = self.classes
        video = self._table[self._table["frame"].notna()]
        groups = video.groupby(["source", "frame"], sort=True)
        means = groups[classes].mean()
        means["time"] = groups["time"].first()
        means["label"] = means[classes].idxmax(axis=1) if len(means) else pd.Series(dtype=object)
        return means

    def timeline(self, source: str, frames: Sequence[tuple[int, float | None]] | None = None, track: int | None = None) -> pd.DataFrame:
        """One row per frame of video ``source`` that has faces: ``frame``, ``time``, the mean probability
        of each class over its faces and ``label``, the top class of that mean. ``frames``: every sampled
        ``(frame, time)`` of the video; then each appears, those without a face with missing values (gaps).
        ``track``: only that track's face, with its smoothed probabilities beside the raw ones."""
        if track is not None:
            rows = self._table[(self._table["source"] == source) & (self._table["track"] == track) & self._table["frame"].notna()]
            keep = ["frame", "time", *self.classes, *[c for c in smooth_columns(self.classes) if c in rows.columns], "label"]
            return rows.sort_values("frame")[keep].reset_index(drop=True)
        per_frame = self.frames().reset_index()
        per_frame = per_frame[per_frame["source"] == source].drop(columns="source").reset_index(drop=True)
        if frames is None:
            return per_frame
        sampled = pd.DataFrame(list(frames), columns=["frame", "time"]).astype({"frame": "Int64", "time": "float64"})
        return sampled.merge(per_frame.drop(columns="time"), on="frame", how="left")[per_frame.columns]

    def video_summary(self) -> pd.DataFrame:
        """Per video source: frames with faces, dominant expression and the share of those frames per class.

        A frame's expression is the top class of its faces' mean probabilities; the share of a class is the
        fraction of frames with faces whose expression it is (frames are evenly spaced in time).
        """
        classes = self.classes
        columns = ["source", "frames_with_faces", "dominant", *(f"share_{c}" for c in classes)]
        per_frame = self.frames().reset_index()
        if per_frame.empty:
            return pd.DataFrame(columns=columns)
        shares = pd.crosstab(per_frame["source"], per_frame["label"], normalize="index").reindex(columns=classes, fill_value=0.0)
        summary = pd.DataFrame(
            {
                "frames_with_faces": per_frame.groupby("source").size(),
                "dominant": shares.idxmax(axis=1),
                **{f"share_{c}": shares[c] for c in classes},
            }
        )
        return summary.rename_axis("source").reset_index()[columns]
