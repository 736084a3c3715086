"""``openfer data info <dataset> --root PATH [--option KEY=VALUE ...]``: per-split, per-class counts and
the image size; ``openfer data list``: the dataset names."""

from __future__ import annotations

import argparse
from typing import Any

from openfer.errors import ConfigError


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("data", help="inspect datasets")
    commands = parser.add_subparsers(dest="data_command", required=True)
    info = commands.add_parser("info", help="per-split, per-class counts and image size")
    info.add_argument("dataset", help="dataset name (see 'openfer data list')")
    info.add_argument("--root", required=True, help="dataset file or folder")
    info.add_argument(
        "--option",
        "-o",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="reader option, repeatable (e.g. mode=probability, fold=0, classes=7)",
    )
    info.set_defaults(handler=run_info)
    listing = commands.add_parser("list", help="list supported datasets")
    listing.set_defaults(handler=run_list)


def parse_options(items: list[str]) -> dict[str, Any]:
    """``["fold=3", "mode=probability"]`` -> ``{"fold": 3, "mode": "probability"}`` (ints, floats, true/false)."""
    options: dict[str, Any] = {}
    for item in items:
        key, sep, text = item.partition("=")
        if not sep or not key:
            raise ConfigError(f"--option {item!r}: expected KEY=VALUE")
        value: Any = text
        if text.lower() in ("true", "false"):
            value = text.lower() == "true"
        else:
            for kind in (int, float):
                try:
                    value = kind(text)
                    break
                except ValueError:
                    continue
        options[key] = value
    return options


def run_info(args: argparse.Namespace, rest: list[str]) -> int:
    from rich.console import Console
    from rich.table import Table

    from openfer.data import load_dataset

    data = load_dataset(args.dataset, args.root, **parse_options(args.option))
    classes = next(iter(data.values())).classes if data else ()
    table = Table(title=f"{args.dataset} at {args.root}")
    table.add_column("split")
    for name in classes:
        table.add_column(name, justify="right")
    table.add_column("total", justify="right")
    table.add_column("image size", justify="right")
    for name, split in data.items():
        counts = split.counts()
        size = split.image_size()
        table.add_row(name, *map(str, counts), str(len(split)), "x".join(map(str, size)) if size else "-")
    Console(width=200).print(table)
    for name, split in data.items():
        print(f"{name}: {split.counts()}")
    return 0


def run_list(args: argparse.Namespace, rest: list[str]) -> int:
    from openfer.data import list_datasets

    print("\n".join(list_datasets()))
    return 0
