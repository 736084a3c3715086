"""Face tracks across video frames: which face is which person, smoothed probabilities, expression segments.

:class:`FaceTracker` gives each face of a frame a ``track`` id that stays with one person while the face
stays in view. Faces are matched to tracks by box overlap (IoU) against each track's constant-velocity
prediction, in two stages as ByteTrack does (Zhang et al., 2022, Sec. 3): confident detections first,
then the remaining tracks against the less confident ones. The assignment is Hungarian
(``scipy.optimize.linear_sum_assignment``) when SciPy is installed, else greedy by overlap. A track ends
after ``max_age`` sampled frames without its face, and every track ends at a scene cut (a jump in the
frame's colour histogram). Unlike ByteTrack, a low-score detection left unmatched still starts a track:
every face record carries a track id.

Each track smooths its class probabilities over time (:func:`parse_smoothing`: ``"ema:A"`` or
``"window:N"``); the raw probabilities are never changed. :class:`SegmentBuilder` turns a stream of
(track, frame, label) into expression segments in constant memory per open track, and
:func:`track_summaries` turns segments into one row per track.
"""

from __future__ import annotations

import importlib.util
import math
from collections import deque
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Iterable, Sequence

import cv2
import numpy as np
import pandas as pd

from openfer.errors import ConfigError

if TYPE_CHECKING:
    from openfer.recognize.results import Results

#: Default smoothing of a track's probabilities: an exponential moving average, 0.6 of each new frame.
DEFAULT_SMOOTHING = "ema:0.6"
#: Columns of :func:`track_summaries`, before one ``share_<class>`` column per class.
TRACK_COLUMNS = ("source", "track", "start_frame", "end_frame", "start_time", "end_time", "duration", "frames", "dominant")
#: Columns of a segment table (:class:`SegmentBuilder`, ``df.fer.segments()``).
SEGMENT_COLUMNS = ("source", "track", "label", "start_frame", "end_frame", "start_time", "end_time", "frames")

_HAS_SCIPY = importlib.util.find_spec("scipy") is not None


def parse_smoothing(spec: str | None) -> tuple[str, float]:
    """``(kind, value)`` of a smoothing spec: ``"ema:A"`` (0 < A <= 1, the weight of the newest frame),
    ``"window:N"`` (the mean of a track's last N frames, N >= 1), or ``"none"`` / None (raw)."""
    if spec is None or str(spec).strip().lower() in ("none", "off", ""):
        return "window", 1.0
    kind, _, value = str(spec).strip().lower().partition(":")
    try:
        number = float(value)
    except ValueError:
        number = math.nan
    if kind == "ema" and 0 < number <= 1:
        return "ema", number
    if kind == "window" and number >= 1 and number == int(number):
        return "window", number
    raise ConfigError(f"smoothing must be 'ema:A' with 0 < A <= 1, 'window:N' with a whole N >= 1, or 'none'; got {spec!r}")


class Smoother:
    """The smoothed probabilities of one track, fed one frame's raw probabilities at a time."""

    def __init__(self, kind: str, value: float) -> None:
        self.kind, self.value = kind, value
        self._state: np.ndarray | None = None
        self._window: deque[np.ndarray] = deque(maxlen=int(value) if kind == "window" else 1)
        self._sum: np.ndarray | None = None

    def update(self, probabilities: np.ndarray) -> np.ndarray:
        """The smoothed probabilities after this frame (a new array; ``probabilities`` is not changed)."""
        raw = np.asarray(probabilities, dtype=np.float64)
        if self.kind == "ema":
            self._state = raw.copy() if self._state is None else self.value * raw + (1 - self.value) * self._state
            return self._state.astype(np.float32)
        if self._window.maxlen == 1:
            return raw.astype(np.float32)
        if len(self._window) == self._window.maxlen:
            self._sum -= self._window[0]
        self._window.append(raw)
        self._sum = raw.copy() if self._sum is None else self._sum + raw
        return (self._sum / len(self._window)).astype(np.float32)


@dataclass
class _Track:
    id: int
    box: np.ndarray  # x, y, w, h (float)
    smoother: Smoother
    velocity: np.ndarray = field(default_factory=lambda: np.zeros(2))
    missed: int = 0

    def predicted(self) -> np.ndarray:
        """The box where the face should be in the next sampled frame, moving at its last velocity."""
        box = self.box.copy()
        box[:2] += self.velocity * (self.missed + 1)
        return box

    def update(self, box: np.ndarray) -> None:
        step = (box[:2] + box[2:] / 2) - (self.box[:2] + self.box[2:] / 2)
        self.velocity = 0.5 * self.velocity + 0.5 * step / (self.missed + 1)
        self.box, self.missed = box, 0


def box_iou(first: np.ndarray, second: np.ndarray) -> np.ndarray:
    """(N, M) intersection over union of boxes ``x, y, w, h``."""
    first, second = np.asarray(first, np.float64).reshape(-1, 4), np.asarray(second, np.float64).reshape(-1, 4)
    x0 = np.maximum(first[:, None, 0], second[None, :, 0])
    y0 = np.maximum(first[:, None, 1], second[None, :, 1])
    x1 = np.minimum((first[:, 0] + first[:, 2])[:, None], (second[:, 0] + second[:, 2])[None, :])
    y1 = np.minimum((first[:, 1] + first[:, 3])[:, None], (second[:, 1] + second[:, 3])[None, :])
    inter = np.clip(x1 - x0, 0, None) * np.clip(y1 - y0, 0, None)
    union = (first[:, 2] * first[:, 3])[:, None] + (second[:, 2] * second[:, 3])[None, :] - inter
    return np.where(union > 0, inter / np.maximum(union, 1e-12), 0.0)


def assign(overlap: np.ndarray, threshold: float) -> list[tuple[int, int]]:
    """Pairs ``(row, column)`` of an overlap matrix, each row and column at most once, each pair's
    overlap >= ``threshold``, total overlap maximal (Hungarian when SciPy is installed, else greedy)."""
    if overlap.size == 0:
        return []
    if _HAS_SCIPY and min(overlap.shape) > 1:  # with one row or column, greedy is already optimal
        from scipy.optimize import linear_sum_assignment

        rows, columns = linear_sum_assignment(-overlap)
        return [(int(r), int(c)) for r, c in zip(rows, columns) if overlap[r, c] >= threshold]
    pairs, used_rows, used_columns = [], set(), set()
    for flat in np.argsort(-overlap, axis=None, kind="stable"):
        row, column = divmod(int(flat), overlap.shape[1])
        if overlap[row, column] < threshold:
            break
        if row not in used_rows and column not in used_columns:
            pairs.append((row, column))
            used_rows.add(row)
            used_columns.add(column)
    return pairs


def histogram_distance(first: np.ndarray | None, second: np.ndarray | None) -> float:
    """Bhattacharyya distance (0 same, 1 disjoint) between two frame histograms (:func:`frame_histogram`)."""
    if first is None or second is None:
        return 0.0
    return float(cv2.compareHist(first, second, cv2.HISTCMP_BHATTACHARYYA))


def frame_histogram(image: np.ndarray) -> np.ndarray:
    """A normalised 8x8x8 colour histogram of a frame, from about 64x36 of its pixels (every k-th row and
    column: far cheaper than resizing, and a histogram needs no filtering)."""
    height, width = image.shape[:2]
    small = np.ascontiguousarray(image[:: max(1, height // 36), :: max(1, width // 64)])
    if small.ndim == 2:
        small = cv2.cvtColor(small, cv2.COLOR_GRAY2RGB)
    histogram = cv2.calcHist([small], [0, 1, 2], None, [8, 8, 8], [0, 256, 0, 256, 0, 256])
    return cv2.normalize(histogram, histogram, 1.0, 0.0, cv2.NORM_L1).astype(np.float32)


class FaceTracker:
    """Track ids and smoothed probabilities for the faces of one source's frames, fed in order.

    ``iou_threshold``: the least overlap between a track's predicted box and a face to match them.
    ``high_score``: detector scores at or above it are matched first (ByteTrack's first stage); the
    scale is the detector's own. ``max_age``: sampled frames a track survives without its face.
    ``cut_threshold``: the histogram distance (0..1) between consecutive frames that counts as a scene
    cut, ending every track (None: no cut detection). Ids start at 1 for each source.
    """

    def __init__(
        self,
        smoothing: str | None = DEFAULT_SMOOTHING,
        *,
        iou_threshold: float = 0.3,
        high_score: float = 0.6,
        max_age: int = 15,
        cut_threshold: float | None = 0.4,
    ) -> None:
        if not 0 < iou_threshold <= 1:
            raise ConfigError(f"iou_threshold must be in (0, 1]; got {iou_threshold}")
        if max_age < 0:
            raise ConfigError(f"max_age must be >= 0 (sampled frames a track survives without its face); got {max_age}")
        if cut_threshold is not None and not 0 < cut_threshold <= 1:
            raise ConfigError(f"cut_threshold must be in (0, 1] (a histogram distance) or None; got {cut_threshold}")
        if _HAS_SCIPY:
            import scipy.optimize  # noqa: F401  (imported once here, about a second, rather than on the first crowded frame)
        self.smoothing = parse_smoothing(smoothing)
        self.iou_threshold, self.high_score, self.max_age, self.cut_threshold = iou_threshold, high_score, max_age, cut_threshold
        self.reset()

    def reset(self, source: str | None = None) -> None:
        """Forget every track (a new source starts its ids at 1)."""
        self.source = source
        self.tracks: list[_Track] = []
        self.next_id = 1
        self.cuts = 0
        self._histogram: np.ndarray | None = None

    def update(self, result: Results) -> Results:
        """Set ``result.tracks`` and ``result.smoothed`` (the raw probabilities stay as they are); returns it."""
        if result.source != self.source or result.kind == "image":
            self.reset(result.source)
        if self.cut_threshold is not None and result.image is not None and result.kind != "image":
            histogram = frame_histogram(result.image)
            if histogram_distance(self._histogram, histogram) > self.cut_threshold:
                self.tracks, self.cuts = [], self.cuts + 1
            self._histogram = histogram
        boxes = result.boxes.astype(np.float64)
        owners = self._match(boxes, result.scores)
        ids = np.zeros(len(boxes), np.int64)
        smoothed = np.empty_like(result.probabilities)
        matched = set()
        for index, box in enumerate(boxes):
            track = owners.get(index)
            if track is None:
                track = _Track(self.next_id, box, Smoother(*self.smoothing))
                self.next_id += 1
                self.tracks.append(track)
            else:
                track.update(box)
            matched.add(track.id)
            ids[index] = track.id
            smoothed[index] = track.smoother.update(result.probabilities[index])
        for track in self.tracks:
            if track.id not in matched:
                track.missed += 1
        self.tracks = [t for t in self.tracks if t.missed <= self.max_age]
        result.tracks, result.smoothed = ids, smoothed
        return result

    def _match(self, boxes: np.ndarray, scores: np.ndarray) -> dict[int, _Track]:
        """Detection index -> its track, in two stages: high-score detections, then low-score ones."""
        owners: dict[int, _Track] = {}
        free = list(self.tracks)
        high = [i for i in range(len(boxes)) if scores[i] >= self.high_score]
        low = [i for i in range(len(boxes)) if scores[i] < self.high_score]
        for stage in (high, low):
            if not stage or not free:
                continue
            predicted = np.array([t.predicted() for t in free])
            pairs = assign(box_iou(predicted, boxes[stage]), self.iou_threshold)
            for row, column in pairs:
                owners[stage[column]] = free[row]
            taken = {row for row, _ in pairs}
            free = [t for i, t in enumerate(free) if i not in taken]
        return owners


class SegmentBuilder:
    """Expression segments (runs of one label within one track) from rows fed in frame order.

    Memory: one open segment per live track; closed segments are kept in :attr:`segments` (as many as the
    label changes). A segment whose track has not been seen for ``close_after`` rows of its source is
    closed, so tracks that ended cost nothing more.
    """

    def __init__(self, close_after: int = 256) -> None:
        self.segments: list[tuple] = []
        self.close_after = close_after
        self._open: dict[tuple[str, int], list] = {}
        self._seen: dict[tuple[str, int], int] = {}
        self._source: str | None = None
        self._rows = 0

    def add(self, source: str, track: int, frame: int, time: float | None, label: str) -> None:
        if source != self._source:
            self.close_all()
            self._source = source
        self._rows += 1
        if self._rows % self.close_after == 0:
            for stale in [k for k, seen in self._seen.items() if self._rows - seen > self.close_after]:
                self.segments.append(tuple(self._open.pop(stale)))
                del self._seen[stale]
        key = (source, int(track))
        self._seen[key] = self._rows
        current = self._open.get(key)
        if current is not None and current[2] == label:
            current[4], current[6], current[7] = frame, time, current[7] + 1
            return
        if current is not None:
            self.segments.append(tuple(current))
        self._open[key] = [source, int(track), label, frame, frame, time, time, 1]

    def add_result(self, result: Results) -> None:
        """Every face of one video/webcam result, labelled by its smoothed probabilities."""
        if result.frame is None or not len(result):
            return
        tracks = getattr(result, "tracks", None)
        smoothed = getattr(result, "smoothed", result.probabilities)
        for track, row in zip(tracks, smoothed):
            self.add(result.source, int(track), int(result.frame), result.time, result.classes[int(np.argmax(row))])

    def close_all(self) -> None:
        self.segments.extend(tuple(v) for v in self._open.values())
        self._open.clear()
        self._seen.clear()

    def table(self) -> pd.DataFrame:
        """Every segment so far (open ones included), sorted by source, track and start."""
        rows = self.segments + [tuple(v) for v in self._open.values()]
        table = pd.DataFrame(rows, columns=list(SEGMENT_COLUMNS))
        table = table.astype({"track": "int64", "start_frame": "int64", "end_frame": "int64", "start_time": "float64", "end_time": "float64", "frames": "int64"})
        return table.sort_values(["source", "track", "start_frame"], kind="stable").reset_index(drop=True)


def segments_of(rows: Iterable[tuple[str, int, int, float | None, str]]) -> pd.DataFrame:
    """The segment table of ``(source, track, frame, time, label)`` rows given in frame order per source."""
    builder = SegmentBuilder()
    for row in rows:
        builder.add(*row)
    return builder.table()


def track_summaries(segments: pd.DataFrame, classes: Sequence[str]) -> pd.DataFrame:
    """One row per (source, track): first and last frame and time, ``duration`` (seconds between the first
    and last sighting; NaN without times), sampled ``frames``, ``dominant`` expression and the share of
    the track's frames per class (``share_<class>``)."""
    columns = [*TRACK_COLUMNS, *(f"share_{c}" for c in classes)]
    if segments.empty:
        return pd.DataFrame(columns=columns)
    groups = segments.groupby(["source", "track"], sort=True)
    summary = groups.agg(start_frame=("start_frame", "min"), end_frame=("end_frame", "max"), start_time=("start_time", "min"),
                         end_time=("end_time", "max"), frames=("frames", "sum"))
    summary["duration"] = summary["end_time"] - summary["start_time"]
    per_label = segments.pivot_table(index=["source", "track"], columns="label", values="frames", aggfunc="sum", fill_value=0)
    per_label = per_label.reindex(columns=list(classes), fill_value=0)
    shares = per_label.div(summary["frames"], axis=0)
    summary["dominant"] = shares.idxmax(axis=1)
    for name in classes:
        summary[f"share_{name}"] = shares[name].astype("float64")
    return summary.reset_index()[columns]
