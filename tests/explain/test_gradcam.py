"""Grad-CAM maps: of the input's size, non-uniform for a trained model, independent of the batch; DAN per head."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import openfer
from openfer.explain import default_layers, explain_photo, gradcam
from openfer.inference import ExpressionModel


@pytest.fixture(scope="module")
def fast_model() -> ExpressionModel:
    return openfer.load_model("fast")


def test_trained_model_map_is_non_uniform_and_of_input_size(fast_model, fer2013_test_faces):
    result = gradcam(fast_model, fer2013_test_faces[:1])
    for method in ("gradcam", "gradcam++"):
        (heat,) = result.maps[method].values()
        assert heat.shape == (1, 48, 48)
        assert 0.0 <= heat.min() and heat.max() == pytest.approx(1.0)
        assert heat[0].std() > 0.1, f"{method} map is (nearly) uniform"
    assert result.overlay(0).shape == (48, 48, 3)


def test_map_of_a_face_does_not_depend_on_its_batch(fast_model, fer2013_test_faces):
    together = gradcam(fast_model, fer2013_test_faces)
    for index in (0, 5):
        alone = gradcam(fast_model, fer2013_test_faces[index : index + 1])
        for method, maps in together.maps.items():
            for name, heat in maps.items():
                np.testing.assert_allclose(heat[index], alone.maps[method][name][0], atol=1e-5)
        assert together.targets[index] == alone.targets[0]


def test_default_layer_is_the_last_conv_stage_and_can_be_overridden(fast_model, fer2013_test_faces):
    assert default_layers(fast_model.net, (1, 48, 48)) == ["features.26"]  # last ReLU before the last pooling: 6 x 6
    torch.manual_seed(0)
    assert default_layers(openfer.create_model("resnet18"), (3, 64, 64)) == ["layer4"]
    ensemble = openfer.create_model("average_ensemble", members=2)
    assert default_layers(ensemble, (1, 48, 48)) == ["members.0.features.26", "members.1.features.26"]
    earlier = gradcam(fast_model, fer2013_test_faces[:2], layer="features.20", methods=("gradcam",))
    assert list(earlier.maps["gradcam"]) == ["features.20"]
    with pytest.raises(openfer.ConfigError, match="no such module"):
        gradcam(fast_model, fer2013_test_faces[:1], layer="features.99")


def test_explained_class_can_be_chosen(fast_model, fer2013_test_faces):
    happy, sad = (gradcam(fast_model, fer2013_test_faces[:1], targets=[k], methods=("gradcam",)) for k in (3, 4))
    assert happy.targets.tolist() == [3] and sad.targets.tolist() == [4]
    assert not np.allclose(happy.maps["gradcam"]["features.26"], sad.maps["gradcam"]["features.26"])


def test_dan_heads_give_different_maps():
    torch.manual_seed(0)
    model = ExpressionModel(openfer.create_model("dan"), openfer.labels.FER2013, image_size=112, channels=3)
    face = np.random.default_rng(0).integers(0, 256, (1, 112, 112, 3), dtype=np.uint8)
    maps = gradcam(model, face, methods=("gradcam",)).maps["gradcam"]
    heads = [maps[f"head{j}"][0] for j in range(1, 5)]
    assert set(maps) == {"backbone.layer4", "head1", "head2", "head3", "head4"}
    for i in range(4):
        assert heads[i].shape == (112, 112)
        for j in range(i + 1, 4):
            assert np.abs(heads[i] - heads[j]).mean() > 0.01, f"heads {i + 1} and {j + 1} look at the same place"


def test_overlay_sits_on_the_face_region_of_the_photo(fast_model):
    from openfer.faces import Detection, FaceDetector

    class OneFace(FaceDetector):
        def _detect(self, image_rgb):
            return [Detection((60, 40, 48, 48), 1.0)]

    rng = np.random.default_rng(0)
    photo = np.full((200, 240, 3), 128, np.uint8)
    photo[40:88, 60:108] = rng.integers(0, 256, (48, 48, 3), dtype=np.uint8)
    explanation = explain_photo(fast_model, photo, detector=OneFace(), methods=("gradcam",))
    overlay = explanation.overlay("gradcam")
    assert overlay.shape == photo.shape
    changed = np.abs(overlay.astype(int) - photo.astype(int)).sum(2) > 0
    side = round(48 * 1.2)  # the recogniser's crop: margin 0.1 on each side
    top, left = 64 - side // 2, 84 - side // 2
    inside = np.zeros_like(changed)
    inside[top - 2 : top + side + 2, left - 2 : left + side + 2] = True
    assert changed[inside].mean() > 0.5
    far = changed.copy()
    far[:42] = False  # the label drawn above the box (whose top edge is row 40)
    assert not far[~inside].any()


def test_cli_writes_overlays_and_faces_csv(tmp_path, fer2013_test_faces):
    from openfer.cli import main
    from openfer.imageio import read_image, write_image

    face = write_image(tmp_path / "face.png", fer2013_test_faces[0])
    out = tmp_path / "out"
    assert main(["explain", "gradcam", "--checkpoint", "fast", "--image", str(face), "--output", str(out), "--whole-image"]) == 0
    for name in ("face.gradcam.png", "face.gradcam++.png"):
        assert read_image(out / name, grey=False).shape == (48, 48, 3)
    assert (out / "faces.csv").read_text().splitlines()[0] == "image,face,x,y,w,h,explained,probability"
    assert main(["explain", "gradcam", "--image", str(face), "--output", str(out), "--layer", "nope"]) == 2
