"""Distillation targets: mixing, FERPlus row alignment, the stored file's checks, and the datamodule hook."""

from __future__ import annotations

import numpy as np
import pytest

from openfer.data.base import FaceSplit
from openfer.engine import distill
from openfer.engine.datamodule import FERDataModule
from openfer.errors import DatasetError

CLASSES = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")


def make_split(n: int = 6, seed: int = 0) -> FaceSplit:
    rng = np.random.default_rng(seed)
    return FaceSplit(
        name="Training",
        classes=CLASSES,
        labels=rng.integers(0, 7, n),
        images=rng.integers(0, 256, (n, 48, 48), dtype=np.uint8),
        image_ids=[str(r) for r in range(10, 10 + 2 * n, 2)],
    )


def test_mix_targets_weights_and_masks():
    labels = np.array([0, 3])
    teacher = np.full((2, 7), 1 / 7)
    votes = np.zeros((2, 7))
    votes[:, 6] = 1.0
    mask = np.array([True, False])
    targets = distill.mix_targets(labels, 7, [(0.5, teacher, None), (0.2, votes, mask)])
    np.testing.assert_allclose(targets.sum(1), 1.0, atol=1e-6)
    # Row 0: 0.5 uniform + 0.2 on neutral + 0.3 on its label.
    assert targets[0, 0] == pytest.approx(0.5 / 7 + 0.3)
    assert targets[0, 6] == pytest.approx(0.5 / 7 + 0.2)
    # Row 1 has no votes: their weight goes back to the label (0.5 uniform + 0.5 label).
    assert targets[1, 3] == pytest.approx(0.5 / 7 + 0.5)
    assert targets[1, 6] == pytest.approx(0.5 / 7)


def test_mix_targets_refuses_weights_over_one():
    with pytest.raises(Exception, match="more than 1"):
        distill.mix_targets(np.array([0]), 7, [(0.7, np.full((1, 7), 1 / 7), None), (0.6, np.full((1, 7), 1 / 7), None)])


def test_teacher_probabilities_in_split_order():
    split = make_split(5)
    seen = []

    def predict(faces):
        seen.append(len(faces))
        out = np.zeros((len(faces), 7), dtype=np.float32)
        out[np.arange(len(faces)), faces[:, 0, 0] % 7] = 1.0
        return out

    probabilities = distill.teacher_probabilities(predict, split, batch_size=2)
    assert seen == [2, 2, 1]
    np.testing.assert_array_equal(probabilities.argmax(1), split.images[:, 0, 0] % 7)


def test_ferplus_votes_align_by_csv_row_and_map_by_meaning():
    split = make_split(3)  # csv rows 10, 12, 14
    ferplus_classes = ("neutral", "happiness", "surprise", "sadness", "anger", "disgust", "fear", "contempt")
    soft = np.zeros((3, 8), dtype=np.float32)
    soft[0, 1] = 1.0  # row 14: happiness
    soft[1, 0] = 1.0  # row 10: neutral
    soft[2, 7] = 1.0  # row 12: contempt only, which FER2013 lacks
    ferplus = FaceSplit("Training", ferplus_classes, soft.argmax(1), images=np.zeros((3, 48, 48), np.uint8),
                        soft_labels=soft, image_ids=["14", "10", "12"])
    votes, mask = distill.ferplus_votes(split, ferplus, np.array([10, 12, 14]))
    assert mask.tolist() == [True, False, True]
    assert votes[0].argmax() == CLASSES.index("neutral")
    assert votes[2].argmax() == CLASSES.index("happy")


def test_saved_targets_round_trip_and_refuse_other_splits(tmp_path):
    split = make_split(4)
    targets = distill.mix_targets(split.labels, 7, [])
    path = distill.save_targets(tmp_path / "t.npz", targets, split, {"tool": "test"})
    np.testing.assert_array_equal(distill.load_targets(path, split), targets)
    with pytest.raises(DatasetError, match="faces"):
        distill.load_targets(path, make_split(5))
    other = make_split(4, seed=1)
    with pytest.raises(DatasetError, match="labels differ"):
        distill.load_targets(path, other)
    (tmp_path / "bad.npz").write_bytes(b"PK\x03\x04 truncated")
    with pytest.raises(DatasetError, match="bad.npz"):
        distill.load_targets(tmp_path / "bad.npz", split)


def test_datamodule_serves_soft_targets_for_training_only(tmp_path, monkeypatch):
    split = make_split(6)
    holdout = make_split(6, seed=3)
    holdout.name = "PublicTest"
    targets = np.eye(7, dtype=np.float32)[(split.labels + 1) % 7]
    path = distill.save_targets(tmp_path / "t.npz", targets, split, {"tool": "test"})
    monkeypatch.setattr("openfer.engine.datamodule.load_dataset", lambda *a, **k: {"Training": split, "PublicTest": holdout})
    module = FERDataModule(root=str(tmp_path), test_split=None, batch_size=3, soft_targets=str(path))
    module.setup()
    images, hard, soft = next(iter(module.train_dataloader()))
    assert soft.shape == (3, 7)
    np.testing.assert_array_equal(soft.argmax(1).numpy(), (hard.numpy() + 1) % 7)
    assert len(next(iter(module.val_dataloader()))) == 2


def test_distill_command_writes_targets_the_datamodule_accepts(tiny_fer2013, tmp_path):
    from openfer.cli import main
    from openfer.data import load_dataset

    output = tmp_path / "targets.npz"
    assert main(["distill", "--teacher", "fast", "--tta", "none", "--precision", "fp32", "--root", str(tiny_fer2013),
                 "--teacher-weight", "0.5", "--output", str(output)]) == 0
    training = load_dataset("fer2013", tiny_fer2013)["Training"]
    targets = distill.load_targets(output, training)
    np.testing.assert_allclose(targets.sum(1), 1.0, atol=1e-5)
    # Half the mass is the label's: it stays the largest or ties with what the teacher adds on top.
    assert (targets[np.arange(len(training)), training.labels] >= 0.5 - 1e-6).all()
    with np.load(output) as stored:
        np.testing.assert_allclose(stored["teacher"].sum(1), 1.0, atol=1e-5)
    assert main(["distill", "--teacher", "fast", "--root", str(tiny_fer2013), "--split", "Nope", "--output", str(output)]) == 2
