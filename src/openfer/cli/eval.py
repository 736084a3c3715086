"""``openfer eval``: score a checkpoint or weights file on a dataset split (see docs/evaluation.md)."""

from __future__ import annotations

import argparse

from openfer.options import PRESETS, TTA_MODES

# Split evaluated when --split is not given: the first of these the dataset has.
TEST_SPLITS = ("PrivateTest", "test", "val", "validation")


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "eval",
        help="accuracy, balanced accuracy, per-class metrics and confusion matrix on a dataset split",
        description="Evaluate a model: openfer eval --checkpoint runs/x/checkpoints/best.ckpt --dataset fer2013 "
        "--root PATH --split PrivateTest --tta flip --output reports/x",
    )
    parser.add_argument(
        "--checkpoint",
        default="default",
        help=f"a Lightning .ckpt, openfer .safetensors or .onnx file, or a preset of the shipped model ({', '.join(PRESETS)}); default: default",
    )
    parser.add_argument("--dataset", default="fer2013", help="dataset name (see 'openfer data list'); default fer2013")
    parser.add_argument("--root", required=True, help="dataset file or folder")
    parser.add_argument("--split", default=None, help=f"split to score; default: the first of {', '.join(TEST_SPLITS)}")
    parser.add_argument(
        "--tta",
        default=None,
        metavar="{" + ",".join(TTA_MODES) + "}",
        help="test-time augmentation (docs/evaluation.md); default: the model's own, as load_model gives it",
    )
    parser.add_argument(
        "--precision",
        default=None,
        choices=("fp32", "bf16", "auto"),
        help="fp32, bf16 or auto (bf16 where the CPU computes it natively); default: load_model's, auto (not for .onnx files)",
    )
    parser.add_argument("--fold", type=int, default=None, help="CK+/JAFFE: score the test part of subject-independent fold K (as 'openfer cv')")
    parser.add_argument("--num-folds", type=int, default=10, help="with --fold: the number of folds (default 10)")
    add_scoring_arguments(parser)
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--quiet", action="store_true", help="no progress bar (none is drawn when stdout or stderr is not a terminal)")
    parser.add_argument(
        "--output", default=None, help="folder for summary.json, per_class.csv, confusion_matrix.png/.csv, predictions.csv, rank_distribution.csv/.md/.png"
    )
    parser.set_defaults(handler=run)


def add_scoring_arguments(parser: argparse.ArgumentParser) -> None:
    """``--label-mode`` and ``--classes``, shared by ``openfer eval`` and ``openfer ensemble eval``."""
    parser.add_argument(
        "--label-mode",
        choices=("majority", "probability"),
        default=None,
        help="FERPlus: majority targets (accuracy), or vote distributions (accuracy against the top vote, "
        "plus cross-entropy and KL divergence); default: the reader's (majority)",
    )
    parser.add_argument(
        "--dataset-option",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a reader option, as data.dataset_options in a recipe (repeatable); AffectNet-7 protocol: classes=7",
    )
    parser.add_argument(
        "--classes",
        choices=("all", "shared"),
        default="all",
        help="all: every class of the dataset (a class the model lacks counts as errors); shared: only the classes "
        "the model has too (the other samples are left out, its output renormalised over them)",
    )


def dataset_options(args: argparse.Namespace) -> dict:
    """The reader options ``--fold``/``--num-folds``, ``--dataset-option`` and ``--label-mode`` give."""
    from openfer.errors import ConfigError

    import yaml

    options: dict = {} if getattr(args, "fold", None) is None else {"fold": args.fold, "num_folds": args.num_folds}
    for item in args.dataset_option:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ConfigError(f"--dataset-option: expected KEY=VALUE, got {item!r}")
        options[key] = yaml.safe_load(value)
    if args.label_mode is not None:
        if args.dataset != "ferplus":
            raise ConfigError(f"--label-mode: only the ferplus dataset has label modes, not {args.dataset!r}")
        options["mode"] = args.label_mode
    return options


def select_split(data: dict, args: argparse.Namespace) -> str:
    """The split ``--split`` names, else the first of :data:`TEST_SPLITS` the dataset has."""
    from openfer.errors import ConfigError

    split_name = args.split or next((name for name in TEST_SPLITS if name in data), None)
    if split_name is None or split_name not in data:
        raise ConfigError(f"--split: dataset {args.dataset!r} has splits {sorted(data)}; name one of them")
    return split_name


def run(args: argparse.Namespace, rest: list[str]) -> int:
    from rich.console import Console
    from rich.table import Table

    from openfer.data import load_dataset
    from openfer.engine.evaluate import evaluate
    from openfer.inference import load_model

    options = {key: value for key, value in (("tta", args.tta), ("precision", args.precision)) if value is not None}
    model = load_model(args.checkpoint, **options)
    data = load_dataset(args.dataset, args.root, **dataset_options(args))
    split_name = select_split(data, args)
    report = evaluate(model, data[split_name], batch_size=args.batch_size, dataset=args.dataset, classes=args.classes, progress=not args.quiet)

    table = Table(title=f"{args.checkpoint} on {args.dataset} {split_name} ({report.num_samples} faces, tta {report.tta}, {report.inference_precision})")
    for column in ("class", "precision", "recall", "f1", "support"):
        table.add_column(column, justify="left" if column == "class" else "right")
    for name, row in report.to_df().iterrows():
        table.add_row(str(name), f"{row.precision:.4f}", f"{row.recall:.4f}", f"{row.f1:.4f}", str(int(row.support)))
    console = Console(width=120)
    console.print(table)
    print(f"accuracy {report.accuracy:.4f}  balanced accuracy {report.balanced_accuracy:.4f}  macro F1 {report.macro_f1:.4f}")
    print_notes(report)
    if args.output:
        for path in report.save(args.output):
            print(f"wrote {path}")
    return 0


def print_notes(report) -> None:
    """The lines every eval prints after its accuracy: soft-label scores, classes dropped or not scored, ranks."""
    if report.soft_targets is not None:
        print(f"against the vote distributions: cross-entropy {report.cross_entropy:.4f}  KL divergence {report.kl_divergence:.4f}")
    if report.classes_dropped:
        print(f"model classes with no counterpart in the dataset (dropped): {', '.join(report.classes_dropped)}")
    if report.classes_not_scored:
        print(f"classes not scored (the model lacks them): {', '.join(report.classes_not_scored)} ({report.samples_not_scored} samples left out)")
    shares = report.rank_table()["percent"]
    print("true-label rank %: " + "  ".join(f"{rank}: {value:.2f}" for rank, value in shares.items()))
