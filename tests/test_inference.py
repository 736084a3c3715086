"""ExpressionModel: TTA views in one pass, batch-size independence, and bf16 inference."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from openfer.inference import AFFINE_VIEWS, PRECISIONS, affine_view, load_model, native_bf16, tta_views


@pytest.fixture(scope="module")
def faces() -> np.ndarray:
    return np.random.default_rng(0).integers(0, 256, (13, 57, 61), dtype=np.uint8)


@pytest.mark.parametrize("tta", ["none", "flip", "tencrop", "affine"])
def test_probabilities_do_not_depend_on_the_batch_size(faces: np.ndarray, tta: str) -> None:
    reference = load_model(tta=tta, batch_size=256).predict_proba(faces)
    for batch_size in (1, 7, 20):
        np.testing.assert_allclose(load_model(tta=tta, batch_size=batch_size).predict_proba(faces), reference, atol=1e-5)
    assert reference.shape == (13, 7)
    np.testing.assert_allclose(reference.sum(1), 1, atol=1e-5)


def test_flip_averages_the_face_and_its_mirror(faces: np.ndarray) -> None:
    plain = load_model(tta="none")
    expected = (plain.predict_proba(faces) + plain.predict_proba(faces[:, :, ::-1].copy())) / 2
    np.testing.assert_allclose(load_model(tta="flip").predict_proba(faces), expected, atol=1e-5)


def test_affine_views_move_the_face_as_asked() -> None:
    x = torch.zeros(1, 1, 48, 48)
    x[..., 20:28, 20:28] = 1.0  # a bright square in the middle
    np.testing.assert_allclose(affine_view(x), x, atol=1e-6)  # the identity warp changes nothing
    shifted = affine_view(x, dx=1 / 6)  # sample 1/12 of the width (4 px) to the right: content moves left
    assert torch.equal(shifted[..., 20:28, 16:24], x[..., 20:28, 20:28])
    zoomed = affine_view(x, zoom=2.0)  # zoom in 2x: the square doubles in size around the centre
    assert zoomed[..., 17:31, 17:31].min() > 0.99 and zoomed[..., :15, :].max() < 1e-6
    views = tta_views(x, "affine")
    assert len(views) == 2 * len(AFFINE_VIEWS) and all(v.shape == x.shape for v in views)
    assert torch.equal(views[len(AFFINE_VIEWS)], x.flip(-1))  # the second half mirrors the first


def test_affine_tta_averages_its_views(faces: np.ndarray) -> None:
    model = load_model(tta="affine", members=1)
    x = model.preprocess(faces)
    expected = torch.stack([torch.softmax(model.logits(v), 1) for v in tta_views(x, "affine")]).mean(0).numpy()
    np.testing.assert_allclose(model.predict_proba(faces), expected, atol=1e-5)


def test_bf16_stays_close_to_fp32(faces: np.ndarray) -> None:
    fp32 = load_model(precision="fp32")
    bf16 = load_model(precision="bf16")
    assert bf16.bf16 and not fp32.bf16 and "bf16" in repr(bf16)
    a, b = fp32.predict_proba(faces), bf16.predict_proba(faces)
    assert np.abs(a - b).max() < 0.05
    assert (a.argmax(1) == b.argmax(1)).mean() >= 0.8
    assert load_model(precision="auto").bf16 == native_bf16()


def test_unknown_precision_is_refused() -> None:
    with pytest.raises(ValueError, match="precision must be one of"):
        load_model(precision="fp8")
    assert PRECISIONS == ("fp32", "bf16", "auto")
