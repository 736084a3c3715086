"""``openfer train``: recipes as YAML read by LightningCLI, with command-line overrides and ``--resume``."""

from __future__ import annotations

import argparse
import os
import shutil
import warnings
from pathlib import Path
from typing import Any, Sequence

import lightning as L
from lightning.fabric.plugins import CheckpointIO
from lightning.pytorch.callbacks import EarlyStopping, LearningRateMonitor, ModelCheckpoint, RichProgressBar
from lightning.pytorch.cli import LightningArgumentParser, LightningCLI
from lightning.pytorch.loggers import Logger, TensorBoardLogger
from lightning.pytorch.utilities import rank_zero_info

from openfer.checkpoints import check_state_dict, read_state_dict
from openfer.engine.callbacks import CurvePlot
from openfer.engine.datamodule import FERDataModule
from openfer.engine.module import FERModule
from openfer.engine.storage import AtomicCheckpointIO, ResumableCSVLogger
from openfer.errors import CheckpointError, ConfigError


class TrainCLI(LightningCLI):
    """LightningCLI with openfer's defaults: checkpoints, logs, curves, resume and early stopping."""

    def add_arguments_to_parser(self, parser: LightningArgumentParser) -> None:
        parser.add_argument("--run_dir", type=str, default="runs/default", help="folder for checkpoints and logs")
        parser.add_argument("--resume", type=str, default=None, help="'last' or a checkpoint path to continue from")
        parser.add_argument("--overwrite", action="store_true", help="replace the run already in run_dir (its checkpoints and logs)")
        parser.add_argument("--early_stopping", type=int, default=0, help="patience in epochs (0: off)")
        parser.add_argument("--seed", type=int, default=0)
        parser.link_arguments("data.classes", "model.classes", apply_on="instantiate")
        parser.link_arguments("data.classes", "model.num_classes", compute_fn=len, apply_on="instantiate")
        parser.link_arguments("seed", "model.seed")
        parser.link_arguments("seed", "data.seed")

    def before_instantiate_classes(self) -> None:
        config = self.config
        run_dir = Path(config.run_dir)
        prepare_run_dir(run_dir, config.resume, config.overwrite)
        L.seed_everything(config.seed, workers=True)
        self.resume_checkpoint = resolve_resume(run_dir, config.resume)
        trainer = config.trainer
        trainer.default_root_dir = str(run_dir)
        callbacks = [
            ModelCheckpoint(dirpath=run_dir / "checkpoints", filename="best", monitor="val/acc", mode="max", save_last=True),
            LearningRateMonitor(logging_interval="epoch"),
            CurvePlot(),
        ]
        if config.early_stopping:
            callbacks.append(EarlyStopping(monitor="val/acc", mode="max", patience=config.early_stopping))
        if trainer.enable_progress_bar is not False:
            callbacks.append(RichProgressBar())
        self._openfer_callbacks = callbacks
        self._openfer_loggers = [
            ResumableCSVLogger(run_dir, name="logs", version="", resume=self.resume_checkpoint is not None),
            TensorBoardLogger(run_dir, name="tensorboard", version=""),
        ]

    def instantiate_trainer(self, **kwargs: Any) -> L.Trainer:
        """The trainer with openfer's callbacks after any given ones, its loggers and atomic checkpoint writes."""
        given = self._get(self.config_init, "trainer", default={})
        callbacks = _as_list(given.get("callbacks")) + self._openfer_callbacks
        plugins = _as_list(given.get("plugins"))
        if not any(isinstance(plugin, CheckpointIO) for plugin in plugins):
            plugins.append(AtomicCheckpointIO())
        logger = False if given.get("logger") is False else _with_recipe_loggers(given.get("logger"), self._openfer_loggers)
        return super().instantiate_trainer(callbacks=callbacks, plugins=plugins, logger=logger, **kwargs)


def _with_recipe_loggers(given: Any, openfer_loggers: list[Logger]) -> list[Logger]:
    """The recipe's loggers (MLflow, W&B, ...) kept, then openfer's CSV log (curves read it) and TensorBoard
    unless the recipe gives a TensorBoard logger itself."""
    kept = [logger for logger in _as_list(given) if isinstance(logger, Logger)]
    has_tensorboard = any(isinstance(logger, TensorBoardLogger) for logger in kept)
    return kept + [logger for logger in openfer_loggers if not (has_tensorboard and isinstance(logger, TensorBoardLogger))]


#: What a run writes into its folder; ``--overwrite`` removes these before a new run starts.
RUN_CONTENTS = ("checkpoints", "logs", "tensorboard")


def prepare_run_dir(run_dir: Path, resume: str | None, overwrite: bool) -> None:
    """Refuse a folder that already holds a run unless resuming it; with ``overwrite``, empty it first.

    Only the launching process decides (DDP workers started by it find the folder as rank 0 left it).
    """
    if os.environ.get("RANK", os.environ.get("LOCAL_RANK", "0")) != "0":
        return
    if resume is not None and overwrite:
        raise ConfigError("--resume and --overwrite: give one of them (continue the run, or replace it)")
    held = sorted((run_dir / "checkpoints").glob("*.ckpt")) + [p for p in [run_dir / "logs" / "metrics.csv"] if p.is_file()]
    if not held or resume is not None:
        return
    if not overwrite:
        raise ConfigError(f"run_dir {run_dir} already holds a run ({held[0]}); pass --resume last to continue it or --overwrite to replace it")
    for name in RUN_CONTENTS:
        if (run_dir / name).is_dir():
            shutil.rmtree(run_dir / name)
    rank_zero_info(f"--overwrite: removed the earlier run's {', '.join(RUN_CONTENTS)} in {run_dir}")


def _as_list(value: Any) -> list[Any]:
    return [] if value is None else list(value) if isinstance(value, (list, tuple)) else [value]


def resolve_resume(run_dir: Path, resume: str | None) -> str | None:
    """``'last'`` -> the run's ``last.ckpt`` when present (a fresh start otherwise); a path is used as is."""
    if resume is None:
        return None
    if resume == "last":
        last = run_dir / "checkpoints" / "last.ckpt"
        if last.is_file():
            return str(last)
        rank_zero_info(f"--resume last: no {last} yet; starting a new run")
        return None
    if not Path(resume).is_file():
        raise CheckpointError(f"{resume}: no such checkpoint to resume from")
    return resume


def check_resumable(path: str | Path, module: FERModule) -> None:
    """Refuse a checkpoint that is unreadable, carries pickled code, or holds another architecture or class count."""
    if Path(path).suffix != ".ckpt":
        raise CheckpointError(f"{path}: --resume expects a Lightning .ckpt written by 'openfer train'")
    state, _ = read_state_dict(path)
    check_state_dict(module.net, state, str(path))


def _one_line(error: BaseException) -> str:
    return " ".join(str(error).split())


def train(args: Sequence[str]) -> L.Trainer:
    """Run a training recipe; ``args`` are LightningCLI arguments (``--config recipe.yaml``, overrides).

    Bad options raise :class:`ConfigError`; a checkpoint that cannot be resumed raises :class:`CheckpointError`
    before anything is loaded.
    """
    with warnings.catch_warnings():
        # openfer's own argv is already split off; LightningCLI warns whenever sys.argv holds anything.
        warnings.filterwarnings("ignore", message=".*args parameter is intended to run from within Python.*")
        try:
            cli = TrainCLI(
                FERModule,
                FERDataModule,
                run=False,
                args=list(args),
                trainer_defaults={"precision": "bf16-mixed", "max_epochs": 30, "deterministic": False},
                save_config_kwargs={"overwrite": True},
                auto_configure_optimizers=False,
                seed_everything_default=False,
                parser_kwargs={"exit_on_error": False, "prog": "openfer train"},
            )
        except argparse.ArgumentError as error:
            raise ConfigError(f"recipe: {_one_line(error)}") from None
    if cli.resume_checkpoint is not None:
        check_resumable(cli.resume_checkpoint, cli.model)
    cli.trainer.fit(cli.model, cli.datamodule, ckpt_path=cli.resume_checkpoint, weights_only=True)
    return cli.trainer
