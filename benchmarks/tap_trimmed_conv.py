"""Time ResEmoteNet with its tap-trimmed convolutions against the same network computing every tap.

A training step (forward, backward, SGD update; bf16 autocast, channels_last, as `openfer train` runs it) and an
inference pass are timed with the trimming on and, in the same run, under `every_tap()` (the plain nn.Conv2d work).
Both give the same outputs: the largest logit difference is printed beside the times. MACs are counted as the
architecture defines them (every tap), in eval mode.

python benchmarks/tap_trimmed_conv.py [--size 48] [--batch 64] [--steps 6] [--threads 1]
"""

from __future__ import annotations

import argparse
import datetime
import os
import statistics
import sys
import time
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from machine import bf16_note, cpu_name  # noqa: E402  (shared by the scripts in benchmarks/)

from openfer.models import create_model  # noqa: E402
from openfer.models.complexity import count_macs  # noqa: E402
from openfer.models.layers import TapTrimmedConv2d, every_tap  # noqa: E402


def median_seconds(step: Callable[[], None], repeats: int, warmup: int = 2) -> float:
    for _ in range(warmup):
        step()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        step()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=48)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--steps", type=int, default=6, help="timed steps per setting (after 2 warm-up steps)")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.manual_seed(0)
    torch.set_num_threads(args.threads)

    net = create_model("resemotenet", num_classes=7, in_channels=1).to(memory_format=torch.channels_last)
    trimmed = sum(isinstance(m, TapTrimmedConv2d) for m in net.modules())
    x = torch.rand(args.batch, 1, args.size, args.size).contiguous(memory_format=torch.channels_last)
    y = torch.randint(0, 7, (args.batch,))
    optimizer = torch.optim.SGD(net.parameters(), lr=1e-3, momentum=0.9)
    net.eval()
    macs = count_macs(net, (1, args.size, args.size))
    with torch.no_grad():
        with every_tap():
            reference = net(x[:8])
        difference = (net(x[:8]) - reference).abs().max().item()

    def train_step() -> None:
        with torch.autocast("cpu", dtype=torch.bfloat16):
            loss = torch.nn.functional.cross_entropy(net(x), y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    def infer() -> None:
        with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16):
            net(x)

    rows = []
    settings: list[tuple[str, Callable[[], AbstractContextManager[None]]]] = [("every tap (nn.Conv2d)", every_tap), ("tap-trimmed", nullcontext)]
    for label, context in settings:
        with context():
            net.train()
            train = median_seconds(train_step, args.steps)
            net.eval()
            inference = median_seconds(infer, args.steps)
        rows.append((label, train, inference))

    print(
        f"# {datetime.date.today()} {cpu_name()}, {os.cpu_count()} cores, {bf16_note()}, {args.threads} thread(s); "
        f"command: python benchmarks/tap_trimmed_conv.py --size {args.size} --batch {args.batch} --steps {args.steps} --threads {args.threads}"
    )
    print(
        f"# ResEmoteNet, {sum(p.numel() for p in net.parameters()):,} parameters, {macs / 1e9:.3f} GMACs at {args.size} px (every tap); "
        f"{trimmed} tap-trimmed convolutions; largest logit difference trimmed vs every tap: {difference:.2e}"
    )
    print(f"| convolutions | train step, batch {args.batch} (s) | inference, batch {args.batch} (s) | train speed-up |")
    print("|---|---:|---:|---:|")
    base = rows[0][1]
    for label, train, inference in rows:
        print(f"| {label} | {train:.2f} | {inference:.2f} | {base / train:.2f}x |")


if __name__ == "__main__":
    main()
