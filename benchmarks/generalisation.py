"""Generalisation of expression models beyond FER2013's own 48 x 48 crops (issue 20, item 4).

Three measures per model, all in one run:

* **CK+48** (posed, lab-lit; never trained on): accuracy over the classes the model shares with CK+
  (contempt dropped by meaning), every image of the dataset;
* **FERPlus PrivateTest** (``--ferplus``): the same images as FER2013 PrivateTest scored against the
  ten-annotator majority instead of the original label (classes shared: contempt and unknown dropped);
* **real photos**: every face YuNet finds in the shared photos (high-resolution colour photos, faces at an
  angle), cut by the recogniser's own crop and eye alignment. They have no expression labels, so what is
  measured is how stable the predicted expression is when the face is degraded the way real inputs are:
  half or quarter resolution, Gaussian blur, JPEG at quality 30, a 10 degree rotation, a mirror, a yaw-like
  horizontal squeeze to 80 % of the width. For each perturbation: the share of faces whose top class stays
  that of the clean crop, and the mean total-variation distance between the two probability vectors.

    python benchmarks/generalisation.py [--models default fast [PATH ...]] [--ferplus] [--shared DIR]

Each model runs as ``openfer.load_model(spec)`` gives it (its own TTA and the CPU's native precision).
"""

from __future__ import annotations

import argparse
import datetime
import os
import sys
import time
from pathlib import Path
from typing import Callable

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from machine import bf16_note, cpu_name  # noqa: E402  (shared by the scripts in benchmarks/)

REPO = Path(__file__).resolve().parents[1]


def _rescale(factor: float) -> Callable[[np.ndarray], np.ndarray]:
    def apply(face: np.ndarray) -> np.ndarray:
        h, w = face.shape[:2]
        small = cv2.resize(face, (max(1, round(w * factor)), max(1, round(h * factor))), interpolation=cv2.INTER_AREA)
        return cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)

    return apply


def _blur(face: np.ndarray) -> np.ndarray:
    sigma = 0.02 * face.shape[0]  # about 1 px at the model's 48 px
    return cv2.GaussianBlur(face, (0, 0), sigma)


def _jpeg(face: np.ndarray) -> np.ndarray:
    ok, data = cv2.imencode(".jpg", cv2.cvtColor(face, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 30])
    return cv2.cvtColor(cv2.imdecode(data, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)


def _rotate(face: np.ndarray) -> np.ndarray:
    h, w = face.shape[:2]
    return cv2.warpAffine(face, cv2.getRotationMatrix2D((w / 2, h / 2), 10, 1.0), (w, h), borderMode=cv2.BORDER_REPLICATE)


def _yaw(face: np.ndarray) -> np.ndarray:
    """The face squeezed to 80 % of its width towards one side, as a head turned by about 35 degrees looks."""
    h, w = face.shape[:2]
    matrix = np.float32([[0.8, 0.0, 0.0], [0.0, 1.0, 0.0]])
    return cv2.warpAffine(face, matrix, (w, h), borderMode=cv2.BORDER_REPLICATE)


PERTURBATIONS: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "half resolution": _rescale(0.5),
    "quarter resolution": _rescale(0.25),
    "blur": _blur,
    "JPEG q30": _jpeg,
    "rotate 10 deg": _rotate,
    "mirror": lambda face: np.ascontiguousarray(face[:, ::-1]),
    "yaw squeeze 0.8": _yaw,
}


def photo_faces(photos: Path) -> list[np.ndarray]:
    """The recogniser's crops (YuNet, its margin and eye alignment) of every face in the photos, in RGB."""
    from openfer.faces import face_crop
    from openfer.imageio import read_image
    from openfer.recognize import Recognizer

    recognizer = Recognizer("fast")
    faces = []
    for path in sorted(photos.glob("*.jpg")):
        image = read_image(path, grey=False)
        faces += [face_crop(image, d, recognizer.margin, recognizer.align) for d in recognizer.detector.detect(image)]
    return faces


def stability(model, faces: list[np.ndarray]) -> dict[str, tuple[float, float]]:
    """Per perturbation: (share of faces keeping the clean top class, mean total-variation distance)."""
    clean = model.predict_proba(faces)
    out = {}
    for name, perturb in PERTURBATIONS.items():
        changed = model.predict_proba([perturb(face) for face in faces])
        out[name] = (float((changed.argmax(1) == clean.argmax(1)).mean()), float(0.5 * np.abs(changed - clean).sum(1).mean()))
    out["_clean"] = (float(clean.max(1).mean()), 0.0)
    out["_distribution"] = np.bincount(clean.argmax(1), minlength=clean.shape[1])  # type: ignore[assignment]
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=["default", "fast"], help="presets or model files (load_model specs)")
    parser.add_argument("--shared", type=Path, default=Path(os.environ.get("OPENFER_SHARED", REPO.parent / "shared")))
    parser.add_argument("--ferplus", action="store_true", help="also score FERPlus PrivateTest (majority labels)")
    args = parser.parse_args()

    from openfer.data import load_dataset
    from openfer.engine.evaluate import evaluate
    from openfer.inference import load_model

    datasets = args.shared / "datasets"
    ckplus = load_dataset("ckplus", datasets / "ckplus48")["all"]
    ferplus = load_dataset("ferplus", datasets / "ferplus", fer2013=datasets / "fer2013")["PrivateTest"] if args.ferplus else None
    faces = photo_faces(args.shared / "photos")

    rows = []
    for spec in args.models:
        model = load_model(spec)
        start = time.perf_counter()
        row = {"model": f"`{spec}` ({model.name}, tta {model.tta}{', bf16' if getattr(model, 'bf16', False) else ''})"}
        report = evaluate(model, ckplus, dataset="ckplus", classes="shared")
        row["ckplus"] = (report.accuracy, report.balanced_accuracy, report.num_samples)
        if ferplus is not None:
            report = evaluate(model, ferplus, dataset="ferplus", classes="shared")
            row["ferplus"] = (report.accuracy, report.balanced_accuracy, report.num_samples)
        row["photos"] = stability(model, faces)
        row["seconds"] = time.perf_counter() - start
        row["classes"] = model.classes
        rows.append(row)

    print(f"command: python {' '.join(sys.argv)}")
    print(f"date: {datetime.datetime.now():%Y-%m-%d %H:%M}; CPU: {cpu_name()}, {os.cpu_count()} cores, {bf16_note()}; load average at the end: {os.getloadavg()[0]:.1f}")
    print(f"photos: {len(faces)} faces found by YuNet in {len(list((args.shared / 'photos').glob('*.jpg')))} photos of {args.shared / 'photos'}\n")
    header = "| model | CK+48 acc (balanced, faces) |" + (" FERPlus PrivateTest acc (balanced, faces) |" if ferplus is not None else "")
    print(header + " photos: mean top probability | seconds |")
    print("|---|---:|" + ("---:|" if ferplus is not None else "") + "---:|---:|")
    for row in rows:
        cells = [row["model"], "{:.2%} ({:.2%}, {})".format(*row["ckplus"])]
        if ferplus is not None:
            cells.append("{:.2%} ({:.2%}, {})".format(*row["ferplus"]))
        cells += [f"{row['photos']['_clean'][0]:.3f}", f"{row['seconds']:.0f}"]
        print("| " + " | ".join(cells) + " |")
    print("\nReal-photo faces: share keeping the clean crop's top class / mean total-variation distance to it\n")
    print("| perturbation | " + " | ".join(r["model"] for r in rows) + " |")
    print("|---|" + "---:|" * len(rows))
    for name in PERTURBATIONS:
        print(f"| {name} | " + " | ".join(f"{r['photos'][name][0]:.1%} / {r['photos'][name][1]:.3f}" for r in rows) + " |")
    print("\nPredicted classes of the clean photo faces:\n")
    for row in rows:
        counts = row["photos"]["_distribution"]
        print(f"- {row['model']}: " + ", ".join(f"{c} {n}" for c, n in zip(row["classes"], counts) if n))


if __name__ == "__main__":
    main()
