"""Model complexity: parameters, multiply-accumulates (MACs) and CPU latency, and the Markdown table of them.

MACs are counted by :class:`torch.utils.flop_counter.FlopCounterMode` on the meta device (no memory, no
arithmetic), as half its FLOPs: convolutions, matrix products and attention, not element-wise operations.
On the meta device ``scaled_dot_product_attention`` runs as matrix products the counter sees; on real CPU
tensors it dispatches to a fused kernel the counter does not count (FAML at 224 x 224 then loses 1.44 G of
its 3.79 G MACs). Latency needs real tensors (float32, eval mode, ``torch.inference_mode``), so it is optional.
"""

from __future__ import annotations

import platform
import statistics
import subprocess
import time
from dataclasses import dataclass
from typing import Sequence

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from openfer.models.layers import every_tap
from openfer.models.registry import create_model, model_info

LATENCY_BATCHES = (1, 64)


@dataclass(frozen=True)
class Complexity:
    """One model's row: its default input, parameters, MACs and, when measured, CPU latency per batch (s)."""

    name: str
    input_size: tuple[int, int, int]
    parameters: int
    macs: int
    latency: dict[int, float] | None = None


def count_parameters(model: nn.Module) -> int:
    """Learnable parameters (``nn.Parameter`` elements; batch-norm running statistics are buffers, not counted)."""
    return sum(p.numel() for p in model.parameters())


def count_macs(model: nn.Module, input_size: Sequence[int], batch_size: int = 1) -> int:
    """MACs of one forward pass of ``model`` on a ``(batch_size, *input_size)`` input of the model's device, as the
    architecture defines them (a convolution's taps over padding included, though :class:`TapTrimmedConv2d` skips them)."""
    device = next(iter(model.parameters()), torch.empty(0)).device
    x = torch.zeros(batch_size, *input_size, device=device)
    with FlopCounterMode(display=False) as counter, torch.no_grad(), every_tap():
        model(x)
    return counter.get_total_flops() // 2


def meta_model(name: str, num_classes: int = 7) -> nn.Module:
    """Registered model ``name`` built on the meta device (shapes only), in eval mode."""
    with torch.device("meta"):
        return create_model(name, num_classes=num_classes).eval()


def measure_latency(model: nn.Module, input_size: Sequence[int], batch_size: int, repeats: int = 3) -> float:
    """Median seconds of a CPU forward pass at ``batch_size`` (float32, after one warm-up pass)."""
    x = torch.rand(batch_size, *input_size)
    times = []
    with torch.inference_mode():
        model(x)
        for _ in range(repeats):
            start = time.perf_counter()
            model(x)
            times.append(time.perf_counter() - start)
    return statistics.median(times)


def model_complexity(name: str, latency: bool = False, num_classes: int = 7) -> Complexity:
    """Parameters and MACs of ``name`` at its registered default input (meta device); CPU latency if asked."""
    input_size = tuple(model_info(name).input_size)
    model = meta_model(name, num_classes)
    row = Complexity(name, input_size, count_parameters(model), count_macs(model, input_size))
    if not latency:
        return row
    real = create_model(name, num_classes=num_classes).eval()
    return Complexity(**{**row.__dict__, "latency": {b: measure_latency(real, input_size, b) for b in LATENCY_BATCHES}})


def cpu_name() -> str:
    """The CPU model (from ``lscpu`` where available) and the threads torch uses."""
    name = platform.processor() or platform.machine()
    try:
        lines = subprocess.run(["lscpu"], capture_output=True, text=True, check=True).stdout.splitlines()
        name = next((line.split(":", 1)[1].strip() for line in lines if line.startswith("Model name")), name)
    except (OSError, subprocess.CalledProcessError):
        pass  # no lscpu: keep platform's name
    return f"{name}, {torch.get_num_threads()} torch threads"


def complexity_table(names: Sequence[str], latency: bool | Sequence[str] = False, num_classes: int = 7) -> str:
    """Markdown: one row per model with input, parameters, MACs, and CPU latency at batch 1 and 64 for every
    model (``latency=True``) or for the models named in ``latency`` (the others show a dash)."""
    timed = set(names) if latency is True else set(latency or ())
    latency = bool(timed)
    header = ["model", "input (C×H×W)", "parameters", "MACs"]
    if latency:
        header += [f"CPU ms, batch {b}" for b in LATENCY_BATCHES] + ["CPU faces/s, batch 64"]
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(["---"] + ["---:"] * (len(header) - 1)) + "|"]
    for name in names:
        row = model_complexity(name, latency=name in timed, num_classes=num_classes)
        cells = [f"`{name}`", "×".join(map(str, row.input_size)), f"{row.parameters:,}", _giga(row.macs)]
        if row.latency:
            cells += [f"{1000 * row.latency[b]:.1f}" for b in LATENCY_BATCHES]
            cells.append(f"{LATENCY_BATCHES[-1] / row.latency[LATENCY_BATCHES[-1]]:.0f}")
        elif latency:
            cells += ["–"] * (len(LATENCY_BATCHES) + 1)
        lines.append("| " + " | ".join(cells) + " |")
    notes = [
        "",
        f"{num_classes} classes; MACs counted on the meta device with torch.utils.flop_counter (FLOPs / 2: convolutions,",
        "matrix products and attention; no element-wise operations); parameters exclude batch-norm running statistics.",
    ]
    if latency:
        notes.append(f"Latency: median of 3 float32 forward passes after a warm-up, on {cpu_name()}.")
    return "\n".join(lines + notes) + "\n"


def _giga(macs: int) -> str:
    return f"{macs / 1e9:.3f} G" if macs < 1e10 else f"{macs / 1e9:.1f} G"
