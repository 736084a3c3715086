"""FGA (FAML paper, Algorithm 1): parents drawn by loss, convolutions averaged, fused networks re-trainable."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from openfer.checkpoints import read_state_dict, save_safetensors
from openfer.ensemble.fga import fga_generation, fuse_checkpoints, fuse_networks, measure_losses, selection_probabilities
from openfer.errors import ConfigError
from openfer.inference import load_model
from openfer.labels import FER2013
from openfer.models import create_model

TINY = {"widths": [4, 8], "hidden": 8}


def networks(count: int) -> list[nn.Module]:
    nets = []
    for seed in range(count):
        torch.manual_seed(seed)
        net = create_model("openfer_vgg", num_classes=7, **TINY)
        for module in net.modules():  # non-trivial BN statistics, different per network
            if isinstance(module, nn.BatchNorm2d):
                module.running_mean.uniform_(-1, 1)
                module.running_var.uniform_(0.5, 2)
        nets.append(net)
    return nets


def saved_networks(folder: Path, count: int) -> list[str]:
    """``count`` networks saved as packed weights files, as ``openfer weights fga`` takes them."""
    paths = []
    for index, net in enumerate(networks(count)):
        path = folder / f"net{index}.safetensors"
        metadata = {"model": "openfer_vgg", "model_options": TINY, "classes": list(FER2013), "input_size": [1, 48, 48]}
        save_safetensors(net.state_dict(), path, metadata)
        paths.append(str(path))
    return paths


def test_selection_favours_low_loss() -> None:
    p = selection_probabilities([0.5, 1.5, 1.0], temperature=1.0)
    assert p.sum() == pytest.approx(1.0)
    assert p[0] > p[2] > p[1]
    np.testing.assert_allclose(p, np.exp([-0.5, -1.5, -1.0]) / np.exp([-0.5, -1.5, -1.0]).sum())
    with pytest.raises(ValueError, match="finite"):
        selection_probabilities([0.5, float("nan")])


def test_fusion_averages_convolutions_and_batchnorm_and_keeps_the_best_head() -> None:
    nets = networks(3)
    fused = fuse_networks(nets, best=1)
    modules = [dict(n.named_modules()) for n in nets]
    checked = {"conv": 0, "norm": 0, "linear": 0}
    for name, module in fused.named_modules():
        if isinstance(module, nn.Conv2d):
            expected = torch.stack([m[name].weight for m in modules]).mean(0)
            torch.testing.assert_close(module.weight, expected)
            checked["conv"] += 1
        elif isinstance(module, nn.BatchNorm2d):
            for key in ("weight", "bias", "running_mean", "running_var"):
                expected = torch.stack([getattr(m[name], key) for m in modules]).mean(0)
                torch.testing.assert_close(getattr(module, key), expected)
            checked["norm"] += 1
        elif isinstance(module, nn.Linear):
            assert torch.equal(module.weight, modules[1][name].weight)
            checked["linear"] += 1
    assert min(checked.values()) > 0, checked
    # the parents are untouched
    assert not torch.equal(next(nets[0].parameters()), next(fused.parameters()))


def test_fusing_copies_of_one_network_gives_that_network() -> None:
    net = networks(1)[0].eval()
    fused = fuse_networks([net, net, net]).eval()
    x = torch.randn(2, 1, 48, 48)
    torch.testing.assert_close(fused(x), net(x))


def test_other_architectures_are_refused() -> None:
    other = create_model("openfer_vgg", num_classes=7, widths=[4, 8, 16], hidden=8)
    with pytest.raises(ValueError, match="network 1 has another architecture"):
        fuse_networks([networks(1)[0], other])


def test_a_generation_is_seeded_draws_distinct_parents_and_prefers_low_loss() -> None:
    nets = networks(6)
    losses = [0.2, 3.0, 3.0, 3.0, 3.0, 0.3]
    first = fga_generation(nets, losses, num_fused=20, num_selected=2, seed=1)
    again = fga_generation(nets, losses, num_fused=20, num_selected=2, seed=1)
    assert [f.parents for f in first] == [f.parents for f in again]
    assert all(len(set(f.parents)) == 2 and losses[f.parents[0]] <= losses[f.parents[1]] for f in first)
    drawn = np.bincount([i for f in first for i in f.parents], minlength=6)
    assert drawn[0] + drawn[5] > drawn[1:5].sum()  # low-loss networks dominate the draws
    with pytest.raises(ValueError, match="num_selected"):
        fga_generation(nets, losses, num_fused=1, num_selected=7)


def test_fuse_checkpoints_writes_the_generation_of_those_losses(tmp_path: Path) -> None:
    paths = saved_networks(tmp_path, 3)
    record = fuse_checkpoints(paths, tmp_path / "gen", losses=[0.5, 0.9, 0.7], num_fused=2, num_selected=2, seed=4)
    expected = fga_generation([load_model(p, tta="none").net for p in paths], [0.5, 0.9, 0.7], 2, 2, 4)
    assert [f["parents"] for f in record["fused"]] == [[paths[i] for i in fused.parents] for fused in expected]
    assert json.loads((tmp_path / "gen" / "fga.json").read_text()) == record
    state, meta = read_state_dict(tmp_path / "gen" / "fused_1.safetensors")
    for key, tensor in expected[1].network.state_dict().items():
        assert torch.equal(state[key], tensor), key
    assert meta["model_options"] == TINY and meta["fga_parents"] == record["fused"][1]["parents"]
    with pytest.raises(ConfigError, match="give losses, or a split"):
        fuse_checkpoints(paths, tmp_path / "none")


def test_measured_losses_are_each_networks_cross_entropy_on_a_seeded_sample(tiny_fer2013: Path, tmp_path: Path) -> None:
    split = load_dataset_split(tiny_fer2013)
    models = [load_model(p, tta="none") for p in saved_networks(tmp_path, 2)]
    losses = measure_losses(models, split, limit=10, seed=3)
    faces = np.sort(np.random.default_rng(3).choice(len(split), 10, replace=False))
    for model, loss in zip(models, losses):
        probabilities = model.predict_proba(np.stack([split.image(int(i)) for i in faces]))
        assert loss == pytest.approx(-np.log(probabilities[np.arange(10), split.labels[faces]]).mean(), rel=1e-4)
    assert measure_losses(models, split, limit=0) != losses  # limit 0: every face of the split


def load_dataset_split(root: Path):
    from openfer.data import load_dataset

    return load_dataset("fer2013", root)["Training"]


def test_default_temperature_clearly_favours_the_best_parents() -> None:
    losses = [0.80, 0.85, 0.90]  # well-trained networks: close losses
    odds = lambda p: p[0] / p[-1]  # noqa: E731
    assert odds(selection_probabilities(losses, temperature=1.0)) == pytest.approx(np.exp(0.1))  # ~1.1: hardly a preference
    assert odds(selection_probabilities(losses)) == pytest.approx(np.exp(0.1 / 0.05))  # T = 0.05: ~7.4
    assert odds(selection_probabilities(losses)) > 5
    with pytest.raises(ValueError, match="temperature"):
        selection_probabilities(losses, temperature=0)


def test_fga_over_generations_retrains_children_and_resumes(tmp_path: Path) -> None:
    from openfer.ensemble.fga import STATE_FILE, run_fga

    paths = saved_networks(tmp_path, 4)
    calls: list[str] = []

    def losses(population: list[str]) -> list[float]:
        return [0.5 + 0.01 * i for i in range(len(population))]

    def retrain(child: Path, fail_at: int | None = None) -> Path:
        if fail_at is not None and len(calls) == fail_at:
            raise RuntimeError("interrupted")
        calls.append(child.name)
        state, meta = read_state_dict(child)
        trained = child.with_name(child.stem + "_trained.safetensors")
        save_safetensors({k: v + 0.01 if v.is_floating_point() else v for k, v in state.items()}, trained, meta)
        return trained

    with pytest.raises(RuntimeError, match="interrupted"):
        run_fga(paths, tmp_path / "fga", lambda c: retrain(c, fail_at=4), generations=2, losses=losses, num_fused=3, num_selected=2)
    assert len(calls) == 4  # generation 0's three children and one of generation 1's
    state = run_fga(paths, tmp_path / "fga", retrain, generations=2, losses=losses, num_fused=3, num_selected=2)
    assert len(calls) == 6  # the rerun re-trained only the two children left
    first, second = state["generations"]
    assert first["population"] == paths and second["population"] == first["retrained"]
    assert all(len(set(f["parents"])) == 2 for g in state["generations"] for f in g["fused"])  # distinct parents
    assert all(Path(p).is_file() for p in second["retrained"]) and all(g["done"] for g in state["generations"])
    assert json.loads((tmp_path / "fga" / STATE_FILE).read_text()) == state
    assert run_fga(paths, tmp_path / "fga", retrain, generations=2, losses=losses, num_fused=3, num_selected=2) == state
    assert len(calls) == 6  # finished: nothing redone
    assert load_model(second["retrained"][0]).classes == tuple(FER2013)
    with pytest.raises(ConfigError, match="cannot feed"):
        run_fga(paths, tmp_path / "other", retrain, generations=2, losses=losses, num_fused=1, num_selected=2)
