"""``openfer weights pack|ensemble|fga``: package trained weights for load_model, ensembles, and FGA fusion."""

from __future__ import annotations

import argparse


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
        choices=("float32", "float16", "int8"),
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
    import json
    from pathlib import Path

    import numpy as np

    from openfer.checkpoints import packed_metadata, read_state_dict, save_safetensors
    from openfer.ensemble.fga import fga_generation
    from openfer.errors import ConfigError
    from openfer.inference import load_model

    models = [load_model(path, tta="none") for path in args.checkpoints]
    metas = [read_state_dict(path)[1] for path in args.checkpoints]
    if args.losses is not None:
        if len(args.losses) != len(models):
            raise ConfigError(f"--losses: {len(args.losses)} values for {len(models)} networks")
        losses = list(args.losses)
    else:
        if not args.root:
            raise ConfigError("give --losses, or --root (with --dataset/--split) to measure each network's loss")
        from openfer.data import load_dataset
        from openfer.engine.evaluate import evaluate

        data = load_dataset(args.dataset, args.root)
        if args.split not in data:
            raise ConfigError(f"--split: dataset {args.dataset!r} has splits {sorted(data)}")
        split = data[args.split]
        if args.limit and len(split) > args.limit:
            split = split.subset(np.sort(np.random.default_rng(args.seed).choice(len(split), args.limit, replace=False)))
        losses = []
        for path, model in zip(args.checkpoints, models):
            report = evaluate(model, split)
            picked = report.probabilities[np.arange(len(split)), report.targets]
            losses.append(float(-np.log(np.clip(picked, 1e-12, None)).mean()))
            print(f"{path}: cross-entropy {losses[-1]:.4f} on {len(split)} faces of {args.dataset} {args.split}")
    generation = fga_generation([m.net for m in models], losses, args.fused, args.select, args.seed)
    output = Path(args.output_dir)
    record = {"checkpoints": list(args.checkpoints), "losses": losses, "seed": args.seed, "fused": []}
    for index, fused in enumerate(generation):
        path = output / f"fused_{index}.safetensors"
        parents = [args.checkpoints[i] for i in fused.parents]
        metadata = {**packed_metadata(metas[fused.parents[0]], args.checkpoints[fused.parents[0]]), "fga_parents": parents}
        save_safetensors(fused.network.state_dict(), path, metadata)
        record["fused"].append({"file": path.name, "parents": parents, "probabilities": fused.probabilities})
        print(f"wrote {path} (parents: {', '.join(parents)})")
    from openfer.engine.storage import atomic_open

    with atomic_open(output / "fga.json") as handle:
        handle.write(json.dumps(record, indent=2).encode())
    return 0
