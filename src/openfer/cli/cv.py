"""``openfer cv --config RECIPE --folds 10 [--run-dir D] [train overrides]``: subject-independent k-fold CV."""

from __future__ import annotations

import argparse


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "cv",
        help="subject-independent k-fold cross-validation of a recipe (CK+, JAFFE); resumable",
        description="Train and score every fold: openfer cv --config configs/openfer_vgg_ckplus.yaml --folds 10 "
        "[--run-dir runs/x_cv] [--trainer.max_epochs 2]. Fold k is tested on fold k and selects its checkpoint on "
        "fold k+1; finished folds are skipped, an interrupted one resumes. Writes RUN_DIR/cv.json and cv.md "
        "(docs/protocols.md).",
    )
    parser.add_argument("--config", required=True, help="training recipe (YAML) whose data.dataset has subject folds")
    parser.add_argument("--folds", type=int, default=10, help="number of folds (default 10; 3 or more)")
    parser.add_argument("--run-dir", default=None, help="folder for fold0..fold{K-1} and the summary; default: the recipe's run_dir")
    parser.add_argument("--batch-size", type=int, default=256, help="batch size for scoring each test fold")
    parser.set_defaults(handler=run, accepts_extra=True)


def run(args: argparse.Namespace, rest: list[str]) -> int:
    from openfer.engine.cv import cross_validate, summary_markdown

    summary = cross_validate(args.config, folds=args.folds, run_dir=args.run_dir, overrides=rest, batch_size=args.batch_size)
    print(summary_markdown(summary))
    return 0
