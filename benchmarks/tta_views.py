"""Accuracy of each test-time view alone and of view sets, for one model on one FER2013 split.

The views are warps of the kind the training augmentation draws (``openfer.augment.affine_view``):
the face as it is, zoomed in or out, shifted, rotated, each also mirrored. This is how the ``affine`` TTA
of ``openfer.load_model()`` was chosen (on PublicTest only; docs/evaluation.md).

    python benchmarks/tta_views.py [--weights fast] [--split PublicTest] [--precision bf16]
"""

from __future__ import annotations

import argparse
import datetime
import sys
from pathlib import Path

import numpy as np
import torch

import openfer
from openfer.data import load_dataset
from openfer.engine.evaluate import EvaluationReport
from openfer.ensemble import average
from openfer.augment import AFFINE_VIEWS, affine_view

sys.path.insert(0, str(Path(__file__).resolve().parent))
from machine import cpu_name  # noqa: E402  (shared by the scripts in benchmarks/)

# name: (zoom, shift x, shift y, degrees); shifts in affine_grid units (0.08 = 4 % of the width).
VIEWS = {
    "as is": (1.0, 0.0, 0.0, 0.0),
    "zoom in 1.08": (1.08, 0.0, 0.0, 0.0),
    "zoom out 0.93": (0.93, 0.0, 0.0, 0.0),
    "shift left": (1.0, 0.08, 0.0, 0.0),
    "shift right": (1.0, -0.08, 0.0, 0.0),
    "shift up": (1.0, 0.0, 0.08, 0.0),
    "shift down": (1.0, 0.0, -0.08, 0.0),
    "rotate +8": (1.0, 0.0, 0.0, 8.0),
    "rotate -8": (1.0, 0.0, 0.0, -8.0),
    "zoom in 1.15": (1.15, 0.0, 0.0, 0.0),
    "zoom out 0.87": (0.87, 0.0, 0.0, 0.0),
    "shift up-left": (1.0, 0.08, 0.08, 0.0),
    "shift down-right": (1.0, -0.08, -0.08, 0.0),
}
AFFINE = [name for name, view in VIEWS.items() if view[3] == 0.0 and view[:3] in AFFINE_VIEWS]
SETS = {
    "flip (as is, mirrored)": ["as is"],
    "zooms (3 views, mirrored)": ["as is", "zoom in 1.08", "zoom out 0.93"],
    "shifts (5 views, mirrored)": ["as is", "shift left", "shift right", "shift up", "shift down"],
    "affine: the shipped TTA (7 views, mirrored)": AFFINE,
    "affine + rotations (9, mirrored)": AFFINE + ["rotate +8", "rotate -8"],
    "all 13 views, mirrored": list(VIEWS),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--weights", default="fast", help="weights file, checkpoint or preset (default: fast)")
    parser.add_argument("--split", default="PublicTest", choices=("PublicTest", "PrivateTest"))
    parser.add_argument("--precision", default="bf16", choices=("fp32", "bf16"))
    parser.add_argument("--shared", default=str(Path(__file__).resolve().parents[1] / ".." / "shared"))
    args = parser.parse_args()
    assert len(AFFINE) == len(AFFINE_VIEWS), "VIEWS must name every view of AFFINE_VIEWS"

    split = load_dataset("fer2013", Path(args.shared) / "datasets" / "fer2013")[args.split]
    model = openfer.load_model(args.weights, tta="none", precision=args.precision)
    x = model.preprocess(split.images)
    probabilities: dict[str, np.ndarray] = {}
    for name, (zoom, dx, dy, degrees) in VIEWS.items():
        view = affine_view(x, zoom, dx, dy, degrees) if name != "as is" else x
        for mirrored in (False, True):
            batch = view.flip(-1) if mirrored else view
            chunks = [torch.softmax(model.logits(batch[i : i + 512]), 1) for i in range(0, len(batch), 512)]
            probabilities[name + (", mirrored" if mirrored else "")] = torch.cat(chunks).numpy()

    def accuracy(names: list[str]) -> float:
        """Accuracy of the views' probabilities averaged (as the TTA averages them), scored as ``openfer eval`` scores."""
        mean = average([probabilities[n] for n in names], probabilities=False).numpy()
        return EvaluationReport(classes=model.classes, targets=split.labels, probabilities=mean).accuracy

    print(f"# TTA views — {datetime.date.today()} — {cpu_name()} — {args.weights}, FER2013 {args.split}, {args.precision}")
    print(f"# command: python benchmarks/tta_views.py --weights {args.weights} --split {args.split} --precision {args.precision}")
    print("| view | accuracy | mirrored |")
    print("|---|---:|---:|")
    for name in VIEWS:
        print(f"| {name} | {accuracy([name]):.4f} | {accuracy([name + ', mirrored']):.4f} |")
    print()
    print("| views averaged | forward passes | accuracy |")
    print("|---|---:|---:|")
    for title, names in SETS.items():
        every = names + [n + ", mirrored" for n in names]
        print(f"| {title} | {len(every)} | {accuracy(every):.4f} |")


if __name__ == "__main__":
    main()
