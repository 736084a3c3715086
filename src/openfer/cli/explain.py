"""``openfer explain gradcam|tsne``: Grad-CAM overlays of photos and t-SNE of a split's features (docs/explain.md)."""

from __future__ import annotations

import argparse


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("explain", help="Grad-CAM maps of faces, t-SNE of features", description=__doc__)
    commands = parser.add_subparsers(dest="explain_command", required=True)

    gradcam = commands.add_parser(
        "gradcam",
        help="Grad-CAM and Grad-CAM++ overlays of the faces in photos (or of face crops)",
        description="openfer explain gradcam --checkpoint fast --image photo.jpg --output explained/ [--layer features.20]",
    )
    gradcam.add_argument("--checkpoint", default="fast", help="a preset (fast, default), .safetensors or .ckpt; default fast")
    gradcam.add_argument("--image", nargs="+", required=True, help="photos or face crops")
    gradcam.add_argument("--output", required=True, help="folder for STEM.METHOD[.MAP].png and faces.csv")
    gradcam.add_argument("--layer", nargs="+", default=None, help="module path(s) to explain at; default per architecture")
    gradcam.add_argument("--method", nargs="+", default=["gradcam", "gradcam++"], choices=("gradcam", "gradcam++"))
    gradcam.add_argument("--detector", default="auto", help="face detector (see openfer.faces.list_detectors()); default auto")
    gradcam.add_argument("--whole-image", action="store_true", help="treat each image as one face crop (no detection)")
    gradcam.set_defaults(handler=run_gradcam)

    tsne = commands.add_parser(
        "tsne",
        help="t-SNE of penultimate features of a dataset split, as tsne.png and tsne.csv",
        description="openfer explain tsne --checkpoint fast --dataset fer2013 --root PATH --split PublicTest --limit 2000 --output DIR",
    )
    tsne.add_argument("--checkpoint", default="fast", help="a preset (fast, default), .safetensors or .ckpt; default fast")
    tsne.add_argument("--dataset", default="fer2013")
    tsne.add_argument("--root", required=True, help="dataset file or folder")
    tsne.add_argument("--split", required=True)
    tsne.add_argument("--limit", type=int, default=2000, help="faces embedded (the split's first); default 2000")
    tsne.add_argument("--perplexity", type=float, default=30.0)
    tsne.add_argument("--seed", type=int, default=0)
    tsne.add_argument("--output", required=True, help="folder for tsne.png and tsne.csv")
    tsne.set_defaults(handler=run_tsne)


def run_gradcam(args: argparse.Namespace, rest: list[str]) -> int:
    from openfer.explain.gradcam import save_gradcam

    layer = None if args.layer is None else args.layer[0] if len(args.layer) == 1 else args.layer
    paths = save_gradcam(
        args.checkpoint, args.image, args.output, detector=args.detector, whole_image=args.whole_image, methods=tuple(args.method), layer=layer
    )
    for path in paths:
        print(f"wrote {path}")
    return 0


def run_tsne(args: argparse.Namespace, rest: list[str]) -> int:
    from openfer.data import load_dataset
    from openfer.errors import ConfigError
    from openfer.explain.embeddings import tsne
    from openfer.inference import load_model

    data = load_dataset(args.dataset, args.root)
    if args.split not in data:
        raise ConfigError(f"--split: dataset {args.dataset!r} has splits {sorted(data)}; name one of them")
    if args.limit < 3:
        raise ConfigError(f"--limit: t-SNE needs at least 3 faces, got {args.limit}")
    embedding = tsne(load_model(args.checkpoint), data[args.split], limit=args.limit, perplexity=args.perplexity, seed=args.seed)
    for path in embedding.save(args.output, title=f"t-SNE of {args.checkpoint} on {args.dataset} {args.split} ({len(embedding.labels)} faces)"):
        print(f"wrote {path}")
    return 0
