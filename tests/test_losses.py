"""Losses: each equals its paper's formula on a small example computed by hand."""

from __future__ import annotations

import math
import warnings

import pytest
import torch

from openfer.errors import ConfigError
from openfer.losses import build_loss


def _with_centers(name: str, centers: list[list[float]]) -> torch.nn.Module:
    loss = build_loss(name, num_classes=len(centers), feature_dim=len(centers[0]))
    with torch.no_grad():
        loss.centers.copy_(torch.tensor(centers))
    return loss


CENTERS = [[0.0, 0.0], [2.0, 0.0], [0.0, 2.0]]
# Feature maps whose spatial means are x1 = (1, 1) and x2 = (2, 1).
FEATURE_MAPS = torch.tensor([[[[0.0, 2.0]], [[1.0, 1.0]]], [[[2.0, 2.0]], [[0.0, 2.0]]]])
LABELS = torch.tensor([0, 1])


def test_affinity_loss_by_hand() -> None:
    # DAN Eq. 2 as coded: sigma_c^2 = sum over dimensions of the (unbiased) variance across the 3 centres.
    # Each dimension holds (0, 2, 0): mean 2/3, variance ((2/3)^2 + (4/3)^2 + (2/3)^2) / 2 = 4/3; sum 8/3.
    # ||x1 - c0||^2 = 1 + 1 = 2; ||x2 - c1||^2 = 0 + 1 = 1; loss = (2 / (8/3) + 1 / (8/3)) / 2 = 0.5625.
    loss = _with_centers("affinity", CENTERS)
    value = loss({"logits": torch.zeros(2, 3), "features": FEATURE_MAPS}, LABELS)
    assert value.item() == pytest.approx(0.5625)
    value.backward()
    assert loss.centers.grad is not None and loss.centers.grad.abs().sum() > 0


def test_center_loss_by_hand() -> None:
    # Wen et al. 2016, Eq. 2, batch mean: (1/2)(2 + 1) / 2 = 0.75.
    loss = _with_centers("center", CENTERS)
    assert loss({"features": FEATURE_MAPS.mean(dim=(2, 3))}, LABELS).item() == pytest.approx(0.75)


def test_partition_loss_by_hand() -> None:
    # One image, K = 2 heads, L = 2 dimensions: heads (0, 1) and (2, 4).
    # Unbiased variance over the heads: dimension 1 (0, 2) -> 2; dimension 2 (1, 4) -> 4.5.
    outputs = {"heads": torch.tensor([[[0.0, 1.0], [2.0, 4.0]]])}
    code = build_loss("partition")(outputs, torch.tensor([0]))
    paper = build_loss("partition", form="paper")(outputs, torch.tensor([0]))
    # Code: log(1 + K / mean variance) = log(1 + 2 / 3.25).
    assert code.item() == pytest.approx(math.log(1 + 2 / 3.25))
    # Eq. 6: mean over dimensions of log(1 + K / variance) = (log 2 + log(1 + 2 / 4.5)) / 2.
    assert paper.item() == pytest.approx((math.log(2.0) + math.log(1 + 2 / 4.5)) / 2)
    assert build_loss("partition")({"heads": torch.randn(3, 1, 4)}, torch.tensor([0, 1, 2])).item() == 0.0
    with pytest.raises(ConfigError, match="form"):
        build_loss("partition", form="mean")


def test_faml_components_by_hand() -> None:
    # Logits (0, 0, ln 2) -> softmax (1/4, 1/4, 1/2); true class 2.
    logits = torch.tensor([[0.0, 0.0, math.log(2.0)]])
    label = torch.tensor([2])
    loss = build_loss("faml", probabilities={"ce": 1.0}, class_weights=[1.0, 1.0, 3.0])
    # FAML Eq. 2: -log(1/2).
    assert loss.component("ce", logits, label).item() == pytest.approx(math.log(2.0))
    # Eqs. 4-5, epsilon 0.1: targets (0.05, 0.05, 0.9): -(2 x 0.05 log(1/4) + 0.9 log(1/2)) = 1.1 log 2.
    assert loss.component("lsr", logits, label).item() == pytest.approx(1.1 * math.log(2.0))
    # WCE over two images of classes 2 and 0 with weights 3 and 1: (3 log 2 + 1 log 4) / (3 + 1) = 1.25 log 2.
    two = torch.cat([logits, logits])
    assert loss.component("wce", two, torch.tensor([2, 0])).item() == pytest.approx(1.25 * math.log(2.0))


def test_faml_draws_one_loss_per_batch_with_the_given_probabilities() -> None:
    logits = torch.tensor([[0.0, 0.0, math.log(2.0)]])
    label = torch.tensor([2])
    values = {"ce": math.log(2.0), "lsr": 1.1 * math.log(2.0)}

    def draws(seed: int, n: int) -> list[str]:
        loss = build_loss("faml", probabilities={"lsr": 0.8, "ce": 0.2}, seed=seed)
        out = []
        for _ in range(n):
            value = loss(logits, label).item()
            out.append(min(values, key=lambda name: abs(values[name] - value)))
        return out

    first = draws(seed=3, n=500)
    assert first == draws(seed=3, n=500)
    assert first != draws(seed=4, n=500)
    assert first.count("lsr") / 500 == pytest.approx(0.8, abs=0.06)
    with pytest.raises(ConfigError, match="class_weights"):
        build_loss("faml", probabilities={"wce": 1.0})
    with pytest.raises(ConfigError, match="unknown losses"):
        build_loss("faml", probabilities={"focal": 1.0})


def test_emonext_attention_is_the_variance_of_each_faces_attention_weights() -> None:
    loss = build_loss("emonext_attention")
    # Face 1: weights 1, 0, 0, 1 (mean 1/2, squared deviations 1/4); face 2: uniform 1/2 (deviation 0).
    weights = torch.tensor([[[1.0, 0.0], [0.0, 1.0]], [[0.5, 0.5], [0.5, 0.5]]], requires_grad=True)
    assert loss({"logits": torch.zeros(2, 7), "attention": weights}, torch.tensor([0, 0])).item() == 0.125
    # Each face is centred on its own mean: shifting one face's weights leaves the term unchanged.
    shifted = weights.detach().clone()
    shifted[1] += 0.25
    assert loss({"logits": torch.zeros(2, 7), "attention": shifted}, torch.tensor([0, 0])).item() == 0.125
    with pytest.raises(ConfigError, match="'attention'"):
        loss(torch.zeros(1, 7), torch.tensor([0]))


def test_emonext_attention_warns_once_when_a_single_token_makes_it_zero() -> None:
    # At 48 px EmoNeXt's last stage is 1 x 1: one token, attention weight 1, the regulariser identically 0.
    loss = build_loss("emonext_attention")
    outputs = {"logits": torch.zeros(2, 7), "attention": torch.ones(2, 1, 1)}
    with pytest.warns(UserWarning, match="at least 64 px"):
        assert loss(outputs, torch.tensor([0, 0])).item() == 0.0
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        loss(outputs, torch.tensor([0, 0]))  # once per loss, not every step
        loss({"logits": torch.zeros(1, 7), "attention": torch.full((1, 4, 4), 0.25)}, torch.tensor([0]))


def test_losses_needing_model_extras_name_them() -> None:
    with pytest.raises(ConfigError, match="'features'"):
        build_loss("affinity")(torch.zeros(2, 7), LABELS)
    with pytest.raises(ConfigError, match="'heads'"):
        build_loss("partition")(torch.zeros(2, 7), LABELS)


def test_class_weighted_cross_entropy_is_the_cross_entropy_option() -> None:
    # Two images of classes 2 and 0, weights 3 and 1, both with softmax (1/4, 1/4, 1/2): (3 log 2 + log 4) / 4.
    logits = torch.tensor([[0.0, 0.0, math.log(2.0)]] * 2)
    value = build_loss("cross_entropy", class_weights=[1.0, 1.0, 3.0])(logits, torch.tensor([2, 0]))
    assert value.item() == pytest.approx(1.25 * math.log(2.0))
