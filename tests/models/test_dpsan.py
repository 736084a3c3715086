"""DPSAN: structure and size, the crop schemes feeding the local path, training on FER2013."""

from __future__ import annotations

import pytest
import torch

from openfer.errors import ConfigError
from openfer.faces.regions import cut_regions_batch, landmark_regions
from openfer.models import create_model
from openfer.models.backbones.resnet import ResNet


def test_parameters_and_macs(macs) -> None:
    with torch.device("meta"):
        model = create_model("dpsan", num_classes=8)
    trunk = 11_176_512
    cbam_2560 = 2560 * 160 + 160 + 160 * 2560 + 2560
    compress = 2560 * 512 + 2 * 512
    cbam_512 = 512 * 32 + 32 + 32 * 512 + 512
    assert sum(p.numel() for p in model.parameters()) == 2 * trunk + cbam_2560 + compress + cbam_512 + 512 * 8 + 8 == 24_524_104
    # Five ResNet-18 trunks on 96x96 plus the fusion head (its MLPs run on the avg- and max-pooled vectors).
    trunk_macs = macs(lambda: create_model("resnet18", num_classes=0), (3, 96, 96))
    head_macs = 2 * 2 * 2560 * 160 + 2560 * 512 * 9 + 2 * 2 * 512 * 32 + 512 * 8
    assert macs(lambda: create_model("dpsan", num_classes=8), (3, 96, 96)) == 5 * trunk_macs + head_macs


def test_schemes_and_precomputed_crops() -> None:
    torch.manual_seed(0)
    model = create_model("dpsan", num_classes=8).eval()
    faces = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        internal = model(faces)
        given = model(faces, crops=model.crop(faces))
    assert internal.shape == (2, 8) and torch.equal(internal, given)
    # Landmark crops come from openfer.faces.regions and are passed in.
    points = torch.stack([torch.linspace(4, 28, 68), torch.linspace(6, 27, 68)], dim=1).numpy()
    crops = cut_regions_batch(faces, landmark_regions(points), 32)
    landmarks = create_model("dpsan", num_classes=8, regions="landmarks").eval()
    assert landmarks(faces, crops=crops).shape == (2, 8)
    with pytest.raises(ValueError, match="landmark crops"):
        landmarks(faces)
    with pytest.raises(ValueError, match="crops must be"):
        model(faces, crops=crops[:, :3])
    with pytest.raises(ConfigError, match="regions must be one of"):
        create_model("dpsan", regions="eyes")


def test_forward_backward_and_a_few_steps_on_fer2013(fer2013_batch, optimise) -> None:
    torch.manual_seed(0)
    model = create_model("dpsan", num_classes=7, regions="quadrants")
    images, labels = fer2013_batch(8, 32, 3)
    first, last = optimise(model, images, labels, {"cross_entropy": {}}, steps=3)
    assert model.local_path.conv1.weight.grad is not None and model.global_path.conv1.weight.grad is not None
    assert last < first


def test_backbone_weights_reach_both_paths(tmp_path) -> None:
    torch.manual_seed(0)
    source = ResNet(18, num_classes=1000)
    torch.save(source.state_dict(), tmp_path / "resnet18.pth")
    model = create_model("dpsan", num_classes=8, backbone_weights=str(tmp_path / "resnet18.pth"))
    for path in (model.global_path, model.local_path):
        assert torch.equal(path.layer3[0].conv2.weight, source.layer3[0].conv2.weight)


def test_crops_come_from_a_higher_resolution_source_when_given() -> None:
    # The paper cuts its crops from the 640 x 490 frames: with global_size the input is the larger face, the
    # global path sees it at global_size and the crops keep the detail of the source.
    torch.manual_seed(0)
    model = create_model("dpsan", num_classes=8, global_size=32).eval()
    plain = create_model("dpsan", num_classes=8).eval()
    plain.load_state_dict(model.state_dict())
    source = torch.rand(2, 3, 96, 96)
    from openfer.faces.regions import fixed_four_regions

    crops = model.crop(source)
    assert crops.shape == (2, 4, 3, 32, 32)
    assert torch.equal(crops, cut_regions_batch(source, fixed_four_regions(96), 32))
    small = torch.nn.functional.interpolate(source, size=(32, 32), mode="bilinear", align_corners=False, antialias=True)
    with torch.no_grad():
        assert torch.allclose(model(source), plain(small, crops=crops), atol=1e-5)
        assert not torch.allclose(model(source), plain(small), atol=1e-3)  # crops from the 32 px face differ
    with pytest.raises(ConfigError, match="global_size"):
        create_model("dpsan", global_size=16)


def test_ablation_variants_of_table_4() -> None:
    """GN (global path alone) and DPN (both paths, no stacked attention) as the paper's Table 4 defines them."""
    with torch.device("meta"):
        gn = create_model("dpsan", num_classes=8, paths="global", attention=False)
        dpn = create_model("dpsan", num_classes=8, attention=False)
    trunk = 11_176_512
    assert sum(p.numel() for p in gn.parameters()) == trunk + 512 * 8 + 8
    assert gn.local_path is None and gn.attention is None
    assert sum(p.numel() for p in dpn.parameters()) == 2 * trunk + 2560 * 8 + 8
    torch.manual_seed(0)
    x = torch.randn(2, 3, 96, 96)
    gn = create_model("dpsan", num_classes=8, paths="global", attention=False).eval()
    with torch.no_grad():
        expected = gn.fc(gn.global_path.forward_features(x).mean(dim=(2, 3)))
        assert torch.equal(gn(x), expected)  # no crops are cut for GN
        dpn = create_model("dpsan", num_classes=8, attention=False).eval()
        maps = torch.cat([dpn.global_path.forward_features(x), dpn.local_path.forward_features(dpn.crop(x).flatten(0, 1)).reshape(2, -1, 3, 3)], 1)
        torch.testing.assert_close(dpn(x), dpn.fc(maps.mean(dim=(2, 3))))
    with pytest.raises(ConfigError, match="paths must be one of"):
        create_model("dpsan", paths="local")
    with pytest.raises(ConfigError, match="GN baseline, which has no stacked attention"):
        create_model("dpsan", paths="global")
