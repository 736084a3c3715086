"""Where frames come from: image files, folders (recursive), globs, videos, webcams and arrays.

:func:`iter_frames` turns any source into :class:`Frame` s. A file that cannot be read becomes a frame
with an ``error`` message instead of pixels, so a run goes on with the other files.
"""

from __future__ import annotations

import glob
import os
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Sequence, Union

# FFmpeg's own log lines (corrupt packets, missing references) would reach the user's terminal; openfer
# reports unreadable videos itself. OpenCV reads this when its FFmpeg backend starts, so set it first.
os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")  # AV_LOG_QUIET

import cv2  # noqa: E402
import numpy as np  # noqa: E402

from openfer.errors import ConfigError, ImageError, display_path
from openfer.imageio import IMAGE_EXTENSIONS, check_regular_file, read_image, to_channels

#: File extensions (lower case) read as videos.
VIDEO_EXTENSIONS: tuple[str, ...] = (".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg", ".wmv")

Source = Union[str, Path, int, np.ndarray]

#: A source that starts with one of these schemes is a network stream read by OpenCV (FFmpeg).
STREAM_SCHEMES = ("rtsp", "rtsps", "rtmp", "http", "https", "udp", "tcp", "srt")
#: Tries to open (or reopen, after it drops) a stream, and the wait before the second try; the wait
#: doubles after each failed try.
STREAM_ATTEMPTS, STREAM_BACKOFF_SECONDS = 3, 0.5


@dataclass
class Frame:
    """One image or video frame (RGB uint8), or the error that stopped its file being read.

    ``name`` is the source's path relative to the folder it was found in (its file name otherwise):
    outputs such as annotated copies are placed under that name.
    """

    source: str
    name: str
    image: np.ndarray | None = None
    frame: int | None = None
    time: float | None = None
    fps: float | None = None
    kind: str = "image"  # "image", "video", "stream" or "webcam"
    error: str | None = None


@dataclass
class Skipped:
    """A file inside a folder that is neither an image nor a video by its extension."""

    source: str


def is_video_file(path: str | Path) -> bool:
    """Whether the file name has one of :data:`VIDEO_EXTENSIONS`."""
    return Path(path).suffix.lower() in VIDEO_EXTENSIONS


def webcam_index(source: Source | Sequence[Source]) -> int | None:
    """The device index when ``source`` names a webcam (an int, or digits that are not an existing path)."""
    if isinstance(source, (bool, np.bool_)):
        return None
    if isinstance(source, (int, np.integer)):
        return int(source)
    if isinstance(source, str) and source.isdigit() and not Path(source).exists():
        return int(source)
    return None


def is_stream_url(source: Source) -> bool:
    """Whether ``source`` is a URL of one of :data:`STREAM_SCHEMES` (``rtsp://camera/live``)."""
    return isinstance(source, str) and re.match(rf"^({'|'.join(STREAM_SCHEMES)})://", source, re.IGNORECASE) is not None


def unreadable_reason(source: Source) -> str | None:
    """Why ``source`` cannot give a single frame, judged from the file system alone (a missing path, a FIFO, a
    device), in the words :func:`iter_frames` uses; None when it may (a folder, a regular file, a glob, a
    stream URL, a webcam). Lets a caller refuse hopeless input before it loads a model."""
    if isinstance(source, np.ndarray) or webcam_index(source) is not None or is_stream_url(source):
        return None
    text = str(source)
    path = Path(text)
    if path.is_dir() or any(char in text for char in "*?["):
        return None
    if not path.exists():
        return f"{display_path(text)}: no such file or folder"
    try:
        check_regular_file(path, max_bytes=None, what="video file" if is_video_file(path) else "file")
    except ImageError as error:
        return str(error)
    return None


class Sampler:
    """Which frames to keep: every ``stride``-th, or with ``fps`` at most ``fps`` per second of the frames' own times."""

    def __init__(self, stride: int = 1, fps: float | None = None) -> None:
        if stride < 1:
            raise ConfigError(f"stride must be >= 1, got {stride}")
        if fps is not None and not fps > 0:
            raise ConfigError(f"fps must be > 0 (frames kept per second of video); got {fps}")
        self.stride, self.period, self.due = stride, None if fps is None else 1.0 / fps, 0.0

    def keep(self, index: int, seconds: float | None) -> bool:
        if self.period is None or seconds is None:
            return index % self.stride == 0
        if seconds + 1e-6 < self.due:
            return False
        self.due = max(self.due + self.period, seconds + self.period / 2)
        return True


def iter_frames(source: Source | Sequence[Source], stride: int = 1, *, fps: float | None = None) -> Iterator[Frame | Skipped]:
    """Frames of one source or of several in turn; videos, streams and webcams give every ``stride``-th
    frame, or with ``fps`` at most that many per second of their own clock."""
    Sampler(stride, fps)
    if isinstance(source, (list, tuple)):
        for item in source:
            yield from iter_frames(item, stride, fps=fps)
        return
    if is_stream_url(source):
        yield from stream_frames(source, Sampler(stride, fps))
        return
    if isinstance(source, np.ndarray):
        yield _array_frame(source)
        return
    index = webcam_index(source)
    if index is not None:
        yield from webcam_frames(index, stride, fps=fps)
        return
    text = str(source)
    path = Path(text)
    if path.is_dir():
        yield from _folder_frames(path, stride, fps)
    elif path.exists():
        yield from file_frames(path, path.name, stride, fps=fps)
    elif any(char in text for char in "*?["):
        matches = sorted(glob.glob(text, recursive=True))
        if not matches:
            yield Frame(text, text, error=f"{display_path(text)}: no file matches this pattern")
        for match in matches:
            if Path(match).is_file():
                yield from file_frames(Path(match), Path(match).name, stride, fps=fps)
    else:
        yield Frame(text, path.name, error=f"{display_path(text)}: no such file or folder")


def _array_frame(image: np.ndarray) -> Frame:
    if image.dtype != np.uint8 or image.ndim not in (2, 3) or (image.ndim == 3 and image.shape[2] not in (1, 3)):
        raise ImageError(f"image array: expected (H, W) or (H, W, 3) uint8 RGB, got {image.dtype} {image.shape}")
    return Frame("<array>", "array", image=to_channels(image, 3))


def _folder_frames(folder: Path, stride: int, fps: float | None = None) -> Iterator[Frame | Skipped]:
    """Every image and video below ``folder`` in sorted path order; hidden files and folders are left out."""
    found = False
    for root, folders, files in os.walk(folder):
        folders[:] = sorted(d for d in folders if not d.startswith("."))
        for file_name in sorted(f for f in files if not f.startswith(".")):
            path = Path(root) / file_name
            if path.suffix.lower() not in IMAGE_EXTENSIONS + VIDEO_EXTENSIONS:
                yield Skipped(str(path))
                continue
            found = True
            yield from file_frames(path, path.relative_to(folder).as_posix(), stride, fps=fps)
    if not found:
        yield Frame(str(folder), folder.name, error=f"{display_path(folder)}: no image or video files in this folder")


def file_frames(path: Path, name: str, stride: int = 1, *, fps: float | None = None) -> Iterator[Frame]:
    """The frames of one file: a video by its extension, else an image. Only regular files are read (a
    FIFO or a device gives an error frame at once); images are capped in size (:func:`read_image`)."""
    video = is_video_file(path)
    try:
        image = None if video else read_image(path, grey=False)
        if video:
            check_regular_file(path, max_bytes=None, what="video file")
    except ImageError as error:
        yield Frame(str(path), name, kind="video" if video else "image", error=str(error))
        return
    if video:
        yield from video_frames(path, name, stride, fps=fps)
    else:
        yield Frame(str(path), name, image=image)


def video_frames(path: Path, name: str, stride: int = 1, *, fps: float | None = None) -> Iterator[Frame]:
    """Every ``stride``-th frame of a video file (or at most ``fps`` a second), with its index and time in
    seconds: the container's presentation time (right for variable frame rates), else index / frame rate.
    Frames are read until decoding ends, whatever frame count the container declares."""
    sampler = Sampler(stride, fps)
    capture = cv2.VideoCapture(str(path))
    try:
        if not capture.isOpened():
            yield Frame(str(path), name, kind="video", error=f"{display_path(path)}: cannot open as a video (unsupported or corrupt)")
            return
        rate = capture.get(cv2.CAP_PROP_FPS) or None
        declared = int(capture.get(cv2.CAP_PROP_FRAME_COUNT) or 0)
        count = 0
        index = 0
        previous = -1.0
        while capture.grab():
            seconds = presentation_time(capture, index, rate, previous)
            previous = -1.0 if seconds is None else seconds
            if sampler.keep(index, seconds):
                ok, bgr = capture.retrieve()
                if not ok:
                    break
                count += 1
                yield Frame(str(path), name, cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB), index, seconds, rate, "video")
            index += 1
        if count == 0:
            yield Frame(str(path), name, kind="video", error=f"{display_path(path)}: no frame could be decoded (empty or corrupt video)")
        elif declared and index + max(2, declared // 100) < declared:  # containers' counts may be off by a frame or two
            yield Frame(
                str(path), name, frame=index, kind="video",
                error=f"{display_path(path)}: read partly: decoding stopped after {index} of its {declared} frames (corrupt or truncated)",
            )
    finally:
        capture.release()


def presentation_time(capture: cv2.VideoCapture, index: int, rate: float | None, previous: float) -> float | None:
    """Seconds of the frame just grabbed: its presentation time, unless the backend gives none (0 past
    the first frame) or it goes backwards; then ``index / rate``."""
    seconds = capture.get(cv2.CAP_PROP_POS_MSEC) / 1000.0
    if (seconds > previous and (seconds > 0 or index == 0)) and np.isfinite(seconds):
        return seconds
    return index / rate if rate else None


def _hide_password(url: str) -> str:
    """The URL without the password of a ``user:password@`` part (error messages are printed)."""
    return re.sub(r"//([^/@:]*):[^/@]*@", r"//\1:***@", url)


def open_stream(url: str, attempts: int | None = None, backoff: float | None = None) -> cv2.VideoCapture | None:
    """An opened capture of a stream URL after at most ``attempts`` tries, waiting ``backoff`` seconds
    (doubling) between them; None when every try failed."""
    attempts = STREAM_ATTEMPTS if attempts is None else attempts
    wait = STREAM_BACKOFF_SECONDS if backoff is None else backoff
    for attempt in range(attempts):
        capture = cv2.VideoCapture(url, cv2.CAP_FFMPEG)
        if capture.isOpened():
            return capture
        capture.release()
        if attempt + 1 < attempts:
            time.sleep(wait * 2**attempt)
    return None


def stream_frames(url: str, sampler: Sampler) -> Iterator[Frame]:
    """Frames of a network stream until it ends. A live stream that drops is reopened (:func:`open_stream`);
    when that fails the stream ends with an error frame. A stream with a known length (a file over HTTP)
    ends at its last frame. Times are seconds since the stream was opened."""
    shown = _hide_password(url)
    name = re.sub(r"[^A-Za-z0-9._-]+", "_", shown.split("://", 1)[1].replace("***", "")).strip("_") or "stream"
    capture = open_stream(url)
    if capture is None:
        yield Frame(url, name, kind="stream", error=f"{shown}: cannot open the stream after {STREAM_ATTEMPTS} attempts (check the URL, the network and the camera)")
        return
    start = time.monotonic()
    index = 0
    try:
        while True:
            finite = capture.get(cv2.CAP_PROP_FRAME_COUNT) > 0
            ok, bgr = capture.read()
            if not ok:
                capture.release()
                if finite:
                    return
                capture = open_stream(url)
                if capture is None:
                    yield Frame(url, name, frame=index, kind="stream",
                                error=f"{shown}: the stream dropped after {index} frames and {STREAM_ATTEMPTS} attempts to reconnect failed")
                    return
                continue
            seconds = time.monotonic() - start
            if sampler.keep(index, seconds):
                yield Frame(url, name, cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB), index, seconds, None, "stream")
            index += 1
    finally:
        if capture is not None:
            capture.release()


def open_webcam(index: int) -> cv2.VideoCapture:
    """An opened capture of webcam ``index``; :class:`ImageError` when it cannot be opened."""
    capture = cv2.VideoCapture(index)
    if not capture.isOpened():
        capture.release()
        raise ImageError(f"webcam {index}: cannot open this camera (no such device, or it is busy)")
    return capture


def webcam_frames(index: int, stride: int = 1, *, fps: float | None = None) -> Iterator[Frame]:
    """Every ``stride``-th frame of webcam ``index`` (or at most ``fps`` a second) until it stops; times
    are seconds since the start."""
    sampler = Sampler(stride, fps)
    capture = open_webcam(index)
    name = f"webcam{index}"
    start = time.monotonic()
    try:
        number = 0
        while True:
            ok, bgr = capture.read()
            if not ok:
                break
            seconds = time.monotonic() - start
            if sampler.keep(number, seconds):
                image = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
                yield Frame(name, name, image, number, seconds, None, "webcam")
            number += 1
    finally:
        capture.release()
