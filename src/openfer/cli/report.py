"""``openfer report RUN_DIR|CHECKPOINT... --dataset D --root R --split S --output report.html`` (docs/explain.md)."""

from __future__ import annotations

import argparse


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "report",
        help="one offline HTML (and Markdown) report of a run or an ensemble of checkpoints on a split",
        description="openfer report runs/x --dataset fer2013 --root PATH --split PrivateTest --output report.html; "
        "several sources are averaged as an ensemble",
    )
    parser.add_argument("sources", nargs="+", help="run folders (their best checkpoint) or checkpoints/presets")
    parser.add_argument("--dataset", default="fer2013")
    parser.add_argument("--root", required=True, help="dataset file or folder")
    parser.add_argument("--split", required=True)
    parser.add_argument("--output", required=True, help="the HTML file; its .md twin and NAME_files/ go beside it")
    parser.add_argument("--limit", type=int, default=None, help="score only the split's first LIMIT faces")
    parser.add_argument("--tta", default=None, choices=("none", "flip", "tencrop", "affine"), help="default: each model's own")
    parser.add_argument("--errors", type=int, default=24, help="faces in the gallery of most confident errors; default 24")
    parser.add_argument("--tsne-limit", type=int, default=2000, help="faces in the t-SNE plot (0: no t-SNE); default 2000")
    parser.add_argument("--batch-size", type=int, default=256)
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace, rest: list[str]) -> int:
    from openfer.data import load_dataset
    from openfer.errors import ConfigError
    from openfer.explain.report import write_report

    data = load_dataset(args.dataset, args.root)
    if args.split not in data:
        raise ConfigError(f"--split: dataset {args.dataset!r} has splits {sorted(data)}; name one of them")
    paths = write_report(
        args.sources, data[args.split], args.output, dataset=args.dataset, limit=args.limit, tta=args.tta,
        errors=args.errors, tsne_limit=args.tsne_limit, batch_size=args.batch_size,
    )
    print(f"wrote {paths[-1]} and {paths[-2]} ({len(paths) - 2} images beside them)")
    return 0
