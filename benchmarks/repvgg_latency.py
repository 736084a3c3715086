"""Folded ``openfer_repvgg`` variants against ``openfer_vgg``: classifier milliseconds per face by batch size
and precision (random weights: speed only), 2 threads, channels_last, the mean of 60 calls after
10 warm-up calls.

    python benchmarks/repvgg_latency.py
"""

from __future__ import annotations

import datetime
import sys
import time
from pathlib import Path

import torch

from openfer import create_model
from openfer.models.repvgg import FERRepVGG, reparameterized

sys.path.insert(0, str(Path(__file__).resolve().parent))
from machine import bf16_note, cpu_name  # noqa: E402  (shared by the scripts in benchmarks/)

VARIANTS = {
    "repvgg 32-256, depths 2-2-2-2 (default)": dict(widths=(32, 64, 128, 256), depths=(2, 2, 2, 2)),
    "repvgg 32-256, depths 1-2-2-2": dict(widths=(32, 64, 128, 256), depths=(1, 2, 2, 2)),
    "repvgg 24-192, depths 1-2-3-2": dict(widths=(24, 48, 96, 192), depths=(1, 2, 3, 2)),
    "repvgg 48-384, depths 1-2-2-2": dict(widths=(48, 96, 192, 384), depths=(1, 2, 2, 2)),
}


def ms_per_face(net: torch.nn.Module, batch: int, bf16: bool, calls: int = 60) -> float:
    x = torch.randn(batch, 1, 48, 48).contiguous(memory_format=torch.channels_last)
    net = net.eval().to(memory_format=torch.channels_last)
    with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
        for _ in range(10):
            net(x)
        start = time.perf_counter()
        for _ in range(calls):
            net(x)
    return 1000 * (time.perf_counter() - start) / calls / batch


def main() -> None:
    torch.set_num_threads(2)
    nets = {name: reparameterized(FERRepVGG(**options)) for name, options in VARIANTS.items()}
    nets["openfer_vgg (the fast preset's architecture)"] = create_model("openfer_vgg", widths=(48, 96, 192, 384), hidden=384)
    print(f"# repvgg latency — {datetime.date.today()} — {cpu_name()}, {bf16_note()}, 2 threads")
    print("| network | params | bs 1 fp32 | bs 1 bf16 | bs 6 fp32 | bs 6 bf16 | bs 32 fp32 | bs 32 bf16 |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for name, net in nets.items():
        params = sum(p.numel() for p in net.parameters()) / 1e6
        cells = [f"{ms_per_face(net, batch, bf16):.3f}" for batch in (1, 6, 32) for bf16 in (False, True)]
        print(f"| {name} | {params:.2f} M | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
