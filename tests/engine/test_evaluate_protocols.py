"""Evaluation protocols: FERPlus label modes, shared-class scoring across label sets, AffectNet-7 on an
8-class model, and the true-label rank distribution in the eval outputs (FAML paper, Table 1)."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest
import torch

from openfer.checkpoints import save_safetensors
from openfer.cli import main
from openfer.data.ferplus import HEADER
from openfer.engine import metrics
from openfer.engine.evaluate import evaluate
from openfer.inference import load_model
from openfer.labels import AFFECTNET8, CKPLUS, FER2013, FERPLUS
from openfer.models import create_model

VGG = {"widths": [4], "hidden": 4}


def constant_weights(path: Path, logits, classes) -> Path:
    """A tiny openfer_vgg whose output is ``logits`` for every face (last layer: zero weights, the logits as bias)."""
    torch.manual_seed(0)
    net = create_model("openfer_vgg", num_classes=len(classes), **VGG)
    with torch.no_grad():
        net.head[-1].weight.zero_()
        net.head[-1].bias.copy_(torch.tensor(logits, dtype=torch.float32))
    save_safetensors(net.state_dict(), path, {"model": "openfer_vgg", "model_options": VGG, "classes": list(classes), "input_size": [1, 24, 24]})
    return path


def write_png(path: Path, value: int, colour: bool = False) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    assert cv2.imwrite(str(path), np.full((16, 16, 3) if colour else (16, 16), value, dtype=np.uint8))


#        neutral happiness surprise sadness anger disgust fear contempt unknown NF
PRIVATE_VOTES = [
    [6, 4, 0, 0, 0, 0, 0, 0, 0, 0],  # majority neutral; distribution 0.6 / 0.4
    [0, 2, 8, 0, 0, 0, 0, 0, 0, 0],  # majority surprise; surprise alone covers 80 %: 1.0
    [4, 4, 0, 0, 2, 0, 0, 0, 0, 0],  # no majority (4 of 10); the tied top level covers 80 %: 0.5 / 0.5, top vote neutral
]


@pytest.fixture
def ferplus(tmp_path: Path) -> Path:
    """``fer2013new.csv`` (three PrivateTest rows) beside ``../fer2013/fer2013.csv``."""
    root = tmp_path / "ferplus"
    root.mkdir()
    with open(root / "fer2013new.csv", "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(HEADER)
        for i, votes in enumerate(PRIVATE_VOTES):
            writer.writerow(["PrivateTest", f"fer{i:07d}.png", *votes])
    (tmp_path / "fer2013").mkdir()
    rows = ["emotion,pixels,Usage"] + [f"0,{' '.join([str(40 * i)] * 2304)},PrivateTest" for i in range(len(PRIVATE_VOTES))]
    (tmp_path / "fer2013" / "fer2013.csv").write_text("\n".join(rows) + "\n")
    return root


def test_ferplus_majority_and_probability_modes(ferplus: Path, tmp_path: Path) -> None:
    logits = [2.0, 1.0, 0.5, 0, 0, 0, 0, 0]  # neutral on top, for every face
    weights = str(constant_weights(tmp_path / "m.safetensors", logits, FERPLUS))
    common = ["eval", "--checkpoint", weights, "--dataset", "ferplus", "--root", str(ferplus), "--split", "PrivateTest"]
    assert main([*common, "--label-mode", "majority", "--output", str(tmp_path / "majority")]) == 0
    majority = json.loads((tmp_path / "majority/summary.json").read_text())
    assert majority["num_samples"] == 2 and majority["accuracy"] == pytest.approx(0.5) and "cross_entropy" not in majority

    assert main([*common, "--label-mode", "probability", "--output", str(tmp_path / "probability")]) == 0
    summary = json.loads((tmp_path / "probability/summary.json").read_text())
    p = torch.tensor(logits).softmax(0).double().numpy()
    q = np.array([[0.6, 0.4, 0, 0, 0, 0, 0, 0], [0, 0, 1.0, 0, 0, 0, 0, 0], [0.5, 0.5, 0, 0, 0, 0, 0, 0]])
    assert summary["num_samples"] == 3 and summary["accuracy"] == pytest.approx(2 / 3)  # against each row's top vote
    assert summary["cross_entropy"] == pytest.approx(float(np.mean(-(q * np.log(p)).sum(1))), rel=1e-5)
    kl = np.mean([sum(qk * np.log(qk / pk) for qk, pk in zip(row, p) if qk > 0) for row in q])
    assert summary["kl_divergence"] == pytest.approx(float(kl), rel=1e-5)
    assert main([*common[:-4], "--dataset", "fer2013", "--root", str(ferplus.parent / "fer2013"), "--label-mode", "probability"]) == 2


def test_soft_metrics_of_a_perfect_prediction() -> None:
    q = np.array([[0.25, 0.75], [1.0, 0.0]])
    assert metrics.kl_divergence(q, q) == pytest.approx(0.0)
    assert metrics.soft_cross_entropy(q, q) == pytest.approx(-(0.25 * np.log(0.25) + 0.75 * np.log(0.75)) / 2)


@pytest.fixture
def ckplus(tmp_path: Path) -> Path:
    """CK+48 folders: two images of each of the seven emotions (contempt included), one subject per image."""
    root = tmp_path / "ckplus"
    for index, folder in enumerate(CKPLUS[:7]):
        for frame in range(2):
            write_png(root / folder / f"S{10 + 2 * index + frame:03d}_001_0000000{frame + 1}.png", 30 * index)
    return root


def test_fer2013_model_on_ckplus_with_shared_classes_leaves_contempt_out(ckplus: Path, tmp_path: Path) -> None:
    logits = np.zeros(7)
    logits[FER2013.index("happy")] = 3.0
    model = load_model(constant_weights(tmp_path / "fer.safetensors", logits, FER2013))
    from openfer.data import load_dataset

    split = load_dataset("ckplus", ckplus)["all"]
    every = evaluate(model, split)
    assert every.num_samples == 14 and every.accuracy == pytest.approx(2 / 14)  # contempt images count as errors
    shared = evaluate(model, split, classes="shared")
    assert shared.classes == tuple(c for c in CKPLUS if c != "contempt")
    assert shared.num_samples == 12 and shared.accuracy == pytest.approx(2 / 12)
    assert shared.classes_not_scored == ("contempt",) and shared.samples_not_scored == 2
    np.testing.assert_allclose(shared.probabilities.sum(1), 1, atol=1e-6)
    out = tmp_path / "out"
    args = ["eval", "--checkpoint", str(tmp_path / "fer.safetensors"), "--dataset", "ckplus", "--root", str(ckplus), "--split", "all"]
    assert main([*args, "--classes", "shared", "--output", str(out)]) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["classes_not_scored"] == ["contempt"] and summary["samples_not_scored"] == 2
    assert summary["accuracy"] == pytest.approx(2 / 12)


def test_affectnet7_protocol_on_an_8_class_model(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    root = tmp_path / "affectnet"
    for index in range(8):  # one image per class in val_set/<label>/
        write_png(root / "val_set" / str(index) / f"{index}.png", 20 * index, colour=True)
        write_png(root / "train_set" / str(index) / f"{index}.png", 20 * index, colour=True)
    logits = np.zeros(8)
    logits[AFFECTNET8.index("contempt")], logits[AFFECTNET8.index("sad")] = 5.0, 3.0
    weights = constant_weights(tmp_path / "eight.safetensors", logits, AFFECTNET8)
    args = ["eval", "--checkpoint", str(weights), "--dataset", "affectnet", "--root", str(root), "--split", "val"]
    assert main([*args, "--output", str(tmp_path / "eight")]) == 0
    eight = json.loads((tmp_path / "eight/summary.json").read_text())
    assert eight["num_samples"] == 8 and eight["accuracy"] == pytest.approx(1 / 8)  # contempt predicted, right once
    assert main([*args, "--dataset-option", "classes=7", "--output", str(tmp_path / "seven")]) == 0
    seven = json.loads((tmp_path / "seven/summary.json").read_text())
    # AffectNet-7: contempt images dropped by the reader, the model's contempt mass dropped: its next class, sad, wins.
    assert seven["num_samples"] == 7 and seven["accuracy"] == pytest.approx(1 / 7)
    assert seven["classes_dropped"] == ["contempt"] and seven["per_class"]["sad"]["recall"] == 1.0
    assert "(dropped): contempt" in capsys.readouterr().out


def test_eval_outputs_hold_the_true_label_rank_distribution(tiny_fer2013: Path, tmp_path: Path) -> None:
    torch.manual_seed(1)
    net = create_model("openfer_vgg", num_classes=7, **VGG)
    weights = tmp_path / "r.safetensors"
    save_safetensors(net.state_dict(), weights, {"model": "openfer_vgg", "model_options": VGG, "classes": list(FER2013), "input_size": [1, 24, 24]})
    out = tmp_path / "out"
    assert main(["eval", "--checkpoint", str(weights), "--root", str(tiny_fer2013), "--output", str(out)]) == 0
    predictions = pd.read_csv(out / "predictions.csv")
    probabilities = predictions[[f"p_{c}" for c in FER2013]].to_numpy()
    targets = np.array([FER2013.index(t) for t in predictions["target"]])
    expected = metrics.rank_distribution(probabilities, targets)
    table = pd.read_csv(out / "rank_distribution.csv", index_col="rank")
    assert table["count"].tolist() == expected.tolist() and list(table.index) == list(range(1, 8))
    assert table["cumulative_percent"].iloc[-1] == pytest.approx(100.0)
    assert table["count"].iloc[0] == int((probabilities.argmax(1) == targets).sum())
    summary = json.loads((out / "summary.json").read_text())
    assert [row["count"] for row in summary["rank_distribution"]] == expected.tolist()
    assert (out / "rank_distribution.png").read_bytes().startswith(b"\x89PNG")
    markdown = (out / "rank_distribution.md").read_text()
    assert "| | 1 | 2 | 3 | 4 | 5 | 6 | 7 |" in markdown and "| count |" in markdown
