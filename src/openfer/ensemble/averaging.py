"""Probability-averaging ensembles, the one home of averaging networks: :class:`ProbabilityAverage` (several
trained networks of one architecture behind one ``nn.Module``) and :class:`AverageEnsemble` (several face
classifiers, e.g. files of different architectures). Both average with :func:`openfer.ensemble.voting.average`.

The members may be independent training runs (different seeds: the shipped default model) or the
snapshots at the ends of successive learning-rate cycles of one run (Huang et al., 2017, "Snapshot
Ensembles: Train 1, get M for free"). Averaging softmax probabilities is NOI / M in the FAML paper's terms.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Sequence

import numpy as np
import torch
from torch import nn

from openfer.ensemble.voting import average
from openfer.errors import ConfigError
from openfer.losses import logits_of

if TYPE_CHECKING:
    from openfer.inference import Faces
    from openfer.recognize.classifiers import FaceClassifier


class ProbabilityAverage(nn.Module):
    """Members' softmax probabilities averaged; returns their log, so ``softmax(output)`` is the average."""

    def __init__(self, members: list[nn.Module]) -> None:
        super().__init__()
        self.members = nn.ModuleList(members)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.log(average([logits_of(member(x)) for member in self.members]).clamp_min(1e-12))


class AverageEnsemble:
    """Averages the class probabilities of several face classifiers that share the same classes, in the same order."""

    def __init__(self, models: Sequence[FaceClassifier | Any]) -> None:
        if len(models) < 1:
            raise ConfigError("AverageEnsemble: needs at least one model")
        self.models = list(models)
        self.classes: tuple[str, ...] = tuple(models[0].classes)
        for i, model in enumerate(self.models[1:], start=1):
            if tuple(model.classes) != self.classes:
                raise ConfigError(
                    f"AverageEnsemble: model {i} has classes {list(model.classes)}, model 0 has {list(self.classes)}"
                )

    def __repr__(self) -> str:
        return f"AverageEnsemble({', '.join(map(repr, self.models))})"

    def predict_proba(self, faces: Faces) -> np.ndarray:
        """The mean of the models' probabilities, (N, len(classes))."""
        # The members give probabilities already: they are averaged as they are, not passed through softmax again.
        return average([model.predict_proba(faces) for model in self.models], probabilities=False).numpy().astype(np.float32)

    def predict(self, faces: Faces) -> list[str]:
        """The most probable class name of each face."""
        return [self.classes[i] for i in self.predict_proba(faces).argmax(1)]
