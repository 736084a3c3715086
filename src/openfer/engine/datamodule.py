"""The LightningDataModule: any registered dataset, its splits as train / val / test, uint8 batches."""

from __future__ import annotations

from typing import Any

import lightning as L
import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset as TorchDataset, RandomSampler

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


class FERDataModule(L.LightningDataModule):
    """Train/val/test loaders over the named splits of a dataset read by :func:`openfer.data.load_dataset`.

    The training order is shuffled afresh each epoch from ``seed`` and the epoch number.
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
    ) -> None:
        super().__init__()
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
            sampler=EpochShuffle(dataset, hp.seed) if shuffle else None,
            num_workers=hp.num_workers,
            drop_last=shuffle and len(dataset) > hp.batch_size,
            persistent_workers=hp.num_workers > 0,
        )

    def train_dataloader(self) -> DataLoader:
        return self._loader(self.hparams.train_split, shuffle=True)

    def val_dataloader(self) -> DataLoader:
        return self._loader(self.hparams.val_split, shuffle=False)

    def test_dataloader(self) -> DataLoader:
        return self._loader(self.hparams.test_split or self.hparams.val_split, shuffle=False)
