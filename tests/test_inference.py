"""ExpressionModel: TTA views in one pass, batch-size independence, and bf16 inference."""

from __future__ import annotations

import numpy as np
import pytest

from openfer.inference import PRECISIONS, load_model, native_bf16


@pytest.fixture(scope="module")
def faces() -> np.ndarray:
    return np.random.default_rng(0).integers(0, 256, (13, 57, 61), dtype=np.uint8)


@pytest.mark.parametrize("tta", ["none", "flip", "tencrop"])
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
