"""Residual Masking Network: held counts, the masking blocks, ResNet-34 weights, training on FER2013."""

from __future__ import annotations

import pytest
import torch

from openfer.checkpoints import save_safetensors
from openfer.models import create_model
from openfer.models.backbones.resnet import resnet
from openfer.models.rmn import MaskingBlock


def test_parameters_and_macs(macs) -> None:
    with torch.device("meta"):
        model = create_model("rmn", num_classes=7)
    assert sum(p.numel() for p in model.parameters()) == 137_796_423
    assert macs(lambda: create_model("rmn"), (3, 224, 224)) == pytest.approx(21.9e9, rel=0.02)


@pytest.mark.parametrize("depth", [1, 2, 3, 4])
def test_masking_block_keeps_the_shape_and_softmax_over_channels(depth: int) -> None:
    block = MaskingBlock(8, depth).eval()
    mask = block(torch.randn(2, 8, 16, 16))
    assert mask.shape == (2, 8, 16, 16)
    torch.testing.assert_close(mask.sum(dim=1), torch.ones(2, 16, 16))
    sigmoid = MaskingBlock(8, depth, activation="sigmoid").eval()(torch.randn(1, 8, 16, 16))
    assert bool(((sigmoid > 0) & (sigmoid < 1)).all())


def test_resnet34_weights_fill_the_trunk(tmp_path) -> None:
    trunk = resnet(34, num_classes=1000)
    path = tmp_path / "resnet34.safetensors"
    save_safetensors(trunk.state_dict(), path)
    model = create_model("rmn", backbone_weights=str(path))
    assert torch.equal(model.backbone.layer3[5].conv2.weight, trunk.layer3[5].conv2.weight)


def test_a_few_steps_on_fer2013_reduce_the_loss(fer2013_batch, optimise) -> None:
    # 32 x 32 is the smallest input the four U-Nets accept (layer1's 8 x 8 map is pooled three times).
    torch.manual_seed(0)
    model = create_model("rmn", num_classes=7, dropout=0.0)
    images, labels = fer2013_batch(8, 32, 3)
    first, last = optimise(model, images, labels, {"cross_entropy": {}}, steps=5, lr=0.01)
    assert last < first
    assert all(p.grad is not None for p in model.parameters())


def test_cpu_scale_variants_keep_the_masking_design() -> None:
    """trunk=18 and shallower masks; a depth of 0 leaves a stage unmasked (x * (1 + 0)); the default is the authors'."""
    from openfer.errors import ConfigError

    with torch.device("meta"):
        authors = create_model("rmn", num_classes=7)
        small = create_model("rmn", num_classes=7, in_channels=1, trunk=18, mask_depths=(1, 1, 1, 0))
        plain = create_model("rmn", num_classes=7, in_channels=1, trunk=18, mask_depths=(0, 0, 0, 0))
        resnet18 = create_model("resnet18", num_classes=7, in_channels=1)
    count = lambda m: sum(p.numel() for p in m.parameters())  # noqa: E731
    assert count(authors) == 137_796_423
    assert count(plain) == count(resnet18)  # no masks: the ResNet-18 trunk and a 512 -> 7 head
    assert count(small) - count(plain) == sum(count(m) for m in small.masks) > 0
    torch.manual_seed(0)
    unmasked = create_model("rmn", num_classes=7, in_channels=1, trunk=18, mask_depths=(0, 0, 0, 0)).eval()
    reference = create_model("resnet18", num_classes=7, in_channels=1).eval()
    state = {k.removeprefix("backbone."): v for k, v in unmasked.state_dict().items() if k.startswith("backbone.")}
    state.update({"fc.weight": unmasked.fc[1].weight, "fc.bias": unmasked.fc[1].bias})
    reference.load_state_dict(state)
    x = torch.randn(2, 1, 48, 48)
    with torch.no_grad():
        torch.testing.assert_close(unmasked(x), reference(x))
    with pytest.raises(ConfigError, match="trunk must be 18 or 34"):
        create_model("rmn", trunk=50)
