"""Recipe options that make the seed models train as their papers and authors' code do (issue 18)."""

import warnings
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
import yaml

from openfer.engine.module import FERModule, WarmCosineCycles
from openfer.errors import ConfigError

TINY = {"widths": [4], "hidden": 4}


def optimizer_of(**options) -> torch.optim.Optimizer:
    module = FERModule(model="openfer_vgg", model_options=TINY, scheduler="none", **options)
    return module.configure_optimizers()


def test_sgd_nesterov_is_off_unless_the_recipe_turns_it_on() -> None:
    assert optimizer_of(optimizer="sgd", momentum=0.9).param_groups[0]["nesterov"] is False
    assert optimizer_of(optimizer="sgd", momentum=0.9, nesterov=True).param_groups[0]["nesterov"] is True


@pytest.mark.parametrize("options", [{"optimizer": "sgd", "momentum": 0.0, "nesterov": True}, {"optimizer": "adam", "nesterov": True}])
def test_nesterov_without_sgd_momentum_is_refused(options: dict) -> None:
    with pytest.raises(ConfigError, match="nesterov"):
        FERModule(model="openfer_vgg", model_options=TINY, **options)


def test_radam_decays_weights_decoupled_when_asked() -> None:
    group = optimizer_of(optimizer="radam", lr=1e-3, weight_decay=1e-3, decoupled_weight_decay=True).param_groups[0]
    assert group["decoupled_weight_decay"] is True
    # One step on a zero gradient: decoupled decay shrinks the weight by lr * wd; L2 decay would feed the
    # adaptive update instead (a step of about lr, not lr * wd).
    weight = torch.nn.Parameter(torch.ones(1))
    optimizer = torch.optim.RAdam([weight], **{k: group[k] for k in ("lr", "weight_decay", "decoupled_weight_decay")})
    weight.grad = torch.zeros(1)
    optimizer.step()
    assert weight.item() == pytest.approx(1.0 - 1e-3 * 1e-3)
    with pytest.raises(ConfigError, match="decoupled_weight_decay"):
        FERModule(model="openfer_vgg", model_options=TINY, optimizer="sgd", decoupled_weight_decay=True)


def test_emonext_schedule_warms_up_to_the_peak_in_every_cycle() -> None:
    peak, cycle, warmup = 1e-3, 16, 4
    module = FERModule(
        model="openfer_vgg", model_options=TINY, optimizer="adamw", lr=peak,
        scheduler="cosine_warm_cycles", scheduler_options={"cycle_steps": cycle, "warmup_steps": warmup},
    )
    module.trainer = SimpleNamespace(estimated_stepping_batches=3 * cycle, num_training_batches=cycle, accumulate_grad_batches=1)
    config = module.configure_optimizers()
    optimizer, scheduler = config["optimizer"], config["lr_scheduler"]["scheduler"]
    assert config["lr_scheduler"]["interval"] == "step"
    rates = []
    for _ in range(3 * cycle):
        rates.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    for start in range(0, 3 * cycle, cycle):
        ramp = rates[start : start + warmup]
        assert ramp == pytest.approx([peak * (i + 1) / warmup for i in range(warmup)])  # the authors' counter starts at 1
        assert max(rates[start : start + cycle]) == pytest.approx(peak)
        decay = rates[start + warmup - 1 : start + cycle]
        assert all(a >= b for a, b in zip(decay, decay[1:]))
    assert rates[cycle - 1] == 0.0  # the authors' position 0 of the next cycle


def test_emonext_schedule_rejects_a_warmup_as_long_as_the_cycle() -> None:
    with pytest.raises(ConfigError, match="warmup_steps"):
        WarmCosineCycles(cycle_steps=128, warmup_steps=128)


def test_a_model_whose_paper_pretrains_warns_when_trained_from_scratch() -> None:
    with pytest.warns(UserWarning, match=r"model 'dpsan': its paper starts from imagenet weights"):
        FERModule(model="dpsan")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        FERModule(model="openfer_vgg", model_options=TINY)  # a from-scratch paper: nothing to warn about


def test_the_warning_is_silent_when_weights_are_given(tmp_path) -> None:
    from openfer.checkpoints import save_safetensors
    from openfer.models.registry import create_model

    path = tmp_path / "dpsan.safetensors"
    save_safetensors(create_model("dpsan", num_classes=7).state_dict(), path)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        FERModule(model="dpsan", init_weights=str(path))


def test_init_head_false_keeps_the_classifier_fresh_and_loads_the_rest(tmp_path) -> None:
    """Fine-tuning from weights trained on another label set (GCLNet's pre-training stage, FER2013 -> CK+)."""
    from openfer.checkpoints import save_safetensors

    torch.manual_seed(1)
    source = FERModule(model="openfer_vgg", model_options=TINY, channels_last=False).net
    path = tmp_path / "pretrained.safetensors"
    save_safetensors(source.state_dict(), path)
    torch.manual_seed(2)
    fresh = FERModule(model="openfer_vgg", model_options=TINY, channels_last=False).net
    torch.manual_seed(2)
    tuned = FERModule(model="openfer_vgg", model_options=TINY, channels_last=False, init_weights=str(path), init_head=False).net
    whole = FERModule(model="openfer_vgg", model_options=TINY, channels_last=False, init_weights=str(path)).net
    heads = [k for k in source.state_dict() if k.startswith("head.")]
    assert heads and len(heads) < len(source.state_dict())
    for key, value in source.state_dict().items():
        assert torch.equal(whole.state_dict()[key], value)
        expected = fresh.state_dict()[key] if key in heads else value
        assert torch.equal(tuned.state_dict()[key], expected), key
    assert not all(torch.equal(fresh.state_dict()[k], source.state_dict()[k]) for k in heads)


CONFIGS = Path(__file__).parents[2] / "configs"


def recipe(name: str) -> dict:
    return yaml.safe_load((CONFIGS / name).read_text())["model"]


OPTIMISER_KEYS = ("optimizer", "lr", "weight_decay", "momentum", "nesterov", "decoupled_weight_decay")


@pytest.mark.parametrize("name", ["rmn_fer2013.yaml", "rmn_fer2013_cpu.yaml"])
def test_rmn_recipes_decay_as_the_authors_radam(name: str) -> None:
    model = recipe(name)
    group = optimizer_of(**{k: model[k] for k in OPTIMISER_KEYS if k in model}).param_groups[0]
    assert group["decoupled_weight_decay"] is True and group["lr"] * group["weight_decay"] == pytest.approx(1e-7)


def test_emonext_recipe_peaks_at_1e3_with_a_128_step_warmup_per_1024_and_ema() -> None:
    model = recipe("emonext_tiny_fer2013.yaml")
    assert (model["lr"], model["scheduler"], model["scheduler_options"]) == (1e-3, "cosine_warm_cycles", {"cycle_steps": 1024, "warmup_steps": 128})
    assert model["ema_decay"] == pytest.approx(0.99 ** (1 / 16), abs=1e-5)


@pytest.mark.parametrize("name", ["openfer_vgg_fer2013.yaml", "dpsan_ckplus.yaml", "gclnet_ckplus.yaml"])
def test_only_the_shipped_vgg_recipes_keep_nesterov(name: str) -> None:
    model = recipe(name)
    nesterov = optimizer_of(**{k: model[k] for k in OPTIMISER_KEYS if k in model}).param_groups[0]["nesterov"]
    assert nesterov is name.startswith("openfer_vgg")


def zoo_recipes(dataset: str) -> dict[str, dict]:
    found = sorted(CONFIGS.glob(f"*_{dataset}_cpu.yaml"))
    return {p.name.removesuffix(f"_{dataset}_cpu.yaml"): yaml.safe_load(p.read_text()) for p in found}


#: Where a zoo recipe may leave the plain ResNet-18's: the model and its paper's losses; PAtt-Lite's input size (its patch
#: extraction needs a 6 x 6 map); EmoNeXt's optimiser (SGD 0.05 collapsed it on CK+, so it keeps the authors' AdamW).
MAY_DIFFER = {"model", "model_options", "losses"}
OWN_SIZE = {"pattlite": 96}
OWN_OPTIMISER = {"emonext_tiny": {"optimizer": "adamw", "lr": 0.001, "weight_decay": 0.01}}


@pytest.mark.parametrize("dataset", ["ckplus", "ferplus"])
def test_each_zoo_recipe_trains_as_the_plain_resnet18_does(dataset: str) -> None:
    """The zoo's claim "trained the same way": data, epochs, augmentation and schedule are the ResNet-18 recipe's."""
    recipes = zoo_recipes(dataset)
    base = recipes.pop("resnet18")
    assert {"dan", "faml", "rmn", "pattlite", "emonext_tiny", "resemotenet"} <= set(recipes)
    for name, other in recipes.items():
        size = OWN_SIZE.get(name, base["data"]["image_size"])
        assert other["trainer"] == base["trainer"], name
        assert other["data"] == {**base["data"], "image_size": size}, name
        assert other["model"]["augment"] == {**base["model"]["augment"], "output_size": size}, name
        expected = {k: v for k, v in base["model"].items() if k not in MAY_DIFFER | {"augment"}}
        if name in OWN_OPTIMISER:
            expected = {k: v for k, v in expected.items() if k not in OPTIMISER_KEYS} | OWN_OPTIMISER[name]
        assert {k: v for k, v in other["model"].items() if k not in MAY_DIFFER | {"augment"}} == expected, name
