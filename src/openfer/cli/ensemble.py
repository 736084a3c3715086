"""``openfer ensemble eval|pack|select|card``: ensembles of checkpoints with the FAML paper's voting rules (docs/evaluation.md)."""

from __future__ import annotations

import argparse

from openfer.options import RULE_NAMES, SELECTION_RULES, STORAGES, TTA_MODES


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
    add_select_parser(commands)
    card = commands.add_parser(
        "card",
        help="the model card of a packed ensemble: members and how each was trained, selection, accuracy, speed",
        description="openfer ensemble card ens.safetensors --selection select.json --output MODEL_CARD.md. Training records come "
        "from the file (stored by 'ensemble pack'), the choice and its accuracies from 'ensemble select --output'; the speed is measured now.",
    )
    card.add_argument("ensemble", help="a file from 'openfer ensemble pack' or 'openfer weights ensemble'")
    card.add_argument("--selection", default=None, help="the JSON 'openfer ensemble select --output' wrote for these members")
    card.add_argument("--speed-faces", type=int, default=64, help="faces per timed call (default 64)")
    card.add_argument("--output", required=True, help="the Markdown file to write")
    card.set_defaults(handler=run_card)


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


def add_select_parser(commands: argparse._SubParsersAction) -> None:
    select = commands.add_parser(
        "select",
        help="choose an ensemble's members (and weights) on one split, then report them on another",
        description="openfer ensemble select a.ckpt b.ckpt c.safetensors --dataset fer2013 --root R "
        "--select-split PublicTest --report-split PrivateTest --max-members 4. Every subset up to --exhaustive-size "
        "members is scored, greedy forward selection grows the best beyond it; ties go to fewer members, then name "
        "order. The report split is read only after the choice is made.",
    )
    select.add_argument("checkpoints", nargs="+", help=".ckpt, .safetensors or .onnx files (or presets of the shipped model)")
    select.add_argument("--dataset", default="fer2013", help="dataset name (default fer2013)")
    select.add_argument("--root", required=True, help="dataset file or folder")
    select.add_argument("--select-split", default="PublicTest", help="split the members are chosen on (default PublicTest)")
    select.add_argument("--report-split", default="PrivateTest", help="split only reported (default PrivateTest)")
    select.add_argument("--max-members", type=int, default=None, help="largest ensemble considered (default: every candidate)")
    select.add_argument("--exhaustive-size", type=int, default=6, help="every subset up to this size is tried (default 6)")
    select.add_argument("--rule", choices=SELECTION_RULES, default="average", help="voting rule (default average; weighted: grid-searched weights)")
    select.add_argument("--tta", default=None, metavar="{" + ",".join(TTA_MODES) + "}", help="TTA for every candidate; default: each one's own")
    select.add_argument("--precision", choices=("fp32", "bf16"), default="fp32")
    select.add_argument("--cache", default="runs/ensemble_cache", help="folder of cached probabilities (one .npz per candidate and split)")
    select.add_argument("--top", type=int, default=10, help="subsets listed (default 10)")
    select.add_argument("--output", default=None, help="write the choice and the listed subsets to this JSON file")
    select.set_defaults(handler=run_select)


def run_select(args: argparse.Namespace, rest: list[str]) -> int:
    import json
    import sys

    from openfer.ensemble.selection import choose_ensemble
    from openfer.files import atomic_write

    result = choose_ensemble(
        args.checkpoints, args.dataset, args.root, args.select_split, args.report_split, args.max_members, args.rule,
        args.tta, args.precision, args.cache, args.top, args.exhaustive_size,
        progress=lambda line: print(line, file=sys.stderr, flush=True),
    )
    print(f"subsets ranked on {args.select_split} ({args.rule}); {args.report_split} is reported, never used to choose")
    print(f"| members | rule | weights | {args.select_split} | {args.report_split} |")
    print("|---|---|---|---:|---:|")
    for selection, accuracy in zip(result.ranked, result.report_accuracy):
        weights = "-" if selection.weights is None else ",".join(f"{w:.3f}" for w in selection.weights)
        print(f"| {' '.join(selection.members)} | {selection.rule} | {weights} | {selection.accuracy:.4f} | {accuracy:.4f} |")
    print("chosen:", " ".join(result.chosen.members))
    if args.output:
        with atomic_write(args.output, "w") as handle:
            json.dump(result.to_dict(), handle, indent=2)
        print(f"wrote {args.output}")
    return 0


def run_card(args: argparse.Namespace, rest: list[str]) -> int:
    import shlex
    import sys

    from openfer.ensemble.card import model_card, read_selection
    from openfer.errors import ConfigError
    from openfer.files import atomic_write

    if args.speed_faces < 1:
        raise ConfigError(f"--speed-faces must be at least 1, got {args.speed_faces}")
    selection = read_selection(args.selection)
    command = "openfer " + " ".join(shlex.quote(a) for a in sys.argv[1:]) if sys.argv[1:2] == ["ensemble"] else None
    text = model_card(args.ensemble, selection, args.speed_faces, command=command)
    with atomic_write(args.output, "w") as handle:
        handle.write(text)
    print(f"wrote {args.output}")
    return 0
