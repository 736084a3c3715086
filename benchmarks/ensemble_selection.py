"""Choose the members of an averaging ensemble on FER2013 PublicTest, and report them on PrivateTest.

Every candidate (a checkpoint, a weights file, or the preset ``fast``) is loaded through the public API
(``openfer.load_model``; ``--tta`` flip and ``--precision`` fp32 unless told otherwise) and scored on
PublicTest and PrivateTest; its probabilities are cached under ``--cache``, keyed by the file's SHA-256,
the split, the TTA and the precision. The choice is :func:`openfer.ensemble.selection.select_members`
(every subset up to ``--max-size`` members, best **PublicTest** accuracy, ties: fewer members, then
name order), as ``openfer ensemble select`` makes it; PrivateTest is only reported.

    python benchmarks/ensemble_selection.py fast runs/vgg_seed1/checkpoints/best.ckpt ... [--max-size 6]
"""

from __future__ import annotations

import argparse
import datetime
import sys
from pathlib import Path

from openfer.data import load_dataset
from openfer.ensemble.selection import cached_probabilities, select_then_report
from openfer.inference import TTA_MODES

sys.path.insert(0, str(Path(__file__).resolve().parent))
from machine import cpu_name  # noqa: E402  (shared by the scripts in benchmarks/)

SPLITS = ("PublicTest", "PrivateTest")


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

    root = Path(args.shared) / "datasets" / "fer2013"
    data = load_dataset("fer2013", root)
    probabilities = {
        split: {c: cached_probabilities(c, data[split], args.cache, "fer2013", root, args.tta, args.precision) for c in args.candidates}
        for split in SPLITS
    }
    result = select_then_report(
        probabilities["PublicTest"], data["PublicTest"].labels, probabilities["PrivateTest"], data["PrivateTest"].labels,
        max_members=args.max_size, rule="average", top=args.top, exhaustive_size=args.max_size,
    )

    print(f"# ensemble selection — {datetime.date.today()} — {cpu_name()} — tta {args.tta}, {args.precision}, mean of probabilities")
    print("| # | candidate | PublicTest | PrivateTest |")
    print("|---:|---|---:|---:|")
    for i, candidate in enumerate(args.candidates):
        public, private = (float((probabilities[s][candidate].argmax(1) == data[s].labels).mean()) for s in SPLITS)
        print(f"| {i} | {candidate} | {public:.4f} | {private:.4f} |")
    print()
    print(f"subsets ranked by PublicTest (top {len(result.ranked)}); PrivateTest is reported, never used to choose")
    print("| members | PublicTest | PrivateTest |")
    print("|---|---:|---:|")
    for selection, accuracy in zip(result.ranked, result.report_accuracy):
        print(f"| {' '.join(selection.members)} | {selection.accuracy:.4f} | {accuracy:.4f} |")
    print()
    print("chosen:", " ".join(result.chosen.members))


if __name__ == "__main__":
    main()
