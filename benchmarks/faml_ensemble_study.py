"""The FAML paper's ensemble study (its Tables 4-6, and the rank analysis of Table 1) on FER2013.

Given checkpoints of networks (independently seeded runs, FGA children from ``openfer weights fga``, or
any other), in a fixed order decided without PrivateTest (the order given, or ``--order publictest``:
best PublicTest accuracy first), it prints

1. each member's PublicTest and PrivateTest accuracy;
2. T2V, T1V, NOI and averaging over the first 2..N members, on PrivateTest (and PublicTest);
3. the true label's rank distribution (%) of each member and of each rule over all N (Table 1's shape).

A candidate ``FILE#i`` (or ``default#i`` for the shipped file) is network ``i`` of an ensemble file alone.
Probabilities are cached per candidate and split (:func:`openfer.ensemble.selection.cached_probabilities`).

    python benchmarks/faml_ensemble_study.py default#0 default#1 runs/a/checkpoints/best.ckpt ... \\
        [--root ../shared/datasets/fer2013] [--tta none] [--precision bf16] [--order given|publictest]

``--store FILE.npz`` writes every member's PublicTest and PrivateTest probabilities (float32, about 0.2 MB a member
compressed); ``--stored FILE.npz`` adds the members of such a file before the candidates given, so the
tables can be recomputed, or the study extended with new members, after the checkpoints are gone.
"""

from __future__ import annotations

import argparse
import copy
import datetime
import sys
import time
from pathlib import Path

import numpy as np

import openfer
from openfer.data import load_dataset
from openfer.engine.metrics import rank_distribution
from openfer.errors import OpenFERError
from openfer.ensemble.mixed import combine_logits, member_logits
from openfer.ensemble.selection import cached_probabilities
from openfer.inference import TTA_MODES

sys.path.insert(0, str(Path(__file__).resolve().parent))
from machine import bf16_note, cpu_name  # noqa: E402  (shared by the scripts in benchmarks/)

SPLITS = ("PublicTest", "PrivateTest")
RULES = ("t2v", "t1v", "noi", "average")


def parse_candidate(candidate: str) -> tuple[str, int | None]:
    """``"FILE#i"`` -> (``FILE``, i); anything else -> (candidate, None)."""
    path, sep, index = candidate.rpartition("#")
    return (path, int(index)) if sep and index.isdigit() else (candidate, None)


def load_candidate(candidate: str, tta: str | None, precision: str) -> tuple[openfer.ExpressionModel, str, int | None]:
    """The model of ``candidate`` (network ``i`` alone for ``FILE#i``), the file or preset, and ``i``."""
    source, member = parse_candidate(candidate)
    options = {"precision": precision, **({"tta": tta} if tta is not None else {})}
    model = openfer.load_model(source, **options)
    if member is not None:
        members = list(getattr(model.net, "members", []))
        if not 0 <= member < len(members):
            raise SystemExit(f"{candidate}: {source} holds {len(members) or 1} network(s); no network {member}")
        model = copy.copy(model)
        model.net = members[member]
        model.name = f"{model.name}#{member}"
    return model, source, member


def write_stored(path: Path, members: dict[str, dict[str, np.ndarray]], labels: dict[str, np.ndarray]) -> None:
    """Members' probabilities per split (float32, so the tables recompute exactly) with the labels they were scored against, atomically."""
    from openfer.files import atomic_write

    arrays = {f"{split}/{i}": members[c][split].astype(np.float32) for i, c in enumerate(members) for split in SPLITS}
    arrays.update({f"labels/{split}": labels[split].astype(np.int8) for split in SPLITS})
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_write(path, "wb") as handle:
        np.savez_compressed(handle, names=np.array(list(members)), **arrays)


def read_stored(path: Path, labels: dict[str, np.ndarray]) -> dict[str, dict[str, np.ndarray]]:
    """The members of a ``--store`` file; refused when its labels are not this dataset's."""
    try:
        with np.load(path) as stored:
            for split in SPLITS:
                if not np.array_equal(stored[f"labels/{split}"], labels[split]):
                    raise SystemExit(f"{path}: its {split} labels are not those of --root; scored on another dataset")
            return {str(name): {split: stored[f"{split}/{i}"].astype(np.float32) for split in SPLITS} for i, name in enumerate(stored["names"])}
    except (OSError, KeyError, ValueError) as error:
        raise SystemExit(f"{path}: not a file written by --store ({error})") from None


def accuracy(scores: np.ndarray, labels: np.ndarray) -> float:
    return float((scores.argmax(1) == labels).mean())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("candidates", nargs="*", help="checkpoints or weights files; FILE#i / default#i: network i of an ensemble file")
    parser.add_argument("--stored", action="append", default=[], type=Path, help="members' probabilities written by --store (repeatable)")
    parser.add_argument("--store", type=Path, help="write every member's probabilities here (.npz)")
    parser.add_argument("--root", default=str(Path(__file__).resolve().parents[1] / ".." / "shared" / "datasets" / "fer2013"))
    parser.add_argument("--tta", default="none", choices=TTA_MODES, help="TTA of every member (default none, as the paper scores)")
    parser.add_argument("--precision", default="bf16", choices=("fp32", "bf16"))
    parser.add_argument("--cache", default="runs/ensemble_cache", help="where probabilities are cached")
    parser.add_argument("--order", default="given", choices=("given", "publictest"),
                        help="order the first-N members follow: as given, or best PublicTest first (never PrivateTest)")
    args = parser.parse_args()

    data = load_dataset("fer2013", args.root)
    labels = {split: data[split].labels for split in SPLITS}
    probabilities: dict[str, dict[str, np.ndarray]] = {split: {} for split in SPLITS}
    seconds: dict[str, float] = {}
    skipped: dict[str, str] = {}
    stored = []
    for file in args.stored:
        for candidate, split_probabilities in read_stored(file, labels).items():
            stored.append(candidate)
            for split in SPLITS:
                probabilities[split][candidate] = split_probabilities[split]
    if not stored and not args.candidates:
        parser.error("give candidates, or --stored FILE")
    for candidate in args.candidates:
        try:
            model, source, member = load_candidate(candidate, args.tta, args.precision)
        except OpenFERError as error:  # reported in the output, not hidden: the study runs on what loads
            skipped[candidate] = str(error)
            continue
        start = time.perf_counter()
        for split in SPLITS:
            probabilities[split][candidate] = cached_probabilities(
                source, data[split], args.cache, "fer2013", args.root, args.tta, args.precision, model=model, member=member,
            )
        seconds[candidate] = time.perf_counter() - start
        print(f"scored {candidate} ({seconds[candidate]:.0f} s, 0 when cached)", file=sys.stderr, flush=True)

    order = stored + [c for c in args.candidates if c not in skipped and c not in stored]
    if args.store is not None:
        write_stored(args.store, {c: {split: probabilities[split][c] for split in SPLITS} for c in order}, labels)
    if args.order == "publictest":  # chosen on PublicTest only; ties keep the given order
        order.sort(key=lambda c: -accuracy(probabilities["PublicTest"][c], labels["PublicTest"]))

    classes = data["PrivateTest"].classes
    print(f"# FAML ensemble study on FER2013 — {datetime.date.today()} — {cpu_name()} ({bf16_note()}) — "
          f"tta {args.tta}, {args.precision}")
    print("command: python benchmarks/faml_ensemble_study.py " + " ".join(sys.argv[1:]))
    for candidate, reason in skipped.items():
        print(f"skipped {candidate}: {reason}")
    print()
    print("## Members (order: " + ("as given" if args.order == "given" else "best PublicTest first") + ")")
    print("| # | member | PublicTest | PrivateTest |")
    print("|---:|---|---:|---:|")
    for i, candidate in enumerate(order):
        print(f"| {i + 1} | {candidate} | {accuracy(probabilities['PublicTest'][candidate], labels['PublicTest']):.4f} "
              f"| {accuracy(probabilities['PrivateTest'][candidate], labels['PrivateTest']):.4f} |")

    logits = {split: {c: member_logits(p, classes, classes) for c, p in probabilities[split].items()} for split in SPLITS}
    print()
    print("## Ensembles of the first N members (Tables 4 and 6): PrivateTest accuracy (PublicTest in brackets)")
    print("| N | " + " | ".join(r.upper() if r != "average" else "averaging" for r in RULES) + " | best member |")
    print("|---:|" + "---:|" * (len(RULES) + 1))
    for n in range(2, len(order) + 1):
        cells = []
        for rule in RULES:
            scores = {split: combine_logits([logits[split][c] for c in order[:n]], rule) for split in SPLITS}
            cells.append(f"{accuracy(scores['PrivateTest'], labels['PrivateTest']):.4f} ({accuracy(scores['PublicTest'], labels['PublicTest']):.4f})")
        best = max(accuracy(probabilities["PrivateTest"][c], labels["PrivateTest"]) for c in order[:n])
        print(f"| {n} | " + " | ".join(cells) + f" | {best:.4f} |")
    if len(order) < 2:
        print("(one member: no ensemble)")

    print()
    print("## Rank of the true label on PrivateTest, % of faces (Table 1)")
    ranks = min(4, len(classes))
    print("| network | " + " | ".join(f"rank {r}" for r in range(1, ranks + 1)) + " | top-2 |")
    print("|---|" + "---:|" * (ranks + 1))
    rows = [(c, probabilities["PrivateTest"][c]) for c in order]
    if len(order) >= 2:
        rows += [(f"{rule} of {len(order)}", combine_logits([logits["PrivateTest"][c] for c in order], rule)) for rule in RULES]
    for name, scores in rows:
        # Vote shares (T2V/T1V) tie often; a stable order ranks tied classes by class index, as argmax does.
        share = 100 * rank_distribution(scores, labels["PrivateTest"]) / len(labels["PrivateTest"])
        print(f"| {name} | " + " | ".join(f"{v:.2f}" for v in share[:ranks]) + f" | {share[:2].sum():.2f} |")


if __name__ == "__main__":
    main()
