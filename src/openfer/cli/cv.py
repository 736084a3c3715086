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
    parser.add_argument("--only", type=_fold_numbers, default=None, metavar="K[,K...]",
                        help="train only these folds (a long protocol a few folds per session); the summary covers every finished fold")
    parser.add_argument("--summary", action="store_true", help="train nothing: summarise the folds finished so far")
    parser.add_argument("--keep", default=None, metavar="DIR",
                        help="also write each fold result and the summary here as they finish (e.g. benchmarks/results/cv/NAME), "
                        "and skip the folds already kept here: the run folder can then be lost without losing finished folds")
    parser.set_defaults(handler=run, accepts_extra=True)


def _fold_numbers(text: str) -> list[int]:
    try:
        return [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: expected fold numbers separated by commas, e.g. 0,1,2") from None


def run(args: argparse.Namespace, rest: list[str]) -> int:
    from openfer.engine.cv import read_recipe, cross_validate, summarise_finished, summary_markdown

    if args.summary:
        run_dir = args.run_dir or read_recipe(args.config).get("run_dir") or "runs/default"
        summary = summarise_finished(run_dir, args.folds, keep=args.keep, config=str(args.config), overrides=rest)
    else:
        summary = cross_validate(args.config, folds=args.folds, run_dir=args.run_dir, overrides=rest, batch_size=args.batch_size,
                                 only=args.only, keep=args.keep)
    print(summary_markdown(summary))
    return 0
