"""The recogniser: every face in photos, folders, videos and webcams, with its expression."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path
from typing import Any, Iterable, Iterator, Mapping, Sequence, Union

import numpy as np
import pandas as pd

from openfer.errors import ConfigError, DatasetError
from openfer.faces.align import face_crop
from openfer.faces.detection import Detection, FaceDetector, create_detector
from openfer.recognize.classifiers import FaceClassifier, ModelSpec, resolve_model
from openfer.recognize.report import Report
from openfer.recognize.results import Results, to_dataframe
from openfer.recognize.sources import Frame, Skipped, Source, is_stream_url, iter_frames, webcam_index
from openfer.recognize.tracking import DEFAULT_SMOOTHING, FaceTracker, parse_smoothing

#: User-given face boxes: a CSV path, a DataFrame with columns source, frame, x, y, w, h (frame empty for
#: images), or a dict from a source (or a ``(source, frame)`` pair) to a list of ``[x, y, w, h]``.
Boxes = Union[str, Path, pd.DataFrame, Mapping[Any, Sequence[Sequence[float]]]]


#: The largest face-crop margin: a crop then spans five face widths.
MAX_MARGIN = 2.0
#: The most threads ``detector_threads=None`` gives face detection (one per core up to this).
MAX_DETECTOR_THREADS = 4


class Recognizer:
    """Detects every face in a source and classifies its expression.

    ``model``: None for the shipped default, an ExpressionModel (or anything with ``classes`` and
    ``predict_proba``), a weights/checkpoint/ONNX path, a registered model name with ``checkpoint``, or
    a list of these averaged as an ensemble. ``backend``: ``"auto"`` runs weights files in onnxruntime
    when it is installed (exported once into the cache folder), ``"torch"`` in PyTorch.
    ``detector``: a :class:`~openfer.faces.FaceDetector` or a name from ``openfer.faces.list_detectors()``.
    Each face is cut as a square of ``max(w, h) * (1 + 2 * margin)`` around its box, turned upright by
    the eyes when the detector gives landmarks and ``align`` is set. Faces of up to ``max_frames``
    images or frames are classified together in batches of about ``batch_size``. ``detector="none"``
    takes each image as one face crop (the whole image is the box, no margin). ``detector_threads``: images
    and video frames whose faces are detected at once (default one per core, at most 4; the YuNet
    detector supports it, others run one at a time).

    Faces in video and webcam frames are tracked (:class:`~openfer.recognize.tracking.FaceTracker`):
    each gets a track id and ``smoothing`` (``"ema:A"``, ``"window:N"`` or ``"none"``) of its track's
    probabilities; ``track=False`` makes every face a track of its own.

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
        smoothing: str | None = DEFAULT_SMOOTHING,
        track: bool = True,
        detector_threads: int | None = None,
    ) -> None:
        if not 0 <= margin <= MAX_MARGIN:
            raise ConfigError(f"margin must be between 0 and {MAX_MARGIN} (a fraction of the face box's side added on each side); got {margin:g}")
        if batch_size < 1 or max_frames < 1:
            raise ConfigError(f"Recognizer: need batch_size >= 1 and max_frames >= 1; got {batch_size}, {max_frames}")
        if detector_threads is not None and detector_threads < 1:
            raise ConfigError(f"Recognizer: detector_threads must be >= 1 (or None: one per core, at most {MAX_DETECTOR_THREADS}); got {detector_threads}")
        self.model: FaceClassifier = resolve_model(model, checkpoint=checkpoint, backend=backend)
        self.detector = WholeImage() if detector == "none" else create_detector(detector)
        self.margin, self.align = (0.0 if detector == "none" else margin), align
        parse_smoothing(smoothing)
        self.smoothing, self.track = smoothing, track
        #: Seconds spent in tracking (association, cut detection, smoothing) by the last :meth:`predict`.
        self.tracking_seconds = 0.0
        self.batch_size, self.max_frames = batch_size, max_frames
        #: Threads detecting the faces of consecutive images and video frames at once (detectors that are
        #: :attr:`~openfer.faces.FaceDetector.thread_safe`; webcams and streams are read one frame at a time).
        self.detector_threads = detector_threads or min(MAX_DETECTOR_THREADS, os.cpu_count() or 1)
        self.skipped: list[str] = []
        # What builds this recogniser again in another process (a Ray worker, engine="ray").
        self.options: dict[str, Any] = dict(
            model=model, detector=detector, checkpoint=checkpoint, backend=backend, margin=margin, align=align,
            batch_size=batch_size, max_frames=max_frames, smoothing=smoothing, track=track, detector_threads=detector_threads,
        )

    def __repr__(self) -> str:
        return f"Recognizer(model={self.model!r}, detector={self.detector!r}, margin={self.margin}, align={self.align})"

    @property
    def classes(self) -> tuple[str, ...]:
        return tuple(self.model.classes)

    def new_tracker(self) -> FaceTracker:
        """A face tracker with this recogniser's smoothing (one per stream of frames, e.g. a service session)."""
        return FaceTracker(self.smoothing)

    def predict(self, source: Source | Sequence[Source], stride: int = 1, *, fps: float | None = None, boxes: Boxes | None = None) -> Iterator[Results]:
        """A :class:`Results` per image or per ``stride``-th video/webcam frame, in order, as they are ready.

        ``fps``: sample videos, streams and webcams by time instead, at most ``fps`` frames per second of
        the video's own clock. ``boxes``: face boxes given by the user (see :data:`Boxes`); the detector
        is then not run, and frames without a given box have no faces.

        ``source``: an RGB array, an image or video path, a folder (searched recursively), a glob, a
        webcam index, or a list of these. Unreadable files give results with ``error`` set; files in
        folders that are neither images nor videos are listed in :attr:`skipped`. A source met again in
        the same call (a video listed twice, a file both listed and inside a listed folder) is a source of
        its own each time: its later results have ``source`` ``PATH#2``, ``PATH#3`` and so on.
        """
        given = None if boxes is None else GivenBoxes(boxes)
        tracker = self.new_tracker() if self.track else None
        self.tracking_seconds = 0.0
        for result in self._predict(source, stride, fps, given):
            if tracker is not None and result.ok:
                start = time.perf_counter()
                tracker.update(result)
                self.tracking_seconds += time.perf_counter() - start
            yield result

    def _predict(self, source: Source | Sequence[Source], stride: int, fps: float | None, given: GivenBoxes | None) -> Iterator[Results]:
        self.skipped = []
        occurrences = _Occurrences()

        def labelled() -> Iterator[Frame]:
            for frame in iter_frames(source, stride, fps=fps):
                if isinstance(frame, Skipped):
                    self.skipped.append(frame.source)
                    continue
                frame.source = occurrences.label(frame)
                yield frame

        yield from self.predict_frames(labelled(), given)

    def predict_frames(self, frames: Iterable[Frame], given: GivenBoxes | None = None) -> Iterator[Results]:
        """A :class:`Results` per :class:`Frame`, in order: faces detected (or ``given``) per frame and
        classified in batches across frames; the step under :meth:`predict`, also run by each Ray worker."""
        pending: list[tuple[Frame, list[Detection], list[np.ndarray]]] = []
        faces = 0
        for frame, located in self._locate(frames, given):
            if located is None:
                yield from self._classify(pending)
                pending, faces = [], 0
                yield Results(frame.source, self.classes, name=frame.name, kind=frame.kind, error=frame.error)
                continue
            detections, crops = located
            pending.append((frame, detections, crops))
            faces += len(crops)
            if frame.kind in ("webcam", "stream") or faces >= self.batch_size or len(pending) >= self.max_frames:
                yield from self._classify(pending)
                pending, faces = [], 0
        yield from self._classify(pending)

    def _faces_of(self, frame: Frame, given: GivenBoxes | None) -> tuple[list[Detection], list[np.ndarray]]:
        """The detections of one frame (or the boxes given for it) and their face crops."""
        detections = self.detector.detect(frame.image) if given is None else given.detections(frame)
        return detections, [face_crop(frame.image, d, self.margin, self.align) for d in detections]

    def _locate(self, frames: Iterable[Frame], given: GivenBoxes | None) -> Iterator[tuple[Frame, tuple[list[Detection], list[np.ndarray]] | None]]:
        """``(frame, (detections, crops))`` per frame in order (None for a frame that could not be read).

        With a thread-safe detector and ``detector_threads`` > 1, up to twice that many frames are detected
        at once in a thread pool (the detector's native code runs without the GIL), so memory stays bounded.
        Webcam and stream frames are detected as they come, never held back behind others."""
        threads = self.detector_threads if given is None and getattr(self.detector, "thread_safe", False) else 1
        if threads == 1:
            for frame in frames:
                yield frame, (None if frame.error is not None else self._faces_of(frame, given))
            return
        from collections import deque
        from concurrent.futures import ThreadPoolExecutor

        queue: deque[tuple[Frame, Any]] = deque()
        with ThreadPoolExecutor(threads, thread_name_prefix="openfer-detect", initializer=self.detector.prepare_thread) as pool:
            for frame in frames:
                if frame.error is not None or frame.kind in ("webcam", "stream"):
                    while queue:  # in order: what is in flight first
                        done, future = queue.popleft()
                        yield done, future.result()
                    yield frame, (None if frame.error is not None else self._faces_of(frame, None))
                    continue
                queue.append((frame, pool.submit(self._faces_of, frame, None)))
                while len(queue) > 2 * threads:
                    done, future = queue.popleft()
                    yield done, future.result()
            while queue:
                done, future = queue.popleft()
                yield done, future.result()

    def __call__(self, source: Source | Sequence[Source], stride: int = 1, *, fps: float | None = None, boxes: Boxes | None = None) -> list[Results]:
        """All results of :meth:`predict` as a list (holds every image: use ``predict`` for long videos)."""
        return list(self.predict(source, stride, fps=fps, boxes=boxes))

    def run(
        self,
        sources: Source | Sequence[Source],
        output: str | Path | None = None,
        format: str | None = None,
        save_dir: str | Path | None = None,
        summary_dir: str | Path | None = None,
        *,
        stride: int = 1,
        fps: float | None = None,
        boxes: Boxes | None = None,
        show: bool = False,
        verbose: int = 1,
        engine: str = "local",
        ray_address: str | None = None,
        partitions: str | Path | None = None,
        workers: int | None = None,
    ) -> Report:
        """What ``openfer predict`` does, in one call: write every output and return the :class:`Report`.

        ``output``: a face-records file, CSV or JSON lines (``format``, default from the suffix, else csv);
        ``save_dir``: annotated images and videos; ``summary_dir``: ``summary.csv``, ``tracks.csv``,
        ``segments.csv`` and a timeline PNG per video. ``stride``, ``fps``, ``boxes``: see :meth:`predict`.
        Memory stays flat on long videos: records are streamed, only a few numbers per sampled frame are kept. ``show``: a live window for webcam sources. ``verbose``: see :class:`Report`. On an error
        no output is left half-written; Ctrl-C on a webcam stops it and keeps what was written.
        ``report.exit_status`` is 0 when every source was read, 1 when some were not, 2 when none were.
        ``engine="ray"``: run on a Ray cluster (``ray_address``; ``workers`` actors) with Parquet partitions
        in ``partitions`` (default ``OUTPUT.parts``), resumable (:mod:`openfer.recognize.distributed`).
        """
        from openfer.recognize.live import display_problem, show_live

        if stride < 1:
            raise ConfigError(f"stride must be >= 1, got {stride}")
        listed = list(sources) if isinstance(sources, (list, tuple)) else [sources]
        webcam = any(webcam_index(source) is not None or is_stream_url(source) for source in listed)
        show = show and webcam
        problem = display_problem() if show else None
        if problem:
            raise ConfigError(f"live window: {problem}; pass --no-show (show=False) and an output file to keep the results")
        if engine not in ("local", "ray"):
            raise ConfigError(f"engine must be 'local' or 'ray'; got {engine!r}")
        report = Report(self.classes, output, format, save_dir, summary_dir, stride=stride, verbose=verbose)
        if engine == "ray":
            from openfer.recognize.distributed import run_on_ray, require_ray

            require_ray()
            if fps is not None or boxes is not None or webcam:
                report.close(commit=False)
                raise ConfigError("the ray engine reads files at a frame stride: fps, boxes and webcams/streams need engine='local'")
            if partitions is None and (output is None or str(output) == "-"):
                report.close(commit=False)
                raise ConfigError("the ray engine keeps its Parquet partitions in a folder: give partitions (--partitions DIR) or an output file")
            folder = partitions if partitions is not None else f"{output}.parts"
            return run_on_ray(self, listed, report, folder, stride=stride, address=ray_address, workers=workers)
        results = self.predict(listed, stride, fps=fps, boxes=boxes)
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

    def to_dataframe(self, source: Source | Sequence[Source], stride: int = 1, *, fps: float | None = None, boxes: Boxes | None = None) -> pd.DataFrame:
        """One row per face (see :func:`openfer.recognize.to_dataframe`); images are not kept."""
        return to_dataframe(self._drop_images(self.predict(source, stride, fps=fps, boxes=boxes)))

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


class WholeImage(FaceDetector):
    """``detector="none"``: the input is already a face crop, so the whole image is its one face box."""

    name = "none"

    def _detect(self, image_rgb: np.ndarray) -> list[Detection]:
        height, width = image_rgb.shape[:2]
        return [Detection((0, 0, width, height), 1.0)]


class GivenBoxes:
    """Face boxes given by the user, looked up per frame by source path (or file name) and frame index."""

    COLUMNS = ("source", "frame", "x", "y", "w", "h")

    def __init__(self, boxes: Boxes) -> None:
        self.table: dict[tuple[str, int | None], list[tuple[int, int, int, int]]] = {}
        if isinstance(boxes, Mapping):
            for key, rows in boxes.items():
                source, frame = key if isinstance(key, tuple) else (key, None)
                for row in rows:
                    if len(row) != 4:
                        raise ConfigError(f"boxes[{key!r}]: each box is [x, y, w, h]; got {list(row)!r}")
                    self._add(str(source), frame, row, f"boxes[{key!r}]")
            return
        where = "boxes"
        if isinstance(boxes, (str, Path)):
            where = str(boxes)
            try:
                boxes = pd.read_csv(boxes)
            except (OSError, ValueError) as error:
                raise DatasetError(f"{where}: cannot read the boxes CSV ({error})") from None
        if not isinstance(boxes, pd.DataFrame):
            raise ConfigError(f"boxes must be a CSV path, a DataFrame or a dict; got {type(boxes).__name__}")
        missing = [c for c in self.COLUMNS if c not in boxes.columns]
        if missing:
            raise DatasetError(f"{where}: missing columns {missing}; expected {', '.join(self.COLUMNS)} (frame empty for images)")
        for number, row in enumerate(boxes[list(self.COLUMNS)].itertuples(index=False), start=2):
            self._add(str(row.source), row.frame, (row.x, row.y, row.w, row.h), f"{where} row {number}")

    def _add(self, source: str, frame: Any, box: Sequence[Any], where: str) -> None:
        try:
            values = tuple(float(v) for v in box)
            frame = None if frame is None or pd.isna(frame) else int(frame)
        except (TypeError, ValueError):
            raise DatasetError(f"{where}: frame and x, y, w, h must be numbers; got {frame!r}, {list(box)!r}") from None
        if not all(np.isfinite(values)) or values[2] <= 0 or values[3] <= 0:
            raise DatasetError(f"{where}: need finite x, y and w, h > 0; got {list(box)!r}")
        self.table.setdefault((os.path.normpath(source), frame), []).append(tuple(round(v) for v in values))

    def detections(self, frame: Frame) -> list[Detection]:
        """The given boxes of this image or video frame, clipped to it (score 1.0)."""
        path = frame.source.split("#")[0] if "#" in frame.source and not Path(frame.source).exists() else frame.source
        keys = [os.path.normpath(path), os.path.normpath(frame.name), Path(path).name]
        rows = next((self.table[(key, frame.frame)] for key in keys if (key, frame.frame) in self.table), [])
        height, width = frame.image.shape[:2]
        found = []
        for x, y, w, h in rows:
            x0, y0, x1, y1 = max(0, x), max(0, y), min(width, x + w), min(height, y + h)
            if x1 > x0 and y1 > y0:
                found.append(Detection((x0, y0, x1 - x0, y1 - y0), 1.0))
        return found
