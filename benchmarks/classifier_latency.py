"""Classifier latency per face: models x TTA x precision, with and without the folded conv + BatchNorm copy.

The faces are those the recogniser finds in one shared photo (the speed benchmark's classifier photo), cropped
as the recogniser crops them; each row is the median of ``--repeats`` timed calls of ``predict_proba`` after a
warm-up, in milliseconds per face.

    python benchmarks/classifier_latency.py [--photos DIR] [--model SPEC ...] [--repeats 30]

An ``.onnx`` SPEC (``openfer export``, with or without ``--int8``) runs in onnxruntime: one row per TTA, its
precision that of the file.
"""

from __future__ import annotations

import argparse
import datetime
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from machine import bf16_note, cpu_name  # noqa: E402
from recognizer_speed import CLASSIFIER_PHOTO, median_seconds  # noqa: E402

REPO = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--photos", type=Path, default=REPO.parent / "shared" / "photos")
    parser.add_argument("--model", nargs="+", default=["fast"])
    parser.add_argument("--repeats", type=int, default=30)
    args = parser.parse_args()

    import torch

    import openfer
    from openfer.faces import face_crop
    from openfer.imageio import read_image

    recognizer = openfer.Recognizer()
    image = read_image(args.photos / CLASSIFIER_PHOTO, grey=False)
    crops = [face_crop(image, d, recognizer.margin) for d in recognizer.detector.detect(image)]
    print(f"# classifier latency, {len(crops)} faces of {CLASSIFIER_PHOTO}; {cpu_name()}, {bf16_note()}, "
          f"{torch.get_num_threads()} threads, {datetime.date.today()}")
    print("| model | TTA | precision | folded conv+BN | ms / face |")
    print("|---|---|---|---|---:|")
    for spec in args.model:
        if str(spec).endswith(".onnx"):
            for tta in ("none", "flip"):
                model = openfer.load_model(spec, tta=tta)
                precision = "int8 (onnxruntime)" if getattr(model, "quantization", None) else "fp32 (onnxruntime)"
                ms = 1000 * median_seconds(lambda: model.predict_proba(crops), args.repeats) / len(crops)
                print(f"| {spec} | {tta} | {precision} | - | {ms:.2f} |", flush=True)
            continue
        for tta in ("none", "flip"):
            for precision in ("fp32", "bf16"):
                model = openfer.load_model(spec, tta=tta, precision=precision)
                rows = [("no", None)]
                if precision == "bf16":
                    rows = [("yes", None), ("no", model.net)]
                for folded, plain in rows:
                    if plain is not None:  # time the unfolded network under bf16 too
                        model._fused = (model.net, plain.to(memory_format=torch.channels_last))
                    ms = 1000 * median_seconds(lambda: model.predict_proba(crops), args.repeats) / len(crops)
                    print(f"| {spec} | {tta} | {precision} | {folded} | {ms:.2f} |", flush=True)


if __name__ == "__main__":
    main()
