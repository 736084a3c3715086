"""Every recipe in configs/ parses as `openfer train` reads it, and its model_options name the model's own options.

A renamed option or a typo in a recipe would otherwise surface only when someone starts an hours-long run (or, for
``model_options``, which the parser cannot type-check, never: the factory would raise at instantiation)."""

from __future__ import annotations

import argparse
import inspect
from pathlib import Path

import pytest
import yaml

from openfer.engine.datamodule import FERDataModule
from openfer.engine.module import FERModule
from openfer.engine.train import TrainCLI
from openfer.models.registry import model_info

pytestmark = pytest.mark.filterwarnings("ignore:LightningCLI's args parameter")

CONFIGS = Path(__file__).parents[2] / "configs"
RECIPES = sorted(CONFIGS.glob("*.yaml"))


class _Parsed(Exception):
    """Raised once the recipe has parsed, so nothing is instantiated, trained or written."""


class _ParseOnly(TrainCLI):
    def before_instantiate_classes(self) -> None:
        raise _Parsed


def parse(path: Path) -> None:
    """Parse ``path`` as ``openfer train --config path`` does; a bad recipe raises ``argparse.ArgumentError``."""
    with pytest.raises(_Parsed):
        _ParseOnly(FERModule, FERDataModule, run=False, args=["--config", str(path)], auto_configure_optimizers=False,
                   seed_everything_default=False, parser_kwargs={"exit_on_error": False})


def unknown_model_options(recipe: dict) -> set[str]:
    model = recipe.get("model", {})
    if "model" not in model:
        return set()
    params = inspect.signature(model_info(model["model"]).factory).parameters
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        return set()
    return set(model.get("model_options") or {}) - set(params)


def test_the_shipped_recipes_are_all_checked() -> None:
    assert len(RECIPES) >= 60 and {"dpsan_ferplus_48.yaml", "gclnet_ckplus_48.yaml", "openfer_vgg_fer2013.yaml"} <= {p.name for p in RECIPES}


@pytest.mark.parametrize("path", RECIPES, ids=lambda p: p.name)
def test_each_shipped_recipe_parses_and_names_only_its_models_options(path: Path) -> None:
    parse(path)
    assert unknown_model_options(yaml.safe_load(path.read_text())) == set()


def test_a_misspelt_recipe_key_or_model_option_is_caught(tmp_path: Path) -> None:
    recipe = yaml.safe_load((CONFIGS / "dpsan_ferplus_48.yaml").read_text())
    typo = tmp_path / "typo.yaml"
    typo.write_text(yaml.safe_dump({**recipe, "model": {**recipe["model"], "learning_rate": 0.1}}))
    with pytest.raises(argparse.ArgumentError, match="learning_rate"):
        parse(typo)
    recipe["model"]["model_options"]["backbone_weight"] = "x.ckpt"
    assert unknown_model_options(recipe) == {"backbone_weight"}
