"""DAN: the held parameter and MAC counts, the outputs its losses need, training on FER2013."""

from __future__ import annotations

import pytest
import torch

from openfer.models import create_model, model_info


def test_parameters_and_macs_match_the_authors_code(macs) -> None:
    with torch.device("meta"):
        seven, eight = create_model("dan", num_classes=7), create_model("dan", num_classes=8)
    # Trunk 11,176,512 + 4 heads x (SA 2,102,528 + CA 33,376) + FC 512 C + C + BN1d 2 C.
    assert sum(p.numel() for p in seven.parameters()) == 11_176_512 + 4 * (2_102_528 + 33_376) + 512 * 7 + 7 + 2 * 7 == 19_723_733
    assert sum(p.numel() for p in eight.parameters()) == 19_724_248
    assert sum(p.numel() for p in seven.backbone.parameters()) == 11_176_512
    # DAN paper, Table 6: 2.23 G "FLOPs"; the held figure is 2.22 G MACs.
    assert macs(lambda: create_model("dan", num_classes=7), (3, 224, 224)) == pytest.approx(2.22e9, rel=0.02)
    assert model_info("dan").default_losses == ("cross_entropy", "affinity", "partition")


def test_outputs_for_the_losses_and_backward() -> None:
    torch.manual_seed(0)
    model = create_model("dan", num_classes=7)
    out = model(torch.randn(8, 3, 32, 32))
    assert out["logits"].shape == (8, 7)
    assert out["features"].shape == (8, 512, 1, 1)
    assert out["heads"].shape == (8, 4, 512)
    # AFN log-softmax across the heads (DAN paper, Eq. 5): each dimension's exp sums to 1 over the heads.
    assert torch.allclose(out["heads"].exp().sum(dim=1), torch.ones(8, 512), atol=1e-5)
    out["logits"].sum().backward()
    assert model.heads[3].sa.conv_1x3[0].weight.grad is not None
    single = create_model("dan", num_classes=7, num_heads=1)(torch.randn(8, 3, 32, 32))
    assert single["heads"].shape == (8, 1, 512) and single["heads"].min() >= 0  # no log-softmax for K = 1


def test_a_few_steps_with_the_dan_losses_on_fer2013(fer2013_batch, optimise) -> None:
    torch.manual_seed(0)
    model = create_model("dan", num_classes=7)
    images, labels = fer2013_batch(8, 32, 3)
    losses = {"cross_entropy": {}, "affinity": {"num_classes": 7, "feature_dim": 512}, "partition": {}}
    first, last = optimise(model, images, labels, losses, steps=3)
    assert last < first
