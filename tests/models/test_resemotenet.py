"""ResEmoteNet: the held parameter and MAC counts, the authors' key layout, training on FER2013."""

from __future__ import annotations

import pytest
import torch

from openfer.models import create_model, model_info


def test_parameters_and_macs(macs) -> None:
    with torch.device("meta"):
        model = create_model("resemotenet", num_classes=7)
    assert sum(p.numel() for p in model.parameters()) == 80_238_599
    assert macs(lambda: create_model("resemotenet"), (3, 64, 64)) == pytest.approx(0.337e9, rel=0.02)
    assert model_info("resemotenet").input_size == (3, 64, 64)


def test_authors_key_layout() -> None:
    with torch.device("meta"):
        keys = set(create_model("resemotenet").state_dict())
    assert {"conv1.weight", "bn3.running_var", "se.fc.0.weight", "se.fc.2.weight", "res_block1.shortcut.0.weight",
            "res_block3.bn2.bias", "fc4.weight"} <= keys  # fmt: skip


def test_a_few_steps_on_fer2013_reduce_the_loss(fer2013_batch, optimise) -> None:
    torch.manual_seed(0)
    model = create_model("resemotenet", num_classes=7, fc_dropout=0.0, conv_dropout=0.0)
    images, labels = fer2013_batch(16, 48, 3)
    first, last = optimise(model, images, labels, {"cross_entropy": {}}, steps=5, lr=0.01)
    assert last < first
    assert all(p.grad is not None for p in model.parameters())
