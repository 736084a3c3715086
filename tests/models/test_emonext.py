"""EmoNeXt: held counts, the per-face attention regulariser (no batch coupling), ConvNeXt weights, training."""

from __future__ import annotations

import pytest
import torch

from openfer.checkpoints import save_safetensors
from openfer.losses import build_loss
from openfer.models import create_model
from openfer.models.backbones.convnext import CONFIGS, ConvNeXt, load_release_weights
from openfer.models.emonext import EmoNeXt

SIZES = ("tiny", "small", "base", "large", "xlarge")


def test_parameters_and_macs_of_tiny(macs) -> None:
    with torch.device("meta"):
        model = create_model("emonext_tiny", num_classes=7)
    assert sum(p.numel() for p in model.parameters()) == 30_564_331
    assert macs(lambda: create_model("emonext_tiny"), (3, 224, 224)) == pytest.approx(4.54e9, rel=0.02)


@pytest.mark.parametrize("size", SIZES)
def test_every_size_is_convnext_plus_stn_se_and_attention(size: str) -> None:
    with torch.device("meta"):
        model = create_model(f"emonext_{size}", num_classes=7)
        convnext = create_model(f"convnext_{size}", num_classes=7)
    dims = CONFIGS[size][1]
    stn = (3 * 8 * 49 + 8) + 2 * 8 + (8 * 10 * 25 + 10) + 2 * 10 + (10 * 52 * 52 * 32 + 32) + (32 * 6 + 6)
    se = sum(2 * d * (d // 16) for d in dims[1:])
    attention = 2 * dims[-1] + 3 * (dims[-1] ** 2 + dims[-1])
    assert sum(p.numel() for p in model.parameters()) == sum(p.numel() for p in convnext.parameters()) + stn + se + attention


def test_training_returns_the_regulariser_and_eval_the_logits() -> None:
    torch.manual_seed(0)
    model = create_model("emonext_tiny", image_size=64).train()
    outputs = model(torch.randn(2, 3, 64, 64))
    regularizer = build_loss("emonext_attention")(outputs, torch.tensor([0, 1]))
    assert outputs["logits"].shape == (2, 7) and outputs["attention"].shape == (2, 4, 4) and regularizer.dim() == 0
    (outputs["logits"].sum() + regularizer).backward()
    # As upstream, only the attention weights enter the loss: the value projection gets no gradient.
    assert all((p.grad is None) == name.startswith("attention.value.") for name, p in model.named_parameters())
    assert model.eval()(torch.randn(2, 3, 64, 64)).shape == (2, 7)


def test_a_face_gets_the_same_logits_alone_and_in_any_batch() -> None:
    torch.manual_seed(0)
    model = create_model("emonext_tiny", image_size=64).eval()
    faces = torch.randn(4, 3, 64, 64)
    with torch.no_grad():
        together = model(faces)
        alone = torch.cat([model(faces[i : i + 1]) for i in range(4)])
    torch.testing.assert_close(alone, together, atol=1e-5, rtol=0)


def test_the_regulariser_is_a_mean_of_per_face_terms() -> None:
    torch.manual_seed(0)
    attention = EmoNeXt((1, 1, 1, 1), (16, 32, 64, 128), image_size=32).attention
    tokens = torch.randn(3, 4, 128)
    _, weights = attention(tokens)
    assert weights.shape == (3, 4, 4)  # token x token per face, never face x face
    torch.testing.assert_close(attention(tokens[1:2])[1], weights[1:2])


def test_convnext_weights_load_and_the_additions_are_reported(tmp_path) -> None:
    dims = (16, 32, 64, 128)
    source = ConvNeXt((1, 1, 1, 1), dims, num_classes=1000)
    path = tmp_path / "convnext.safetensors"
    save_safetensors(source.state_dict(), path)
    model = EmoNeXt((1, 1, 1, 1), dims, image_size=32)
    report = load_release_weights(model, path)
    assert torch.equal(model.downsample_layers[2][1].weight, source.downsample_layers[2][1].weight)
    assert torch.equal(model.stages[3][0].pwconv1.weight, source.stages[3][0].pwconv1.weight)
    reported = {line.split(": ")[1].split(" ")[0] for line in report}  # "<what>: <key>[: <shapes>]"
    assert {"fc_loc.0.weight", "downsample_layers.1.2.fc.0.weight", "attention.query.weight", "head.weight"} <= reported


def test_a_few_steps_on_fer2013_reduce_the_loss(fer2013_batch, optimise) -> None:
    torch.manual_seed(0)
    model = create_model("emonext_tiny", num_classes=7, image_size=64, drop_path_rate=0.0)
    images, labels = fer2013_batch(16, 64, 3)
    recipe = {"cross_entropy": {"label_smoothing": 0.2}, "emonext_attention": {"weight": 1.0}}
    first, last = optimise(model, images, labels, recipe, steps=5, lr=0.01)
    assert last < first
