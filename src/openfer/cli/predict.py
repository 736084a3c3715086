"""``openfer predict PATH...``: expressions of every face in images, folders, videos and webcams.

Exit status: 0 when every source was read, 1 when some could not be read (each named on stderr, the
run goes on with the rest), 2 when none could be read or the command itself is wrong. With ``--format``
and no ``--output`` (or ``--output -``) the records stream to stdout and every message goes to stderr.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from openfer.faces import list_detectors
from openfer.options import BACKENDS, FORMATS


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "predict",
        help="recognise expressions in images, folders, videos or a webcam",
        description=(
            "Find every face and its expression. PATH: an image, a video, a folder (searched recursively), "
            "a glob, a stream URL (rtsp://, http://...), or a webcam index such as 0. Faces in videos are tracked. Exit status 0: all sources read; 1: some could not be "
            "read (each is named, the rest are processed); 2: none could be read, or a usage error."
        ),
    )
    parser.add_argument("paths", nargs="+", metavar="PATH", help="images, videos, folders, globs, stream URLs or webcam indices")
    add_recognizer_arguments(parser)
    parser.add_argument("--stride", type=int, default=1, help="use every k-th frame of videos and webcams")
    parser.add_argument("--fps", type=float, help="use at most this many frames per second of video time (instead of --stride)")
    parser.add_argument("--boxes", type=Path, metavar="CSV", help="face boxes to use instead of the detector: columns source, frame, x, y, w, h (frame empty for images)")
    parser.add_argument("--smoothing", default="ema:0.6", help="smoothing of each face track's probabilities: ema:A, window:N or none (default ema:0.6)")
    parser.add_argument("--no-track", action="store_true", help="do not track faces across frames (each face is a track of its own)")
    parser.add_argument("--batch-size", type=int, default=64, help="faces classified together")
    parser.add_argument("--detector-threads", type=int, metavar="N", help="images whose faces are detected at once (default: one per core, at most 4; YuNet only)")
    parser.add_argument("--output", help="write one record per face to this CSV or JSON-lines file; '-' streams them to stdout")
    parser.add_argument(
        "--format", choices=FORMATS, help="format of the records (default: from the --output suffix, else csv); without --output they stream to stdout"
    )
    parser.add_argument("--save-annotated", type=Path, metavar="DIR", help="write images and videos with boxes and labels here")
    parser.add_argument("--summary-dir", type=Path, metavar="DIR", help="write summary.csv and a probability-over-time PNG per video here")
    parser.add_argument("--no-show", action="store_true", help="no live window for webcams")
    parser.add_argument("--quiet", action="store_true", help="print only errors and the final summary; no progress bar")
    parser.add_argument("--engine", choices=("local", "ray"), default="local", help="local: this process; ray: a Ray cluster (pip install 'openfer[ray]'), resumable")
    parser.add_argument("--ray-address", metavar="HOST:PORT", help="the Ray cluster to join (default: the one of RAY_ADDRESS, else a new local one)")
    parser.add_argument("--partitions", type=Path, metavar="DIR", help="--engine ray: the folder of Parquet partitions, one per task (default: OUTPUT.parts); a rerun skips those done")
    parser.add_argument("--workers", type=int, metavar="N", help="--engine ray: recognisers in the actor pool (default: one per CPU of the cluster)")
    parser.set_defaults(handler=run)


def add_recognizer_arguments(parser: argparse.ArgumentParser) -> None:
    """The options that choose the model, backend, detector and face crop (shared with ``serve``)."""
    parser.add_argument("--model", action="append", help="'fast' (default: the shipped ensemble's first network), 'default' (the whole shipped ensemble), "
        "a weights/checkpoint/.onnx file, or a registered name with --checkpoint; repeat for an ensemble")
    parser.add_argument("--checkpoint", help="weights for a registered model name given with --model")
    parser.add_argument(
        "--backend",
        choices=BACKENDS,
        default="auto",
        help="auto: the fast preset's shipped int8 export (onnx-int8) on CPUs without AMX; else torch-bf16 on CPUs with "
        "native bf16 (AMX/AVX512-BF16), else onnxruntime when installed, else torch",
    )
    parser.add_argument("--detector", default="auto", choices=[*list_detectors(), "none"],
                        help="face detector (auto: YuNet when installed, else Haar; none: each image is one face crop)")
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
    from openfer.errors import ConfigError

    if args.fps is not None and args.stride != 1:
        raise ConfigError("give --stride or --fps, not both")
    from openfer.recognize.sources import unreadable_reason

    reasons = [unreadable_reason(path) for path in args.paths]
    if all(reasons):  # nothing can give a frame: say so before loading a model (a second or more)
        for reason in reasons:
            print(f"openfer: skipped {reason}", file=sys.stderr)
        print(f"openfer: 0 sources read (0 faces), {len(reasons)} failed, nothing written", file=sys.stderr)
        return 2
    recognizer = recognizer_from_args(args, batch_size=args.batch_size, smoothing=args.smoothing, track=not args.no_track, detector_threads=args.detector_threads)
    output = "-" if args.output is None and args.format is not None else args.output
    report = recognizer.run(
        args.paths,
        output,
        args.format,
        args.save_annotated,
        args.summary_dir,
        stride=args.stride,
        fps=args.fps,
        boxes=args.boxes,
        show=not args.no_show,
        verbose=1 if args.quiet else 2,
        engine=args.engine,
        ray_address=args.ray_address,
        partitions=args.partitions,
        workers=args.workers,
    )
    return report.exit_status
