"""``openfer weights pack|ensemble|fga``: package trained weights for load_model, ensembles, and FGA fusion."""

from __future__ import annotations

import argparse
from pathlib import Path

from openfer.checkpoints import STORAGES


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("weights", help="package trained weights")
    commands = parser.add_subparsers(dest="weights_command", required=True)
    pack = commands.add_parser("pack", help="checkpoint (.ckpt) -> safetensors with the metadata load_model needs")
    pack.add_argument("--checkpoint", required=True)
    pack.add_argument("--output", required=True)
    pack.set_defaults(handler=run_pack)
    ensemble = commands.add_parser(
        "ensemble", help="several trained networks of one architecture -> one probability-averaging ensemble file"
    )
    ensemble.add_argument("checkpoints", nargs="+")
    ensemble.add_argument(
        "--storage",
        choices=STORAGES,
        default="float16",
        help="how weights are stored: float16 (default, half the size) or int8 (per-channel, a quarter)",
    )
    ensemble.add_argument("--output", required=True)
    ensemble.set_defaults(handler=run_ensemble)
    fga = commands.add_parser(
        "fga",
        help="one FGA generation: fuse trained networks of one architecture (FAML paper, Algorithm 1)",
        description="Fuse trained networks by averaging their convolutions (openfer.ensemble.fga). Parents are "
        "drawn by training loss: give --losses, or --dataset/--root/--split to measure each network's "
        "cross-entropy there. Re-train each fused file with 'openfer train ... --model.init_weights FILE'.",
    )
    fga.add_argument("checkpoints", nargs="+", help="trained networks (.ckpt or packed .safetensors), same architecture")
    fga.add_argument("--output-dir", required=True, help="folder for fused_<i>.safetensors and fga.json")
    fga.add_argument("--fused", type=int, default=2, help="fused networks to produce (default 2)")
    fga.add_argument("--select", type=int, default=3, help="parents per fused network (default 3)")
    fga.add_argument("--seed", type=int, default=0)
    fga.add_argument("--losses", type=float, nargs="+", help="training loss of each network, in order")
    fga.add_argument("--dataset", default="fer2013", help="dataset to measure losses on (without --losses)")
    fga.add_argument("--root", help="dataset file or folder (without --losses)")
    fga.add_argument("--split", default="Training", help="split to measure losses on (default Training)")
    fga.add_argument("--limit", type=int, default=2000, help="faces drawn (seeded) from the split to measure losses (default 2000)")
    fga.set_defaults(handler=run_fga)


def run_pack(args: argparse.Namespace, rest: list[str]) -> int:
    from openfer.checkpoints import pack_checkpoint

    path = pack_checkpoint(args.checkpoint, args.output)
    print(f"wrote {path}")
    return 0


def run_ensemble(args: argparse.Namespace, rest: list[str]) -> int:
    from openfer.checkpoints import pack_ensemble

    path = pack_ensemble(args.checkpoints, args.output, storage=args.storage)
    print(f"wrote {path}")
    return 0


def run_fga(args: argparse.Namespace, rest: list[str]) -> int:
    from openfer.ensemble.fga import fuse_checkpoints
    from openfer.errors import ConfigError

    split = None
    if args.losses is not None:
        if len(args.losses) != len(args.checkpoints):
            raise ConfigError(f"--losses: {len(args.losses)} values for {len(args.checkpoints)} networks")
    elif not args.root:
        raise ConfigError("give --losses, or --root (with --dataset/--split) to measure each network's loss")
    else:
        from openfer.data import load_dataset

        data = load_dataset(args.dataset, args.root)
        if args.split not in data:
            raise ConfigError(f"--split: dataset {args.dataset!r} has splits {sorted(data)}")
        split = data[args.split]
    record = fuse_checkpoints(
        args.checkpoints, args.output_dir, args.losses, split, args.fused, args.select, args.seed, args.limit
    )
    if split is not None:
        faces = min(len(split), args.limit or len(split))
        for path, loss in zip(args.checkpoints, record["losses"]):
            print(f"{path}: cross-entropy {loss:.4f} on {faces} faces of {args.dataset} {args.split}")
    for fused in record["fused"]:
        print(f"wrote {Path(args.output_dir) / fused['file']} (parents: {', '.join(fused['parents'])})")
    return 0
