"""Recipe options: balanced class weights, the class-balanced sampler, FAML's two-phase schedule, snapshot ensembles."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from openfer.data import load_dataset
from openfer.engine.callbacks import cycle_ends
from openfer.engine.datamodule import BalancedSampler, EpochShuffle, FERDataModule
from openfer.engine.module import FERModule
from openfer.engine.train import train
from openfer.errors import ConfigError
from openfer.losses import balanced_class_weights, build_loss

TINY = {"widths": [4], "hidden": 4}


def test_balanced_weights_are_the_inverse_class_frequencies_normalised_to_mean_one() -> None:
    labels = np.array([0] * 6 + [1] * 3 + [2] * 1)
    weights = balanced_class_weights(labels, 4)  # class 3 absent: weight 0
    inverse = np.array([1 / 6, 1 / 3, 1.0])
    np.testing.assert_allclose(weights[:3].numpy(), inverse / inverse.mean(), rtol=1e-6)
    assert weights[3] == 0 and weights[:3].mean() == pytest.approx(1.0)
    with pytest.raises(ConfigError, match="balanced"):
        build_loss("cross_entropy", class_weights="balanced")(torch.zeros(2, 4), torch.tensor([0, 1]))
    with pytest.raises(ConfigError, match="'balanced'"):
        build_loss("cross_entropy", class_weights="inverse")


@pytest.mark.parametrize("loss", [{"cross_entropy": {"class_weights": "balanced"}}, {"faml": {"probabilities": {"wce": 1.0}, "class_weights": "balanced"}}])
def test_training_sets_balanced_weights_from_the_training_split(tiny_recipe, tiny_fer2013: Path, loss: dict) -> None:
    trainer = train(["--config", str(tiny_recipe(model={"losses": loss}, data={"limit_train": 40}))])
    module, datamodule = trainer.lightning_module, trainer.datamodule
    labels = datamodule.splits["Training"].labels
    assert len(labels) == 40 and len(set(np.bincount(labels, minlength=7))) > 1  # the drawn split is unbalanced
    counts = np.bincount(labels, minlength=7)
    expected = (1 / counts) / (1 / counts).mean()
    np.testing.assert_allclose(next(iter(module.losses.values())).weight.numpy(), expected, rtol=1e-6)


def test_balanced_sampler_draws_classes_equally_and_is_seeded_per_epoch() -> None:
    labels = np.array([0] * 90 + [1] * 10)
    sampler = BalancedSampler(labels, seed=3)
    first = list(sampler)
    assert len(first) == len(sampler) == 100
    again = BalancedSampler(labels, seed=3)
    assert list(again) == first  # (seed, epoch) alone fixes the order
    sampler.set_epoch(1)
    second = list(sampler)
    assert second != first
    drawn = np.concatenate([labels[list(BalancedSampler(labels, seed=s))] for s in range(20)])
    assert abs(drawn.mean() - 0.5) < 0.05  # class 1 holds 10 % of the images, half of the draws


def test_datamodule_sampler_option(tiny_fer2013: Path) -> None:
    module = FERDataModule(root=str(tiny_fer2013), image_size=24, sampler="balanced")
    module.setup()
    assert isinstance(module.train_dataloader().sampler, BalancedSampler)
    plain = FERDataModule(root=str(tiny_fer2013), image_size=24)
    plain.setup()
    assert isinstance(plain.train_dataloader().sampler, EpochShuffle)
    with pytest.raises(ConfigError, match="data.sampler"):
        FERDataModule(root=str(tiny_fer2013), sampler="oversample")


def test_dan_affectnet_recipes_use_the_balanced_sampler() -> None:
    import yaml

    for name in ("dan_affectnet7", "dan_affectnet8"):
        recipe = yaml.safe_load((Path(__file__).parents[2] / "configs" / f"{name}.yaml").read_text())
        assert recipe["data"]["sampler"] == "balanced", name


def test_two_phase_schedule_is_cosine_then_step() -> None:
    steps, epochs, lr = 5, 8, 3e-4
    module = FERModule(model="openfer_vgg", model_options=TINY, optimizer="adam", lr=lr, scheduler="two_phase",
                       scheduler_options={"cosine_epochs": 4, "second_lr": 1e-5, "step_epochs": 2, "gamma": 0.1})
    module.trainer = SimpleNamespace(estimated_stepping_batches=steps * epochs, num_training_batches=steps, accumulate_grad_batches=1, max_epochs=epochs)
    config = module.configure_optimizers()
    optimizer, scheduler = config["optimizer"], config["lr_scheduler"]["scheduler"]
    assert type(optimizer) is torch.optim.Adam
    rates = []
    for _ in range(steps * epochs):
        rates.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    switch = 4 * steps
    assert rates[0] == pytest.approx(lr) and rates[switch // 2] == pytest.approx(lr / 2)
    assert all(a > b for a, b in zip(rates[:switch], rates[1:switch]))
    assert rates[switch : switch + 2 * steps] == pytest.approx([1e-5] * 2 * steps)
    assert rates[switch + 2 * steps :] == pytest.approx([1e-6] * 2 * steps)


def test_cycle_ends_follow_t_mult() -> None:
    assert cycle_ends(2, 1, 7) == [2, 4, 6]
    assert cycle_ends(1, 2, 10) == [1, 3, 7]


def test_snapshots_are_saved_at_each_cycle_end_and_pack_into_an_ensemble(tiny_recipe, tiny_fer2013: Path, tmp_path: Path) -> None:
    from openfer.cli import main
    from openfer.ensemble.mixed import MixedEnsemble
    from openfer.inference import load_model

    model = {"scheduler": "cosine_restarts", "scheduler_options": {"restart_epochs": 1}, "snapshots": True}
    run = tmp_path / "snap"
    train(["--config", str(tiny_recipe(run_dir=run, model=model, trainer={"max_epochs": 2}))])
    snapshots = sorted((run / "checkpoints").glob("snapshot_*.ckpt"))
    assert [p.name for p in snapshots] == ["snapshot_1.ckpt", "snapshot_2.ckpt"]
    assert not torch.equal(*(torch.load(p, weights_only=True)["state_dict"]["net.head.7.weight"] for p in snapshots))
    packed = tmp_path / "snapshots.safetensors"
    assert main(["ensemble", "pack", *map(str, snapshots), "--output", str(packed)]) == 0
    ensemble = load_model(packed)
    assert isinstance(ensemble, MixedEnsemble) and len(ensemble.members) == 2
    faces = load_dataset("fer2013", tiny_fer2013)["PrivateTest"].images[:4]
    assert ensemble.predict_proba(faces).shape == (4, 7)
    with pytest.raises(ConfigError, match="cosine_restarts"):
        FERModule(model="openfer_vgg", model_options=TINY, scheduler="cosine", snapshots=True)
