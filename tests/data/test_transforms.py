"""Per-image transforms: shapes, positions, reproducibility under a seed."""

from __future__ import annotations

import numpy as np
import pytest

from openfer.data import transforms as T
from openfer.errors import ConfigError


def _image(shape=(10, 12)) -> np.ndarray:
    return (np.arange(np.prod(shape)) % 250 + 1).astype(np.uint8).reshape(shape)  # no zeros: padding shows


RANDOM = [
    T.RandomCrop(8, padding=2),
    T.HorizontalFlip(0.5),
    T.RandomAffine(degrees=20, translate=0.1, scale=(0.9, 1.1), shear=5),
    T.RandomRotation(15),
    T.ColorJitter(brightness=0.3, contrast=0.3),
    T.RandomErasing(p=0.9, value="random"),
    T.Compose([T.RandomCrop(8, padding=2), T.HorizontalFlip(), T.ColorJitter(0.2, 0.2), T.RandomErasing()]),
]


@pytest.mark.parametrize("transform", RANDOM, ids=lambda t: type(t).__name__)
@pytest.mark.parametrize("shape", [(10, 12), (10, 12, 3)])
def test_random_transforms_repeat_under_a_seed(transform, shape) -> None:
    image = _image(shape)
    runs = [[transform(image, rng) for _ in range(5)] for rng in (np.random.default_rng(7), np.random.default_rng(7))]
    for first, second in zip(*runs):
        assert np.array_equal(first, second) and first.dtype == image.dtype and first.ndim == image.ndim
    assert any(not np.array_equal(a, b) for a, b in zip(runs[0], runs[0][1:]))  # it is random


def test_resize_and_center_crop() -> None:
    image = _image((10, 12, 3))
    assert T.Resize(6)(image).shape == (6, 6, 3) and T.Resize((20, 24))(image).shape == (20, 24, 3)
    assert np.array_equal(T.CenterCrop((4, 6))(image), image[3:7, 3:9])


def test_random_crop_positions_lie_in_the_padded_image() -> None:
    image = _image()
    padded = np.pad(image, 1)
    rng = np.random.default_rng(0)
    offsets = set()
    for _ in range(50):
        crop = T.RandomCrop((10, 12), padding=1)(image, rng)
        found = [(y, x) for y in range(3) for x in range(3) if np.array_equal(crop, padded[y : y + 10, x : x + 12])]
        assert len(found) == 1
        offsets.add(found[0])
    assert len(offsets) == 9  # every offset of the 3 x 3 grid occurs
    assert T.RandomCrop(4, padding=3, border="reflect")(image, rng).shape == (4, 4)


def test_crop_larger_than_the_image_names_the_size() -> None:
    with pytest.raises(ConfigError, match="crop size 12x12 .* does not fit an image of \\(10, 12\\)"):
        T.CenterCrop(12)(_image())


def test_flip_twice_is_identity() -> None:
    image = _image((10, 12, 3))
    flip = T.HorizontalFlip(p=1.0)
    assert np.array_equal(flip(image)[:, 0], image[:, -1])
    assert np.array_equal(flip(flip(image)), image)
    assert T.HorizontalFlip(p=0.0)(image, np.random.default_rng(0)) is image


def test_ten_crop_count_and_positions() -> None:
    image = _image((10, 12))
    crops = T.TenCrop((4, 6))(image)
    assert crops.shape == (10, 4, 6)
    mirror = image[:, ::-1]
    for offset, view in ((0, image), (5, mirror)):
        assert np.array_equal(crops[offset + 0], view[:4, :6])
        assert np.array_equal(crops[offset + 1], view[:4, 6:])
        assert np.array_equal(crops[offset + 2], view[6:, :6])
        assert np.array_equal(crops[offset + 3], view[6:, 6:])
        assert np.array_equal(crops[offset + 4], view[3:7, 3:9])


def test_affine_without_change_is_identity_and_rotation_turns_about_the_centre() -> None:
    image = _image((9, 9))
    assert np.array_equal(T.RandomAffine()(image, np.random.default_rng(0)), image)
    dot = np.zeros((41, 41), np.uint8)
    dot[0, 20] = 255  # top centre, 20 pixels above the centre (20, 20)
    for seed in range(5):
        out = T.RandomRotation(90)(dot, np.random.default_rng(seed))
        angle = np.deg2rad(np.random.default_rng(seed).uniform(-90, 90))  # the first draw is the angle
        y, x = np.unravel_index(out.argmax(), out.shape)
        # positive angles turn counter-clockwise (as OpenCV and torchvision)
        assert abs(y - (20 - 20 * np.cos(angle))) <= 1 and abs(x - (20 - 20 * np.sin(angle))) <= 1


def test_colour_jitter_without_change_is_identity() -> None:
    image = _image((10, 12, 3))
    assert np.array_equal(T.ColorJitter()(image, np.random.default_rng(0)), image)
    brighter = T.ColorJitter(brightness=0.5)
    outs = [brighter(image, np.random.default_rng(s)) for s in range(10)]
    assert all(o.min() >= 0 and o.max() <= 255 for o in outs)


def test_random_erasing_fills_one_rectangle() -> None:
    image = np.full((20, 20), 200, np.uint8)
    out = T.RandomErasing(p=1.0, scale=(0.1, 0.1), ratio=(1.0, 1.0), value=0)(image, np.random.default_rng(3))
    rows, cols = np.nonzero(out == 0)
    assert rows.size == 36  # sqrt(0.1 * 400) = 6.3 -> a 6 x 6 square
    assert rows.max() - rows.min() == 5 and cols.max() - cols.min() == 5
    assert T.RandomErasing(p=0.0)(image, np.random.default_rng(0)) is image


def test_normalize_grey_and_per_channel() -> None:
    grey = np.array([[0, 255]], np.uint8)
    np.testing.assert_allclose(T.Normalize(0.5, 0.5)(grey), [[-1, 1]])
    rgb = np.zeros((1, 1, 3), np.uint8)
    out = T.Normalize((0.1, 0.2, 0.3), (0.5, 0.5, 0.5))(rgb)
    assert out.dtype == np.float32
    np.testing.assert_allclose(out[0, 0], [-0.2, -0.4, -0.6], rtol=1e-6)


def test_grey_and_rgb_conversion() -> None:
    grey = _image()
    rgb = T.ToRGB()(grey)
    assert rgb.shape == (10, 12, 3) and np.array_equal(rgb[..., 1], grey)
    assert np.array_equal(T.ToGrey()(rgb), grey)
    assert T.ToGrey()(grey) is grey


def test_compose_applies_in_order() -> None:
    pipeline = T.Compose([T.ToRGB(), T.Resize(16), T.CenterCrop(12), T.Normalize(0.5, 0.25)])
    out = pipeline(_image(), np.random.default_rng(0))
    assert out.shape == (12, 12, 3) and out.dtype == np.float32
