"""The registry: what travels with each model's weights, and ``create_model(name, checkpoint=...)``."""

from __future__ import annotations

import pytest
import torch

from openfer.checkpoints import load_weights, save_safetensors
from openfer.errors import CheckpointError
from openfer.losses import list_losses
from openfer.models import create_model, list_models, model_info
from openfer.models.registry import info_of


@pytest.mark.parametrize("name", list_models())
def test_every_model_carries_a_valid_configuration(name: str) -> None:
    info = model_info(name)
    channels, height, width = info.input_size
    assert channels in (1, 3) and height == width >= 16 and info.channels == channels and info.image_size == width
    assert info.std > 0 and -1.0 < info.mean < 1.0
    assert info.default_losses and set(info.default_losses) <= set(list_losses())
    assert info.paper
    with torch.device("meta"):
        model = create_model(name, num_classes=5)
    assert info_of(model) is info
    if name == "average_ensemble":
        assert info.head == ""  # its members carry their own heads
        return
    head = dict(model.named_modules())[info.head]  # KeyError: a head name the model does not have
    # The head is the classifier: its last parameter (the output bias) has one entry per class.
    assert list(head.parameters())[-1].shape == (5,)


def test_papers_losses_are_the_defaults() -> None:
    assert model_info("dan").default_losses == ("cross_entropy", "affinity", "partition")
    assert model_info("faml").default_losses == ("faml",)
    assert model_info("emonext_tiny").default_losses == ("cross_entropy", "emonext_attention")
    assert model_info("openfer_vgg").default_losses == ("cross_entropy",)


def test_unregistered_networks_get_the_default_configuration() -> None:
    info = info_of(torch.nn.Linear(2, 2))
    assert (info.input_size, info.mean, info.std) == (model_info("openfer_vgg").input_size, model_info("openfer_vgg").mean, model_info("openfer_vgg").std)


def test_create_model_with_a_checkpoint_equals_loading_it_by_hand(tmp_path) -> None:
    torch.manual_seed(0)
    source = create_model("openfer_vgg", widths=(8, 16), hidden=16).eval()
    path = tmp_path / "weights.safetensors"
    save_safetensors(source.state_dict(), path)
    torch.manual_seed(1)
    loaded = create_model("openfer_vgg", checkpoint=path, widths=(8, 16), hidden=16).eval()
    by_hand = create_model("openfer_vgg", widths=(8, 16), hidden=16).eval()
    assert load_weights(by_hand, path) == []
    x = torch.randn(3, 1, 24, 24)
    with torch.no_grad():
        assert torch.equal(loaded(x), by_hand(x)) and torch.equal(loaded(x), source(x))
    assert loaded.state_dict().keys() == source.state_dict().keys()
    assert all(torch.equal(v, source.state_dict()[k]) for k, v in loaded.state_dict().items())
    with pytest.raises(CheckpointError, match="does not match the model"):
        create_model("openfer_vgg", checkpoint=path, widths=(8, 32), hidden=16)
