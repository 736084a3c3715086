"""Time DPSAN training steps on CK+48 fold 0 (batch 8, 1 thread) and extrapolate one epoch and the paper's run.

python benchmarks/dpsan_epoch_time.py [--size 48] [--root ../shared/datasets/ckplus48]
"""

from __future__ import annotations

import argparse
import datetime
import platform
import time

import numpy as np
import torch

from openfer.data import load_dataset
from openfer.engine.module import FERModule


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--size", type=int, default=48)
    parser.add_argument("--root", default="../shared/datasets/ckplus48")
    parser.add_argument("--batches", type=int, default=7)
    args = parser.parse_args()
    torch.set_num_threads(1)
    train = load_dataset("ckplus", args.root, fold=0, num_folds=10)["train"]
    augment = {"output_size": args.size, "flip": 0.5, "rotation": 0, "scale": [1.0, 1.0], "shift": 0, "brightness": 0, "contrast": 0, "erase": 0}
    module = FERModule(model="dpsan", num_classes=7, optimizer="sgd", lr=1e-4, scheduler="none", augment=augment).train()
    optimizer = torch.optim.SGD(module.parameters(), lr=1e-4, momentum=0.9, weight_decay=5e-4)
    images = torch.randint(0, 255, (8, 3, args.size, args.size), dtype=torch.uint8)
    labels = torch.randint(0, 7, (8,))
    times = []
    for _ in range(args.batches):
        start = time.perf_counter()
        loss = torch.nn.functional.cross_entropy(module.net(module.prepare(images, train=True)), labels)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        times.append(time.perf_counter() - start)
    per_batch = float(np.median(times[2:]))
    epoch = per_batch * len(train) / 8
    print(f"# {datetime.date.today()} {platform.processor() or platform.machine()}, 1 thread; command: python benchmarks/dpsan_epoch_time.py --size {args.size}")
    print("| input | s / batch of 8 | epoch (fold 0, {} faces) | 1,200 iterations | 10 folds |".format(len(train)))
    print("|---|---:|---:|---:|---:|")
    print(f"| {args.size} px | {per_batch:.2f} | {epoch:.0f} s | {1200 * per_batch / 60:.0f} min | {10 * 1200 * per_batch / 3600:.1f} h |")


if __name__ == "__main__":
    main()
