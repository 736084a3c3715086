"""The dataset readers beyond FER2013, by the name :func:`openfer.data.load_dataset` takes."""

from __future__ import annotations

from typing import Callable

from openfer.data.affectnet import load_affectnet
from openfer.data.base import Dataset
from openfer.data.ckplus import load_ckplus
from openfer.data.ferplus import load_ferplus
from openfer.data.folders import load_folder
from openfer.data.jaffe import load_jaffe
from openfer.data.rafdb import load_rafdb
from openfer.data.sfew import load_sfew

READERS: dict[str, Callable[..., Dataset]] = {
    "affectnet": load_affectnet,
    "ckplus": load_ckplus,
    "ferplus": load_ferplus,
    "folder": load_folder,
    "jaffe": load_jaffe,
    "rafdb": load_rafdb,
    "sfew": load_sfew,
}
