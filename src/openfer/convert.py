"""The authors' released checkpoints -> openfer weights files that record the class order they were trained with.

A released checkpoint holds tensors only: nothing says which output is which expression, and its keys follow the
authors' module names. :func:`convert_authors_weights` renames the keys to openfer's model, checks every key and
shape, and writes a safetensors file whose metadata names the model, its input, normalisation and the authors'
class order, so :func:`openfer.load_model` and everything after it map labels by meaning (:mod:`openfer.labels`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

import torch

from openfer.checkpoints import check_state_dict, read_state_dict, save_safetensors
from openfer.errors import CheckpointError, ConfigError
from openfer.labels import AFFECTNET8, RESEMOTENET_AUTHORS, vocabulary


def _dan_keys(key: str) -> str:
    """yaoing/DAN names -> openfer's: ``features.<i>`` (torchvision ResNet-18 children without avgpool and fc:
    0 conv1, 1 bn1, 4-7 layer1-4) -> ``backbone.*``; ``cat_head<i>`` -> ``heads.<i>``; ``fc`` and ``bn`` are kept."""
    trunk = {"0": "conv1", "1": "bn1", "4": "layer1", "5": "layer2", "6": "layer3", "7": "layer4"}
    match = re.match(r"features\.(\d+)\.(.*)", key)
    if match:
        if match.group(1) not in trunk:
            raise CheckpointError(f"unexpected DAN trunk key {key!r}")
        return f"backbone.{trunk[match.group(1)]}.{match.group(2)}"
    return re.sub(r"^cat_head(\d+)\.", r"heads.\1.", key)


@dataclass(frozen=True)
class AuthorsFormat:
    """One authors' checkpoint layout: the openfer model it becomes, its key renaming and its class orders by
    class count (None: the count alone does not tell, the caller names the vocabulary)."""

    model: str
    rename: Callable[[str], str]
    head: str
    classes: dict[int, tuple[str, ...] | None]
    repository: str


AUTHORS_FORMATS: dict[str, AuthorsFormat] = {
    # demo.py labels its AffectNet-8 checkpoint in AffectNet's order; its 7-class checkpoints are RAF-DB
    # (rafdb.py: file label - 1) or AffectNet-7, which the tensors cannot tell apart.
    "dan-authors": AuthorsFormat("dan", _dan_keys, "fc.weight", {8: AFFECTNET8, 7: None}, "yaoing/DAN"),
    # Module names already match; the order is that of its eval_image.py / eval_livecam.py.
    "resemotenet-authors": AuthorsFormat("resemotenet", lambda key: key, "fc4.weight", {7: RESEMOTENET_AUTHORS}, "ArnabKumarRoy02/ResEmoteNet"),
}


def convert_authors_weights(
    kind: str, source: str | Path, output: str | Path, classes: str | Sequence[str] | None = None
) -> Path:
    """Convert an authors' checkpoint (``kind``: a key of :data:`AUTHORS_FORMATS`) into ``output`` (.safetensors).

    ``classes``: the vocabulary (a dataset name of :mod:`openfer.labels` or names) the checkpoint was trained on,
    needed where the class count leaves it open (DAN's 7-class RAF-DB and AffectNet-7 checkpoints); by default
    the authors' order for that count.
    """
    from openfer.models.registry import create_model, model_info

    if kind not in AUTHORS_FORMATS:
        raise ConfigError(f"unknown checkpoint format {kind!r}; available: {', '.join(AUTHORS_FORMATS)}")
    layout = AUTHORS_FORMATS[kind]
    state, _ = read_state_dict(source)
    state = {layout.rename(key): value for key, value in state.items()}
    if layout.head not in state:
        raise CheckpointError(f"{source}: no {layout.head!r} after renaming; is it a {layout.repository} checkpoint?")
    count = int(state[layout.head].shape[0])
    if classes is not None:
        names = vocabulary(classes)
    elif layout.classes.get(count) is not None:
        names = layout.classes[count]
    else:
        known = {n: list(c) if c else "name it with classes=" for n, c in layout.classes.items()}
        raise ConfigError(f"{source}: a {count}-class {layout.repository} checkpoint; give its classes (known counts: {known})")
    if len(names) != count:
        raise ConfigError(f"classes: {len(names)} names for a {count}-class checkpoint ({source})")
    with torch.device("meta"):
        net = create_model(layout.model, num_classes=count)
    check_state_dict(net, state, str(source))
    info = model_info(layout.model)
    metadata = {
        "model": layout.model,
        "model_options": {},
        "classes": list(names),
        "input_size": list(info.input_size),
        "mean": info.mean,
        "std": info.std,
        "converted_from": f"{layout.repository} ({Path(source).name})",
    }
    save_safetensors(state, output, metadata)
    return Path(output)
