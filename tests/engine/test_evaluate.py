import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn

from openfer.checkpoints import save_safetensors
from openfer.cli import main
from openfer.data.base import FaceSplit
from openfer.engine.evaluate import EvaluationReport, evaluate
from openfer.errors import ConfigError
from openfer.inference import ExpressionModel
from openfer.models.registry import create_model

DARK, BRIGHT = 50, 200


def brightness_model(classes: tuple[str, ...]) -> ExpressionModel:
    """Predicts class 1 for faces brighter than mid-grey, class 0 otherwise (flip- and crop-invariant)."""
    net = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(1, 2))
    with torch.no_grad():
        net[2].weight.copy_(torch.tensor([[-10.0], [10.0]]))
        net[2].bias.zero_()
    return ExpressionModel(net, classes, image_size=24, name="brightness")


def split() -> FaceSplit:
    # targets 0 0 0 1 1 1; the model predicts 0 0 1 1 1 0 -> confusion [[2, 1], [1, 2]]
    values = [DARK, DARK, BRIGHT, BRIGHT, BRIGHT, DARK]
    images = np.stack([np.full((30, 30), v, dtype=np.uint8) for v in values])
    return FaceSplit("test", ("sad", "happy"), np.array([0, 0, 0, 1, 1, 1]), images=images, image_ids=list("abcdef"))


@pytest.mark.parametrize("tta", ["none", "flip", "tencrop"])
def test_evaluate_scores_predictions_against_labels(tta: str) -> None:
    report = evaluate(brightness_model(("sad", "happy")), split(), tta=tta, dataset="toy")
    np.testing.assert_array_equal(report.confusion, [[2, 1], [1, 2]])
    assert report.accuracy == pytest.approx(4 / 6) and report.balanced_accuracy == pytest.approx(4 / 6)
    np.testing.assert_allclose(report.precision, [2 / 3, 2 / 3])
    np.testing.assert_allclose(report.f1, [2 / 3, 2 / 3])
    assert report.probabilities.shape == (6, 2) and np.allclose(report.probabilities.sum(1), 1)
    assert (report.model, report.dataset, report.split, report.tta) == ("brightness", "toy", "test", tta)


def test_a_model_with_another_vocabulary_is_mapped_by_meaning() -> None:
    # The same network with its outputs named the other way round: "dark" now means happy.
    report = evaluate(brightness_model(("happy", "sad")), split())
    np.testing.assert_array_equal(report.predictions, [1, 1, 0, 0, 0, 1])
    assert report.classes == ("sad", "happy") and report.model_classes == ("happy", "sad")


def test_evaluate_applies_the_models_own_tta_unless_told_otherwise() -> None:
    torch.manual_seed(0)
    net = nn.Sequential(nn.Flatten(), nn.Linear(24 * 24, 2))  # random weights: a face and its mirror score differently
    images = np.random.default_rng(0).integers(0, 256, (8, 24, 24), dtype=np.uint8)
    data = FaceSplit("test", ("sad", "happy"), np.array([0, 1] * 4), images=images)
    flip = ExpressionModel(net, ("sad", "happy"), image_size=24, tta="flip")
    report = evaluate(flip, data)
    assert report.tta == "flip"
    np.testing.assert_allclose(report.probabilities, flip.predict_proba(images), atol=1e-6)
    plain = evaluate(flip, data, tta="none")
    assert plain.tta == "none" and np.abs(plain.probabilities - report.probabilities).max() > 1e-3
    assert flip.tta == "flip"  # the override is for this evaluation only
    told = evaluate(ExpressionModel(net, ("sad", "happy"), image_size=24, tta="none"), data, tta="flip")
    np.testing.assert_allclose(told.probabilities, report.probabilities, atol=1e-6)


def test_the_shipped_model_scores_as_load_model_predicts(fer2013_cache: tuple[Path, Path], monkeypatch) -> None:
    """What ``openfer eval`` reports for the shipped model (no --tta) is what load_model() predicts: affine TTA."""
    from openfer.data import load_dataset
    from openfer.inference import load_model

    root, cache = fer2013_cache
    monkeypatch.setenv("OPENFER_CACHE", str(cache))
    private = load_dataset("fer2013", root)["PrivateTest"].subset(np.arange(24))  # 14 views x 2 networks each: kept small
    model = load_model()
    report = evaluate(model, private)
    predicted = model.predict_proba(private.images)
    assert report.tta == model.tta == "affine"
    np.testing.assert_allclose(report.probabilities, predicted, atol=1e-5)
    assert report.accuracy == float(np.mean(predicted.argmax(1) == private.labels))


def test_unknown_tta_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="unknown tta 'twelvecrop'"):
        evaluate(brightness_model(("sad", "happy")), split(), tta="twelvecrop")


def test_report_saves_json_csv_png_and_predictions_atomically(tmp_path: Path) -> None:
    report = evaluate(brightness_model(("sad", "happy")), split(), dataset="toy")
    written = report.save(tmp_path / "report")
    assert sorted(p.name for p in written) == sorted(p.name for p in (tmp_path / "report").iterdir())
    summary = json.loads((tmp_path / "report/summary.json").read_text())
    assert summary["accuracy"] == pytest.approx(4 / 6) and summary["num_samples"] == 6
    assert summary["per_class"]["happy"] == {"precision": pytest.approx(2 / 3), "recall": pytest.approx(2 / 3), "f1": pytest.approx(2 / 3), "support": 3}
    assert summary["confusion_matrix"] == [[2, 1], [1, 2]]
    confusion = pd.read_csv(tmp_path / "report/confusion_matrix.csv", index_col=0)
    assert confusion.values.tolist() == [[2, 1], [1, 2]] and list(confusion.columns) == ["sad", "happy"]
    predictions = pd.read_csv(tmp_path / "report/predictions.csv")
    assert list(predictions["image_id"]) == list("abcdef") and list(predictions["prediction"])[2] == "happy"
    assert (tmp_path / "report/confusion_matrix.png").read_bytes().startswith(b"\x89PNG")
    assert pd.read_csv(tmp_path / "report/per_class.csv", index_col=0).loc["sad", "support"] == 3
    assert isinstance(report, EvaluationReport)


@pytest.fixture
def tiny_weights(tmp_path: Path) -> Path:
    """An openfer_vgg safetensors file for 24 x 24 faces with the FER2013 classes, as load_model reads them."""
    options = {"widths": [4], "hidden": 4}
    path = tmp_path / "tiny.safetensors"
    classes = ["angry", "disgust", "fear", "happy", "sad", "surprise", "neutral"]
    metadata = {"model": "openfer_vgg", "model_options": options, "classes": classes, "input_size": [1, 24, 24]}
    save_safetensors(create_model("openfer_vgg", **options).state_dict(), path, metadata)
    return path


def test_openfer_eval_scores_a_safetensors_file(tiny_fer2013: Path, tiny_weights: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    args = ["eval", "--checkpoint", str(tiny_weights), "--root", str(tiny_fer2013), "--tta", "tencrop", "--output", str(tmp_path / "out")]
    assert main(args) == 0
    summary = json.loads((tmp_path / "out/summary.json").read_text())
    assert (summary["split"], summary["num_samples"], summary["tta"]) == ("PrivateTest", 16, "tencrop")
    assert summary["inference_precision"] in ("fp32", "bf16")
    assert main([*args[:-2], "--precision", "fp32", "--output", str(tmp_path / "fp32")]) == 0
    assert json.loads((tmp_path / "fp32/summary.json").read_text())["inference_precision"] == "fp32"
    assert "accuracy" in capsys.readouterr().out


@pytest.mark.parametrize(
    "args, message",
    [
        (["--split", "Nope"], "has splits"),
        (["--checkpoint", "missing.ckpt"], "no such checkpoint file"),
        (["--dataset", "nope"], "unknown dataset 'nope'"),
        (["--tta", "twelvecrop"], "unknown tta 'twelvecrop'; available: none, flip, tencrop, affine"),  # the library's message
    ],
)
def test_openfer_eval_bad_input_is_one_line_and_exit_2(
    tiny_fer2013: Path, tiny_weights: Path, capsys: pytest.CaptureFixture, args: list[str], message: str
) -> None:
    assert main(["eval", "--root", str(tiny_fer2013), "--checkpoint", str(tiny_weights), *args]) == 2
    error = capsys.readouterr().err.strip().splitlines()
    assert len(error) == 1 and error[0].startswith("openfer: error:") and message in error[0]


def test_openfer_eval_without_tta_uses_the_models_own(tiny_fer2013: Path, tiny_weights: Path, tmp_path: Path) -> None:
    from openfer.data import load_dataset
    from openfer.inference import load_model

    assert main(["eval", "--checkpoint", str(tiny_weights), "--root", str(tiny_fer2013), "--output", str(tmp_path / "out")]) == 0
    summary = json.loads((tmp_path / "out/summary.json").read_text())
    model = load_model(tiny_weights)
    expected = evaluate(model, load_dataset("fer2013", tiny_fer2013)["PrivateTest"])
    assert summary["tta"] == model.tta == "flip"
    assert summary["accuracy"] == pytest.approx(expected.accuracy)
    assert summary["confusion_matrix"] == expected.confusion.tolist()
