"""``openfer data info <dataset> --root PATH [--option KEY=VALUE ...]``: per-split, per-class counts and
the image size; ``openfer data list``: the dataset names. Curation (:mod:`openfer.curate`): ``balance-plan``,
``filter``, ``align``, ``export-hdf5``, ``generate`` and ``augment``, each writing a new dataset and never touching the source."""

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
    add_curation_parsers(commands)


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


def _source_arguments(parser: argparse.ArgumentParser, split_help: str) -> None:
    parser.add_argument("dataset", help="dataset name (see 'openfer data list')")
    parser.add_argument("--root", required=True, help="dataset file or folder (only read)")
    parser.add_argument("--split", action="append", default=[], help=split_help)
    parser.add_argument("--option", "-o", action="append", default=[], metavar="KEY=VALUE", help="reader option, repeatable")


def add_curation_parsers(commands: argparse._SubParsersAction) -> None:
    plan = commands.add_parser("balance-plan", help="images per class and how many each class needs to balance")
    _source_arguments(plan, "split to plan, repeatable (default: every split)")
    plan.add_argument("--target", type=int, help="images per class to reach (default: the split's largest class)")
    plan.add_argument("--json", action="store_true", help="print the plan as JSON")
    plan.set_defaults(handler=run_balance_plan)
    for name, align in (("filter", False), ("align", True)):
        verb = "drop images with no detected face, eye-align the rest" if align else "drop images with no detected face"
        command = commands.add_parser(name, help=f"{verb}, into a new dataset")
        _source_arguments(command, "split to curate, repeatable (default: every split)")
        command.add_argument("--output", required=True, help="new dataset: a folder, or a .h5 file")
        command.add_argument("--detector", default="yunet", help="face detector (default: yunet)")
        command.add_argument(
            "--upscale-to", type=int, default=192,
            help="enlarge images to this longer side before detection (default 192; FER2013 faces are 48 px)",
        )
        if align:
            command.add_argument("--framing", choices=("image", "face"), default="image",
                                 help="image: rotate the whole image (keeps its framing); face: crop the face box")
            command.add_argument("--margin", type=float, default=0.1, help="face framing: margin each side, fraction of the box")
        command.set_defaults(handler=run_filter, align=align)
    export = commands.add_parser("export-hdf5", help="dataset splits to one HDF5 file")
    _source_arguments(export, "split to export, repeatable (default: every split)")
    export.add_argument("--output", required=True, help="the .h5 file to write")
    export.add_argument("--image-size", type=int, help="resize every image to this square size (default: unchanged)")
    export.add_argument("--compression", choices=("lzf", "gzip"), help="HDF5 compression (default: none, fastest to load)")
    export.set_defaults(handler=run_export_hdf5)
    generate = commands.add_parser("generate", help="balance splits with faces from a local text-to-image pipeline")
    _source_arguments(generate, "split to balance, repeatable (default: Training)")
    generate.add_argument("--output", required=True, help="new dataset: a folder, or a .h5 file")
    generate.add_argument("--pipeline", help="folder of a diffusers pipeline saved locally (nothing is downloaded)")
    generate.add_argument("--target", type=int, help="images per class (default: the split's largest class)")
    generate.add_argument("--seed", type=int, default=0, help="first seed; it advances by --seed-step per image")
    generate.add_argument("--seed-step", type=int, default=200, help="seed increment per image (report: 200)")
    generate.add_argument("--steps", type=int, default=40, help="inference steps (report: 40)")
    generate.add_argument("--guidance-scale", type=float, default=5.5, help="guidance scale (report: 5.5)")
    generate.add_argument("--size", type=int, default=512, help="generated image side (report: 512)")
    generate.add_argument("--device", default="cpu", help="torch device of the pipeline")
    generate.add_argument("--dry-run", action="store_true", help="print the plan and the prompts; generate nothing")
    generate.set_defaults(handler=run_generate)
    add_augment_parser(commands)


def add_augment_parser(commands: argparse._SubParsersAction) -> None:
    from openfer.curate.augment import OPERATIONS, REPORT_FACTOR, REPORT_OPERATIONS

    augment = commands.add_parser(
        "augment", help="enlarge a split with augmented copies of its images, per class, into a new dataset",
        description="openfer data augment fer2013 --root R --split Training --output fer2013_augmented.h5 "
        "(the FER2013 ensembles report: 1.35x every class, 2.16x disgust). The new dataset holds every split of "
        "the source; the chosen split keeps its images unchanged and gains the new ones, listed in manifest.csv.",
    )
    augment.add_argument("dataset", help="dataset name (see 'openfer data list')")
    augment.add_argument("--root", required=True, help="dataset file or folder (only read)")
    augment.add_argument("--split", default="Training", help="split to enlarge (default Training)")
    augment.add_argument("--option", "-o", action="append", default=[], metavar="KEY=VALUE", help="reader option, repeatable")
    augment.add_argument("--output", required=True, help="new dataset: a .h5 file (fast), or a folder of class folders")
    augment.add_argument("--factor", type=float, default=REPORT_FACTOR, help=f"images after / before, every class (default {REPORT_FACTOR})")
    augment.add_argument(
        "--factor-for", action="append", default=[], metavar="CLASS=FACTOR",
        help="a class's own factor, repeatable (default: disgust=2.16, the report's; giving any replaces it)",
    )
    augment.add_argument(
        "--ops", default=",".join(REPORT_OPERATIONS),
        help=f"augmentations composed on each new image, comma-separated (default {','.join(REPORT_OPERATIONS)}; "
        f"available {','.join(OPERATIONS)})",
    )
    augment.add_argument("--seed", type=int, default=0, help="seed of every draw (default 0)")
    augment.set_defaults(handler=run_augment)


def run_augment(args: argparse.Namespace, rest: list[str]) -> int:
    import sys

    from openfer.curate.augment import augment_dataset, parse_class_factors

    plan = augment_dataset(
        args.dataset, args.root, args.output, args.split, args.factor,
        parse_class_factors(args.factor_for) if args.factor_for else None,
        [op.strip() for op in args.ops.split(",") if op.strip()], args.seed,
        progress=lambda line: print(line, file=sys.stderr, flush=True), **parse_options(args.option),
    )
    print(f"{plan.split}: {sum(plan.counts)} source images + {sum(plan.added)} augmented = {sum(plan.targets)}")
    print(f"wrote {args.output}")
    return 0


def run_balance_plan(args: argparse.Namespace, rest: list[str]) -> int:
    import json

    from openfer.curate.balance import balance_plan
    from openfer.curate.filter import choose_splits
    from openfer.data import load_dataset

    data = load_dataset(args.dataset, args.root, **parse_options(args.option))
    plans = [balance_plan(data[name], args.target) for name in choose_splits(data, args.split)]
    if args.json:
        print(json.dumps({"splits": [p.to_dict() for p in plans], "needed": sum(p.total_needed for p in plans)}, indent=2))
        return 0
    for plan in plans:
        print(plan.table(), end="\n\n")
    print(f"needed in all: {sum(p.total_needed for p in plans)} images "
          f"(+{sum(p.total_needed for p in plans) / max(1, sum(p.total for p in plans)):.0%} on {sum(p.total for p in plans)})")
    return 0


def run_filter(args: argparse.Namespace, rest: list[str]) -> int:
    import sys

    from openfer.curate.filter import curate_faces

    extra = {"framing": args.framing, "margin": args.margin} if args.align else {}
    counts = curate_faces(
        args.dataset, args.root, args.output, args.split, align=args.align, detector=args.detector,
        upscale_to=args.upscale_to, progress=lambda line: print(line, file=sys.stderr, flush=True),
        **extra, **parse_options(args.option),
    )
    for name, row in counts.items():
        print(f"{name}: " + ", ".join(f"{k} {v}" for k, v in row.items()))
    print(f"wrote {args.output}")
    return 0


def run_export_hdf5(args: argparse.Namespace, rest: list[str]) -> int:
    from openfer.curate.hdf5 import export_hdf5

    path = export_hdf5(args.dataset, args.root, args.output, args.split, args.image_size, args.compression,
                       **parse_options(args.option))
    print(f"wrote {path}")
    return 0


def run_generate(args: argparse.Namespace, rest: list[str]) -> int:
    import sys

    from openfer.curate.balance import balance_plan
    from openfer.curate.filter import choose_splits
    from openfer.curate.generate import DiffusersBackend, PromptGenerator, generate_balanced

    splits = args.split or ["Training"]
    if args.dry_run:
        from openfer.data import load_dataset

        data = load_dataset(args.dataset, args.root, **parse_options(args.option))
        seed = args.seed
        for name in choose_splits(data, splits):
            plan = balance_plan(data[name], args.target)
            print(plan.table())
            prompts = PromptGenerator(seed, args.seed_step).prompts(dict(zip(plan.classes, plan.needed)))
            for prompt in prompts:
                print(f"{prompt.emotion}\t{prompt.seed}\t{prompt.prompt}")
            seed += args.seed_step * len(prompts)
        return 0
    if not args.pipeline:
        raise ConfigError("--pipeline: needed to generate (a local diffusers pipeline folder), or pass --dry-run")
    backend = DiffusersBackend(args.pipeline, args.steps, args.guidance_scale, args.size, args.device)
    counts = generate_balanced(
        args.dataset, args.root, args.output, backend, splits, args.target, args.seed, args.seed_step,
        progress=lambda line: print(line, file=sys.stderr, flush=True), **parse_options(args.option),
    )
    for name, row in counts.items():
        print(f"{name}: generated {row['generated']} (needed {row['needed']})")
    print(f"wrote {args.output}")
    return 0
