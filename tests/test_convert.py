"""Authors' released checkpoints converted with their class order recorded, so labels map by meaning."""

import numpy as np
import pytest
import torch

from openfer import load_model
from openfer.cli import main
from openfer.convert import convert_authors_weights
from openfer.errors import ConfigError
from openfer.labels import FER2013, RESEMOTENET_AUTHORS, map_probabilities
from openfer.models import create_model

# The yaoing/DAN module names (torchvision ResNet-18 children 0-7 in ``features``, heads ``cat_head<i>``),
# written out here from its networks/dan.py so the test does not use the converter's own renaming.
DAN_TRUNK = {"conv1": "features.0", "bn1": "features.1", "layer1": "features.4", "layer2": "features.5", "layer3": "features.6", "layer4": "features.7"}


def as_dan_authors(state: dict) -> dict:
    out = {}
    for key, value in state.items():
        if key.startswith("backbone."):
            first, rest = key.removeprefix("backbone.").split(".", 1)
            key = f"{DAN_TRUNK[first]}.{rest}"
        elif key.startswith("heads."):
            _, index, rest = key.split(".", 2)
            key = f"cat_head{index}.{rest}"
        out[key] = value
    return out


def test_dan_authors_checkpoint_reproduces_its_outputs(tmp_path) -> None:
    torch.manual_seed(0)
    net = create_model("dan", num_classes=8).eval()
    for module in net.modules():  # non-trivial BN statistics, so a mis-mapped buffer would show
        if isinstance(module, (torch.nn.BatchNorm1d, torch.nn.BatchNorm2d)):
            module.running_mean.uniform_(-0.1, 0.1)
            module.running_var.uniform_(0.5, 1.5)
    released = tmp_path / "affecnet8_epoch5_acc0.6209.pth"
    torch.save({"iter": 5, "model_state_dict": as_dan_authors(net.state_dict())}, released)
    converted = tmp_path / "dan.safetensors"
    assert main(["weights", "convert", "--from", "dan-authors", str(released), str(converted)]) == 0
    model = load_model(converted, precision="fp32")  # exact: the authors' outputs
    assert list(model.classes) == ["neutral", "happy", "sad", "surprise", "fear", "disgust", "anger", "contempt"]
    x = torch.randn(2, 3, 224, 224)
    with torch.no_grad():
        assert torch.equal(model.net(x)["logits"], net(x)["logits"])
    seven = tmp_path / "rafdb.pth"
    torch.save({"model_state_dict": as_dan_authors(create_model("dan", num_classes=7).state_dict())}, seven)
    with pytest.raises(ConfigError, match="give its classes"):
        convert_authors_weights("dan-authors", seven, tmp_path / "x.safetensors")
    assert load_model(convert_authors_weights("dan-authors", seven, tmp_path / "r.safetensors", classes="rafdb")).classes[0] == "surprise"


def test_resemotenet_checkpoint_labels_map_by_meaning(tmp_path) -> None:
    torch.manual_seed(0)
    net = create_model("resemotenet", num_classes=7).eval()
    released = tmp_path / "fer2013_model.pth"
    torch.save({"model_state_dict": net.state_dict()}, released)
    converted = convert_authors_weights("resemotenet-authors", released, tmp_path / "resemotenet.safetensors")
    for model in (load_model(converted), load_model("resemotenet", checkpoint=released)):
        assert tuple(model.classes) == RESEMOTENET_AUTHORS
        assert tuple(model.classes) != FER2013
    # Output 0 of the authors' net means "happy": mapped by meaning, it lands on FER2013's index 3, not 0 (angry).
    faces = np.random.default_rng(0).integers(0, 255, (3, 64, 64, 3), dtype=np.uint8)
    model = load_model(converted, tta="none", precision="fp32")
    probabilities = model.predict_proba(faces)
    with torch.no_grad():
        expected = torch.softmax(net(model.preprocess(faces)), 1).numpy()
    np.testing.assert_allclose(probabilities, expected, atol=1e-5)
    in_fer2013 = map_probabilities(probabilities, model.classes, "fer2013")
    np.testing.assert_allclose(in_fer2013[:, FER2013.index("happy")], expected[:, 0], atol=1e-5)
    np.testing.assert_allclose(in_fer2013[:, FER2013.index("neutral")], expected[:, 6], atol=1e-5)
