"""``openfer distill``: a teacher's soft targets for a training split (knowledge distillation)."""

from __future__ import annotations

import argparse
from pathlib import Path


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    from openfer.options import PRECISIONS, TTA_MODES

    parser = subparsers.add_parser(
        "distill",
        help="write a teacher's soft targets for a split (train a student with data.soft_targets)",
        description=(
            "Run a teacher (a preset such as 'default', or a weights/checkpoint file) with its TTA over a split and "
            "write soft targets: teacher probabilities with weight --teacher-weight, FERPlus vote distributions with "
            "--ferplus-weight (when --ferplus is given), and the one-hot label with the rest."
        ),
    )
    parser.add_argument("--teacher", default="default", help="teacher: a preset name or an openfer weights/checkpoint file")
    parser.add_argument("--tta", metavar="|".join(TTA_MODES), help="the teacher's TTA (default: the teacher's own)")
    parser.add_argument("--precision", default="auto", metavar="|".join(PRECISIONS), help="the teacher's precision; default auto")
    parser.add_argument("--dataset", default="fer2013")
    parser.add_argument("--root", default="../shared/datasets/fer2013")
    parser.add_argument("--split", default="Training")
    parser.add_argument("--teacher-weight", type=float, default=0.7)
    parser.add_argument("--ferplus", help="FERPlus folder holding fer2013new.csv (FER2013 splits only)")
    parser.add_argument("--ferplus-weight", type=float, default=0.0)
    parser.add_argument("--reuse", type=Path, help="an earlier targets file whose raw teacher probabilities are reused")
    parser.add_argument("--output", type=Path, required=True, help="the .npz to write")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace, rest: list[str]) -> int:
    import numpy as np

    from openfer import __version__
    from openfer.data import load_dataset
    from openfer.engine import distill
    from openfer.errors import ConfigError
    from openfer.inference import load_model

    data = load_dataset(args.dataset, args.root)
    if args.split not in data:
        raise ConfigError(f"dataset {args.dataset!r} has no split {args.split!r}; it has {sorted(data)}")
    split = data[args.split]
    if args.reuse:
        with np.load(args.reuse, allow_pickle=False) as stored:
            teacher = stored["teacher"]
        distill.load_targets(args.reuse, split)  # same split, size and labels
    else:
        options = {"precision": args.precision, **({"tta": args.tta} if args.tta else {})}
        model = load_model(args.teacher, **options)
        if tuple(model.classes) != tuple(split.classes):
            raise ConfigError(f"teacher classes {list(model.classes)} differ from the split's {list(split.classes)}")
        teacher = distill.teacher_probabilities(model.predict_proba, split)
    parts = [(args.teacher_weight, teacher, None)]
    extra = {"teacher": teacher}
    if args.ferplus and args.ferplus_weight > 0:
        ferplus = load_dataset("ferplus", args.ferplus, mode="probability", fer2013=args.root)[args.split]
        votes, mask = distill.ferplus_votes(split, ferplus, np.array([int(i) for i in split.image_ids]))
        parts.append((args.ferplus_weight, votes, mask))
        extra.update(ferplus=votes, ferplus_mask=mask)
    targets = distill.mix_targets(split.labels, len(split.classes), parts)
    provenance = {
        "tool": f"openfer distill {__version__}",
        "teacher": str(args.teacher),
        "tta": args.tta or "teacher's own",
        "dataset": args.dataset,
        "root": str(args.root),
        "teacher_weight": args.teacher_weight,
        "ferplus": str(args.ferplus) if args.ferplus else None,
        "ferplus_weight": args.ferplus_weight,
    }
    path = distill.save_targets(args.output, targets, split, provenance, **extra)
    agreement = float((teacher.argmax(1) == split.labels).mean())
    print(f"wrote {path}: {len(split)} faces; the teacher agrees with the labels on {agreement:.2%}")
    return 0
