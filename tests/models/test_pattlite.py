"""PAtt-Lite: the held parameter count, per-face attention (no batch coupling), backbone modes, training."""

from __future__ import annotations

import pytest
import torch

from openfer.models import create_model
from openfer.models.pattlite import PatchAttention


def test_parameters_match_the_authors_model() -> None:
    with torch.device("meta"):
        model = create_model("pattlite", num_classes=7)
    parameters = sum(p.numel() for p in model.parameters())
    assert parameters == pytest.approx(1_093_000, rel=0.005)
    # With the BN moving statistics it is the paper's 1.10 M (Keras: 1,102,664).
    statistics = sum(b.numel() for n, b in model.named_buffers() if "running" in n)
    assert parameters + statistics == 1_102_664


def test_a_face_gets_the_same_logits_alone_and_in_any_batch() -> None:
    torch.manual_seed(0)
    model = create_model("pattlite", num_classes=7).eval()
    faces = torch.randn(5, 3, 224, 224)
    with torch.no_grad():
        together = model(faces)
        alone = torch.cat([model(faces[i : i + 1]) for i in range(5)])
        shuffled = model(faces[[3, 0, 4, 1, 2]])
    torch.testing.assert_close(alone, together, atol=1e-5, rtol=0)
    torch.testing.assert_close(shuffled, together[[3, 0, 4, 1, 2]], atol=1e-5, rtol=0)


def test_attention_weights_stay_within_each_face() -> None:
    tokens = torch.randn(3, 4, 32)
    attention = PatchAttention()
    torch.testing.assert_close(attention(tokens)[1:2], attention(tokens[1:2]))
    assert attention(tokens).shape == (3, 4, 32)


def test_frozen_backbone_keeps_its_weights_and_statistics() -> None:
    model = create_model("pattlite", backbone_mode="frozen").train()
    before = {k: v.clone() for k, v in model.backbone.state_dict().items()}
    assert not any(p.requires_grad for p in model.backbone.parameters())
    assert all(p.requires_grad for p in model.patch_extraction.parameters())
    with torch.no_grad():
        model(torch.randn(2, 3, 224, 224))
    assert all(torch.equal(before[k], v) for k, v in model.backbone.state_dict().items())
    frozen_bn = create_model("pattlite", backbone_mode="frozen_bn").train()
    assert frozen_bn.backbone.conv_dw_9.weight.requires_grad and not frozen_bn.backbone.conv_dw_9_bn.weight.requires_grad
    assert not frozen_bn.backbone.conv1_bn.training


def test_forward_backward_reaches_the_backbone() -> None:
    model = create_model("pattlite", num_classes=7).train()
    model(torch.randn(2, 3, 224, 224)).logsumexp(dim=1).sum().backward()
    assert all(p.grad is not None for p in model.parameters())


def test_a_few_steps_on_fer2013_reduce_the_loss(fer2013_batch, optimise) -> None:
    # The authors' first phase: ImageNet backbone frozen, head trained (here on a random backbone).
    torch.manual_seed(0)
    model = create_model("pattlite", num_classes=7, backbone_mode="frozen", dropout=0.0)
    images, labels = fer2013_batch(16, 224, 3)
    first, last = optimise(model, images, labels, {"cross_entropy": {}}, steps=5, lr=0.01)
    assert last < first


def test_fine_tuning_dropout_layers_are_parameter_free_and_drop_in_training() -> None:
    # The authors' phase 2 adds SpatialDropout2D on the patch map and Dropout before the classifier (0.2 each).
    phase1 = create_model("pattlite", num_classes=7)
    phase2 = create_model("pattlite", num_classes=7, dropout=0.2, spatial_dropout=0.2, head_dropout=0.2)
    phase2.load_state_dict(phase1.state_dict())  # the phase-1 weights load unchanged
    assert isinstance(phase2.spatial_dropout, torch.nn.Dropout2d) and phase2.head_dropout.p == 0.2
    torch.manual_seed(0)
    x = torch.randn(2, 3, 224, 224)
    with torch.no_grad():
        phase1.eval(), phase2.eval()
        assert torch.allclose(phase1(x), phase2(x))
        phase2.train()
        torch.manual_seed(1)
        first = phase2(x)
        torch.manual_seed(2)
        assert not torch.allclose(first, phase2(x))
