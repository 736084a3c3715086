"""The LightningDataModule: any registered dataset, its splits as train / val / test, uint8 batches."""

from __future__ import annotations

from typing import Any, Iterator

import lightning as L
import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset as TorchDataset, RandomSampler, Sampler

from openfer.data import FaceSplit, load_dataset
from openfer.imageio import to_model_input_size
from openfer.errors import ConfigError


class SplitDataset(TorchDataset):
    """A FaceSplit as (uint8 tensor C x H x W, label[, soft label]) resized to ``image_size``."""

    def __init__(self, split: FaceSplit, image_size: int, channels: int, soft: bool = False) -> None:
        self.split, self.image_size, self.channels, self.soft = split, image_size, channels, soft

    def __len__(self) -> int:
        return len(self.split)

    def __getitem__(self, index: int):
        image = to_model_input_size(self.split.image(index), self.image_size, self.channels)
        x = torch.from_numpy(np.ascontiguousarray(image))
        target = torch.tensor(self.split.labels[index])
        if self.soft and self.split.soft_labels is not None:
            return x, target, torch.from_numpy(self.split.soft_labels[index].astype(np.float32))
        return x, target


class EpochShuffle(RandomSampler):
    """A random order drawn from ``(seed, epoch)`` alone, so a resumed run sees the order an uninterrupted one would.

    Lightning calls ``set_epoch`` before every training epoch; under DDP it swaps in a DistributedSampler,
    which is seeded per epoch the same way.
    """

    def __init__(self, data_source: TorchDataset, seed: int = 0) -> None:
        super().__init__(data_source, generator=torch.Generator())
        self.seed = seed
        self.set_epoch(0)

    def set_epoch(self, epoch: int) -> None:
        self.generator.manual_seed(int(np.random.SeedSequence([self.seed, epoch]).generate_state(1, np.uint64)[0]))


class BalancedSampler(Sampler[int]):
    """Class-balanced sampling: ``len(labels)`` indices a training epoch, drawn with replacement with probability
    proportional to 1 / (count of the index's class), so every class is drawn about equally often. Seeded from
    ``(seed, epoch)`` alone, as :class:`EpochShuffle` (DAN's AffectNet recipes: ``data.sampler: balanced``)."""

    def __init__(self, labels: np.ndarray, seed: int = 0) -> None:
        labels = np.asarray(labels, dtype=np.int64)
        counts = np.bincount(labels)
        self.weights = torch.from_numpy(1.0 / counts[labels]) if len(labels) else torch.zeros(0, dtype=torch.float64)
        self.seed = seed
        self.generator = torch.Generator()
        self.set_epoch(0)

    def __len__(self) -> int:
        return len(self.weights)

    def set_epoch(self, epoch: int) -> None:
        self.generator.manual_seed(int(np.random.SeedSequence([self.seed, epoch]).generate_state(1, np.uint64)[0]))

    def __iter__(self) -> Iterator[int]:
        if not len(self.weights):
            return iter([])
        return iter(torch.multinomial(self.weights, len(self.weights), replacement=True, generator=self.generator).tolist())


SAMPLERS = ("shuffle", "balanced")


class FERDataModule(L.LightningDataModule):
    """Train/val/test loaders over the named splits of a dataset read by :func:`openfer.data.load_dataset`.

    The training order is shuffled afresh each epoch from ``seed`` and the epoch number; ``sampler: balanced``
    draws it class-balanced instead (:class:`BalancedSampler`).
    """

    def __init__(
        self,
        dataset: str = "fer2013",
        root: str = "../shared/datasets/fer2013",
        train_split: str = "Training",
        val_split: str = "PublicTest",
        test_split: str | None = "PrivateTest",
        image_size: int = 48,
        channels: int = 1,
        batch_size: int = 128,
        num_workers: int = 0,
        soft_labels: bool = False,
        soft_targets: str | None = None,
        limit_train: int | None = None,
        dataset_options: dict[str, Any] | None = None,
        seed: int = 0,
        sampler: str = "shuffle",
    ) -> None:
        super().__init__()
        if sampler not in SAMPLERS:
            raise ConfigError(f"data.sampler: one of {', '.join(SAMPLERS)}, got {sampler!r}")
        self.save_hyperparameters()
        self.splits: dict[str, FaceSplit] = {}

    def setup(self, stage: str | None = None) -> None:
        if self.splits:
            return
        hp = self.hparams
        data = load_dataset(hp.dataset, hp.root, **(hp.dataset_options or {}))
        for split in (hp.train_split, hp.val_split, hp.test_split):
            if split is not None and split not in data:
                raise ConfigError(f"dataset {hp.dataset!r} has no split {split!r}; it has {sorted(data)}")
        self.splits = data
        if hp.soft_targets:
            # Distillation targets (openfer distill) become the training split's soft labels.
            from openfer.engine.distill import load_targets

            train = data[hp.train_split]
            train.soft_labels = load_targets(hp.soft_targets, train)
        if hp.limit_train:
            rng = np.random.default_rng(0)
            train = data[hp.train_split]
            keep = np.sort(rng.permutation(len(train))[: hp.limit_train])
            self.splits[hp.train_split] = train.subset(keep)

    @property
    def classes(self) -> tuple[str, ...]:
        self.setup()
        return self.splits[self.hparams.train_split].classes

    def _loader(self, split: str, shuffle: bool) -> DataLoader:
        hp = self.hparams
        soft = hp.soft_labels or (bool(hp.soft_targets) and split == hp.train_split)
        dataset = SplitDataset(self.splits[split], hp.image_size, hp.channels, soft=soft)
        return DataLoader(
            dataset,
            batch_size=hp.batch_size,
            sampler=self._sampler(dataset) if shuffle else None,
            num_workers=hp.num_workers,
            drop_last=shuffle and len(dataset) > hp.batch_size,
            persistent_workers=hp.num_workers > 0,
        )

    def _sampler(self, dataset: SplitDataset) -> Sampler[int]:
        """The training order: :class:`EpochShuffle`, or :class:`BalancedSampler` with ``sampler: balanced``."""
        if self.hparams.sampler == "balanced":
            return BalancedSampler(dataset.split.labels, self.hparams.seed)
        return EpochShuffle(dataset, self.hparams.seed)

    def train_dataloader(self) -> DataLoader:
        return self._loader(self.hparams.train_split, shuffle=True)

    def val_dataloader(self) -> DataLoader:
        return self._loader(self.hparams.val_split, shuffle=False)

    def test_dataloader(self) -> DataLoader:
        return self._loader(self.hparams.test_split or self.hparams.val_split, shuffle=False)
