import json

import numpy as np
import pytest

from openfer.cli import main
from openfer.curate import export_hdf5, write_hdf5
from openfer.data import load_dataset
from openfer.data.base import FaceSplit
from openfer.data.hdf5 import read_provenance
from openfer.errors import ConfigError, DatasetError
from openfer.imageio import write_image


def assert_same(source, loaded):
    assert list(loaded) == list(source)
    for name, split in source.items():
        back = loaded[name]
        images = np.stack([split.image(i) for i in range(len(split))])
        assert back.images.dtype == np.uint8 and np.array_equal(back.images, images)
        assert np.array_equal(back.labels, split.labels) and back.labels.dtype == np.int64
        assert back.classes == split.classes and back.grey == split.grey
        assert list(back.image_ids) == list(split.image_ids)
        for key in ("soft_labels", "groups"):
            mine, theirs = getattr(split, key), getattr(back, key)
            assert (mine is None) == (theirs is None)
            if mine is not None:
                assert theirs.dtype.kind == np.asarray(mine).dtype.kind and np.array_equal(theirs, mine)


def test_fer2013_round_trip_is_bit_for_bit_and_source_untouched(tiny_fer2013, tmp_path, tree_digest):
    before = tree_digest(tiny_fer2013)
    output = tmp_path / "out" / "fer.h5"
    assert main(["data", "export-hdf5", "fer2013", "--root", str(tiny_fer2013), "--output", str(output)]) == 0
    assert_same(load_dataset("fer2013", tiny_fer2013), load_dataset("hdf5", output))
    assert tree_digest(tiny_fer2013) == before
    record = read_provenance(output)
    assert record["tool"] == "openfer data export-hdf5" and record["openfer_version"]
    assert record["source"]["sha256"] == next(iter(before.values()))[0]
    assert json.loads((tmp_path / "out" / "fer.provenance.json").read_text())["counts"] == {
        "Training": 64, "PublicTest": 16, "PrivateTest": 16}


def test_soft_labels_groups_rgb_and_split_order_survive(tmp_path):
    rng = np.random.default_rng(0)
    soft = rng.dirichlet(np.ones(3), 5).astype(np.float32)
    data = {
        "val": FaceSplit("val", ("a", "b", "c"), np.array([0, 1, 2, 1, 0]), images=rng.integers(0, 256, (5, 6, 7, 3), dtype=np.uint8),
                         soft_labels=soft, groups=np.array(["s1", "s2", "s1", "s3", "s2"]), grey=False, image_ids=list("vwxyz")),
        "train": FaceSplit("train", ("a", "b", "c"), np.array([2, 2]), images=rng.integers(0, 256, (2, 6, 7, 3), dtype=np.uint8),
                           groups=np.array([7, 9]), grey=False, image_ids=["0", "1"]),
    }
    write_hdf5(data, tmp_path / "d.h5", {"tool": "test"})
    assert_same(data, load_dataset("hdf5", tmp_path / "d.h5"))


def test_lazy_folder_dataset_round_trip_and_split_choice(tmp_path):
    rng = np.random.default_rng(2)
    for split, count in (("train", 3), ("test", 2)):
        for i in range(count):
            write_image(tmp_path / "src" / split / ("happy" if i % 2 else "sad") / f"{i}.png", rng.integers(0, 256, (9, 9), dtype=np.uint8))
    source = load_dataset("folder", tmp_path / "src", grey=True)
    export_hdf5("folder", tmp_path / "src", tmp_path / "f.h5", splits=["test"], grey=True)
    assert_same({"test": source["test"]}, load_dataset("hdf5", tmp_path / "f.h5"))
    assert read_provenance(tmp_path / "f.h5")["parameters"]["reader_options"] == {"grey": True}


def test_mixed_sizes_need_image_size(tmp_path):
    write_image(tmp_path / "src" / "happy" / "a.png", np.zeros((8, 8), np.uint8))
    write_image(tmp_path / "src" / "happy" / "b.png", np.zeros((9, 9), np.uint8))
    with pytest.raises(DatasetError, match="--image-size"):
        export_hdf5("folder", tmp_path / "src", tmp_path / "a.h5", grey=True)
    assert not (tmp_path / "a.h5").exists() and not list(tmp_path.glob(".a.h5*"))
    export_hdf5("folder", tmp_path / "src", tmp_path / "b.h5", image_size=4, grey=True)
    assert load_dataset("hdf5", tmp_path / "b.h5")["all"].images.shape == (2, 4, 4)


def test_refuses_existing_output_and_foreign_files(tiny_fer2013, tmp_path):
    (tmp_path / "taken.h5").write_bytes(b"x")
    with pytest.raises(ConfigError, match="already exists"):
        export_hdf5("fer2013", tiny_fer2013, tmp_path / "taken.h5")
    with pytest.raises(DatasetError, match="not a readable HDF5"):
        load_dataset("hdf5", tmp_path / "taken.h5")
