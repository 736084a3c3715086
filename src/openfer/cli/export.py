"""``openfer export --output model.onnx [--checkpoint PRESET|PATH] [--int8 --calibration-root DATA]``: an
expression model as ONNX, float or int8."""

from __future__ import annotations

import argparse
from pathlib import Path

#: The largest difference in any class probability allowed between the float ONNX file and PyTorch.
TOLERANCE = 1e-4
#: The least share of check faces on which the int8 file's top class must be the float model's.
MIN_AGREEMENT = 0.97


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    from openfer.options import CALIBRATION_METHODS

    parser = subparsers.add_parser(
        "export",
        help="export an expression model to ONNX (dynamic batch), float or int8",
        description="Export the shipped model (the fast preset), or the one in --checkpoint, to ONNX and check it against PyTorch. "
        "--int8 quantises it (onnxruntime static quantisation) calibrated on faces of a training split: "
        "openfer export --int8 --output fast.int8.onnx --calibration-root ../shared/datasets/fer2013",
    )
    parser.add_argument("--output", type=Path, required=True, help="the .onnx file to write")
    parser.add_argument(
        "--checkpoint",
        default="fast",
        help="a preset of the shipped model (fast, default) or an openfer weights file or checkpoint; default fast, the recogniser's model",
    )
    parser.add_argument("--opset", type=int, default=17, help="ONNX opset version")
    int8 = parser.add_argument_group("int8 quantisation")
    int8.add_argument("--int8", action="store_true", help="write an int8 graph (weights per channel, activations uint8) instead of float32")
    int8.add_argument("--calibration-root", default=None, help="with --int8: the dataset file or folder the calibration faces come from")
    int8.add_argument("--calibration-dataset", default="fer2013", help="its reader (see 'openfer data list'); default fer2013")
    int8.add_argument("--calibration-split", default=None, help="the split to draw from; default Training, else train (never a test split)")
    int8.add_argument("--calibration-faces", type=int, default=512, help="faces drawn (seeded) to set the int8 ranges; default 512")
    int8.add_argument(
        "--check-faces", type=int, default=512, help=f"other faces of that split on which the int8 top class must agree with float (--min-agreement); default 512"
    )
    int8.add_argument(
        "--min-agreement", type=float, default=MIN_AGREEMENT, help=f"the least share of check faces whose int8 top class must be float's; default {MIN_AGREEMENT}"
    )
    int8.add_argument("--calibration-method", choices=CALIBRATION_METHODS, default="minmax", help="how activation ranges are set; default minmax")
    parser.add_argument("--seed", type=int, default=0, help="seed of the calibration draw")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace, rest: list[str]) -> int:
    from openfer.errors import ConfigError
    from openfer.export import export_onnx, quantize_onnx
    from openfer.inference import load_model
    from openfer.progress import ProgressBar

    if args.int8 and args.calibration_root is None:
        raise ConfigError("--int8: give --calibration-root, the dataset whose training faces calibrate the int8 ranges")
    if not args.int8 and args.calibration_root is not None:
        raise ConfigError("--calibration-root: only used with --int8")
    if not 0.0 <= args.min_agreement <= 1.0:
        raise ConfigError(f"--min-agreement must be between 0 and 1, got {args.min_agreement}")
    if args.calibration_faces < 1 or args.check_faces < 1:
        raise ConfigError("--calibration-faces and --check-faces must be at least 1")
    with ProgressBar("export", total=3, enabled=not args.quiet, unit="steps") as bar:
        model = load_model(args.checkpoint)
        if args.int8:
            calibration, check, source = _calibration_faces(args)
            bar.advance(description="export: quantising to int8 and checking against float")
            report = quantize_onnx(
                model, args.output, calibration, source=source, check=check, method=args.calibration_method, min_agreement=args.min_agreement, opset=args.opset
            )
            bar.advance(2)
        else:
            bar.advance(description="export: tracing and checking against PyTorch")
            path = export_onnx(model, args.output, opset=args.opset, tolerance=TOLERANCE)
            bar.advance(2)
    size = f"{args.output.stat().st_size / 1e6:.1f} MB"
    if args.int8:
        print(
            f"wrote {args.output} (int8, {size}, classes {list(model.classes)}); calibrated on {report.calibration_faces} faces of {source} "
            f"({report.method}); top class agrees with float on {report.agreement:.2%} of {report.check_faces} other faces "
            f"(largest probability difference {report.max_probability_difference:.3f}, tta {model.tta})"
        )
    else:
        print(f"wrote {path} ({size}, classes {list(model.classes)}); probabilities match PyTorch within {TOLERANCE:.0e} (tta {model.tta})")
    return 0


def _calibration_faces(args: argparse.Namespace):
    """Calibration and check faces from the training split of ``--calibration-root``, and where they came from."""
    from openfer.data import load_dataset
    from openfer.errors import ConfigError
    from openfer.export import draw_calibration_faces

    data = load_dataset(args.calibration_dataset, args.calibration_root)
    name = args.calibration_split or next((split for split in ("Training", "train") if split in data), None)
    if name is None or name not in data:
        raise ConfigError(f"--calibration-split: dataset {args.calibration_dataset!r} has splits {sorted(data)}; name its training split")
    calibration, check = draw_calibration_faces(data[name], args.calibration_faces, args.check_faces, seed=args.seed)
    return calibration, check, f"{args.calibration_dataset} {name} (seed {args.seed})"
