"""``openfer train --config RECIPE.yaml [overrides]``: LightningCLI under the hood."""

from __future__ import annotations

import argparse


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "train",
        help="train a model from a recipe (YAML); any LightningCLI option overrides it",
        description="Train from a recipe: openfer train --config configs/openfer_vgg_fer2013.yaml "
        "[--trainer.max_epochs 2] [--resume last]. Run 'openfer train --help-recipe' for every option.",
        add_help=False,
    )
    parser.set_defaults(handler=run, accepts_extra=True)


def run(args: argparse.Namespace, rest: list[str]) -> int:
    from openfer.engine.train import train

    rest = ["--help" if a == "--help-recipe" else a for a in rest]
    train(rest)
    return 0
