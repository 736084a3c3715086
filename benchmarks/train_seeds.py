"""Train one recipe under several seeds, resumably: the independently seeded members of an ensemble study.

Each seed trains into ``runs/seeds/<recipe stem>/seed<k>`` with ``openfer train --seed k --resume last``; a
finished seed (``done.json``) is skipped, an interrupted one continues from its last checkpoint, so the
command can be re-run across sessions until every seed is done. The best checkpoint of each (selected on the
recipe's validation split, PublicTest for FER2013) is listed at the end, in seed order, ready for
``benchmarks/faml_ensemble_study.py`` or ``openfer ensemble select``:

    python benchmarks/train_seeds.py --config configs/faml_fer2013_cpu.yaml --seeds 8 [--first 0] [--override KEY VALUE ...]
    python benchmarks/faml_ensemble_study.py $(python benchmarks/train_seeds.py --config configs/faml_fer2013_cpu.yaml --seeds 8 --list)
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from zoo_cpu import REPO, train  # noqa: E402  (the resumable training step of the zoo)


def seed_dirs(config: Path, seeds: int, first: int = 0) -> dict[int, Path]:
    """Seed -> its run folder."""
    base = REPO / "runs" / "seeds" / config.stem
    return {seed: base / f"seed{seed}" for seed in range(first, first + seeds)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", type=Path, required=True, help="the recipe every seed trains")
    parser.add_argument("--seeds", type=int, default=8, help="how many seeds (default 8)")
    parser.add_argument("--first", type=int, default=0, help="the first seed (default 0)")
    parser.add_argument("--override", nargs=2, action="append", default=[], metavar=("KEY", "VALUE"), help="a recipe override, e.g. trainer.max_epochs 12")
    parser.add_argument("--list", action="store_true", help="only print the finished seeds' best checkpoints, one per line")
    args = parser.parse_args()
    runs = seed_dirs(args.config, args.seeds, args.first)
    if not args.list:
        for seed, run_dir in runs.items():
            extra = ["--seed", str(seed)] + [item for key, value in args.override for item in (f"--{key}", value)]
            seconds = train(run_dir.name, args.config.resolve(), run_dir.parent, extra)
            print(f"seed {seed}: {'already done' if seconds == 0 else f'{seconds / 60:.0f} min'} -> {run_dir}", file=sys.stderr, flush=True)
    for seed, run_dir in runs.items():
        best = run_dir / "checkpoints" / "best.ckpt"
        if (run_dir / "done.json").is_file() and best.is_file():
            print(best.relative_to(REPO) if best.is_relative_to(REPO) else best)


if __name__ == "__main__":
    main()
