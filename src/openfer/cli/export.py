"""``openfer export --output model.onnx [--checkpoint PRESET|PATH]``: an expression model as ONNX."""

from __future__ import annotations

import argparse
from pathlib import Path

#: The largest difference in any class probability allowed between the ONNX file and PyTorch.
TOLERANCE = 1e-4


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "export",
        help="export an expression model to ONNX (dynamic batch)",
        description="Export the shipped model (the fast preset), or the one in --checkpoint, to ONNX and check it against PyTorch.",
    )
    parser.add_argument("--output", type=Path, required=True, help="the .onnx file to write")
    parser.add_argument(
        "--checkpoint",
        default="fast",
        help="a preset of the shipped model (fast, default) or an openfer weights file or checkpoint; default fast, the recogniser's model",
    )
    parser.add_argument("--opset", type=int, default=17, help="ONNX opset version")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace, rest: list[str]) -> int:
    from openfer.export import export_onnx
    from openfer.inference import load_model
    from openfer.progress import ProgressBar

    with ProgressBar("export", total=3, enabled=not args.quiet, unit="steps") as bar:
        model = load_model(args.checkpoint)
        bar.advance(description="export: tracing and checking against PyTorch")
        path = export_onnx(model, args.output, opset=args.opset, tolerance=TOLERANCE)
        bar.advance(2)
    print(
        f"wrote {path} ({path.stat().st_size / 1e6:.1f} MB, classes {list(model.classes)}); "
        f"probabilities match PyTorch within {TOLERANCE:.0e} (tta {model.tta})"
    )
    return 0
