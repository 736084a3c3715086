"""What a recognition run writes and tells, fed one result at a time (:meth:`Recognizer.run`, ``openfer predict``).

The outputs: face records (CSV or JSON lines, to a file or streamed to stdout), annotated images and MP4s
of the sampled video frames, and for videos ``summary.csv`` (one row per video), ``tracks.csv`` (one row
per face track), ``segments.csv`` (one row per expression segment of a track) and a probability-over-time
PNG per video. Memory does not grow with the faces: records are streamed out, and a video keeps only its
per-frame mean probabilities (8 bytes per class and sampled frame) and one open segment per live track. A run that fails part-way, or reads no source at all, leaves none of its files behind.
"""

from __future__ import annotations

import sys
from array import array
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd

from openfer.files import atomic_write
from openfer.imageio import display_path
from openfer.progress import ProgressBar
from openfer.recognize.outputs import RecordWriter, VideoWriter, check_output_folder, plot_timeline
from openfer.recognize.results import Results
from openfer.recognize.tracking import SegmentBuilder, track_summaries

#: Suffixes an annotated image keeps; other images are written as PNG.
ANNOTATED_IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp")


class Report:
    """Everything one run writes and prints; :meth:`add` each result, then :meth:`finish` (or :meth:`close`).

    ``output``: the face-records file (``format`` ``csv`` or ``jsonl``; default from its suffix, else csv);
    ``"-"`` streams the records to stdout, and then every message goes to stderr.
    ``save_dir``: annotated images and videos, under the sources' names (made unique within the run).
    ``summary_dir``: ``summary.csv`` (a row per video) and ``<video>.timeline.png`` (names made unique).
    ``stride``: the frame stride of the run (sets the annotated videos' frame rate). ``verbose``: 0 prints
    nothing; 1 names each unreadable source and ends with a tally on stderr, and prints a line per video;
    2 also a line per image and, on a terminal, a progress bar (``openfer predict`` without ``--quiet``).
    """

    def __init__(
        self,
        classes: Sequence[str],
        output: str | Path | None = None,
        format: str | None = None,
        save_dir: str | Path | None = None,
        summary_dir: str | Path | None = None,
        stride: int = 1,
        verbose: int = 1,
    ) -> None:
        self.classes = tuple(classes)
        self.save_dir = None if save_dir is None else Path(save_dir)
        self.summary_dir = None if summary_dir is None else Path(summary_dir)
        for folder, argument in ((self.save_dir, "save_dir"), (self.summary_dir, "summary_dir")):
            if folder is not None:
                check_output_folder(folder, argument)
        self.stride, self.verbose = stride, verbose
        self.records = RecordWriter(output, self.classes, format) if output is not None else None
        self._messages = sys.stderr if self.records is not None and self.records.to_stdout else None
        self.read: set[str] = set()
        self.failed: list[str] = []
        self.skipped: list[str] = []
        self.faces = 0
        self.frames: dict[str, int] = {}
        self.files: list[Path] = []
        self.summary: pd.DataFrame | None = None
        self.tracks: pd.DataFrame | None = None
        self.segments: pd.DataFrame | None = None
        self._per_frame: dict[str, array] = {}  # per video: (frame, time, mean probability per class) per sampled frame
        self._segments = SegmentBuilder()
        self._used_paths: set[Path] = set()
        self._video_writer: VideoWriter | None = None
        self._video_source = ""
        self._records_closed = False
        self._names: dict[str, str] = {}
        self._progress = ProgressBar("predict", enabled=verbose >= 2 and self._messages is None, unit="images/frames")

    def __repr__(self) -> str:
        return f"Report({len(self.read)} sources read, {self.faces} faces, {len(self.failed)} failed, {len(self.files)} files)"

    @property
    def exit_status(self) -> int:
        """0 when every source was read, 1 when some could not be, 2 when none could be."""
        if self.failed:
            return 1 if self.read else 2
        return 0

    def add(self, result: Results) -> None:
        """Record one result: its faces to the records file, its annotated image or video frame."""
        self._progress.advance(description=result.name)
        if not result.ok:
            self.failed.append(result.source)
            self._say(1, f"openfer: skipped {result.error}", sys.stderr)
            return
        self.read.add(result.source)
        self.faces += len(result)
        if self.records is not None:
            self.records.write(result)
        if result.kind == "image":
            faces = ", ".join(f"{label} {row.max():.2f}" for label, row in zip(result.labels, result.probabilities))
            self._say(2, f"{display_path(result.source)}: {len(result)} faces{': ' + faces if faces else ''}")
            if self.save_dir is not None:
                suffix = Path(result.name).suffix.lower()
                self.files.append(result.save(self._unique_path(self.save_dir, result.name, suffix if suffix in ANNOTATED_IMAGE_SUFFIXES else ".png")))
            return
        self.frames[result.source] = self.frames.get(result.source, 0) + 1
        self._names.setdefault(result.source, result.name)
        means = result.probabilities.mean(0) if len(result) else np.full(len(self.classes), np.nan)
        frame_time = np.nan if result.time is None else result.time
        self._per_frame.setdefault(result.source, array("d")).extend([result.frame, frame_time, *means.tolist()])
        self._segments.add_result(result)
        if self.save_dir is not None:
            self._write_frame(result)
        result.image = None

    def close(self, commit: bool = True) -> None:
        """Close the open files: renamed into place when ``commit``, else deleted."""
        self._progress.close()
        self._close_video(commit)
        if self.records is not None and not self._records_closed:
            self.records.close(commit)
            self._records_closed = True
            if commit:
                self.files.append(self.records.path)

    def finish(self) -> Report:
        """Close the files, write the per-video summary and timelines, print the summaries; returns self.

        When no source could be read, nothing is kept: the records file is deleted and no summary is
        written (:attr:`exit_status` is 2)."""
        self.close(commit=bool(self.read))
        if self._per_frame:
            table, sampled = self._frame_table()
            summary = table.fer.video_summary()
            self.summary = summary.assign(frames=summary["source"].map(self.frames).astype("int64"))
            self._segments.close_all()
            self.segments = self._segments.table()
            self.tracks = track_summaries(self.segments, self.classes)
            if self.summary_dir is not None:
                self.summary_dir.mkdir(parents=True, exist_ok=True)
                for file_name, frame in (("summary.csv", self.summary), ("tracks.csv", self.tracks), ("segments.csv", self.segments)):
                    path = self.summary_dir / file_name
                    with atomic_write(path, "w", newline="") as handle:
                        frame.to_csv(handle, index=False)
                    self.files.append(path)
                for source in self.summary["source"]:
                    timeline = self._unique_path(self.summary_dir, Path(self._names[source]).with_suffix("").name, ".timeline.png")
                    self.files.append(plot_timeline(table, source, timeline, self.classes, sampled[source]))
        for source, count in self.frames.items():
            self._say(1, self._video_line(source, count))
        parts = [f"{len(self.read)} sources read ({self.faces} faces)", f"{len(self.failed)} failed"]
        if self.skipped:
            parts.append(f"{len(self.skipped)} files skipped (not images or videos)")
        if not self.read:
            parts.append("nothing written")
        elif self.records is not None:
            parts.append("records on stdout" if self.records.to_stdout else f"records in {self.records.path}")
        self._say(1, "openfer: " + ", ".join(parts), sys.stderr)
        return self

    def _frame_table(self) -> tuple[pd.DataFrame, dict[str, list[tuple[int, float | None]]]]:
        """The per-frame mean probabilities of the frames with faces as a ``df.fer`` table (one row per
        frame), and every sampled ``(frame, time)`` per video."""
        width = 2 + len(self.classes)
        parts, sampled = [], {}
        for source, values in self._per_frame.items():
            rows = np.frombuffer(values, dtype=np.float64).reshape(-1, width)
            sampled[source] = [(int(f), None if np.isnan(t) else float(t)) for f, t in rows[:, :2]]
            faces = rows[~np.isnan(rows[:, 2])] if len(self.classes) else rows[:0]
            part = pd.DataFrame(faces[:, 2:], columns=list(self.classes))
            part.insert(0, "time", faces[:, 1])
            part.insert(0, "frame", pd.array(faces[:, 0].astype(np.int64), dtype="Int64"))
            part.insert(0, "source", source)
            parts.append(part)
        table = pd.concat(parts, ignore_index=True)
        table.attrs["classes"] = list(self.classes)
        return table, sampled

    def _say(self, level: int, line: str, stream=None) -> None:
        if self.verbose >= level:
            print(line, file=stream or self._messages or sys.stdout)

    def _unique_path(self, folder: Path, name: str, suffix: str) -> Path:
        """A path under ``folder`` for ``name`` with ``suffix``, made unique within this run."""
        path = folder / (Path(name).with_suffix("").as_posix() + suffix)
        stem, number = path.name[: -len(suffix)], 2
        while path in self._used_paths:
            path = path.with_name(f"{stem}-{number}{suffix}")
            number += 1
        self._used_paths.add(path)
        return path

    def _write_frame(self, result: Results) -> None:
        if self._video_writer is None or self._video_source != result.source:
            self._close_video()
            height, width = result.image.shape[:2]
            fps = (result.fps or 25.0) / self.stride
            self._video_writer = VideoWriter(self._unique_path(self.save_dir, result.name, ".mp4"), fps, (width, height))
            self._video_source = result.source
        self._video_writer.write(result.plot())

    def _close_video(self, commit: bool = True) -> None:
        if self._video_writer is not None:
            self._video_writer.close(commit)
            if commit:
                self.files.append(self._video_writer.path)
            self._video_writer = None

    def _video_line(self, source: str, frames: int) -> str:
        row = None if self.summary is None else self.summary[self.summary["source"] == source]
        if row is None or row.empty:
            return f"{display_path(source)}: {frames} frames, no faces"
        row = row.iloc[0]
        shares = ", ".join(f"{c} {row[f'share_{c}']:.0%}" for c in self.classes if row[f"share_{c}"] > 0)
        return f"{display_path(source)}: {frames} frames, {int(row['frames_with_faces'])} with faces; dominant {row['dominant']} ({shares})"
