"""``openfer weights pack|ensemble|fga|convert``: package trained weights for load_model, ensembles, FGA fusion, and
convert the authors' released checkpoints."""

from __future__ import annotations

import argparse
from pathlib import Path

from openfer.options import FGA_TEMPERATURE, STORAGES


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("weights", help="package trained weights")
    commands = parser.add_subparsers(dest="weights_command", required=True)
    pack = commands.add_parser("pack", help="checkpoint (.ckpt) -> safetensors with the metadata load_model needs")
    pack.add_argument("--checkpoint", required=True)
    pack.add_argument("--output", required=True)
    pack.add_argument("--storage", choices=("float32", "float16"), default="float32", help="float16 halves the file; loading restores float32")
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
    split = commands.add_parser("split", help="an ensemble file -> one weights file per network (to select, re-pack or score them alone)")
    split.add_argument("ensemble", help="a file from 'openfer weights ensemble' or 'openfer ensemble pack', or a preset (default)")
    split.add_argument("--output-dir", required=True, help="folder for <stem>_<i>.safetensors")
    split.set_defaults(handler=run_split)
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
    fga.add_argument("--temperature", type=float, default=FGA_TEMPERATURE, help=f"selection softmax(-loss / T) temperature (default {FGA_TEMPERATURE})")
    fga.add_argument(
        "--generations", type=int, default=1, help="generations of Algorithm 1 (default 1: fuse once); more need --retrain-config"
    )
    fga.add_argument(
        "--retrain-config",
        default=None,
        help="recipe that re-trains each fused network (openfer train --config RECIPE --model.init_weights FUSED); "
        "with it, the loop runs resumably in --output-dir (fga_state.json) and losses are measured on --split",
    )
    fga.set_defaults(handler=run_fga)
    convert = commands.add_parser(
        "convert",
        help="an authors' released checkpoint -> safetensors with openfer's keys and the authors' class order",
        description="Rename an authors' checkpoint to openfer's model and record the class order it was trained "
        "with, so labels map by meaning (openfer.convert).",
    )
    convert.add_argument("--from", dest="kind", required=True, choices=["dan-authors", "resemotenet-authors"])
    convert.add_argument("input", help="the authors' .pth file")
    convert.add_argument("output", help="the .safetensors file to write")
    convert.add_argument("--classes", help="the vocabulary it was trained on where the class count leaves it open (e.g. rafdb, affectnet7)")
    convert.set_defaults(handler=run_convert)


def run_pack(args: argparse.Namespace, rest: list[str]) -> int:
    from openfer.checkpoints import pack_checkpoint

    path = pack_checkpoint(args.checkpoint, args.output, storage=args.storage)
    print(f"wrote {path}")
    return 0


def run_ensemble(args: argparse.Namespace, rest: list[str]) -> int:
    from openfer.checkpoints import pack_ensemble

    path = pack_ensemble(args.checkpoints, args.output, storage=args.storage)
    print(f"wrote {path}")
    return 0


def run_split(args: argparse.Namespace, rest: list[str]) -> int:
    from openfer.checkpoints import split_ensemble
    from openfer.inference import PRESET_WEIGHTS, preset_name

    preset = preset_name(args.ensemble)
    for path in split_ensemble(PRESET_WEIGHTS[preset] if preset else args.ensemble, args.output_dir):
        print(f"wrote {path}")
    return 0


def run_fga(args: argparse.Namespace, rest: list[str]) -> int:
    from openfer.ensemble.fga import fuse_checkpoints, run_fga as run_generations
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
    if args.retrain_config or args.generations > 1:
        if not args.retrain_config or split is None:
            raise ConfigError("--generations > 1 needs --retrain-config and --root (losses are measured on --split each generation)")
        state = run_generations(
            args.checkpoints, args.output_dir, _retrain_with(args.retrain_config), args.generations, split=split,
            num_fused=args.fused, num_selected=args.select, seed=args.seed, temperature=args.temperature, limit=args.limit,
        )
        for g, generation in enumerate(state["generations"]):
            print(f"generation {g}: losses {', '.join(f'{v:.4f}' for v in generation['losses'])} -> {', '.join(generation['retrained'])}")
        return 0
    record = fuse_checkpoints(
        args.checkpoints, args.output_dir, args.losses, split, args.fused, args.select, args.seed, args.limit, args.temperature
    )
    if split is not None:
        faces = min(len(split), args.limit or len(split))
        for path, loss in zip(args.checkpoints, record["losses"]):
            print(f"{path}: cross-entropy {loss:.4f} on {faces} faces of {args.dataset} {args.split}")
    for fused in record["fused"]:
        print(f"wrote {Path(args.output_dir) / fused['file']} (parents: {', '.join(fused['parents'])})")
    return 0


def _retrain_with(recipe: str):
    """The ``retrain`` hook of :func:`openfer.ensemble.fga.run_fga`: ``openfer train --config RECIPE`` started from
    the fused weights, in a run folder beside them; returns the run's best checkpoint."""
    from openfer.engine.train import train

    def retrain(fused: Path) -> Path:
        run_dir = fused.parent / f"{fused.stem}_run"
        resume = ["--resume", "last"] if (run_dir / "checkpoints" / "last.ckpt").is_file() else []
        train(["--config", recipe, "--model.init_weights", str(fused), "--run_dir", str(run_dir), *resume])
        return run_dir / "checkpoints" / "best.ckpt"

    return retrain


def run_convert(args: argparse.Namespace, rest: list[str]) -> int:
    from openfer.convert import convert_authors_weights

    path = convert_authors_weights(args.kind, args.input, args.output, classes=args.classes)
    print(f"wrote {path}")
    return 0
