"""Run folders are never mixed; recipe loggers are kept; EMA weights and mixup/CutMix."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from lightning.pytorch.loggers import CSVLogger, TensorBoardLogger
from torch import nn

from openfer.checkpoints import read_state_dict
from openfer.cli import main
from openfer.engine.ema import ema_copy, swap_weights, update_ema
from openfer.engine.mixup import MixOptions, mix_batch
from openfer.engine.module import FERModule
from openfer.engine.storage import ResumableCSVLogger
from openfer.engine.train import train
from openfer.errors import ConfigError


def test_a_run_folder_holding_a_run_is_refused_unless_resumed_or_overwritten(
    tiny_recipe, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    recipe = str(tiny_recipe())
    train(["--config", recipe])
    checkpoints = tmp_path / "run" / "checkpoints"
    stale = checkpoints / "epoch=7.ckpt"
    stale.write_bytes((checkpoints / "last.ckpt").read_bytes())

    with pytest.raises(ConfigError, match=r"already holds a run .*pass --resume last to continue it or --overwrite"):
        train(["--config", recipe])
    assert main(["train", "--config", recipe]) == 2
    error = capsys.readouterr().err.strip()
    assert error.startswith("openfer: error: run_dir") and "\n" not in error
    with pytest.raises(ConfigError, match="--resume and --overwrite: give one"):
        train(["--config", recipe, "--resume", "last", "--overwrite"])

    train(["--config", recipe, "--overwrite"])
    assert not stale.exists() and sorted(p.name for p in checkpoints.iterdir()) == ["best.ckpt", "last.ckpt"]
    train(["--config", recipe, "--resume", "last", "--trainer.max_epochs", "2"])  # resuming is allowed


def test_recipe_loggers_are_kept_beside_openfers(tiny_recipe, tmp_path: Path) -> None:
    extra = {"class_path": "lightning.pytorch.loggers.CSVLogger", "init_args": {"save_dir": str(tmp_path / "mine"), "name": "x"}}
    trainer = train(["--config", str(tiny_recipe(trainer={"logger": [extra]}))])
    kinds = [type(logger) for logger in trainer.loggers]
    assert kinds == [CSVLogger, ResumableCSVLogger, TensorBoardLogger]
    assert (tmp_path / "mine" / "x" / "version_0" / "metrics.csv").is_file()
    assert (tmp_path / "run" / "logs" / "metrics.csv").is_file()
    own_tensorboard = {"class_path": "lightning.pytorch.loggers.TensorBoardLogger", "init_args": {"save_dir": str(tmp_path / "tb")}}
    trainer = train(["--config", str(tiny_recipe(run_dir=tmp_path / "run2", trainer={"logger": own_tensorboard}))])
    assert [type(logger) for logger in trainer.loggers] == [TensorBoardLogger, ResumableCSVLogger]


def test_update_ema_is_a_moving_average() -> None:
    net = nn.Sequential(nn.Linear(3, 2), nn.BatchNorm1d(2))
    ema = ema_copy(net, 0.9)
    start = {k: v.clone() for k, v in ema.state_dict().items()}
    with torch.no_grad():
        for p in net.parameters():
            p.add_(1.0)
    net[1].num_batches_tracked += 5
    update_ema(ema, net, 0.9)
    for key, value in ema.state_dict().items():
        if value.dtype.is_floating_point:
            torch.testing.assert_close(value, 0.9 * start[key] + 0.1 * net.state_dict()[key], msg=key)
        else:
            assert value == net.state_dict()[key]
    assert not any(p.requires_grad for p in ema.parameters())
    with pytest.raises(ConfigError, match="ema_decay=1.5"):
        ema_copy(net, 1.5)
    state = {"net.w": 1, "ema_net.w": 2, "other": 3}
    swap_weights(state)
    assert state == {"net.w": 2, "ema_net.w": 1, "other": 3}


def test_ema_validates_and_is_the_checkpoints_weights(tiny_recipe, tmp_path: Path) -> None:
    trainer = train(["--config", str(tiny_recipe(model={"ema_decay": 0.5}))])
    module = trainer.lightning_module
    trained = {k: v.clone() for k, v in module.net.state_dict().items()}
    average = {k: v.clone() for k, v in module.ema_net.state_dict().items()}
    assert any(not torch.equal(trained[k], average[k]) for k in trained)
    module.eval()
    x = torch.randint(0, 256, (2, 1, 24, 24), dtype=torch.uint8)
    torch.testing.assert_close(module(x), module.ema_net(module.prepare(x, train=False)))

    last = tmp_path / "run" / "checkpoints" / "last.ckpt"
    saved, _ = read_state_dict(last)  # what eval, load_model and init_weights read: the average
    for key, value in average.items():
        torch.testing.assert_close(saved[key], value, msg=key)
    checkpoint = torch.load(last, weights_only=True)
    fresh = FERModule(**{k: v for k, v in checkpoint["hyper_parameters"].items() if not k.startswith("_")})
    fresh.on_load_checkpoint(checkpoint)  # as resuming does: the training weights go back under net.
    fresh.load_state_dict(checkpoint["state_dict"])
    for key, value in trained.items():
        torch.testing.assert_close(fresh.net.state_dict()[key], value, msg=key)


def _numbered_batch(n: int = 6, size: int = 8) -> tuple[torch.Tensor, torch.Tensor]:
    """Image i is filled with the value i, its label is i: a mixed pixel tells where it came from."""
    return torch.arange(n, dtype=torch.float32).view(n, 1, 1, 1).expand(n, 1, size, size).clone(), torch.arange(n)


def test_mixup_is_a_convex_combination_with_the_partners() -> None:
    x, y = _numbered_batch()
    mixed, partners, lam = mix_batch(x, y, MixOptions(alpha=0.4, prob=1.0), torch.Generator().manual_seed(1))
    assert 0.0 < lam < 1.0 and partners is not None
    torch.testing.assert_close(mixed, lam * x + (1 - lam) * x[partners])
    again = mix_batch(x, y, MixOptions(alpha=0.4, prob=1.0), torch.Generator().manual_seed(1))
    assert torch.equal(again[0], mixed) and again[2] == lam  # drawn from the generator alone
    unchanged = mix_batch(x, y, MixOptions(alpha=0.4, prob=0.0), torch.Generator().manual_seed(1))
    assert unchanged[0] is x and unchanged[1] is None and unchanged[2] == 1.0


def test_cutmix_pastes_a_box_and_lam_is_the_share_kept() -> None:
    x, y = _numbered_batch()
    mixed, partners, lam = mix_batch(x, y, MixOptions(alpha=0.0, cutmix_alpha=1.0, prob=1.0), torch.Generator().manual_seed(3))
    for i in range(len(x)):
        own = mixed[i] == i
        assert torch.all(own | (mixed[i] == partners[i]))
        if partners[i] != i:
            assert own.float().mean().item() == pytest.approx(lam)
    with pytest.raises(ConfigError, match=r"unknown option\(s\) \['beta'\]"):
        MixOptions.from_config({"beta": 1.0})


def test_training_with_mixup_and_cutmix(tiny_recipe) -> None:
    trainer = train(["--config", str(tiny_recipe(model={"mixup": {"alpha": 0.2, "cutmix_alpha": 1.0, "prob": 1.0}}))])
    assert torch.isfinite(trainer.callback_metrics["train/loss"])
    assert trainer.lightning_module.mixup == MixOptions(0.2, 1.0, 1.0)
