"""``openfer eval``: score a checkpoint or weights file on a dataset split (see docs/evaluation.md)."""

from __future__ import annotations

import argparse

from openfer.inference import PRESETS, TTA_MODES

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
    parser.add_argument("--fold", type=int, default=None, help="CK+/JAFFE: score the test part of subject-independent fold K (as 'openfer cv')")
    parser.add_argument("--num-folds", type=int, default=10, help="with --fold: the number of folds (default 10)")
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--output", default=None, help="folder for summary.json, per_class.csv, confusion_matrix.png/.csv, predictions.csv")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace, rest: list[str]) -> int:
    from rich.console import Console
    from rich.table import Table

    from openfer.data import load_dataset
    from openfer.engine.evaluate import evaluate
    from openfer.errors import ConfigError
    from openfer.inference import load_model

    model = load_model(args.checkpoint, **({"tta": args.tta} if args.tta is not None else {}))
    data = load_dataset(args.dataset, args.root, **({} if args.fold is None else {"fold": args.fold, "num_folds": args.num_folds}))
    split_name = args.split or next((name for name in TEST_SPLITS if name in data), None)
    if split_name is None or split_name not in data:
        raise ConfigError(f"--split: dataset {args.dataset!r} has splits {sorted(data)}; name one of them")
    report = evaluate(model, data[split_name], batch_size=args.batch_size, dataset=args.dataset)

    table = Table(title=f"{args.checkpoint} on {args.dataset} {split_name} ({report.num_samples} faces, tta {report.tta})")
    for column in ("class", "precision", "recall", "f1", "support"):
        table.add_column(column, justify="left" if column == "class" else "right")
    for name, row in report.to_df().iterrows():
        table.add_row(str(name), f"{row.precision:.4f}", f"{row.recall:.4f}", f"{row.f1:.4f}", str(int(row.support)))
    console = Console(width=120)
    console.print(table)
    print(f"accuracy {report.accuracy:.4f}  balanced accuracy {report.balanced_accuracy:.4f}  macro F1 {report.macro_f1:.4f}")
    if args.output:
        for path in report.save(args.output):
            print(f"wrote {path}")
    return 0
