from types import SimpleNamespace

import pytest
import torch

from openfer.engine.module import FERModule
from openfer.errors import ConfigError

STEPS, EPOCHS, LR = 5, 4, 0.1
TINY = {"widths": [4], "hidden": 4}


def configure(**options):
    """FERModule's configure_optimizers output under a trainer of EPOCHS epochs of STEPS steps."""
    module = FERModule(model="openfer_vgg", model_options=TINY, lr=LR, **options)
    module.trainer = SimpleNamespace(
        estimated_stepping_batches=STEPS * EPOCHS, num_training_batches=STEPS, accumulate_grad_batches=1, max_epochs=EPOCHS
    )
    return module.configure_optimizers()


def learning_rates(config) -> list[float]:
    """The learning rate before each of the run's steps and after the last, stepping as Lightning does per step."""
    optimizer, scheduler = config["optimizer"], config["lr_scheduler"]["scheduler"]
    assert config["lr_scheduler"]["interval"] == "step"
    rates = []
    for _ in range(STEPS * EPOCHS):
        rates.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    return rates + [optimizer.param_groups[0]["lr"]]


@pytest.mark.parametrize(
    "name, cls",
    [("sgd", torch.optim.SGD), ("adam", torch.optim.Adam), ("adamw", torch.optim.AdamW), ("radam", torch.optim.RAdam)],
)
def test_each_optimizer_builds_with_the_given_hyperparameters(name: str, cls: type) -> None:
    optimizer = configure(optimizer=name, scheduler="none", weight_decay=0.01)
    assert type(optimizer) is cls
    assert optimizer.param_groups[0]["lr"] == LR and optimizer.param_groups[0]["weight_decay"] == 0.01


def test_step_schedule_drops_by_gamma_every_step_epochs() -> None:
    rates = learning_rates(configure(scheduler="step", scheduler_options={"step_epochs": 1, "gamma": 0.5}))
    for epoch in range(EPOCHS):
        assert rates[epoch * STEPS : (epoch + 1) * STEPS] == pytest.approx([LR * 0.5**epoch] * STEPS)


def test_exponential_schedule_decays_by_gamma_per_epoch() -> None:
    rates = learning_rates(configure(scheduler="exponential", scheduler_options={"gamma": 0.5}))
    assert all(a > b for a, b in zip(rates, rates[1:]))
    assert rates[STEPS] == pytest.approx(LR * 0.5) and rates[-1] == pytest.approx(LR * 0.5**EPOCHS)


def test_cosine_schedule_falls_to_eta_min() -> None:
    rates = learning_rates(configure(scheduler="cosine", scheduler_options={"eta_min": 0.001}))
    assert rates[0] == pytest.approx(LR)
    assert rates[len(rates) // 2] == pytest.approx((LR + 0.001) / 2)
    assert rates[-1] == pytest.approx(0.001)
    assert all(a >= b for a, b in zip(rates, rates[1:]))


def test_cosine_with_warm_restarts_returns_to_the_peak_every_restart_epochs() -> None:
    rates = learning_rates(configure(scheduler="cosine_restarts", scheduler_options={"restart_epochs": 1}))
    for epoch in range(EPOCHS):
        cycle = rates[epoch * STEPS : (epoch + 1) * STEPS]
        assert cycle[0] == pytest.approx(LR)
        assert all(a > b for a, b in zip(cycle, cycle[1:]))


def test_cyclic_schedule_rises_from_base_to_lr_and_back() -> None:
    rates = learning_rates(configure(scheduler="cyclic", scheduler_options={"base_lr": 0.01, "half_cycle_epochs": 1}))
    assert rates[0] == pytest.approx(0.01)
    assert rates[STEPS] == pytest.approx(LR)
    assert rates[2 * STEPS] == pytest.approx(0.01)
    assert all(a < b for a, b in zip(rates[:STEPS], rates[1 : STEPS + 1]))


def test_warmup_ramps_linearly_then_hands_over() -> None:
    rates = learning_rates(configure(scheduler="cosine", warmup_epochs=1))
    assert rates[0] == pytest.approx(LR * 0.01)
    assert all(a < b for a, b in zip(rates[:STEPS], rates[1 : STEPS + 1]))
    assert rates[STEPS] == pytest.approx(LR)
    assert rates[-1] == pytest.approx(0.0, abs=1e-9)


def test_plateau_schedule_monitors_val_acc_and_halves_after_patience() -> None:
    config = configure(scheduler="plateau", scheduler_options={"patience": 1})
    assert config["lr_scheduler"]["monitor"] == "val/acc"
    optimizer, scheduler = config["optimizer"], config["lr_scheduler"]["scheduler"]
    for accuracy in (0.5, 0.5):
        scheduler.step(accuracy)
    assert optimizer.param_groups[0]["lr"] == pytest.approx(LR)
    scheduler.step(0.5)
    assert optimizer.param_groups[0]["lr"] == pytest.approx(LR / 2)
    scheduler.step(0.9)
    assert optimizer.param_groups[0]["lr"] == pytest.approx(LR / 2)


@pytest.mark.parametrize(
    "options, message",
    [
        ({"optimizer": "lamb"}, "unknown optimizer 'lamb'"),
        ({"scheduler": "poly"}, "unknown scheduler 'poly'"),
        ({"scheduler": "plateau", "warmup_epochs": 1}, "plateau"),
        ({"model": "no_such_net"}, "unknown model 'no_such_net'"),
    ],
)
def test_bad_options_raise_config_error(options: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        FERModule(**{"model_options": TINY, **options})


def test_confusion_counts_are_not_a_buffer() -> None:
    # DDP broadcasts every buffer from rank 0 on each forward, which would overwrite the other ranks' counts.
    module = FERModule(model="openfer_vgg", model_options=TINY)
    assert not any("confusion" in name for name, _ in module.named_buffers())


def test_without_losses_the_models_registered_defaults_are_trained() -> None:
    dan = FERModule(model="dan", num_classes=8, model_options={"num_heads": 2})
    assert list(dan.losses) == ["cross_entropy", "affinity", "partition"]
    assert dan.losses["affinity"].centers.shape == (8, 512)  # built for the module's classes
    assert list(FERModule(model="faml").losses) == ["faml"]
    vgg = FERModule(model_options={"widths": [8], "hidden": 8})
    assert list(vgg.losses) == ["cross_entropy"]
    # A recipe's losses replace the defaults.
    assert list(FERModule(model="dan", losses={"cross_entropy": {"label_smoothing": 0.1}}).losses) == ["cross_entropy"]


def test_normalisation_defaults_to_the_registered_one_and_is_stored() -> None:
    from openfer.models import model_info

    dan = FERModule(model="dan")
    assert (dan.hparams.mean, dan.hparams.std) == (model_info("dan").mean, model_info("dan").std) != (0.5, 0.25)
    images = torch.full((1, 3, 8, 8), 255, dtype=torch.uint8)
    assert torch.allclose(dan.prepare(images, train=False), torch.full((1, 3, 8, 8), (1 - 0.449) / 0.226))
    given = FERModule(model_options={"widths": [8], "hidden": 8}, mean=0.0, std=1.0)
    assert (given.hparams.mean, given.hparams.std) == (0.0, 1.0)
