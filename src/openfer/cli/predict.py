"""``openfer predict PATH...``: expressions of every face in images, folders, videos and webcams.

Exit status: 0 when every source was read, 1 when some could not be read (each named on stderr, the
run goes on with the rest), 2 when none could be read or the command itself is wrong.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any
from openfer.errors import OpenFERError

if TYPE_CHECKING:
    from openfer.recognize import Results

ANNOTATED_IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp")


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "predict",
        help="recognise expressions in images, folders, videos or a webcam",
        description=(
            "Find every face and its expression. PATH: an image, a video, a folder (searched recursively), "
            "a glob, or a webcam index such as 0. Exit status 0: all sources read; 1: some could not be "
            "read (each is named, the rest are processed); 2: none could be read, or a usage error."
        ),
    )
    parser.add_argument("paths", nargs="+", metavar="PATH", help="images, videos, folders, globs or webcam indices")
    add_recognizer_arguments(parser)
    parser.add_argument("--stride", type=int, default=1, help="use every k-th frame of videos and webcams")
    parser.add_argument("--batch-size", type=int, default=64, help="faces classified together")
    parser.add_argument("--output", type=Path, help="write one record per face to this CSV or JSON-lines file")
    parser.add_argument("--format", choices=("csv", "jsonl"), help="format of --output (default: from its suffix, else csv)")
    parser.add_argument("--save-annotated", type=Path, metavar="DIR", help="write images and videos with boxes and labels here")
    parser.add_argument("--summary-dir", type=Path, metavar="DIR", help="write summary.csv and a probability-over-time PNG per video here")
    parser.add_argument("--no-show", action="store_true", help="no live window for webcams")
    parser.add_argument("--quiet", action="store_true", help="print only errors and the final summary")
    parser.set_defaults(handler=run)


def add_recognizer_arguments(parser: argparse.ArgumentParser) -> None:
    """The options that choose the model, backend, detector and face crop (shared with ``serve``)."""
    parser.add_argument("--model", action="append", help="'fast' (default: the shipped ensemble's first network), 'default' (the whole shipped ensemble), "
        "a weights/checkpoint/.onnx file, or a registered name with --checkpoint; repeat for an ensemble")
    parser.add_argument("--checkpoint", help="weights for a registered model name given with --model")
    parser.add_argument(
        "--backend",
        choices=("auto", "onnx", "torch", "torch-bf16"),
        default="auto",
        help="auto: torch-bf16 on CPUs with native bf16 (AMX/AVX512-BF16), else onnxruntime when installed, else torch",
    )
    parser.add_argument("--detector", default="auto", help="face detector: auto, yunet, haar, dlib-hog, dlib-cnn")
    parser.add_argument("--margin", type=float, default=0.1, help="margin around each face box, as a fraction of its side")
    parser.add_argument("--no-align", action="store_true", help="do not turn faces upright by their eye landmarks")


def recognizer_from_args(args: argparse.Namespace, **options: Any) -> Any:
    """The :class:`~openfer.recognize.Recognizer` that :func:`add_recognizer_arguments` options describe."""
    from openfer.recognize import Recognizer

    model = None if not args.model else args.model[0] if len(args.model) == 1 else args.model
    return Recognizer(
        model,
        args.detector,
        checkpoint=args.checkpoint,
        backend=args.backend,
        margin=args.margin,
        align=not args.no_align,
        **options,
    )


def run(args: argparse.Namespace, rest: list[str]) -> int:
    from openfer.recognize.live import display_problem, show_live
    from openfer.recognize.sources import webcam_index

    if args.stride < 1:
        raise OpenFERError(f"--stride must be >= 1, got {args.stride}")
    webcam = any(webcam_index(path) is not None for path in args.paths)
    show = webcam and not args.no_show
    if show and display_problem():
        raise OpenFERError(f"live window: {display_problem()}; pass --no-show (and --output FILE to keep the results)")
    recognizer = recognizer_from_args(args, batch_size=args.batch_size)
    report = _Report(args, recognizer.classes)
    results = recognizer.predict([int(p) if webcam_index(p) is not None else p for p in args.paths], stride=args.stride)
    if show:
        results = show_live(results)
    try:
        for result in results:
            report.add(result)
    except KeyboardInterrupt:
        if not webcam:
            report.close(commit=False)
            raise
        print("openfer: stopped", file=sys.stderr)
    except BaseException:
        report.close(commit=False)
        raise
    report.skipped = recognizer.skipped
    return report.finish()


class _Report:
    """Everything ``predict`` writes and prints, fed one result at a time."""

    def __init__(self, args: argparse.Namespace, classes: tuple[str, ...]) -> None:
        from openfer.recognize.outputs import RecordWriter

        self.args, self.classes = args, classes
        self.records = RecordWriter(args.output, classes, args.format) if args.output else None
        self.video_results: list[Results] = []
        self.frames: dict[str, int] = {}
        self.read: set[str] = set()
        self.failed: list[str] = []
        self.skipped: list[str] = []
        self.faces = 0
        self.used_names: set[Path] = set()
        self.video_writer = None
        self.video_source = ""

    def add(self, result: Results) -> None:
        if not result.ok:
            self.failed.append(result.source)
            print(f"openfer: skipped {result.error}", file=sys.stderr)
            return
        self.read.add(result.source)
        self.faces += len(result)
        if self.records is not None:
            self.records.write(result)
        if result.kind == "image":
            if not self.args.quiet:
                faces = ", ".join(f"{label} {row.max():.2f}" for label, row in zip(result.labels, result.probabilities))
                print(f"{result.source}: {len(result)} faces{': ' + faces if faces else ''}")
            if self.args.save_annotated:
                self._save_image(result)
        else:
            self.frames[result.source] = self.frames.get(result.source, 0) + 1
            if self.args.save_annotated:
                self._save_frame(result)
            result.image = None
            self.video_results.append(result)

    def _output_path(self, name: str, suffix: str) -> Path:
        """A path under --save-annotated for ``name`` with ``suffix``, made unique within this run."""
        path = (self.args.save_annotated / name).with_suffix(suffix)
        stem, number = path.stem, 2
        while path in self.used_names:
            path = path.with_name(f"{stem}-{number}{suffix}")
            number += 1
        self.used_names.add(path)
        return path

    def _save_image(self, result: Results) -> None:
        suffix = Path(result.name).suffix.lower()
        result.save(self._output_path(result.name, suffix if suffix in ANNOTATED_IMAGE_SUFFIXES else ".png"))

    def _save_frame(self, result: Results) -> None:
        from openfer.recognize.outputs import VideoWriter

        if self.video_writer is None or self.video_source != result.source:
            self._close_video()
            fps = (result.fps or 25.0) / self.args.stride
            height, width = result.image.shape[:2]
            self.video_writer = VideoWriter(self._output_path(result.name, ".mp4"), fps, (width, height))
            self.video_source = result.source
        self.video_writer.write(result.plot())

    def _close_video(self, commit: bool = True) -> None:
        if self.video_writer is not None:
            self.video_writer.close(commit)
            self.video_writer = None

    def close(self, commit: bool) -> None:
        self._close_video(commit)
        if self.records is not None:
            self.records.close(commit)

    def finish(self) -> int:
        """Write the remaining outputs, print the per-video and final summaries; the exit status."""
        from openfer.recognize import to_dataframe, video_summary
        from openfer.recognize.outputs import plot_timeline

        self.close(commit=True)
        table = to_dataframe(self.video_results) if self.video_results else None
        if self.frames:
            summary = video_summary(table, self.classes) if table is not None else None
            for source, count in self.frames.items():
                print(_video_line(source, count, summary, self.classes))
            if self.args.summary_dir and summary is not None:
                self.args.summary_dir.mkdir(parents=True, exist_ok=True)
                summary.assign(frames=summary["source"].map(self.frames)).to_csv(self.args.summary_dir / "summary.csv", index=False)
                for source in summary["source"]:
                    plot_timeline(table, source, self.args.summary_dir / f"{Path(source).stem}.timeline.png", self.classes)
        parts = [f"{len(self.read)} sources read ({self.faces} faces)", f"{len(self.failed)} failed"]
        if self.skipped:
            parts.append(f"{len(self.skipped)} files skipped (not images or videos)")
        if self.records is not None:
            parts.append(f"records in {self.records.path}")
        print("openfer: " + ", ".join(parts), file=sys.stderr)
        if self.failed:
            return 1 if self.read else 2
        return 0


def _video_line(source: str, frames: int, summary, classes: tuple[str, ...]) -> str:
    row = summary[summary["source"] == source] if summary is not None else None
    if row is None or row.empty:
        return f"{source}: {frames} frames, no faces"
    row = row.iloc[0]
    shares = ", ".join(f"{c} {row[f'share_{c}']:.0%}" for c in classes if row[f"share_{c}"] > 0)
    return f"{source}: {frames} frames, {int(row['frames_with_faces'])} with faces; dominant {row['dominant']} ({shares})"
