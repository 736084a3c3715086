"""``openfer ensemble eval|pack``: ensembles of checkpoints with the FAML paper's voting rules (docs/evaluation.md)."""

from __future__ import annotations

import argparse

from openfer.checkpoints import STORAGES
from openfer.ensemble.mixed import RULE_NAMES
from openfer.inference import TTA_MODES


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    from openfer.cli.eval import add_scoring_arguments

    parser = subparsers.add_parser("ensemble", help="evaluate or pack ensembles of checkpoints (T2V, T1V, NOI, averaging)")
    commands = parser.add_subparsers(dest="ensemble_command", required=True)
    evaluate = commands.add_parser(
        "eval",
        help="score each checkpoint and their ensemble under a voting rule on a dataset split",
        description="openfer ensemble eval a.ckpt b.safetensors --rule all --dataset rafdb --root PATH --split test "
        "--output reports/ens. Members may differ in architecture, input size, channels and classes; each reads "
        "faces itself and its output is mapped by meaning to the dataset's classes (what has no counterpart is "
        "dropped and named).",
    )
    evaluate.add_argument("checkpoints", nargs="+", help=".ckpt, .safetensors or .onnx files (or presets of the shipped model)")
    evaluate.add_argument("--rule", choices=RULE_NAMES + ("all",), default="t2v", help="voting rule (default t2v); all: every rule")
    add_rule_arguments(evaluate)
    evaluate.add_argument("--dataset", default="fer2013", help="dataset name (see 'openfer data list'); default fer2013")
    evaluate.add_argument("--root", required=True, help="dataset file or folder")
    evaluate.add_argument("--split", default=None, help="split to score; default: the first test split the dataset has")
    evaluate.add_argument("--tta", default=None, metavar="{" + ",".join(TTA_MODES) + "}", help="TTA for every member; default: each member's own")
    evaluate.add_argument("--fold", type=int, default=None, help="CK+/JAFFE: the test part of subject-independent fold K")
    evaluate.add_argument("--num-folds", type=int, default=10)
    add_scoring_arguments(evaluate)
    evaluate.add_argument("--batch-size", type=int, default=256)
    evaluate.add_argument("--output", default=None, help="folder for what 'openfer eval' writes plus members.csv/.md, rules.csv/.md, ensemble.json")
    evaluate.set_defaults(handler=run_eval)

    pack = commands.add_parser(
        "pack",
        help="checkpoints of any architectures and label sets -> one file load_model and the recogniser read",
        description="openfer ensemble pack a.ckpt b.safetensors --rule average --output ens.safetensors",
    )
    pack.add_argument("checkpoints", nargs="+", help=".ckpt or .safetensors files (snapshots too: checkpoints/snapshot_*.ckpt)")
    pack.add_argument("--rule", choices=RULE_NAMES, default="average", help="rule the packed ensemble predicts with (default average)")
    add_rule_arguments(pack)
    pack.add_argument("--classes", default=None, help="the ensemble's label set (a dataset name, e.g. fer2013); default: the first member's")
    pack.add_argument("--storage", choices=STORAGES, default="float32", help="how weights are stored (default float32)")
    pack.add_argument("--output", required=True)
    pack.set_defaults(handler=run_pack)


def add_rule_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--alpha", type=float, default=1.9, help="T2V: votes for a network's top class (default 1.9)")
    parser.add_argument("--beta", type=float, default=1.0, help="T2V: votes for its second class (default 1.0)")
    parser.add_argument("--weights", type=_numbers, default=None, help="weighted: one weight per checkpoint, comma-separated (w1,w2,...)")


def _numbers(text: str) -> list[float]:
    try:
        return [float(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated numbers, got {text!r}") from None


def run_eval(args: argparse.Namespace, rest: list[str]) -> int:
    from openfer.cli.eval import dataset_options, print_notes, select_split
    from openfer.data import load_dataset
    from openfer.ensemble.evaluate import evaluate_ensemble
    from openfer.inference import load_model

    models = [load_model(path, **({"tta": args.tta} if args.tta is not None else {})) for path in args.checkpoints]
    data = load_dataset(args.dataset, args.root, **dataset_options(args))
    split_name = select_split(data, args)
    result = evaluate_ensemble(
        models, data[split_name], rule=args.rule, alpha=args.alpha, beta=args.beta, weights=args.weights,
        batch_size=args.batch_size, dataset=args.dataset, sources=args.checkpoints, classes=args.classes,
    )
    members = result.members_table()
    print(f"members on {args.dataset} {split_name}:")
    for index, row in members.iterrows():
        notes = "".join(
            f"  {label}: {row[column]}" for label, column in (("dropped", "dropped_classes"), ("lacks", "missing_classes")) if row[column]
        )
        print(f"  {index}: {row.checkpoint} ({row.model}, {row.classes} classes, input {row.input}): accuracy {row.accuracy:.4f}{notes}")
    if result.dropped:
        print(f"classes with no counterpart in {args.dataset} (dropped): {', '.join(result.dropped)}")
    for rule, report in result.reports.items():
        print(f"{rule}: accuracy {report.accuracy:.4f}  balanced accuracy {report.balanced_accuracy:.4f}  macro F1 {report.macro_f1:.4f}")
    if len(result.reports) == 1:
        print_notes(next(iter(result.reports.values())))
    if args.output:
        for path in result.save(args.output):
            print(f"wrote {path}")
    return 0


def run_pack(args: argparse.Namespace, rest: list[str]) -> int:
    from openfer.checkpoints import pack_mixed_ensemble

    path = pack_mixed_ensemble(
        args.checkpoints, args.output, rule=args.rule, alpha=args.alpha, beta=args.beta, weights=args.weights,
        classes=args.classes, storage=args.storage,
    )
    print(f"wrote {path}")
    return 0
