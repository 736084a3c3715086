"""The LightningModule: any registered model, its losses, optimiser, schedule and metrics."""

from __future__ import annotations

import math
from typing import Any

import lightning as L
from lightning.pytorch.utilities import rank_zero_warn
import numpy as np
import torch
from torch import nn

from openfer.augment import BatchAugment
from openfer.engine import metrics
from openfer.engine.ema import ema_copy, swap_weights, update_ema
from openfer.engine.mixup import MixOptions, mix_batch
from openfer.checkpoints import load_weights
from openfer.errors import ConfigError
from openfer.losses import balanced_class_weights, build_loss, default_loss_options, logits_of
from openfer.models.registry import ModelInfo, create_model, model_info

OPTIMIZERS = ("sgd", "adam", "adamw", "radam")
SCHEDULERS = ("none", "step", "exponential", "cosine", "cosine_restarts", "cosine_warm_cycles", "cyclic", "plateau", "two_phase")


class FERModule(L.LightningModule):
    """Trains a registered model on uint8 face batches.

    Batches arrive as uint8 (N, C, H, W); this module scales them to [0, 1], augments them on the
    fly during training (:class:`BatchAugment`), normalises with ``mean``/``std`` (default: the model's
    registered ones) and runs the model. The losses are a weighted sum of registered losses (``losses``:
    ``{name: {options}}``; the key ``weight`` inside the options scales that term); without ``losses``, the
    model's registered default losses (its paper's, e.g. DAN's cross-entropy, affinity and partition). Validation and test log accuracy, balanced
    accuracy, macro F1 and per-class precision, recall and F1 from a confusion matrix summed over all
    processes; the latest one is kept as ``last_confusion``.
    """

    def __init__(
        self,
        model: str = "openfer_vgg",
        num_classes: int = 7,
        classes: list[str] | None = None,
        model_options: dict[str, Any] | None = None,
        losses: dict[str, dict[str, Any]] | None = None,
        optimizer: str = "sgd",
        lr: float = 0.05,
        weight_decay: float = 5e-4,
        momentum: float = 0.9,
        nesterov: bool = False,
        decoupled_weight_decay: bool = False,
        scheduler: str = "cosine",
        warmup_epochs: int = 0,
        scheduler_options: dict[str, Any] | None = None,
        augment: dict[str, Any] | None = None,
        mean: float | None = None,
        std: float | None = None,
        channels_last: bool = True,
        seed: int = 0,
        init_weights: str | None = None,
        init_head: bool = True,
        ema_decay: float | None = None,
        mixup: dict[str, float] | None = None,
        snapshots: bool = False,
    ) -> None:
        super().__init__()
        if optimizer not in OPTIMIZERS:
            raise ConfigError(f"unknown optimizer {optimizer!r}; available: {', '.join(OPTIMIZERS)}")
        if scheduler not in SCHEDULERS:
            raise ConfigError(f"unknown scheduler {scheduler!r}; available: {', '.join(SCHEDULERS)}")
        if nesterov and (optimizer != "sgd" or momentum <= 0):
            raise ConfigError("nesterov: needs optimizer 'sgd' with momentum > 0")
        if decoupled_weight_decay and optimizer != "radam":
            raise ConfigError("decoupled_weight_decay: only for optimizer 'radam' (adamw decays decoupled already)")
        if snapshots and scheduler != "cosine_restarts":
            raise ConfigError(f"snapshots: true needs scheduler cosine_restarts (a snapshot ends each cycle), not {scheduler!r}")
        if scheduler == "plateau" and warmup_epochs > 0:
            raise ConfigError("scheduler 'plateau' cannot follow a warm-up; set warmup_epochs to 0")
        self.save_hyperparameters()
        info = model_info(model)
        # The model's registered normalisation unless the recipe sets one; stored so checkpoints carry it.
        self.hparams.mean = info.mean if mean is None else float(mean)
        self.hparams.std = info.std if std is None else float(std)
        self.net = create_model(model, num_classes=num_classes, **(model_options or {}))
        warn_if_unpretrained(info, model_options, init_weights)
        if init_weights:
            # Start from trained weights (fine-tuning, a second cosine cycle); keys and shapes are checked.
            # init_head false: the classifier stays freshly initialised (weights trained on another label set).
            load_weights(self.net, init_weights, skip_prefix=None if init_head else info.head)
        if channels_last:
            self.net = self.net.to(memory_format=torch.channels_last)
        loss_spec = losses or {name: default_loss_options(name, num_classes) for name in info.default_losses}
        self.loss_weights = {name: float(dict(opts or {}).pop("weight", 1.0)) for name, opts in loss_spec.items()}
        self.losses = nn.ModuleDict(
            {
                name: build_loss(name, **{k: v for k, v in (opts or {}).items() if k != "weight"})
                for name, opts in loss_spec.items()
            }
        )
        self.augment = BatchAugment(**(augment or {})) if augment is not False else None
        # Optional weight average (validation runs on it; checkpoints store it as the weights) and mixup/CutMix.
        self.ema_net = ema_copy(self.net, ema_decay) if ema_decay else None
        self.mixup = MixOptions.from_config(mixup)
        self.generator = torch.Generator().manual_seed(seed)
        # A plain tensor, not a buffer: DDP broadcasts buffers from rank 0 on every forward.
        self._confusion = torch.zeros(num_classes, num_classes, dtype=torch.long)
        self.last_confusion: torch.Tensor | None = None

    def setup(self, stage: str) -> None:
        """A loss with ``class_weights: balanced`` gets the training split's inverse class frequencies (mean 1)."""
        balanced = [loss for loss in self.losses.values() if getattr(loss, "balanced", False)]
        datamodule = getattr(self.trainer, "datamodule", None) if self._trainer is not None else None
        if balanced and datamodule is not None and hasattr(datamodule, "splits"):
            datamodule.setup(stage)
            weights = balanced_class_weights(datamodule.splits[datamodule.hparams.train_split].labels, self.hparams.num_classes)
            for loss in balanced:
                loss.weight = weights.to(self.device)

    # --- inputs -------------------------------------------------------------------------------
    def prepare(self, images: torch.Tensor, train: bool) -> torch.Tensor:
        x = images.float() / 255.0
        if train and self.augment is not None:
            x = self.augment(x, self.generator)
        x = (x - self.hparams.mean) / self.hparams.std
        return x.contiguous(memory_format=torch.channels_last) if self.hparams.channels_last else x

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        net = self.ema_net if self.ema_net is not None and not self.training else self.net
        return logits_of(net(self.prepare(images, train=False)))

    # --- steps --------------------------------------------------------------------------------
    def training_step(self, batch, batch_index: int) -> torch.Tensor:
        images, targets = batch[0], batch[-1] if len(batch) == 3 else batch[1]
        inputs, partners, lam = self._mix(self.prepare(images, train=True), targets)
        outputs = self.net(inputs)
        total = 0.0
        for name, loss in self.losses.items():
            value = loss(outputs, targets)
            if partners is not None:
                value = lam * value + (1.0 - lam) * loss(outputs, partners)
            self.log(f"train/loss_{name}", value, on_step=False, on_epoch=True, sync_dist=True)
            total = total + self.loss_weights[name] * value
        accuracy = (logits_of(outputs).argmax(1) == batch[1]).float().mean()
        self.log("train/loss", total, on_step=False, on_epoch=True, prog_bar=True, sync_dist=True)
        self.log("train/acc", accuracy, on_step=False, on_epoch=True, prog_bar=True, sync_dist=True)
        return total

    def _mix(self, inputs: torch.Tensor, targets: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None, float]:
        return (inputs, None, 1.0) if self.mixup is None else mix_batch(inputs, targets, self.mixup, self.generator)

    def on_train_batch_end(self, outputs: Any, batch: Any, batch_index: int) -> None:
        if self.ema_net is not None:
            update_ema(self.ema_net, self.net, self.hparams.ema_decay)

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        if self.ema_net is not None:
            swap_weights(checkpoint["state_dict"])  # the average under net. (what evaluation loads)

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        if self.ema_net is not None:
            swap_weights(checkpoint["state_dict"])  # back: training weights under net., the average under ema_net.

    def on_train_epoch_start(self) -> None:
        # Augmentation and dropout seeds depend on (seed, rank, epoch) only, so a resumed run draws what an
        # uninterrupted one would and DDP processes augment differently (the shuffle: FERDataModule).
        seeds = np.random.SeedSequence([self.hparams.seed, self.global_rank, self.current_epoch]).generate_state(2, np.uint64)
        self.generator.manual_seed(int(seeds[0]))
        torch.manual_seed(int(seeds[1]))

    def _evaluate(self, batch, stage: str) -> None:
        images, targets = batch[0], batch[1]
        logits = self(images).float()
        loss = nn.functional.cross_entropy(logits, targets)
        predictions = logits.argmax(1)
        n = self.hparams.num_classes
        self._confusion = self._confusion.to(targets.device)
        self._confusion += torch.bincount(targets * n + predictions, minlength=n * n).view(n, n)
        self.log(f"{stage}/loss", loss, on_step=False, on_epoch=True, prog_bar=True, sync_dist=True)

    def _epoch_metrics(self, stage: str) -> None:
        confusion = self._confusion
        if self.trainer.world_size > 1:
            confusion = self.trainer.strategy.reduce(confusion, reduce_op="sum")
        confusion = confusion.cpu().numpy().copy()  # a copy: the counts are zeroed next
        self._confusion.zero_()
        if confusion.sum() == 0:
            return
        self.last_confusion = torch.from_numpy(confusion)
        precision, recall, f1 = metrics.precision_recall_f1(confusion)
        values = {
            f"{stage}/balanced_acc": metrics.balanced_accuracy(confusion),
            f"{stage}/macro_f1": metrics.macro_f1(confusion),
        }
        names = self.hparams.classes or [str(i) for i in range(self.hparams.num_classes)]
        for name, p, r, f in zip(names, precision, recall, f1):
            values.update({f"{stage}/precision_{name}": p, f"{stage}/recall_{name}": r, f"{stage}/f1_{name}": f})
        # The values are already those of all processes; sync_dist averages identical numbers, which keeps
        # Lightning from warning that epoch metrics are not synchronised.
        self.log(f"{stage}/acc", metrics.accuracy(confusion), prog_bar=True, sync_dist=True)
        self.log_dict({key: float(value) for key, value in values.items()}, sync_dist=True)

    def on_validation_epoch_start(self) -> None:
        self._confusion.zero_()

    def validation_step(self, batch, batch_index: int) -> None:
        self._evaluate(batch, "val")

    def on_validation_epoch_end(self) -> None:
        self._epoch_metrics("val")

    def on_test_epoch_start(self) -> None:
        self._confusion.zero_()

    def test_step(self, batch, batch_index: int) -> None:
        self._evaluate(batch, "test")

    def on_test_epoch_end(self) -> None:
        self._epoch_metrics("test")

    def configure_callbacks(self) -> list[L.Callback]:
        """``snapshots: true``: a snapshot checkpoint at the end of each warm-restart cycle (snapshot ensembles)."""
        if not self.hparams.get("snapshots"):
            return []
        from pathlib import Path

        from openfer.engine.callbacks import SnapshotCheckpoint

        best = self.trainer.checkpoint_callback
        folder = Path(best.dirpath) if best is not None and best.dirpath else Path(self.trainer.default_root_dir) / "checkpoints"
        options = dict(self.hparams.scheduler_options or {})
        return [SnapshotCheckpoint(folder, options.get("restart_epochs", 10), options.get("t_mult", 1))]

    # --- optimisation -------------------------------------------------------------------------
    def configure_optimizers(self):
        hp = self.hparams
        params = [p for p in self.parameters() if p.requires_grad]
        if hp.optimizer == "sgd":
            optimizer = torch.optim.SGD(params, lr=hp.lr, momentum=hp.momentum, weight_decay=hp.weight_decay, nesterov=hp.nesterov)
        elif hp.optimizer == "adam":
            optimizer = torch.optim.Adam(params, lr=hp.lr, weight_decay=hp.weight_decay)
        elif hp.optimizer == "adamw":
            optimizer = torch.optim.AdamW(params, lr=hp.lr, weight_decay=hp.weight_decay)
        else:
            optimizer = torch.optim.RAdam(params, lr=hp.lr, weight_decay=hp.weight_decay, decoupled_weight_decay=hp.decoupled_weight_decay)
        scheduler = self._scheduler(optimizer)
        if scheduler is None:
            return optimizer
        if hp.scheduler == "plateau":
            return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "monitor": "val/acc"}}
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "step"}}

    def _scheduler(self, optimizer: torch.optim.Optimizer):
        hp = self.hparams
        options = dict(hp.scheduler_options or {})
        sched = torch.optim.lr_scheduler
        if hp.scheduler == "none":
            return None
        if hp.scheduler == "plateau":
            return sched.ReduceLROnPlateau(optimizer, mode="max", **{"factor": 0.5, "patience": 5, **options})
        estimated = self.trainer.estimated_stepping_batches  # also sets up the train loader
        if not np.isfinite(estimated):
            raise ConfigError(f"scheduler {hp.scheduler!r} needs a finite run: set trainer.max_epochs or trainer.max_steps")
        total = max(1, int(estimated))
        steps_per_epoch = max(1, -(-int(self.trainer.num_training_batches) // self.trainer.accumulate_grad_batches))
        warmup = hp.warmup_epochs * steps_per_epoch
        if hp.scheduler == "step":
            main = sched.StepLR(optimizer, step_size=options.get("step_epochs", 10) * steps_per_epoch, gamma=options.get("gamma", 0.1))
        elif hp.scheduler == "exponential":
            main = sched.ExponentialLR(optimizer, gamma=options.get("gamma", 0.95) ** (1 / steps_per_epoch))
        elif hp.scheduler == "cosine":
            main = sched.CosineAnnealingLR(optimizer, T_max=max(1, total - warmup), eta_min=options.get("eta_min", 0.0))
        elif hp.scheduler == "cosine_restarts":
            main = sched.CosineAnnealingWarmRestarts(optimizer, T_0=options.get("restart_epochs", 10) * steps_per_epoch, T_mult=options.get("t_mult", 1))
        elif hp.scheduler == "cosine_warm_cycles":
            main = sched.LambdaLR(optimizer, WarmCosineCycles(options.get("cycle_steps", 1024), options.get("warmup_steps", 128)))
        elif hp.scheduler == "two_phase":
            main = sched.LambdaLR(optimizer, TwoPhase(hp.lr, steps_per_epoch, **options))
        else:
            main = sched.CyclicLR(optimizer, base_lr=options.get("base_lr", hp.lr / 10), max_lr=hp.lr, step_size_up=options.get("half_cycle_epochs", 2) * steps_per_epoch, cycle_momentum=hp.optimizer == "sgd")
        if warmup <= 0:
            return main
        ramp = sched.LinearLR(optimizer, start_factor=0.01, total_iters=warmup)
        return sched.SequentialLR(optimizer, [ramp, main], milestones=[warmup])


def warn_if_unpretrained(info: ModelInfo, model_options: dict[str, Any] | None, init_weights: str | None) -> None:
    """Warn when a model whose paper starts from pretrained weights (``ModelInfo.pretrained``) gets none."""
    if info.pretrained and not (model_options or {}).get("backbone_weights") and not init_weights:
        rank_zero_warn(
            f"model {info.name!r}: its paper starts from {info.pretrained} weights, but this run trains from scratch "
            "(neither model_options.backbone_weights nor init_weights is set); expect accuracy below the paper's"
        )


class WarmCosineCycles:
    """EmoNeXt authors' scheduler (scheduler.py) as a factor of the peak lr: every ``cycle_steps`` steps a linear
    warm-up over ``warmup_steps`` to the peak, then a cosine to 0. Like theirs, step k uses position (k + 1)
    of its cycle (their counter is already 1 at the first step). A plain object, so checkpoints can store it."""

    def __init__(self, cycle_steps: int = 1024, warmup_steps: int = 128) -> None:
        if not 0 <= warmup_steps < cycle_steps:
            raise ConfigError(f"cosine_warm_cycles: need 0 <= warmup_steps < cycle_steps, got {warmup_steps} and {cycle_steps}")
        self.cycle_steps, self.warmup_steps = int(cycle_steps), int(warmup_steps)

    def __call__(self, step: int) -> float:
        position = (step + 1) % self.cycle_steps
        if position < self.warmup_steps:
            return position / self.warmup_steps
        return 0.5 * (1.0 + math.cos(math.pi * (position - self.warmup_steps) / (self.cycle_steps - self.warmup_steps)))


class TwoPhase:
    """FAML paper §4.1 as a factor of ``lr`` per step: cosine annealing from ``lr`` over ``cosine_epochs``, then
    ``second_lr`` decayed by ``gamma`` every ``step_epochs`` (StepLR). The paper switches "once the loss is stable"
    without a threshold; here the switch is at a set epoch (default 40, reference/models.md §4.7)."""

    def __init__(
        self, lr: float, steps_per_epoch: int, cosine_epochs: int = 40, second_lr: float = 1e-5, step_epochs: int = 10, gamma: float = 0.1, eta_min: float = 0.0
    ) -> None:
        self.lr, self.second_lr, self.gamma, self.eta_min = float(lr), float(second_lr), float(gamma), float(eta_min)
        self.switch = max(1, int(cosine_epochs * steps_per_epoch))
        self.step_size = max(1, int(step_epochs * steps_per_epoch))

    def __call__(self, step: int) -> float:
        if step < self.switch:
            return (self.eta_min + (self.lr - self.eta_min) * (1 + math.cos(math.pi * step / self.switch)) / 2) / self.lr
        return self.second_lr * self.gamma ** ((step - self.switch) // self.step_size) / self.lr
