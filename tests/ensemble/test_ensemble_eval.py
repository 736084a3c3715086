"""``openfer ensemble eval|pack``: voting rules over checkpoints of mixed architectures, input sizes and label sets."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from openfer.checkpoints import save_safetensors
from openfer.cli import main
from openfer.data import load_dataset
from openfer.engine.evaluate import evaluate
from openfer.ensemble.evaluate import evaluate_ensemble
from openfer.ensemble.mixed import MixedEnsemble, combine
from openfer.errors import ConfigError
from openfer.inference import load_model
from openfer.labels import AFFECTNET8, FER2013, JAFFE, mapping
from openfer.models import create_model

from faml_example import EXAMPLE_LOGITS, EXAMPLE_T2V  # noqa: E402  (tests/ensemble/faml_example.py)
VGG = {"widths": [4], "hidden": 4}


def constant_checkpoint(path: Path, logits, classes, model: str = "openfer_vgg", options=None, input_size=(1, 24, 24)) -> Path:
    """Weights of ``model`` whose output is ``logits`` for every face: the last layer's weights zero, its bias the logits."""
    options = dict(VGG if options is None and model == "openfer_vgg" else options or {})
    torch.manual_seed(0)
    net = create_model(model, num_classes=len(classes), **options)
    last = [m for m in net.modules() if isinstance(m, torch.nn.Linear)][-1]
    with torch.no_grad():
        last.weight.zero_()
        last.bias.copy_(torch.tensor(logits))
    metadata = {"model": model, "model_options": options, "classes": list(classes), "input_size": list(input_size)}
    save_safetensors(net.state_dict(), path, metadata)
    return path


def random_checkpoint(path: Path, seed: int, classes=FER2013, model: str = "openfer_vgg", options=None, input_size=(1, 24, 24)) -> Path:
    options = dict(VGG if options is None and model == "openfer_vgg" else options or {})
    torch.manual_seed(seed)
    net = create_model(model, num_classes=len(classes), **options)
    save_safetensors(net.state_dict(), path, {"model": model, "model_options": options, "classes": list(classes), "input_size": list(input_size)})
    return path


def test_t2v_of_the_papers_worked_example_through_the_command(tiny_fer2013: Path, tmp_path: Path) -> None:
    # Members name their classes by JAFFE codes in the paper's order; the dataset is FER2013 (another order),
    # so the example also goes through the mapping by meaning, and members differ in input size.
    files = [
        str(constant_checkpoint(tmp_path / f"sn{i + 1}.safetensors", logits, JAFFE, input_size=(1, 24 if i < 3 else 32, 24 if i < 3 else 32)))
        for i, logits in enumerate(EXAMPLE_LOGITS)
    ]
    out = tmp_path / "t2v"
    assert main(["ensemble", "eval", *files, "--rule", "t2v", "--root", str(tiny_fer2013), "--output", str(out)]) == 0
    predictions = pd.read_csv(out / "predictions.csv")
    shares = predictions[[f"p_{name}" for name in FER2013]].to_numpy()
    votes = shares * len(files) * (1.9 + 1.0)  # the file holds each row's vote shares
    in_paper_order = votes[:, mapping(JAFFE, FER2013)]
    np.testing.assert_allclose(in_paper_order, np.tile(EXAMPLE_T2V, (len(votes), 1)), atol=1e-4)
    assert set(predictions["prediction"]) == {"angry"}

    every = tmp_path / "all"
    assert main(["ensemble", "eval", *files, "--rule", "all", "--root", str(tiny_fer2013), "--output", str(every)]) == 0
    chosen = {rule: set(pd.read_csv(every / rule / "predictions.csv")["prediction"]) for rule in ("t2v", "t1v", "noi", "average")}
    # T2V picks anger where NOI and averaging pick happiness; T1V's 3-3 tie goes to the lower index (angry).
    assert chosen == {"t2v": {"angry"}, "t1v": {"angry"}, "noi": {"happy"}, "average": {"happy"}}
    rules = pd.read_csv(every / "rules.csv", index_col=0)
    angry_share = float(np.mean(load_dataset("fer2013", tiny_fer2013)["PrivateTest"].labels == 0))
    assert rules.loc["t2v", "accuracy"] == pytest.approx(angry_share) and list(rules.index) == ["t2v", "t1v", "noi", "average"]
    assert (every / "members.md").read_text().count("sn") == len(files)


def test_t2v_on_logits_equals_t2v_through_the_probability_path() -> None:
    from openfer.ensemble.voting import t2v

    probabilities = [torch.tensor([row]).softmax(1).numpy() for row in EXAMPLE_LOGITS]
    through = combine(probabilities, [JAFFE] * 6, JAFFE, "t2v") * 6 * 2.9
    np.testing.assert_allclose(through[0], t2v(torch.tensor(EXAMPLE_LOGITS)[:, None, :])[0].numpy(), atol=1e-5)
    np.testing.assert_allclose(through[0], EXAMPLE_T2V, atol=1e-5)


@pytest.mark.parametrize("rule", ["average", "t2v", "noi"])
def test_ensemble_eval_of_one_checkpoint_equals_eval_of_it(tiny_fer2013: Path, tmp_path: Path, rule: str) -> None:
    weights = str(random_checkpoint(tmp_path / "one.safetensors", seed=3))
    assert main(["eval", "--checkpoint", weights, "--root", str(tiny_fer2013), "--output", str(tmp_path / "single")]) == 0
    assert main(["ensemble", "eval", weights, "--rule", rule, "--root", str(tiny_fer2013), "--output", str(tmp_path / "ens")]) == 0
    single = json.loads((tmp_path / "single/summary.json").read_text())
    ensemble = json.loads((tmp_path / "ens/summary.json").read_text())
    for key in ("accuracy", "balanced_accuracy", "macro_f1", "confusion_matrix", "num_samples", "tta"):
        assert ensemble[key] == single[key], key
    one, many = pd.read_csv(tmp_path / "single/predictions.csv"), pd.read_csv(tmp_path / "ens/predictions.csv")
    assert list(one["prediction"]) == list(many["prediction"])
    if rule != "t2v":  # the averages of one member are its probabilities
        np.testing.assert_allclose(one.filter(like="p_").to_numpy(), many.filter(like="p_").to_numpy(), atol=1e-5)
    members = pd.read_csv(tmp_path / "ens/members.csv")
    assert members.loc[0, "accuracy"] == pytest.approx(single["accuracy"])


def seven_and_eight_class_members(tmp_path: Path) -> list[str]:
    """A 7-class openfer_vgg (grey 24 x 24) and an 8-class resnet18 (RGB 32 x 32) whose top class is contempt, then sad."""
    seven = np.linspace(0.0, -1.0, 7)  # FER2013 order: angry on top
    eight = np.full(8, -2.0)
    eight[AFFECTNET8.index("contempt")], eight[AFFECTNET8.index("sad")], eight[AFFECTNET8.index("anger")] = 3.0, 2.0, 1.0
    return [
        str(constant_checkpoint(tmp_path / "seven.safetensors", seven, FER2013)),
        str(constant_checkpoint(tmp_path / "eight.safetensors", eight, AFFECTNET8, model="resnet18", options={}, input_size=(3, 32, 32))),
    ]


def test_a_7_and_an_8_class_member_map_by_meaning_and_name_what_they_dropped(
    tiny_fer2013: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    files = seven_and_eight_class_members(tmp_path)
    assert main(["ensemble", "eval", *files, "--rule", "all", "--root", str(tiny_fer2013), "--output", str(tmp_path / "out")]) == 0
    printed = capsys.readouterr().out
    assert "dropped: contempt" in printed and "(dropped): contempt" in printed
    summary = json.loads((tmp_path / "out/ensemble.json").read_text())
    assert summary["dropped_classes"] == ["contempt"]
    members = {m["checkpoint"]: m for m in summary["members"]}
    assert members[files[1]]["dropped_classes"] == "contempt" and members[files[0]]["dropped_classes"] == ""
    assert (members[files[0]]["input"], members[files[1]]["input"]) == ("1x24x24", "3x32x32")
    # The 8-class member's contempt mass is dropped: its prediction is its next class, sad, in FER2013's vocabulary.
    split = load_dataset("fer2013", tiny_fer2013)["PrivateTest"]
    eight = evaluate(load_model(files[1]), split)
    assert set(eight.predictions) == {FER2013.index("sad")} and eight.classes_dropped == ("contempt",)
    assert json.loads((tmp_path / "out/t2v/summary.json").read_text())["classes_dropped"] == ["contempt"]
    # T2V: the 7-class member votes angry (1.9) and disgust (1.0); the 8-class one sad (1.9) and anger (1.0).
    t2v = pd.read_csv(tmp_path / "out/t2v/predictions.csv")
    assert set(t2v["prediction"]) == {"angry"}


def test_a_packed_mixed_ensemble_loads_and_predicts_as_its_members(tiny_fer2013: Path, tmp_path: Path) -> None:
    files = [
        str(random_checkpoint(tmp_path / "a.safetensors", seed=1)),
        str(random_checkpoint(tmp_path / "b.safetensors", seed=2, classes=AFFECTNET8, model="resnet18", options={}, input_size=(3, 32, 32))),
    ]
    packed = tmp_path / "ens.safetensors"
    assert main(["ensemble", "pack", *files, "--rule", "weighted", "--weights", "2,1", "--output", str(packed)]) == 0
    ensemble = load_model(packed, tta="none")
    assert isinstance(ensemble, MixedEnsemble) and ensemble.classes == FER2013 and ensemble.rule == "weighted"
    assert [m.image_size for m in ensemble.members] == [24, 32] and [m.channels for m in ensemble.members] == [1, 3]
    faces = [np.random.default_rng(i).integers(0, 256, (40 + i, 36, 3), dtype=np.uint8) for i in range(3)]
    members = [load_model(f, tta="none") for f in files]
    expected = combine([m.predict_proba(faces) for m in members], [m.classes for m in members], FER2013, "weighted", weights=[2, 1])
    np.testing.assert_allclose(ensemble.predict_proba(faces), expected, atol=1e-6)
    assert len(ensemble.predict(faces)) == 3
    split = load_dataset("fer2013", tiny_fer2013)["PrivateTest"]
    by_eval = evaluate_ensemble(members, split, rule="weighted", weights=[2, 1]).reports["weighted"]
    np.testing.assert_allclose(evaluate(ensemble, split).probabilities, by_eval.probabilities, atol=1e-5)
    assert main(["eval", "--checkpoint", str(packed), "--root", str(tiny_fer2013)]) == 0
    from openfer.recognize.classifiers import resolve_model

    assert isinstance(resolve_model(str(packed), backend="auto"), MixedEnsemble)  # the recogniser takes it
    with pytest.raises(ConfigError, match="mixed ensemble"):
        resolve_model(str(packed), backend="onnx")


def test_rule_arguments_are_checked(tiny_fer2013: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    files = [str(random_checkpoint(tmp_path / f"{i}.safetensors", seed=i)) for i in range(2)]
    assert main(["ensemble", "eval", *files, "--rule", "weighted", "--root", str(tiny_fer2013)]) == 2
    assert "needs weights" in capsys.readouterr().err
    assert main(["ensemble", "eval", *files, "--rule", "weighted", "--weights", "1,2,3", "--root", str(tiny_fer2013)]) == 2
    assert "3 values for 2" in capsys.readouterr().err
    with pytest.raises(ConfigError, match="unknown ensemble rule"):
        evaluate_ensemble([load_model(files[0])], load_dataset("fer2013", tiny_fer2013)["PrivateTest"], rule="median")
