"""OpenCV's frontal-face Haar cascade (Viola & Jones, CVPR 2001), shipped inside opencv-python."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from openfer.errors import ConfigError
from openfer.faces.detection import Detection, FaceDetector, register_detector


@register_detector("haar")
class HaarDetector(FaceDetector):
    """Haar cascade on the histogram-equalised grey image.

    Defaults were tuned for recall at IoU >= 0.5 on hand-labelled group photos with faces of ~37 px
    (``benchmarks/detector_recall.py``: recall 0.93, precision 0.67, against 0.88 / 0.81 for OpenCV's
    defaults): images whose longer side is under ``min_side`` are enlarged first, and detections whose
    score (the cascade's level weight, unbounded; larger is more face-like) is under ``min_score`` are
    dropped.
    """

    name = "haar"

    def __init__(
        self,
        scale_factor: float = 1.1,
        min_neighbors: int = 3,
        min_size: int = 20,
        min_side: int = 750,
        max_side: int = 1600,
        min_score: float | None = 1.0,
        cascade: str | Path | None = None,
    ) -> None:
        super().__init__(min_side=min_side, max_side=max_side)
        if scale_factor <= 1.0 or min_neighbors < 0 or min_size < 1:
            raise ConfigError(
                f"HaarDetector: need scale_factor > 1, min_neighbors >= 0, min_size >= 1; "
                f"got {scale_factor}, {min_neighbors}, {min_size}"
            )
        path = Path(cascade) if cascade else Path(cv2.data.haarcascades) / "haarcascade_frontalface_default.xml"
        self.classifier = cv2.CascadeClassifier(str(path))
        if self.classifier.empty():
            raise ConfigError(f"{path}: not a readable OpenCV cascade file")
        self.scale_factor, self.min_neighbors, self.min_size = scale_factor, min_neighbors, min_size
        self.min_score = min_score

    def _detect(self, image_rgb: np.ndarray) -> list[Detection]:
        grey = cv2.equalizeHist(cv2.cvtColor(image_rgb, cv2.COLOR_RGB2GRAY))
        boxes, _, weights = self.classifier.detectMultiScale3(
            grey,
            scaleFactor=self.scale_factor,
            minNeighbors=self.min_neighbors,
            minSize=(self.min_size, self.min_size),
            outputRejectLevels=True,
        )
        found = [Detection(tuple(int(v) for v in box), float(weight)) for box, weight in zip(boxes, np.ravel(weights))]
        return [d for d in found if self.min_score is None or d.score >= self.min_score]
