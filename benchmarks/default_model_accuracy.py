"""Accuracy of the shipped default model through the public API only.

FER2013 PrivateTest (3,589 faces): first ``openfer.load_model()`` exactly as users get it (its default
test-time augmentation and precision), then without TTA, with flip, with the affine views, in fp32 and in
bf16 (what the recogniser runs on CPUs with native bf16) and, with ``--tencrop``, ten-crop; and CK+48 on
the six classes it shares with FER2013 (contempt dropped), the model never trained on CK+.

    python benchmarks/default_model_accuracy.py [--shared ../shared] [--weights PATH]
"""

from __future__ import annotations

import argparse
import datetime
import sys
import time
from pathlib import Path

import numpy as np

import openfer
from openfer import labels
from openfer.data import load_dataset
from openfer.data.base import FaceSplit
from openfer.engine.evaluate import evaluate

sys.path.insert(0, str(Path(__file__).resolve().parent))
from machine import bf16_note, cpu_name  # noqa: E402  (shared by the scripts in benchmarks/)


def accuracy(model: openfer.ExpressionModel, split: FaceSplit) -> tuple[float, float, float]:
    """(accuracy, balanced accuracy, seconds) of ``model`` on ``split``, scored by ``openfer eval``'s
    :func:`~openfer.engine.evaluate.evaluate` with the model's own TTA."""
    start = time.perf_counter()
    report = evaluate(model, split)
    return report.accuracy, report.balanced_accuracy, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--shared", default=str(Path(__file__).resolve().parents[1] / ".." / "shared"))
    parser.add_argument("--weights", default=None, help="weights file, or the preset 'fast' (default: the shipped model)")
    parser.add_argument("--tencrop", action="store_true", help="add a ten-crop row (10 views per face, in bf16)")
    parser.add_argument("--only-default", action="store_true", help="only the first row (load_model() as it is) and CK+48")
    args = parser.parse_args()
    datasets = Path(args.shared) / "datasets"

    rows = []
    private = load_dataset("fer2013", datasets / "fer2013")["PrivateTest"]
    # First exactly what users get: load_model() with its defaults; then other settings for comparison.
    model = openfer.load_model(args.weights)
    default = (model.tta, "bf16" if model.bf16 else "fp32")
    acc, bal, sec = accuracy(model, private)
    rows.append((f"FER2013 PrivateTest, load_model() as it is (tta={default[0]}, {default[1]})", len(private), acc, bal, sec))
    settings = [("none", "fp32"), ("flip", "fp32"), ("flip", "bf16"), ("affine", "fp32"), ("affine", "bf16")]
    settings += [("tencrop", "bf16")] if args.tencrop else []
    settings = [] if args.only_default else settings
    for tta, precision in settings:
        if (tta, precision) == default:
            continue
        model = openfer.load_model(args.weights, tta=tta, precision=precision)
        acc, bal, sec = accuracy(model, private)
        rows.append((f"FER2013 PrivateTest (tta={tta}, {precision})", len(private), acc, bal, sec))

    ck_root = datasets / "ckplus48"
    if ck_root.is_dir():
        ck = load_dataset("ckplus", ck_root)
        split = next(iter(ck.values()))
        target = labels.map_labels(split.labels, split.classes, labels.FER2013, missing="drop")
        keep = np.flatnonzero(target >= 0)
        # Scored in FER2013's vocabulary, so a face called neutral (which CK+ lacks) counts as an error.
        shared = FaceSplit("ckplus-6", labels.FER2013, target[keep], images=np.stack([split.image(i) for i in keep]))
        model = openfer.load_model(args.weights)
        acc, bal, sec = accuracy(model, shared)
        rows.append((f"CK+48, 6 shared classes, load_model() as it is (tta={model.tta})", len(keep), acc, bal, sec))

    print(f"# default model accuracy — {datetime.date.today()} — {cpu_name()}, {bf16_note()} — torch via openfer {openfer.__version__}")
    print(f"# command: python benchmarks/default_model_accuracy.py{' --weights ' + args.weights if args.weights else ''}{' --only-default' if args.only_default else ''}")
    print("| data | faces | accuracy | balanced accuracy | seconds | faces / s |")
    print("|---|---:|---:|---:|---:|---:|")
    for name, n, acc, bal, sec in rows:
        print(f"| {name} | {n} | {acc:.4f} | {bal:.4f} | {sec:.1f} | {n / sec:.1f} |")


if __name__ == "__main__":
    main()
