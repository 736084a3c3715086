"""``openfer weights pack``: a training checkpoint -> a weights-only safetensors file for load_model."""

from __future__ import annotations

import argparse


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("weights", help="package trained weights")
    commands = parser.add_subparsers(dest="weights_command", required=True)
    pack = commands.add_parser("pack", help="checkpoint (.ckpt) -> safetensors with the metadata load_model needs")
    pack.add_argument("--checkpoint", required=True)
    pack.add_argument("--output", required=True)
    pack.set_defaults(handler=run_pack)
    ensemble = commands.add_parser("ensemble", help="several checkpoints of one architecture -> one snapshot-ensemble safetensors")
    ensemble.add_argument("checkpoints", nargs="+")
    ensemble.add_argument("--output", required=True)
    ensemble.set_defaults(handler=run_ensemble)


def run_pack(args: argparse.Namespace, rest: list[str]) -> int:
    from openfer.checkpoints import pack_checkpoint

    path = pack_checkpoint(args.checkpoint, args.output)
    print(f"wrote {path}")
    return 0


def run_ensemble(args: argparse.Namespace, rest: list[str]) -> int:
    from openfer.checkpoints import pack_snapshot_ensemble

    path = pack_snapshot_ensemble(args.checkpoints, args.output)
    print(f"wrote {path}")
    return 0
