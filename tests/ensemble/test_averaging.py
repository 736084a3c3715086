"""Probability-averaging ensembles: networks behind one module, and classifiers; both average as voting.average."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from openfer.ensemble import AverageEnsemble, ProbabilityAverage, average
from openfer.errors import ConfigError
from openfer.models import create_model


def test_probability_average_returns_the_log_of_its_members_mean_probabilities() -> None:
    torch.manual_seed(0)
    members = [nn.Linear(5, 3) for _ in range(3)]
    x = torch.randn(4, 5)
    output = ProbabilityAverage(members)(x)
    expected = torch.stack([m(x).softmax(1) for m in members]).mean(0)
    torch.testing.assert_close(output.softmax(1), expected, atol=1e-6, rtol=0)
    torch.testing.assert_close(output.exp(), average([m(x) for m in members]), atol=1e-6, rtol=0)


def test_the_registered_average_ensemble_is_built_from_the_one_implementation() -> None:
    net = create_model("average_ensemble", num_classes=7, member="openfer_vgg", members=3, member_options={"widths": [4], "hidden": 4})
    assert type(net) is ProbabilityAverage and len(net.members) == 3


class Fixed:
    """A classifier that gives the same probabilities to every face."""

    def __init__(self, row: list[float], classes: tuple[str, ...] = ("a", "b")) -> None:
        self.row, self.classes = np.asarray(row, np.float32), classes

    def predict_proba(self, faces) -> np.ndarray:
        return np.tile(self.row, (len(faces), 1))


def test_average_ensemble_averages_probabilities_as_they_are() -> None:
    ensemble = AverageEnsemble([Fixed([0.9, 0.1]), Fixed([0.3, 0.7])])
    np.testing.assert_allclose(ensemble.predict_proba([None] * 2), [[0.6, 0.4]] * 2, atol=1e-6)  # not softmaxed again
    assert ensemble.predict([None]) == ["a"]
    with pytest.raises(ConfigError, match="needs at least one model"):
        AverageEnsemble([])
    with pytest.raises(ConfigError, match="model 1 has classes"):
        AverageEnsemble([Fixed([1, 0]), Fixed([1, 0], classes=("b", "a"))])
