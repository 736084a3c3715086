"""``openfer train``: recipes as YAML read by LightningCLI, with command-line overrides and ``--resume``."""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import lightning as L
from lightning.pytorch.callbacks import EarlyStopping, LearningRateMonitor, ModelCheckpoint, RichProgressBar
from lightning.pytorch.cli import LightningArgumentParser, LightningCLI
from lightning.pytorch.loggers import CSVLogger, TensorBoardLogger

from openfer.engine.callbacks import CurvePlot
from openfer.engine.datamodule import FERDataModule
from openfer.engine.module import FERModule


class TrainCLI(LightningCLI):
    """LightningCLI with openfer's defaults: checkpoints, logs, curves, resume and early stopping."""

    def add_arguments_to_parser(self, parser: LightningArgumentParser) -> None:
        parser.add_argument("--run_dir", type=str, default="runs/default", help="folder for checkpoints and logs")
        parser.add_argument("--resume", type=str, default=None, help="'last' or a checkpoint path to continue from")
        parser.add_argument("--early_stopping", type=int, default=0, help="patience in epochs (0: off)")
        parser.add_argument("--seed", type=int, default=0)
        parser.link_arguments("data.classes", "model.classes", apply_on="instantiate")
        parser.link_arguments("data.classes", "model.num_classes", compute_fn=len, apply_on="instantiate")
        parser.link_arguments("seed", "model.seed")

    def before_instantiate_classes(self) -> None:
        config = self.config
        run_dir = Path(config.run_dir)
        L.seed_everything(config.seed, workers=True)
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
            CSVLogger(run_dir, name="logs", version=""),
            TensorBoardLogger(run_dir, name="tensorboard", version=""),
        ]

    def instantiate_trainer(self, **kwargs):
        extra = {"callbacks": self._openfer_callbacks, "logger": self._openfer_loggers}
        return super().instantiate_trainer(**{**kwargs, **extra})


def resolve_resume(run_dir: Path, resume: str | None) -> str | None:
    """``'last'`` -> the run's ``last.ckpt`` when present (a fresh start otherwise); a path is used as is."""
    if resume is None:
        return None
    if resume == "last":
        last = run_dir / "checkpoints" / "last.ckpt"
        return str(last) if last.is_file() else None
    if not Path(resume).is_file():
        from openfer.errors import CheckpointError

        raise CheckpointError(f"{resume}: no such checkpoint to resume from")
    return resume


def train(args: Sequence[str]) -> L.Trainer:
    """Run a training recipe; ``args`` are LightningCLI arguments (``--config recipe.yaml``, overrides)."""
    cli = TrainCLI(
        FERModule,
        FERDataModule,
        run=False,
        args=list(args),
        trainer_defaults={"precision": "bf16-mixed", "max_epochs": 30, "deterministic": False},
        save_config_kwargs={"overwrite": True},
        auto_configure_optimizers=False,
    )
    ckpt = resolve_resume(Path(cli.config.run_dir), cli.config.resume)
    cli.trainer.fit(cli.model, cli.datamodule, ckpt_path=ckpt)
    return cli.trainer
