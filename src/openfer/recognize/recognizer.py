"""The recogniser: every face in photos, folders, videos and webcams, with its expression."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Iterator, Sequence

import numpy as np
import pandas as pd

from openfer.errors import ConfigError
from openfer.faces.align import face_crop
from openfer.faces.detection import Detection, FaceDetector, create_detector
from openfer.recognize.classifiers import FaceClassifier, ModelSpec, resolve_model
from openfer.recognize.report import Report
from openfer.recognize.results import Results, to_dataframe
from openfer.recognize.sources import Frame, Skipped, Source, iter_frames, webcam_index


#: The largest face-crop margin: a crop then spans five face widths.
MAX_MARGIN = 2.0


class Recognizer:
    """Detects every face in a source and classifies its expression.

    ``model``: None for the shipped default, an ExpressionModel (or anything with ``classes`` and
    ``predict_proba``), a weights/checkpoint/ONNX path, a registered model name with ``checkpoint``, or
    a list of these averaged as an ensemble. ``backend``: ``"auto"`` runs weights files in onnxruntime
    when it is installed (exported once into the cache folder), ``"torch"`` in PyTorch.
    ``detector``: a :class:`~openfer.faces.FaceDetector` or a name from ``openfer.faces.list_detectors()``.
    Each face is cut as a square of ``max(w, h) * (1 + 2 * margin)`` around its box, turned upright by
    the eyes when the detector gives landmarks and ``align`` is set. Faces of up to ``max_frames``
    images or frames are classified together in batches of about ``batch_size``.

    >>> recognizer = Recognizer()
    >>> for result in recognizer.predict("photos/"):
    ...     print(result.source, result.labels)
    >>> recognizer.run(["photos/", "clip.mp4"], output="faces.csv", save_dir="annotated", summary_dir="summary")
    """

    def __init__(
        self,
        model: ModelSpec = None,
        detector: str | FaceDetector | None = "auto",
        *,
        checkpoint: str | Path | None = None,
        backend: str = "auto",
        margin: float = 0.1,
        align: bool = True,
        batch_size: int = 64,
        max_frames: int = 16,
    ) -> None:
        if not 0 <= margin <= MAX_MARGIN:
            raise ConfigError(f"margin must be between 0 and {MAX_MARGIN} (a fraction of the face box's side added on each side); got {margin:g}")
        if batch_size < 1 or max_frames < 1:
            raise ConfigError(f"Recognizer: need batch_size >= 1 and max_frames >= 1; got {batch_size}, {max_frames}")
        self.model: FaceClassifier = resolve_model(model, checkpoint=checkpoint, backend=backend)
        self.detector = create_detector(detector)
        self.margin, self.align = margin, align
        self.batch_size, self.max_frames = batch_size, max_frames
        self.skipped: list[str] = []

    def __repr__(self) -> str:
        return f"Recognizer(model={self.model!r}, detector={self.detector!r}, margin={self.margin}, align={self.align})"

    @property
    def classes(self) -> tuple[str, ...]:
        return tuple(self.model.classes)

    def predict(self, source: Source | Sequence[Source], stride: int = 1) -> Iterator[Results]:
        """A :class:`Results` per image or per ``stride``-th video/webcam frame, in order, as they are ready.

        ``source``: an RGB array, an image or video path, a folder (searched recursively), a glob, a
        webcam index, or a list of these. Unreadable files give results with ``error`` set; files in
        folders that are neither images nor videos are listed in :attr:`skipped`. A source met again in
        the same call (a video listed twice, a file both listed and inside a listed folder) is a source of
        its own each time: its later results have ``source`` ``PATH#2``, ``PATH#3`` and so on.
        """
        self.skipped = []
        pending: list[tuple[Frame, list[Detection], list[np.ndarray]]] = []
        faces = 0
        occurrences = _Occurrences()
        for frame in iter_frames(source, stride):
            if isinstance(frame, Skipped):
                self.skipped.append(frame.source)
                continue
            frame.source = occurrences.label(frame)
            if frame.error is not None:
                yield from self._classify(pending)
                pending, faces = [], 0
                yield Results(frame.source, self.classes, name=frame.name, kind=frame.kind, error=frame.error)
                continue
            detections = self.detector.detect(frame.image)
            crops = [face_crop(frame.image, d, self.margin, self.align) for d in detections]
            pending.append((frame, detections, crops))
            faces += len(crops)
            if frame.kind == "webcam" or faces >= self.batch_size or len(pending) >= self.max_frames:
                yield from self._classify(pending)
                pending, faces = [], 0
        yield from self._classify(pending)

    def __call__(self, source: Source | Sequence[Source], stride: int = 1) -> list[Results]:
        """All results of :meth:`predict` as a list (holds every image: use ``predict`` for long videos)."""
        return list(self.predict(source, stride))

    def run(
        self,
        sources: Source | Sequence[Source],
        output: str | Path | None = None,
        format: str | None = None,
        save_dir: str | Path | None = None,
        summary_dir: str | Path | None = None,
        *,
        stride: int = 1,
        show: bool = False,
        verbose: int = 1,
    ) -> Report:
        """What ``openfer predict`` does, in one call: write every output and return the :class:`Report`.

        ``output``: a face-records file, CSV or JSON lines (``format``, default from the suffix, else csv);
        ``save_dir``: annotated images and videos; ``summary_dir``: ``summary.csv`` and a timeline PNG per
        video. ``show``: a live window for webcam sources. ``verbose``: see :class:`Report`. On an error
        no output is left half-written; Ctrl-C on a webcam stops it and keeps what was written.
        ``report.exit_status`` is 0 when every source was read, 1 when some were not, 2 when none were.
        """
        from openfer.recognize.live import display_problem, show_live

        if stride < 1:
            raise ConfigError(f"stride must be >= 1, got {stride}")
        listed = list(sources) if isinstance(sources, (list, tuple)) else [sources]
        webcam = any(webcam_index(source) is not None for source in listed)
        show = show and webcam
        problem = display_problem() if show else None
        if problem:
            raise ConfigError(f"live window: {problem}; pass --no-show (show=False) and an output file to keep the results")
        report = Report(self.classes, output, format, save_dir, summary_dir, stride=stride, verbose=verbose)
        results = self.predict(listed, stride)
        if show:
            results = show_live(results)
        try:
            for result in results:
                report.add(result)
        except KeyboardInterrupt:
            if not webcam:
                report.close(commit=False)
                raise
            if verbose >= 1:
                print("openfer: stopped", file=sys.stderr)
        except BaseException:
            report.close(commit=False)
            raise
        report.skipped = list(self.skipped)
        return report.finish()

    def to_dataframe(self, source: Source | Sequence[Source], stride: int = 1) -> pd.DataFrame:
        """One row per face (see :func:`openfer.recognize.to_dataframe`); images are not kept."""
        return to_dataframe(self._drop_images(self.predict(source, stride)))

    @staticmethod
    def _drop_images(results: Iterator[Results]) -> Iterator[Results]:
        for result in results:
            result.image = None
            yield result

    def _classify(self, pending: list[tuple[Frame, list[Detection], list[np.ndarray]]]) -> Iterator[Results]:
        """Classify the faces of several frames in one call and give each frame its results."""
        crops = [crop for _, _, frame_crops in pending for crop in frame_crops]
        probabilities = self.model.predict_proba(crops) if crops else np.zeros((0, len(self.classes)), np.float32)
        start = 0
        for frame, detections, _ in pending:
            end = start + len(detections)
            yield Results(
                frame.source,
                self.classes,
                detections,
                probabilities[start:end],
                image=frame.image,
                name=frame.name,
                frame=frame.frame,
                time=frame.time,
                fps=frame.fps,
                kind=frame.kind,
            )
            start = end


class _Occurrences:
    """Names each pass over a source: the path for the first, ``PATH#2``, ``PATH#3`` for later ones."""

    def __init__(self) -> None:
        self.counts: dict[str, int] = {}
        self._path, self._label, self._index = "", "", None  # the previous frame's path, label, frame index

    def label(self, frame: Frame) -> str:
        # Within one pass over a video the frame index only grows; an error after frames (a video read
        # partly) still belongs to that pass and ends it. An image is one pass of one frame.
        continues = frame.source == self._path and frame.kind != "image" and self._index is not None
        if continues and frame.frame is not None:
            continues = frame.frame > self._index
        if not continues:
            count = self.counts[frame.source] = self.counts.get(frame.source, 0) + 1
            self._label = frame.source if count == 1 else f"{frame.source}#{count}"
        self._path, self._index = frame.source, frame.frame
        return self._label
