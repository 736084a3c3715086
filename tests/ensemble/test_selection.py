"""Ensemble selection on one split, reported on another (openfer.ensemble.selection)."""

from __future__ import annotations

import numpy as np
import pytest

from openfer.ensemble import selection
from openfer.ensemble.selection import report, search_weights, select_members, select_then_report
from openfer.errors import ConfigError


def one_hot(predicted, num_classes: int = 3, confidence: float = 0.8) -> np.ndarray:
    """Probabilities that put ``confidence`` on each predicted class, the rest spread evenly."""
    p = np.full((len(predicted), num_classes), (1 - confidence) / (num_classes - 1))
    p[np.arange(len(predicted)), predicted] = confidence
    return p


LABELS = np.array([0, 1, 2, 0, 1, 2, 0, 1, 2, 0])


def candidates() -> dict[str, np.ndarray]:
    right = LABELS.copy()
    return {
        "b_good": one_hot(right),                       # 10/10
        "a_good": one_hot(right),                       # 10/10, an identical twin
        "c_half": one_hot(np.where(np.arange(10) < 5, right, (right + 1) % 3)),
        "d_bad": one_hot((right + 1) % 3),              # 0/10
    }


def test_ties_go_to_fewer_members_then_name_order():
    ranked = select_members(candidates(), LABELS, max_members=3, rule="average")
    # Every subset holding a perfect member and not outvoted scores 10/10; the singletons come first,
    # and of the two, the first name.
    assert ranked[0].members == ("a_good",) and ranked[0].correct == 10
    assert ranked[1].members == ("b_good",)
    assert ranked[2].members == ("a_good", "b_good")
    keys = [(-s.correct, len(s.members), s.members) for s in ranked]
    assert keys == sorted(keys)
    assert all(s.members == tuple(sorted(s.members)) for s in ranked)


def test_exhaustive_then_greedy_beyond_the_size():
    probabilities = candidates()
    exhaustive = select_members(probabilities, LABELS, rule="t2v", exhaustive_size=4)
    assert len(exhaustive) == 15 and {s.how for s in exhaustive} == {"exhaustive"}
    greedy = select_members(probabilities, LABELS, rule="t2v", exhaustive_size=2)
    sizes = sorted(len(s.members) for s in greedy if s.how == "greedy")
    assert sizes == [3, 4]  # one subset per size beyond 2, each grown from the best of the size before
    assert sum(1 for s in greedy if s.how == "exhaustive") == 4 + 6


def test_selection_never_reads_the_report_labels(monkeypatch):
    events: list[str] = []

    class Sentinel:
        """Report labels that record when they are read."""

        def __array__(self, dtype=None, copy=None):
            events.append("report labels read")
            return np.asarray(LABELS[::-1], dtype=dtype)

        def __len__(self):
            events.append("report labels read")
            return len(LABELS)

        def __getitem__(self, index):
            events.append("report labels read")
            return LABELS[::-1][index]

    original = selection.select_members

    def recording(*args, **kwargs):
        ranked = original(*args, **kwargs)
        events.append("selected")
        return ranked

    monkeypatch.setattr(selection, "select_members", recording)
    result = select_then_report(candidates(), LABELS, candidates(), Sentinel(), max_members=2, top=3)
    assert events[0] == "selected" and "report labels read" in events[1:]
    # The choice is the same whatever the report split holds.
    other = select_then_report(candidates(), LABELS, {k: v[::-1] for k, v in candidates().items()}, LABELS, max_members=2, top=3)
    assert [s.members for s in result.ranked] == [s.members for s in other.ranked]
    assert result.chosen.members == ("a_good",)


def test_report_split_cannot_change_the_choice():
    # On the report split only c_half is right; the choice, made on the selection split, stays.
    report_probabilities = {name: one_hot((LABELS + 1) % 3) for name in candidates()}
    report_probabilities["c_half"] = one_hot(LABELS)
    result = select_then_report(candidates(), LABELS, report_probabilities, LABELS, max_members=2)
    assert result.chosen.members == ("a_good",)
    assert result.report_accuracy[0] == 0.0
    assert report([result.ranked[0]], report_probabilities, LABELS) == [0.0]


def test_weight_search_prefers_even_weights_on_ties_and_finds_a_better_mix():
    labels = np.array([0, 0, 1, 1])
    # x is right on the first two with high confidence, y on the last two with low confidence; equal weights
    # lose faces 2 and 3, weighting y up wins all four.
    x = np.array([[0.9, 0.1], [0.9, 0.1], [0.9, 0.1], [0.9, 0.1]])
    y = np.array([[0.45, 0.55], [0.45, 0.55], [0.3, 0.7], [0.3, 0.7]])
    weights, correct = search_weights({"x": x, "y": y}, ["x", "y"], labels, grid=(0.5, 1.0, 2.0))
    assert correct == 4 and weights[1] > weights[0]
    same, count = search_weights({"x": x, "z": x.copy()}, ["x", "z"], labels)
    assert same == (0.5, 0.5) and count == 2
    ranked = select_members({"x": x, "y": y}, labels, rule="weighted")
    assert ranked[0].rule == "weighted" and ranked[0].correct == 4


def test_bad_arguments():
    with pytest.raises(ConfigError, match="--rule"):
        select_members(candidates(), LABELS, rule="median")
    with pytest.raises(ConfigError, match="same shape"):
        select_members({"a": np.zeros((3, 3)), "b": np.zeros((4, 3))}, LABELS)
    with pytest.raises(ConfigError, match="labels"):
        select_members(candidates(), LABELS[:5])


def tiny_checkpoint(path, seed: int):
    import torch

    from openfer.checkpoints import save_safetensors
    from openfer.labels import FER2013
    from openfer.models import create_model

    torch.manual_seed(seed)
    net = create_model("openfer_vgg", num_classes=7, widths=[4], hidden=4)
    save_safetensors(net.state_dict(), path, {"model": "openfer_vgg", "model_options": {"widths": [4], "hidden": 4},
                                              "classes": list(FER2013), "input_size": [1, 24, 24]})
    return path


def test_cli_chooses_on_publictest_caches_and_reports(tiny_fer2013, tmp_path, monkeypatch, capsys):
    import json

    from openfer.cli import main

    files = [str(tiny_checkpoint(tmp_path / f"net{i}.safetensors", i)) for i in range(3)]
    cache, output = tmp_path / "cache", tmp_path / "selection.json"
    argv = ["ensemble", "select", *files, "--root", str(tiny_fer2013), "--tta", "none", "--max-members", "2",
            "--cache", str(cache), "--output", str(output)]
    assert main(argv) == 0
    assert len(list(cache.glob("*.npz"))) == 6  # one per candidate and split
    first = json.loads(output.read_text())
    assert first["select_split"] == "PublicTest" and first["report_split"] == "PrivateTest"
    assert all(len(row["members"]) <= 2 for row in first["ranked"])

    import openfer.engine.evaluate as evaluate_module

    def no_scoring(*args, **kwargs):
        raise AssertionError("probabilities should come from the cache")

    monkeypatch.setattr(evaluate_module, "evaluate", no_scoring)
    output.unlink()
    assert main(argv) == 0
    assert json.loads(output.read_text()) == first
    assert "chosen:" in capsys.readouterr().out


def test_cli_refuses_choosing_and_reporting_on_one_split(tiny_fer2013, tmp_path, capsys):
    from openfer.cli import main

    path = str(tiny_checkpoint(tmp_path / "net.safetensors", 0))
    code = main(["ensemble", "select", path, "--root", str(tiny_fer2013), "--select-split", "PrivateTest", "--cache", str(tmp_path / "c")])
    assert code == 2
    assert "choose on one split, report on another" in capsys.readouterr().err
