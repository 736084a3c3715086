"""dlib's face detectors (HOG + linear SVM, and the CNN MMOD detector) with its 68-point landmarks.

Optional: ``pip install 'openfer[dlib]'``. dlib is imported only when a detector is built. Model files
come from an explicit path or, when installed, from the ``face_recognition_models`` package, which ships
``shape_predictor_68_face_landmarks.dat`` and ``mmod_human_face_detector.dat``; nothing is downloaded.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

import numpy as np

from openfer.errors import ConfigError
from openfer.faces.detection import Detection, FaceDetector, register_detector

LANDMARKS_FILE = "shape_predictor_68_face_landmarks.dat"
CNN_FILE = "mmod_human_face_detector.dat"


def _import_dlib(detector: str) -> Any:
    try:
        import dlib
    except ImportError:
        raise ConfigError(f"the {detector!r} face detector needs dlib: pip install 'openfer[dlib]'") from None
    return dlib


def _model_file(file_name: str, explicit: str | Path | None, argument: str) -> Path:
    """``explicit`` if given, else the copy inside the ``face_recognition_models`` package."""
    if explicit is not None:
        path = Path(explicit)
        if not path.is_file():
            raise ConfigError(f"{argument}={str(explicit)!r}: no such file")
        return path
    spec = importlib.util.find_spec("face_recognition_models")
    if spec is not None and spec.submodule_search_locations:
        path = Path(next(iter(spec.submodule_search_locations))) / "models" / file_name
        if path.is_file():
            return path
    raise ConfigError(
        f"dlib needs {file_name}: pip install face_recognition_models, or pass {argument}=PATH to the file"
    )


class DlibDetector(FaceDetector):
    """dlib detection (``method`` ``"hog"`` or ``"cnn"``) plus 68 iBUG landmarks for eye alignment.

    ``upsample`` is dlib's number of image doublings (1 finds faces down to about 40 px).
    Scores are dlib's detection scores (HOG: SVM margin; CNN: MMOD confidence).
    """

    def __init__(
        self,
        method: str = "hog",
        upsample: int = 1,
        landmarks: bool = True,
        landmarks_model: str | Path | None = None,
        cnn_model: str | Path | None = None,
        max_side: int = 1600,
    ) -> None:
        super().__init__(max_side=max_side)
        if method not in ("hog", "cnn"):
            raise ConfigError(f"DlibDetector: method must be 'hog' or 'cnn', got {method!r}")
        if upsample < 0:
            raise ConfigError(f"DlibDetector: upsample must be >= 0, got {upsample}")
        self.name = f"dlib-{method}"
        dlib = _import_dlib(self.name)
        self.method, self.upsample = method, upsample
        if method == "hog":
            self._detector = dlib.get_frontal_face_detector()
        else:
            self._detector = dlib.cnn_face_detection_model_v1(str(_model_file(CNN_FILE, cnn_model, "cnn_model")))
        self._predictor = (
            dlib.shape_predictor(str(_model_file(LANDMARKS_FILE, landmarks_model, "landmarks_model"))) if landmarks else None
        )

    def _detect(self, image_rgb: np.ndarray) -> list[Detection]:
        if self.method == "hog":
            rects, scores, _ = self._detector.run(image_rgb, self.upsample)
            found = list(zip(rects, scores))
        else:
            found = [(d.rect, d.confidence) for d in self._detector(image_rgb, self.upsample)]
        detections = []
        for rect, score in found:
            points = None
            if self._predictor is not None:
                shape = self._predictor(image_rgb, rect)
                points = np.array([(p.x, p.y) for p in shape.parts()], dtype=np.float64)
            box = (rect.left(), rect.top(), rect.right() - rect.left() + 1, rect.bottom() - rect.top() + 1)
            detections.append(Detection(box, float(score), points))
        return detections


@register_detector("dlib-hog")
def dlib_hog(**options: Any) -> DlibDetector:
    """dlib's HOG + linear SVM frontal face detector."""
    return DlibDetector(method="hog", **options)


@register_detector("dlib-cnn")
def dlib_cnn(**options: Any) -> DlibDetector:
    """dlib's CNN (MMOD) face detector; slow on CPU."""
    return DlibDetector(method="cnn", **options)
