"""Offline augmentation that enlarges and rebalances a split (FER2013 ensembles report, Section 6).

The report grew FER2013's training set "by augmenting (random rotations, change in contrast, adding
jitter, random size crop) present samples by ≈ 1.35 times for all classes except disgust, [...] where we
used an ≈ 2.16 increase". Here a class of ``n`` images ends with ``round(n * factor)``: the ``n`` source
images unchanged, then ``round(n * factor) - n`` new ones, each made from one source image of its class
by the chosen operations applied in turn (a composition, as a training transform composes them).

Geometric operations (``rotation``, ``crop``, ``shift``, ``flip``) are folded into one warp by
:func:`openfer.augment.affine_warp` (one interpolation); photometric ones (``contrast``, ``jitter``,
``noise``, ``blur``) follow in that order. Every parameter is drawn from one seeded generator, rounded to
4 decimals and applied as rounded, so the manifest row of an image reproduces it exactly. Source images
are used in turn from a seeded permutation of their class, so none is used twice before all are used once.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import numpy as np

from openfer.data.base import Dataset, FaceSplit
from openfer.errors import ConfigError

#: The report's factors: ≈1.35× every class, ≈2.16× disgust.
REPORT_FACTOR = 1.35
REPORT_CLASS_FACTORS: dict[str, float] = {"disgust": 2.16}
#: The report's four augmentations, in the order they are applied.
REPORT_OPERATIONS: tuple[str, ...] = ("rotation", "crop", "contrast", "jitter")
GEOMETRIC = ("rotation", "crop", "shift", "flip")
PHOTOMETRIC = ("contrast", "jitter", "noise", "blur")
OPERATIONS: tuple[str, ...] = GEOMETRIC + PHOTOMETRIC
#: The range each operation draws from (uniform): degrees, kept area fraction, shift as a fraction of the
#: side, flip probability, contrast and brightness factors, noise standard deviation (grey levels), blur sigma (px).
RANGES: dict[str, tuple[float, float]] = {
    "rotation": (-15.0, 15.0),
    "crop": (0.8, 1.0),
    "shift": (-0.08, 0.08),
    "flip": (0.5, 0.5),
    "contrast": (0.7, 1.3),
    "jitter": (0.8, 1.2),
    "noise": (2.0, 8.0),
    "blur": (0.5, 1.2),
}
MANIFEST_NAME = "manifest.csv"
MANIFEST_HEADER = ("image_id", "split", "label", "class", "source_image_id", "source_index", "augmentation", "parameters")


@dataclass(frozen=True)
class AugmentPlan:
    """Per class of one split: source images, factor, and images after augmentation."""

    split: str
    classes: tuple[str, ...]
    counts: tuple[int, ...]
    factors: tuple[float, ...]

    @property
    def targets(self) -> tuple[int, ...]:
        return tuple(int(round(n * f)) for n, f in zip(self.counts, self.factors))

    @property
    def added(self) -> tuple[int, ...]:
        return tuple(t - n for t, n in zip(self.targets, self.counts))

    def to_dict(self) -> dict[str, Any]:
        return {
            c: {"source": n, "factor": f, "added": a, "total": t}
            for c, n, f, a, t in zip(self.classes, self.counts, self.factors, self.added, self.targets)
        }

    def table(self) -> str:
        width = max(len("class"), *(len(c) for c in self.classes))
        lines = [f"{self.split}", f"{'class':<{width}}  {'source':>7}  {'factor':>6}  {'added':>6}  {'total':>7}"]
        lines += [
            f"{c:<{width}}  {n:>7}  {f:>6.2f}  {a:>6}  {t:>7}"
            for c, n, f, a, t in zip(self.classes, self.counts, self.factors, self.added, self.targets)
        ]
        lines.append(f"{'total':<{width}}  {sum(self.counts):>7}  {'':>6}  {sum(self.added):>6}  {sum(self.targets):>7}")
        return "\n".join(lines)


def augment_plan(split: FaceSplit, factor: float = REPORT_FACTOR, class_factors: Mapping[str, float] | None = None) -> AugmentPlan:
    """The plan for ``split``: ``factor`` for every class, ``class_factors`` (by class name) overriding it.
    ``class_factors`` None: the report's (:data:`REPORT_CLASS_FACTORS`, for the classes the split has)."""
    if class_factors is None:
        class_factors = {name: value for name, value in REPORT_CLASS_FACTORS.items() if name in split.classes}
    class_factors = dict(class_factors)
    for name, value in class_factors.items():
        if name not in split.classes:
            raise ConfigError(f"--factor-for {name}={value}: no class {name!r}; the split's classes are {list(split.classes)}")
    factors = tuple(float(class_factors.get(name, factor)) for name in split.classes)
    for name, value in zip(split.classes, factors):
        if not (math.isfinite(value) and value >= 1.0):
            raise ConfigError(f"factor for {name!r}: expected a number >= 1 (augmentation only adds images), got {value}")
    return AugmentPlan(split.name, tuple(split.classes), tuple(split.counts()), factors)


def draw_parameters(operations: Sequence[str], rng: np.random.Generator) -> dict[str, dict[str, float]]:
    """One image's parameters, ``{operation: {name: value}}``, drawn from :data:`RANGES` and rounded to 4 decimals."""
    chosen: dict[str, dict[str, float]] = {}
    for operation in operations:
        low, high = RANGES[operation]
        if operation == "rotation":
            chosen[operation] = {"degrees": rng.uniform(low, high)}
        elif operation == "crop":
            # A random-size crop keeping ``area`` of the image, resized back; its centre stays inside the image.
            area = rng.uniform(low, high)
            room = 1.0 - math.sqrt(area)
            chosen[operation] = {"area": area, "dx": rng.uniform(-room, room), "dy": rng.uniform(-room, room)}
        elif operation == "shift":
            chosen[operation] = {"dx": rng.uniform(low, high), "dy": rng.uniform(low, high)}
        elif operation == "flip":
            chosen[operation] = {"mirrored": float(rng.uniform() < low)}
        elif operation == "contrast":
            chosen[operation] = {"factor": rng.uniform(low, high)}
        elif operation == "jitter":
            chosen[operation] = {"brightness": rng.uniform(low, high)}
        elif operation == "noise":
            chosen[operation] = {"std": rng.uniform(low, high), "seed": float(rng.integers(0, 2**31 - 1))}
        elif operation == "blur":
            chosen[operation] = {"sigma": rng.uniform(low, high)}
    return {op: {k: round(float(v), 4) for k, v in values.items()} for op, values in chosen.items()}


def apply_parameters(image: np.ndarray, parameters: Mapping[str, Mapping[str, float]]) -> np.ndarray:
    """``image`` (H x W grey or H x W x 3 uint8) transformed by :func:`draw_parameters`' output."""
    return apply_batch(image[None], [parameters])[0]


def apply_batch(images: np.ndarray, parameters: Sequence[Mapping[str, Mapping[str, float]]]) -> np.ndarray:
    """Each image of ``images`` (N x H x W or N x H x W x 3 uint8, one size) transformed by its own parameters."""
    import cv2
    import torch

    from openfer.augment import affine_warp

    if len(images) == 0:
        return images.copy()
    rgb = images.ndim == 4
    height, width = images.shape[1:3]
    if height != width:
        raise ConfigError(f"augmentation needs square images, got {height}x{width}")
    out = images.astype(np.float32)
    if any(op in p for p in parameters for op in GEOMETRIC):
        zoom, angle, tx, ty, sign = (np.ones(len(images)), np.zeros(len(images)), np.zeros(len(images)), np.zeros(len(images)), np.ones(len(images)))
        for i, p in enumerate(parameters):
            if "rotation" in p:
                angle[i] = math.radians(p["rotation"]["degrees"])
            if "crop" in p:
                zoom[i] = 1.0 / math.sqrt(p["crop"]["area"])
                tx[i] += p["crop"]["dx"]
                ty[i] += p["crop"]["dy"]
            if "shift" in p:
                # affine_grid units: 2 is the whole side.
                tx[i] += 2 * p["shift"]["dx"]
                ty[i] += 2 * p["shift"]["dy"]
            if "flip" in p and p["flip"]["mirrored"]:
                sign[i] = -1.0
        x = torch.from_numpy(out).permute(0, 3, 1, 2) if rgb else torch.from_numpy(out)[:, None]
        as_tensor = lambda a: torch.as_tensor(a, dtype=torch.float32)  # noqa: E731
        warped = affine_warp(x, as_tensor(zoom), as_tensor(angle), as_tensor(tx), as_tensor(ty), as_tensor(sign), height)
        out = (warped.permute(0, 2, 3, 1) if rgb else warped[:, 0]).numpy().copy()
    for i, p in enumerate(parameters):
        image = out[i]
        if "contrast" in p:
            mean = image.mean()
            image = (image - mean) * p["contrast"]["factor"] + mean
        if "jitter" in p:
            image = image * p["jitter"]["brightness"]
        if "noise" in p:
            noise = np.random.default_rng(int(p["noise"]["seed"])).normal(0.0, p["noise"]["std"], image.shape)
            image = image + noise.astype(np.float32)
        if "blur" in p:
            image = cv2.GaussianBlur(image, (0, 0), p["blur"]["sigma"], borderType=cv2.BORDER_REPLICATE)
        out[i] = image
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


def augment_split(
    split: FaceSplit,
    plan: AugmentPlan,
    operations: Sequence[str] = REPORT_OPERATIONS,
    seed: int = 0,
) -> tuple[FaceSplit, list[tuple]]:
    """``split`` with its source images first, unchanged and in order, then the new ones the plan asks for;
    and one manifest row (:data:`MANIFEST_HEADER`) per new image."""
    from openfer.curate.hdf5 import split_images

    operations = check_operations(operations)
    rng = np.random.default_rng(seed)
    images = split_images(split)
    ids = [str(i) for i in split.image_ids] if split.image_ids is not None else [str(i) for i in range(len(split))]
    sources: list[int] = []
    for label, added in enumerate(plan.added):
        members = np.flatnonzero(split.labels == label)
        order: list[int] = []
        while len(order) < added:
            order += members[rng.permutation(len(members))].tolist()
        sources += order[:added]
    parameters = [draw_parameters(operations, rng) for _ in sources]
    new_images = apply_batch(images[sources], parameters) if sources else images[:0]
    name = "+".join(operations)
    new_ids, rows = [], []
    for number, (source, values) in enumerate(zip(sources, parameters)):
        image_id = f"aug{number:06d}"
        new_ids.append(image_id)
        label = int(split.labels[source])
        rows.append((image_id, split.name, label, split.classes[label], ids[source], source, name, json.dumps(values, sort_keys=True)))
    augmented = FaceSplit(
        name=split.name,
        classes=split.classes,
        labels=np.concatenate([split.labels, split.labels[sources]]),
        images=np.concatenate([images, new_images]),
        soft_labels=None if split.soft_labels is None else np.concatenate([split.soft_labels, np.asarray(split.soft_labels)[sources]]),
        groups=None if split.groups is None else np.concatenate([split.groups, np.asarray(split.groups)[sources]]),
        grey=split.grey,
        image_ids=ids + new_ids,
    )
    return augmented, rows


def check_operations(operations: Sequence[str]) -> tuple[str, ...]:
    """The operations in the order they are applied (geometric, then photometric); ConfigError on an unknown one."""
    for operation in operations:
        if operation not in OPERATIONS:
            raise ConfigError(f"--ops: unknown augmentation {operation!r}; available: {', '.join(OPERATIONS)}")
    if not operations:
        raise ConfigError("--ops: name at least one augmentation")
    return tuple(op for op in OPERATIONS if op in operations)


def augment_dataset(
    dataset: str,
    root: str | Path,
    output: str | Path,
    split: str = "Training",
    factor: float = REPORT_FACTOR,
    class_factors: Mapping[str, float] | None = None,
    operations: Sequence[str] = REPORT_OPERATIONS,
    seed: int = 0,
    progress: Callable[[str], None] | None = None,
    **options: Any,
) -> AugmentPlan:
    """``openfer data augment``: a new dataset at ``output`` (a .h5 file, or a folder of class folders) holding
    every split of the source, ``split`` enlarged by :func:`augment_split`, with ``manifest.csv`` (one row
    per new image) and ``provenance.json`` beside it. The source is only read; returns the plan."""
    from openfer.curate.output import check_destination, describe_source, provenance, write_dataset
    from openfer.data import load_dataset

    output = check_destination(output, root)
    source = load_dataset(dataset, root, **options)
    if split not in source:
        raise ConfigError(f"--split {split!r}: no such split; the dataset has {list(source)}")
    plan = augment_plan(source[split], factor, class_factors)
    operations = check_operations(operations)
    if progress:
        progress(plan.table())
    augmented, rows = augment_split(source[split], plan, operations, seed)
    result: Dataset = {name: augmented if name == split else part for name, part in source.items()}
    parameters = {
        "split": split,
        "factor": factor,
        "class_factors": {c: f for c, f in zip(plan.classes, plan.factors) if f != factor},
        "operations": list(operations),
        "ranges": {op: list(RANGES[op]) for op in operations},
        "seed": seed,
        "reader_options": options,
    }
    record = provenance(
        "openfer data augment", describe_source(dataset, root, list(source)), parameters,
        counts=plan.to_dict(), manifest=MANIFEST_NAME,
    )
    write_dataset(result, output, record, {MANIFEST_NAME: (MANIFEST_HEADER, rows)})
    return plan


def parse_class_factors(items: Sequence[str]) -> dict[str, float]:
    """``["disgust=2.16"]`` -> ``{"disgust": 2.16}``; ConfigError naming the bad item."""
    factors: dict[str, float] = {}
    for item in items:
        name, sep, text = item.partition("=")
        try:
            factors[name.strip()] = float(text)
        except ValueError:
            sep = ""
        if not sep or not name.strip():
            raise ConfigError(f"--factor-for {item!r}: expected CLASS=FACTOR, e.g. disgust=2.16")
    return factors
