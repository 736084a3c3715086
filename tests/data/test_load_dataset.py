"""The reader registry: every dataset name, unknown names and options."""

from __future__ import annotations

from pathlib import Path

import pytest

from openfer.data import list_datasets, load_dataset
from openfer.errors import ConfigError


def test_every_reader_is_registered() -> None:
    assert list_datasets() == ["affectnet", "ckplus", "fer2013", "ferplus", "folder", "hdf5", "jaffe", "rafdb", "sfew"]


def test_unknown_dataset_and_option(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="unknown dataset 'fer2014'"):
        load_dataset("fer2014", tmp_path)
    with pytest.raises(ConfigError, match=r"dataset 'ckplus': bad options \['folds'\]"):
        load_dataset("ckplus", tmp_path, folds=3)
