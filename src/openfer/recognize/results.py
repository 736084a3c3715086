"""Results of one image or video frame: boxes, labels and probabilities, drawn or tabulated."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterable, Sequence

import cv2
import numpy as np
import pandas as pd

from openfer.faces.detection import Detection
from openfer.recognize.outputs import write_image

# One colour (RGB) per class index, repeated when there are more classes.
_PALETTE = ((230, 25, 75), (60, 180, 75), (145, 30, 180), (255, 200, 25), (0, 130, 200), (245, 130, 48), (128, 128, 128), (70, 240, 240))


class Results:
    """The faces and expressions found in one image or video frame.

    ``boxes`` (N, 4) ``x, y, w, h`` in pixels, ``scores`` (N,) detector scores, ``probabilities``
    (N, len(classes)), ``labels`` the most probable class of each face. ``frame`` and ``time`` (seconds)
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

    def __repr__(self) -> str:
        where = f" frame {self.frame}" if self.frame is not None else ""
        if self.error:
            return f"Results({self.source}{where}: error: {self.error})"
        return f"Results({self.source}{where}: {len(self)} faces {self.labels})"

    def plot(self) -> np.ndarray:
        """A copy of the image (RGB) with each face's box and ``label probability`` drawn on it."""
        if self.image is None:
            raise ValueError(f"{self.source}: no image to draw on ({self.error or 'image not kept'})")
        canvas = np.ascontiguousarray(self.image.copy())
        height, width = canvas.shape[:2]
        thickness = max(1, round(min(height, width) / 300))
        font_scale = max(0.4, min(height, width) / 900)
        for (x, y, w, h), row in zip(self.boxes.tolist(), self.probabilities):
            best = int(row.argmax())
            colour = _PALETTE[best % len(_PALETTE)]
            cv2.rectangle(canvas, (x, y), (x + w - 1, y + h - 1), colour, thickness)
            text = f"{self.classes[best]} {row[best]:.2f}"
            (text_w, text_h), baseline = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, font_scale, thickness)
            top = y - text_h - baseline - 2 if y - text_h - baseline - 2 >= 0 else y + h
            cv2.rectangle(canvas, (x, top), (x + text_w + 2, top + text_h + baseline + 2), colour, -1)
            cv2.putText(canvas, text, (x + 1, top + text_h + 1), cv2.FONT_HERSHEY_SIMPLEX, font_scale, (255, 255, 255), thickness, cv2.LINE_AA)
        return canvas

    def save(self, path: str | Path) -> Path:
        """Write :meth:`plot` to ``path`` (format from the suffix), atomically; returns the path."""
        return write_image(path, self.plot())

    def to_records(self) -> list[dict[str, Any]]:
        """One dict per face: source, frame, time, box [x, y, w, h], score, label, probabilities {class: p}."""
        return [
            {
                "source": self.source,
                "frame": self.frame,
                "time": None if self.time is None else round(self.time, 4),
                "box": [int(v) for v in box],
                "score": round(float(score), 4),
                "label": label,
                "probabilities": {c: round(float(p), 6) for c, p in zip(self.classes, row)},
            }
            for box, score, label, row in zip(self.boxes, self.scores, self.labels, self.probabilities)
        ]

    def to_df(self) -> pd.DataFrame:
        """One row per face: source, frame, time, x, y, w, h, score, label, then one column per class."""
        return to_dataframe([self])


def to_dataframe(results: Iterable[Results]) -> pd.DataFrame:
    """One row per face over many results (sources that failed are left out); ``attrs["classes"]`` is set."""
    results = list(results)
    classes: tuple[str, ...] = results[0].classes if results else ()
    rows = []
    for result in results:
        for record in result.to_records():
            x, y, w, h = record.pop("box")
            probabilities = record.pop("probabilities")
            rows.append({**record, "x": x, "y": y, "w": w, "h": h, **probabilities})
    columns = ["source", "frame", "time", "x", "y", "w", "h", "score", "label", *classes]
    frame = pd.DataFrame(rows, columns=columns)
    frame["frame"] = frame["frame"].astype("Int64")
    frame["time"] = frame["time"].astype("float64")
    frame.attrs["classes"] = list(classes)
    return frame
