"""SFEW 2.0: EmotiW class folders per split."""

from __future__ import annotations

from pathlib import Path

import pytest

from openfer import labels
from openfer.data import load_dataset
from openfer.errors import DatasetError


def test_train_val_test_class_folders(tmp_path: Path, write_image) -> None:
    for split, classes in (("Train", labels.SFEW), ("Val", labels.SFEW[:3]), ("Test", ("Happy",))):
        for name in classes:
            write_image(tmp_path / split / name / f"{name}_1.png", size=(20, 16), colour=True)
    data = load_dataset("sfew", tmp_path)
    assert list(data) == ["Train", "Val", "Test"]
    assert data["Train"].classes == labels.SFEW and data["Train"].counts() == [1] * 7
    assert data["Val"].counts() == [1, 1, 1, 0, 0, 0, 0] and data["Test"].counts() == [0, 0, 0, 1, 0, 0, 0]
    assert data["Train"].image(0).shape == (20, 16, 3)


def test_unlabelled_images_in_a_split_folder_are_refused(tmp_path: Path, write_image) -> None:
    write_image(tmp_path / "Train" / "Happy" / "a.png")
    write_image(tmp_path / "Test" / "unlabelled.png")
    with pytest.raises(DatasetError, match=r"Test/unlabelled.png: image outside a class folder"):
        load_dataset("sfew", tmp_path)
