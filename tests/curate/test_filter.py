import csv
import json

import numpy as np
import pytest

from openfer.curate import curate_faces
from openfer.curate.filter import align_image, filter_split
from openfer.data import load_dataset
from openfer.data.base import FaceSplit
from openfer.errors import ConfigError
from openfer.faces import Detection


def test_filter_drops_faceless_images_keeps_pixels_and_never_touches_source(bright_fer2013, bright_detector, tmp_path, tree_digest):
    source_folder = bright_fer2013.parent
    before = tree_digest(source_folder)
    counts = curate_faces("fer2013", bright_fer2013, tmp_path / "fer2013.f", detector=bright_detector)
    assert tree_digest(source_folder) == before
    assert counts["Training"] == {"source": 21, "kept": 14, "dropped": 7}
    assert counts["PublicTest"] == {"source": 7, "kept": 7, "dropped": 0}
    source = load_dataset("fer2013", bright_fer2013)["Training"]
    kept = load_dataset("folder", tmp_path / "fer2013.f", grey=True, classes="fer2013")["Training"]
    by_id = {image_id.split("/")[-1][:-4]: i for i, image_id in enumerate(kept.image_ids)}
    expected = [i for i in range(21) if i % 3 != 2]
    assert sorted(map(int, by_id)) == expected
    for row in expected:
        assert np.array_equal(kept.image(by_id[str(row)]), source.image(row))
        assert kept.labels[by_id[str(row)]] == source.labels[row]
    with open(tmp_path / "fer2013.f" / "dropped.csv", newline="") as handle:
        dropped = list(csv.DictReader(handle))
    assert [int(r["image_id"]) for r in dropped] == [2, 5, 8, 11, 14, 17, 20]
    assert {r["reason"] for r in dropped} == {"no face found"} and dropped[0]["class"] == "fear"
    record = json.loads((tmp_path / "fer2013.f" / "provenance.json").read_text())
    assert record["tool"] == "openfer data filter" and record["openfer_version"]
    assert record["source"]["root"] == str(bright_fer2013.resolve()) and record["source"]["sha256"]
    assert record["parameters"]["upscale_to"] == 192 and record["counts"]["Training"]["dropped"] == 7


def test_align_writes_hdf5_with_provenance(bright_fer2013, bright_detector, tmp_path, tree_digest):
    before = tree_digest(bright_fer2013.parent)
    counts = curate_faces("fer2013", bright_fer2013, tmp_path / "a.h5", splits=["Training"], align=True, detector=bright_detector)
    assert tree_digest(bright_fer2013.parent) == before
    assert counts == {"Training": {"source": 21, "kept": 14, "dropped": 7, "eyes_not_found": 0}}
    aligned = load_dataset("hdf5", tmp_path / "a.h5")
    assert list(aligned) == ["Training"] and aligned["Training"].images.shape == (14, 48, 48)
    record = json.loads((tmp_path / "a.provenance.json").read_text())
    assert record["tool"] == "openfer data align" and record["parameters"]["framing"] == "image"
    assert (tmp_path / "a.dropped.csv").is_file()


def test_alignment_levels_tilted_eyes():
    image = np.zeros((64, 64), np.uint8)
    left, right = np.array([20.0, 36.0]), np.array([44.0, 24.0])  # eyes on a 26.6 degree slope
    for x, y in (left, right):
        image[int(y) - 1 : int(y) + 2, int(x) - 1 : int(x) + 2] = 255
    detection = Detection((8, 8, 48, 48), 1.0)
    for framing in ("image", "face"):
        out = align_image(image, detection, (left, right), framing=framing)
        assert out.shape == (64, 64)
        ys, xs = np.nonzero(out > 100)
        first, second = ys[xs < 32].mean(), ys[xs >= 32].mean()
        assert abs(first - second) < 1.5, framing


def test_unaligned_when_eyes_unknown_and_bad_framing():
    split = FaceSplit("s", ("a",), np.array([0]), images=np.full((1, 16, 16), 200, np.uint8))

    class Box:
        name = "box"

        def detect(self, image):
            return [Detection((4, 4, 8, 8), 1.0)]

    result = filter_split(split, Box(), align=True, eye_finder=lambda image, detection: None)
    assert result.unrotated == 1 and np.array_equal(result.split.images[0], split.images[0])
    with pytest.raises(ConfigError, match="framing"):
        filter_split(split, Box(), align=True, framing="sideways")


def test_output_inside_source_or_existing_is_refused(bright_fer2013, bright_detector, tmp_path):
    with pytest.raises(ConfigError, match="inside the source"):
        curate_faces("folder", bright_fer2013.parent, bright_fer2013.parent / "out", detector=bright_detector)
    with pytest.raises(ConfigError, match="already exists"):
        curate_faces("fer2013", bright_fer2013, bright_fer2013.parent, detector=bright_detector)


def test_cli_filter_and_align_write_datasets(tiny_fer2013, tmp_path, capsys, tree_digest):
    from openfer.cli import main

    before = tree_digest(tiny_fer2013)
    for command in ("filter", "align"):
        output = tmp_path / command
        argv = ["data", command, "fer2013", "--root", str(tiny_fer2013), "--split", "PublicTest", "--output", str(output)]
        assert main(argv) == 0
        record = json.loads((output / "provenance.json").read_text())
        assert record["tool"] == f"openfer data {command}" and record["source"]["splits"] == ["PublicTest"]
        counts = record["counts"]["PublicTest"]
        assert counts["kept"] + counts["dropped"] == 16 and (output / "dropped.csv").is_file()
        assert main(argv) == 2 and "already exists" in capsys.readouterr().err
    assert tree_digest(tiny_fer2013) == before
