"""``openfer export --output model.onnx [--checkpoint PATH]``: an expression model as ONNX."""

from __future__ import annotations

import argparse
from pathlib import Path


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "export",
        help="export an expression model to ONNX (dynamic batch)",
        description="Export the shipped model, or the one in --checkpoint, to ONNX and check it against PyTorch.",
    )
    parser.add_argument("--output", type=Path, required=True, help="the .onnx file to write")
    parser.add_argument("--checkpoint", type=Path, help="openfer weights or checkpoint (default: the shipped model)")
    parser.add_argument("--opset", type=int, default=17, help="ONNX opset version")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace, rest: list[str]) -> int:
    from openfer.export import export_onnx, verify_onnx
    from openfer.inference import load_model

    model = load_model(args.checkpoint)
    path = export_onnx(model, args.output, opset=args.opset)
    difference = verify_onnx(model, path)
    print(f"wrote {path} ({path.stat().st_size / 1e6:.1f} MB, classes {list(model.classes)}); max difference to PyTorch {difference:.1e}")
    return 0
