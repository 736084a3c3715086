"""Ensembles of several networks: voting rules (T2V, T1V, NOI, averaging) and probability-averaging ensembles."""

from openfer.ensemble.averaging import AverageEnsemble, ProbabilityAverage
from openfer.ensemble.voting import (
    RULES,
    average,
    ensemble_predict,
    ensemble_scores,
    noi,
    t1v,
    t2v,
    weighted,
)

__all__ = [
    "RULES",
    "AverageEnsemble",
    "ProbabilityAverage",
    "average",
    "ensemble_predict",
    "ensemble_scores",
    "noi",
    "t1v",
    "t2v",
    "weighted",
]
