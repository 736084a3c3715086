"""Class-folder datasets: FER2013's image-folder layout, the generic ``folder`` dataset, bad folders."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from openfer import imageio, labels
from openfer.data import load_dataset
from openfer.data.fer2013 import load_fer2013
from openfer.errors import DatasetError, ImageError

# FER2013 image-folder copies spell the classes in many ways; all resolve by meaning.
FER_FOLDERS = {"Angry": 2, "disgust": 1, "fearful": 1, "happy": 3, "Sad": 1, "surprise": 1, "neutral": 2}


def _fer_folder_layout(root: Path, write_image) -> None:
    for split, scale in (("train", 2), ("test", 1), ("validation", 1)):
        for name, count in FER_FOLDERS.items():
            for i in range(count * scale):
                write_image(root / split / name / f"{split}_{i}.jpg", size=(48, 48), value=10 * i)


def test_fer2013_image_folder_layout(tmp_path: Path, write_image) -> None:
    _fer_folder_layout(tmp_path, write_image)
    data = load_fer2013(tmp_path)
    assert list(data) == ["train", "validation", "test"]
    assert data["train"].classes == labels.FER2013
    # FER2013 order: angry, disgust, fear, happy, sad, surprise, neutral
    assert data["train"].counts() == [4, 2, 2, 6, 2, 2, 4]
    assert data["test"].counts() == [2, 1, 1, 3, 1, 1, 2]
    split = data["train"]
    assert split.images is None and len(split.paths) == 22
    assert split.image(0).shape == (48, 48) and split.image_size() == (48, 48)
    assert split.image_ids[0] == "train/Angry/train_0.jpg"
    assert load_dataset("fer2013", tmp_path)["test"].counts() == data["test"].counts()


def test_reading_is_lazy(tmp_path: Path, write_image, monkeypatch: pytest.MonkeyPatch) -> None:
    _fer_folder_layout(tmp_path, write_image)

    def no_decoding(path, grey):
        raise AssertionError(f"decoded {path} while loading")

    monkeypatch.setattr(imageio, "read_image", no_decoding)
    assert len(load_fer2013(tmp_path)["train"]) == 22


def test_generic_folder_dataset_resolves_expression_names(tmp_path: Path, write_image) -> None:
    for split in ("train", "val"):
        for name in ("happy", "Angry", "surprised"):
            write_image(tmp_path / split / name / "a.png", colour=True)
    data = load_dataset("folder", tmp_path)
    assert list(data) == ["train", "val"]
    assert data["train"].classes == ("anger", "happiness", "surprise")
    assert data["val"].counts() == [1, 1, 1]
    assert data["train"].image(0).shape == (8, 8, 3)
    assert load_dataset("folder", tmp_path, grey=True)["train"].image(0).shape == (8, 8)


def test_generic_folder_dataset_with_other_class_names_and_no_split_level(tmp_path: Path, write_image) -> None:
    for name, count in (("smile", 2), ("frown", 1)):
        for i in range(count):
            write_image(tmp_path / name / f"{i}.png")
    (tmp_path / "README.md").write_text("notes beside the class folders are ignored")
    data = load_dataset("folder", tmp_path)
    assert list(data) == ["all"]
    assert data["all"].classes == ("frown", "smile") and data["all"].counts() == [1, 2]


def test_hidden_and_system_files_are_skipped(tmp_path: Path, write_image) -> None:
    write_image(tmp_path / "train" / "happy" / "a.png")
    for name in (".DS_Store", "Thumbs.db", "desktop.ini", "._a.png"):
        (tmp_path / "train" / "happy" / name).write_bytes(b"\0\1")
    (tmp_path / "train" / ".ipynb_checkpoints").mkdir()
    assert len(load_dataset("folder", tmp_path)["train"]) == 1


def test_empty_class_folder_names_the_folder(tmp_path: Path, write_image) -> None:
    write_image(tmp_path / "train" / "happy" / "a.png")
    (tmp_path / "train" / "sad").mkdir()
    with pytest.raises(DatasetError, match=r"train/sad: empty class folder"):
        load_fer2013(tmp_path)


def test_unknown_class_folder_names_the_folder(tmp_path: Path, write_image) -> None:
    write_image(tmp_path / "train" / "happy" / "a.png")
    write_image(tmp_path / "train" / "bored" / "a.png")
    with pytest.raises(DatasetError, match=r"train/bored: unknown class folder name .*'bored'"):
        load_fer2013(tmp_path)


def test_class_outside_the_vocabulary_names_the_folder(tmp_path: Path, write_image) -> None:
    write_image(tmp_path / "train" / "contempt" / "a.png")
    with pytest.raises(DatasetError, match=r"train/contempt: .*not one of this dataset's classes"):
        load_fer2013(tmp_path)


def test_non_image_file_in_class_folder_names_the_file(tmp_path: Path, write_image) -> None:
    write_image(tmp_path / "train" / "happy" / "a.png")
    (tmp_path / "train" / "happy" / "labels.txt").write_text("x")
    with pytest.raises(DatasetError, match=r"happy/labels.txt: not an image file"):
        load_fer2013(tmp_path)


def test_image_outside_class_folder_names_the_file(tmp_path: Path, write_image) -> None:
    write_image(tmp_path / "train" / "happy" / "a.png")
    write_image(tmp_path / "train" / "stray.png")
    with pytest.raises(DatasetError, match=r"train/stray.png: image outside a class folder"):
        load_fer2013(tmp_path)


def test_corrupt_image_fails_on_access_naming_the_file(tmp_path: Path, write_image) -> None:
    write_image(tmp_path / "train" / "happy" / "a.png")
    (tmp_path / "train" / "happy" / "b.jpg").write_bytes(b"\xff\xd8 not really a jpeg")
    split = load_fer2013(tmp_path)["train"]
    assert split.image(0).shape == (8, 8)
    with pytest.raises(ImageError, match=r"happy/b.jpg"):
        split.image(1)


def test_folder_without_class_folders(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="no class folders or split folders"):
        load_dataset("folder", tmp_path)


def test_labels_follow_the_vocabulary_order(tmp_path: Path, write_image) -> None:
    for name in ("neutral", "angry"):
        write_image(tmp_path / "train" / name / "a.png")
    split = load_fer2013(tmp_path)["train"]
    names = [labels.FER2013[i] for i in split.labels]
    assert sorted(names) == ["angry", "neutral"]
    assert np.array_equal(split.labels, [0, 6])
