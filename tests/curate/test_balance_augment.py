"""Offline augmentation (FER2013 ensembles report, Section 6): a new dataset, the source unchanged."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest

from openfer.cli import main as cli_main
from openfer.curate.augment import (
    MANIFEST_HEADER,
    REPORT_OPERATIONS,
    apply_parameters,
    augment_dataset,
    augment_plan,
    augment_split,
    draw_parameters,
)
from openfer.data import load_dataset
from openfer.data.base import FaceSplit
from openfer.errors import ConfigError

# Training counts per FER2013 class (angry, disgust, fear, happy, sad, surprise, neutral).
COUNTS = (20, 5, 12, 30, 10, 8, 15)


@pytest.fixture
def small_fer2013(tmp_path) -> Path:
    """A fer2013.csv with COUNTS Training rows per class and 7 PublicTest rows."""
    rng = np.random.default_rng(3)
    lines = ["emotion,pixels,Usage"]
    for label, count in enumerate(COUNTS):
        for _ in range(count):
            lines.append(f"{label},{' '.join(map(str, rng.integers(0, 256, 48 * 48)))},Training")
    for label in range(7):
        lines.append(f"{label},{' '.join(map(str, rng.integers(0, 256, 48 * 48)))},PublicTest")
    root = tmp_path / "fer2013"
    root.mkdir()
    (root / "fer2013.csv").write_text("\n".join(lines) + "\n")
    return root


def read_manifest(path: Path) -> list[dict]:
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


def test_counts_match_the_report_factors(small_fer2013, tmp_path, tree_digest):
    before = tree_digest(small_fer2013)
    output = tmp_path / "augmented.h5"
    plan = augment_dataset("fer2013", small_fer2013, output, seed=0)
    assert tree_digest(small_fer2013) == before
    expected = [round(n * (2.16 if c == "disgust" else 1.35)) for c, n in zip(plan.classes, COUNTS)]
    result = load_dataset("hdf5", output)
    assert result["Training"].counts() == expected == list(plan.targets)
    assert len(result["PublicTest"]) == 7


def test_source_images_kept_unchanged_and_manifest_names_op_and_source(small_fer2013, tmp_path):
    output = tmp_path / "augmented.h5"
    augment_dataset("fer2013", small_fer2013, output, factor=1.5, class_factors={"disgust": 3.0}, seed=1)
    source = load_dataset("fer2013", small_fer2013)
    result = load_dataset("hdf5", output)
    train, original = result["Training"], source["Training"]
    n = len(original)
    np.testing.assert_array_equal(train.images[:n], original.images)
    np.testing.assert_array_equal(train.labels[:n], original.labels)
    assert list(train.image_ids[:n]) == list(original.image_ids)
    np.testing.assert_array_equal(result["PublicTest"].images, source["PublicTest"].images)

    rows = read_manifest(tmp_path / "augmented.manifest.csv")
    assert tuple(rows[0]) == MANIFEST_HEADER
    assert [r["image_id"] for r in rows] == list(train.image_ids[n:])
    by_id = {image_id: i for i, image_id in enumerate(original.image_ids)}
    for row, label, image in zip(rows, train.labels[n:], train.images[n:]):
        source_index = by_id[row["source_image_id"]]
        assert int(row["label"]) == label == original.labels[source_index]
        assert row["augmentation"] == "+".join(REPORT_OPERATIONS)
        parameters = json.loads(row["parameters"])
        assert set(parameters) == set(REPORT_OPERATIONS)
        # The manifest row reproduces the image from its source exactly.
        np.testing.assert_array_equal(apply_parameters(original.images[source_index], parameters), image)

    record = json.loads((tmp_path / "augmented.provenance.json").read_text())
    assert record["tool"] == "openfer data augment"
    assert record["parameters"]["seed"] == 1 and record["parameters"]["class_factors"] == {"disgust": 3.0}
    assert record["source"]["root"] == str(small_fer2013.resolve())
    assert "openfer_version" in record and "created" in record


def test_same_seed_same_dataset_other_seed_differs():
    rng = np.random.default_rng(0)
    split = FaceSplit("Training", ("a", "b"), np.array([0] * 6 + [1] * 4), images=rng.integers(0, 256, (10, 16, 16), dtype=np.uint8))
    plan = augment_plan(split, factor=2.0, class_factors={})
    first, rows = augment_split(split, plan, seed=5)
    again, rows_again = augment_split(split, plan, seed=5)
    other, _ = augment_split(split, plan, seed=6)
    np.testing.assert_array_equal(first.images, again.images)
    assert rows == rows_again
    assert not np.array_equal(first.images[10:], other.images[10:])
    # Each source image is used once before any is used twice (factor 2: exactly once each).
    assert sorted(int(r[5]) for r in rows) == list(range(10))


def test_every_operation_draws_and_applies_on_grey_and_rgb():
    from openfer.curate.augment import OPERATIONS

    rng = np.random.default_rng(0)
    for shape in ((24, 24), (24, 24, 3)):
        image = rng.integers(0, 256, shape, dtype=np.uint8)
        for operation in OPERATIONS:
            parameters = draw_parameters([operation], np.random.default_rng(1))
            out = apply_parameters(image, parameters)
            assert out.shape == image.shape and out.dtype == np.uint8
    flipped = apply_parameters(image, {"flip": {"mirrored": 1.0}})
    np.testing.assert_array_equal(flipped, image[:, ::-1])


def test_refuses_existing_output_unknown_class_and_shrinking(small_fer2013, tmp_path):
    with pytest.raises(ConfigError, match="inside the source"):
        augment_dataset("fer2013", small_fer2013, small_fer2013 / "out.h5")
    (tmp_path / "exists.h5").write_bytes(b"")
    with pytest.raises(ConfigError, match="already exists"):
        augment_dataset("fer2013", small_fer2013, tmp_path / "exists.h5")
    with pytest.raises(ConfigError, match="no class 'disgusted'"):
        augment_dataset("fer2013", small_fer2013, tmp_path / "a.h5", class_factors={"disgusted": 2.0})
    with pytest.raises(ConfigError, match=">= 1"):
        augment_dataset("fer2013", small_fer2013, tmp_path / "b.h5", factor=0.5)
    with pytest.raises(ConfigError, match="unknown augmentation"):
        augment_dataset("fer2013", small_fer2013, tmp_path / "c.h5", operations=["warp"])


def test_cli_writes_a_folder_dataset(small_fer2013, tmp_path, capsys):
    output = tmp_path / "augmented"
    code = cli_main(["data", "augment", "fer2013", "--root", str(small_fer2013), "--output", str(output),
                     "--factor", "1.2", "--factor-for", "disgust=2", "--ops", "flip,noise", "--seed", "3"])
    assert code == 0
    result = load_dataset("folder", output, grey=True, classes="fer2013")
    assert result["Training"].counts() == [round(n * (2 if i == 1 else 1.2)) for i, n in enumerate(COUNTS)]
    rows = read_manifest(output / "manifest.csv")
    assert {r["augmentation"] for r in rows} == {"flip+noise"}
    assert (output / "provenance.json").is_file()
