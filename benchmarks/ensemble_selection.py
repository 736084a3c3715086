"""Choose the members of an averaging ensemble on FER2013 PublicTest, and report them on PrivateTest.

Every candidate (a checkpoint, a weights file, or the preset ``fast``) is loaded through the public API
(``openfer.load_model``; ``--tta`` flip and ``--precision`` fp32 unless told otherwise) and scored on
PublicTest and PrivateTest; its probabilities are cached under ``--cache``, keyed by the file's path,
size and modification time (for a preset, the shipped file's) and the setting. Then every subset of the
candidates (up to ``--max-size`` members) is scored by averaging its members' probabilities. The subset
with the best **PublicTest** accuracy is chosen (ties: fewer members); PrivateTest is only reported.

    python benchmarks/ensemble_selection.py fast runs/vgg_seed1/checkpoints/best.ckpt ... [--max-size 6]
"""

from __future__ import annotations

import argparse
import datetime
import hashlib
import itertools
import sys
from pathlib import Path

import numpy as np

import openfer
from openfer.data import load_dataset
from openfer.data.base import FaceSplit
from openfer.engine.evaluate import EvaluationReport, evaluate
from openfer.ensemble import average
from openfer.inference import DEFAULT_WEIGHTS, TTA_MODES, preset_name

sys.path.insert(0, str(Path(__file__).resolve().parent))
from machine import cpu_name  # noqa: E402  (shared by the scripts in benchmarks/)

SPLITS = ("PublicTest", "PrivateTest")


def cache_key(candidate: str, tta: str, precision: str) -> str:
    """A name for the cached probabilities that changes when the candidate's file or the setting changes."""
    preset = preset_name(candidate) is not None  # a preset of the shipped file: key on that file
    path = DEFAULT_WEIGHTS if preset else Path(candidate)
    stat = path.stat()
    ident = f"{candidate if preset else ''}|{path.resolve()}|{stat.st_size}|{stat.st_mtime_ns}"
    return hashlib.sha1(f"{ident}|{tta}|{precision}".encode()).hexdigest()[:16]


def probabilities(
    candidate: str, data: dict[str, FaceSplit], cache: Path, tta: str = "flip", precision: str = "fp32"
) -> dict[str, np.ndarray]:
    """Probabilities of ``candidate`` on each split, from the cache when possible."""
    file = cache / f"{cache_key(candidate, tta, precision)}.npz"
    if file.is_file():
        with np.load(file) as stored:
            return {split: stored[split] for split in SPLITS}
    model = openfer.load_model(candidate, tta=tta, precision=precision)
    result = {split: evaluate(model, data[split]).probabilities for split in SPLITS}
    cache.mkdir(parents=True, exist_ok=True)
    partial = file.with_suffix(".tmp.npz")
    np.savez(partial, **result)
    partial.replace(file)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("candidates", nargs="+", help="checkpoints, weights files, or the preset 'fast'")
    parser.add_argument("--shared", default=str(Path(__file__).resolve().parents[1] / ".." / "shared"))
    parser.add_argument("--cache", default="runs/ensemble_cache", help="where probabilities are cached")
    parser.add_argument("--tta", default="flip", choices=TTA_MODES)
    parser.add_argument("--precision", default="fp32", choices=("fp32", "bf16"))
    parser.add_argument("--max-size", type=int, default=8, help="largest ensemble considered")
    parser.add_argument("--top", type=int, default=10, help="how many subsets to list")
    args = parser.parse_args()

    data = load_dataset("fer2013", Path(args.shared) / "datasets" / "fer2013")
    probs = [probabilities(c, data, Path(args.cache), args.tta, args.precision) for c in args.candidates]

    def score(members: tuple[int, ...], split: str) -> float:
        """Accuracy of the members' probabilities averaged (as ``openfer weights ensemble`` averages them)."""
        mean = average([probs[m][split] for m in members], probabilities=False).numpy()
        return EvaluationReport(classes=data[split].classes, targets=data[split].labels, probabilities=mean).accuracy

    print(f"# ensemble selection — {datetime.date.today()} — {cpu_name()} — tta {args.tta}, {args.precision}, mean of probabilities")
    print("| # | candidate | PublicTest | PrivateTest |")
    print("|---:|---|---:|---:|")
    for i, candidate in enumerate(args.candidates):
        print(f"| {i} | {candidate} | {score((i,), 'PublicTest'):.4f} | {score((i,), 'PrivateTest'):.4f} |")

    subsets = [
        s for k in range(1, min(args.max_size, len(probs)) + 1) for s in itertools.combinations(range(len(probs)), k)
    ]
    ranked = sorted(subsets, key=lambda s: (-score(s, "PublicTest"), len(s), s))
    print()
    print(f"subsets ranked by PublicTest ({len(subsets)} considered); PrivateTest is reported, never used to choose")
    print("| members | PublicTest | PrivateTest |")
    print("|---|---:|---:|")
    for s in ranked[: args.top]:
        print(f"| {' '.join(map(str, s))} | {score(s, 'PublicTest'):.4f} | {score(s, 'PrivateTest'):.4f} |")
    best = ranked[0]
    print()
    print("chosen:", " ".join(args.candidates[i] for i in best))


if __name__ == "__main__":
    main()
