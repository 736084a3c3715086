"""Feature embeddings: penultimate features of a split (the input of the classifier head) mapped to 2-D by t-SNE."""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from openfer.data.base import FaceSplit
from openfer.errors import ConfigError
from openfer.inference import ExpressionModel

EXACT_TSNE_LIMIT = 200


def classifier_heads(net: nn.Module, num_classes: int) -> list[nn.Module]:
    """The modules whose inputs are ``net``'s penultimate features: the last Linear (or 1 x 1 Conv2d) with one
    output per class inside the architecture's registered ``head`` (or anywhere in ``net`` without one);
    one per member for an ensemble."""
    members = getattr(net, "members", None)
    if isinstance(members, nn.ModuleList):
        return [head for member in members for head in classifier_heads(member, num_classes)]
    from openfer.models.registry import model_info

    name = str(getattr(net, "openfer_name", ""))
    head_name = getattr(model_info(name), "head", "") if name else ""
    scope = dict(net.named_modules()).get(head_name, net) if head_name else net
    candidates = [
        m
        for m in scope.modules()
        if (isinstance(m, nn.Linear) and m.out_features == num_classes)
        or (isinstance(m, nn.Conv2d) and m.kernel_size == (1, 1) and m.out_channels == num_classes)
    ]
    if not candidates:
        raise ConfigError(f"{type(net).__name__}: no classifier layer with {num_classes} outputs for its penultimate features")
    return [candidates[-1]]


def penultimate_features(model: ExpressionModel, split: FaceSplit, limit: int | None = None, batch_size: int = 256) -> tuple[np.ndarray, np.ndarray]:
    """``(features (N, D), probabilities (N, C))`` of the first ``limit`` faces of ``split``, one view each;
    an ensemble's members' features are concatenated."""
    count = len(split) if limit is None else min(limit, len(split))
    heads = classifier_heads(model.net, len(model.classes))
    captured: list[torch.Tensor] = []
    hooks = [head.register_forward_pre_hook(lambda module, inputs: captured.append(inputs[0].detach().flatten(1).float())) for head in heads]
    features, probabilities = [], []
    try:
        for start in range(0, count, batch_size):
            captured.clear()
            x = model.preprocess([split.image(i) for i in range(start, min(count, start + batch_size))])
            with model.exact():  # the hooks sit on the network itself, which fp32 runs (bf16 runs a folded copy)
                probabilities.append(torch.softmax(model.logits(x), 1).numpy())
            features.append(torch.cat(captured, 1).numpy())
    finally:
        for hook in hooks:
            hook.remove()
    if not features:
        raise ConfigError(f"split {split.name}: no faces to embed")
    return np.concatenate(features), np.concatenate(probabilities)


@dataclass
class Embedding:
    """2-D t-SNE coordinates of a split's faces with their true and predicted classes."""

    classes: tuple[str, ...]
    coordinates: np.ndarray = field(repr=False)
    labels: np.ndarray = field(repr=False)
    predicted: np.ndarray = field(repr=False)

    def to_df(self) -> Any:
        """A DataFrame with columns index, label, predicted, x, y (class names)."""
        import pandas as pd

        return pd.DataFrame(
            {
                "index": np.arange(len(self.labels)),
                "label": [self.classes[i] for i in self.labels],
                "predicted": [self.classes[i] for i in self.predicted],
                "x": self.coordinates[:, 0],
                "y": self.coordinates[:, 1],
            }
        )

    def plot(self, title: str = "") -> bytes:
        """PNG bytes of the points coloured by true class."""
        import matplotlib
        from matplotlib.figure import Figure

        figure = Figure(figsize=(7, 6))
        axis = figure.subplots()
        colours = matplotlib.colormaps["tab10"]
        for index, name in enumerate(self.classes):
            chosen = self.labels == index
            if chosen.any():
                axis.scatter(*self.coordinates[chosen].T, s=6, alpha=0.7, label=name, color=colours(index % 10))
        axis.legend(markerscale=3, fontsize=8, loc="best")
        axis.set_xticks([])
        axis.set_yticks([])
        axis.set_title(title or "t-SNE of penultimate features (colour: true class)", fontsize=10)
        figure.tight_layout()
        buffer = io.BytesIO()
        figure.savefig(buffer, format="png", dpi=100)
        return buffer.getvalue()

    def save(self, directory: str | Path, title: str = "") -> list[Path]:
        """Write ``tsne.png`` and ``tsne.csv`` into ``directory``; returns the paths."""
        from openfer.files import write_bytes

        directory = Path(directory)
        return [
            write_bytes(directory / "tsne.png", self.plot(title)),
            write_bytes(directory / "tsne.csv", self.to_df().to_csv(index=False).encode()),
        ]


def tsne(
    model: ExpressionModel,
    split: FaceSplit,
    limit: int | None = 2000,
    perplexity: float = 30.0,
    seed: int = 0,
    batch_size: int = 256,
) -> Embedding:
    """t-SNE (scikit-learn, PCA initialisation, ``seed``; exact up to :data:`EXACT_TSNE_LIMIT` faces, else Barnes-Hut) of the penultimate features of ``split``'s first ``limit`` faces.

    The model's probabilities are mapped to the split's classes by meaning when their vocabularies differ.
    """
    from sklearn.manifold import TSNE

    from openfer.labels import map_probabilities

    features, probabilities = penultimate_features(model, split, limit, batch_size)
    if tuple(model.classes) != tuple(split.classes):
        probabilities = map_probabilities(probabilities, model.classes, split.classes)
    if len(features) < 3:
        raise ConfigError(f"split {split.name}: t-SNE needs at least 3 faces, got {len(features)}")
    perplexity = min(perplexity, (len(features) - 1) / 3)
    # Exact gradients below EXACT_TSNE_LIMIT faces: faster there than Barnes-Hut's tree, and the same optimum.
    method = "exact" if len(features) <= EXACT_TSNE_LIMIT else "barnes_hut"
    coordinates = TSNE(n_components=2, perplexity=perplexity, init="pca", method=method, random_state=seed).fit_transform(features)
    return Embedding(tuple(split.classes), coordinates.astype(np.float32), split.labels[: len(features)], probabilities.argmax(1))
