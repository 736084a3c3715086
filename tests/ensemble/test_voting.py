"""Voting rules on the worked example of the FAML paper (Table 3, an Anger image of RAF-DB, 6 networks)."""

from __future__ import annotations

import pytest
import torch

from openfer.ensemble import average, ensemble_predict, ensemble_scores, noi, t1v, t2v
from openfer.errors import ConfigError

from faml_example import EXAMPLE_LOGITS  # noqa: E402  (tests/ensemble/faml_example.py)

# Class order AN, DI, FE, HA, NE, SA, SU; rows SN1 ... SN6.
TABLE_3 = torch.tensor(EXAMPLE_LOGITS)[:, None, :]  # (6 networks, 1 image, 7 classes)


def test_t2v_picks_anger_where_the_others_do_not() -> None:
    # Top-2 per net: SN1-3 (HA, AN), SN4-5 (AN, HA), SN6 (AN, SA).
    # AN = 3 x 1.9 + 3 x 1.0 = 8.7; HA = 3 x 1.9 + 2 x 1.0 = 7.7; SA = 1.0.
    assert torch.allclose(t2v(TABLE_3)[0], torch.tensor([8.7, 0, 0, 7.7, 0, 1.0, 0]))
    assert ensemble_predict(TABLE_3, "t2v").tolist() == [0]
    # NOI (Eq. 13) = sum of softmaxes, and soft averaging, both pick HA (index 3).
    assert torch.allclose(noi(TABLE_3)[0], torch.tensor([1.742, 0.793, 0.224, 1.969, 0.301, 0.590, 0.381]), atol=1e-3)
    assert ensemble_predict(TABLE_3, "noi").tolist() == [3]
    assert torch.allclose(average(TABLE_3), noi(TABLE_3) / 6)
    assert ensemble_predict(TABLE_3, "average").tolist() == [3]
    assert average(TABLE_3, probabilities=False).argmax().item() == 3
    # T1V ties 3-3 between AN and HA; the tie goes to the lower index.
    assert t1v(TABLE_3)[0].tolist() == [3, 0, 0, 3, 0, 0, 0]
    assert ensemble_predict(TABLE_3, "t1v").tolist() == [0]


def test_t2v_equals_eq_11_with_ascending_ranks() -> None:
    torch.manual_seed(0)
    outputs = torch.randn(5, 4, 7)
    ranks = outputs.argsort(dim=-1).argsort(dim=-1).float()  # rank C - 1 = top class
    alpha, beta, c = 1.9, 1.0, 7
    eq_11 = (alpha - 2 * beta) * (ranks + 2 - c).clamp(min=0) + beta * (ranks + 3 - c).clamp(min=0)
    assert torch.allclose(t2v(outputs, alpha, beta), eq_11.sum(dim=0))


def test_inputs_and_errors() -> None:
    as_list = [row.numpy() for row in TABLE_3]
    assert torch.equal(ensemble_scores(as_list, "t2v"), t2v(TABLE_3))
    with pytest.raises(ConfigError, match="unknown voting rule"):
        ensemble_scores(TABLE_3, "borda")
    with pytest.raises(ValueError, match="networks, samples, classes"):
        t2v(TABLE_3[:, 0])
