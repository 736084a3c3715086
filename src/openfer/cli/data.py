"""``openfer data info <dataset> --root PATH``: per-split, per-class counts and the image size."""

from __future__ import annotations

import argparse


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("data", help="inspect datasets")
    commands = parser.add_subparsers(dest="data_command", required=True)
    info = commands.add_parser("info", help="per-split, per-class counts and image size")
    info.add_argument("dataset", help="dataset name (see 'openfer data list')")
    info.add_argument("--root", required=True, help="dataset file or folder")
    info.set_defaults(handler=run_info)
    listing = commands.add_parser("list", help="list supported datasets")
    listing.set_defaults(handler=run_list)


def run_info(args: argparse.Namespace, rest: list[str]) -> int:
    from rich.console import Console
    from rich.table import Table

    from openfer.data import load_dataset

    data = load_dataset(args.dataset, args.root)
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
