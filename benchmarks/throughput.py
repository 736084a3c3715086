"""Throughput of the default model (openfer_vgg): training and inference, in images per second.

* training: Lightning training steps of the recipe ``configs/openfer_vgg_fer2013.yaml`` (augmentation,
  loss, optimiser and schedule included) on random uint8 faces, timed after ``--warmup`` steps, in fp32
  and in bf16 mixed precision with channels_last (the recipe's setting);
* inference: forward passes on preprocessed batches, timed after ``--warmup`` passes, in eager fp32,
  eager bf16 autocast with channels_last, and ONNX Runtime (``openfer.export.export_onnx``, dynamic batch).

Ratios are against eager fp32 measured in the same run. The shipped weights are used when present,
else a randomly initialised network (speed does not depend on the weights).

    python benchmarks/throughput.py [--batch-size 64] [--train-steps 20] [--inference-batches 20] [--warmup 3]
"""

from __future__ import annotations

import argparse
import copy
import datetime
import logging
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable

import lightning as L
import torch
import yaml
from torch.utils.data import DataLoader, TensorDataset

from openfer.engine.module import FERModule
from openfer.inference import DEFAULT_WEIGHTS, ExpressionModel, load_model
from openfer.models.registry import create_model

sys.path.insert(0, str(Path(__file__).resolve().parent))
from machine import bf16_note, cpu_name  # noqa: E402  (shared by the scripts in benchmarks/)

REPO = Path(__file__).resolve().parents[1]
RECIPE = REPO / "configs" / "openfer_vgg_fer2013.yaml"


class StepTimer(L.Callback):
    """Wall time of the training steps after the first ``warmup``."""

    def __init__(self, warmup: int) -> None:
        self.warmup, self.start, self.seconds, self.steps = warmup, 0.0, 0.0, 0

    def on_train_batch_start(self, trainer: L.Trainer, module: L.LightningModule, batch, batch_index: int) -> None:
        if batch_index == self.warmup:
            self.start = time.perf_counter()

    def on_train_batch_end(self, trainer: L.Trainer, module: L.LightningModule, outputs, batch, batch_index: int) -> None:
        if batch_index >= self.warmup:
            self.seconds = time.perf_counter() - self.start
            self.steps = batch_index - self.warmup + 1


def training_throughput(precision: str, channels_last: bool, batch_size: int, steps: int, warmup: int) -> float:
    """Images per second of the recipe's training step."""
    recipe = yaml.safe_load(RECIPE.read_text())["model"]
    module = FERModule(**{**recipe, "channels_last": channels_last})
    size = recipe["augment"]["output_size"]
    total = (steps + warmup) * batch_size
    images = torch.randint(0, 256, (total, 1, size, size), dtype=torch.uint8)
    loader = DataLoader(TensorDataset(images, torch.arange(total) % 7), batch_size=batch_size, shuffle=True)
    timer = StepTimer(warmup)
    trainer = L.Trainer(
        accelerator="cpu", precision=precision, max_epochs=1, callbacks=[timer], logger=False,
        enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False,
    )
    trainer.fit(module, loader)
    return timer.steps * batch_size / timer.seconds


def images_per_second(run: Callable[[], object], batch_size: int, batches: int, warmup: int) -> float:
    for _ in range(warmup):
        run()
    start = time.perf_counter()
    for _ in range(batches):
        run()
    return batches * batch_size / (time.perf_counter() - start)


def default_model() -> tuple[ExpressionModel, str]:
    if DEFAULT_WEIGHTS.is_file():
        return load_model("fast"), "shipped weights, one network (preset 'fast')"
    options = yaml.safe_load(RECIPE.read_text())["model"]["model_options"]
    return ExpressionModel(create_model("openfer_vgg", **options), [str(i) for i in range(7)], name="openfer_vgg"), "random weights"


@torch.inference_mode()
def inference_throughputs(batch_size: int, batches: int, warmup: int) -> tuple[dict[str, float], str]:
    """Images per second of the default network: eager fp32, eager bf16 + channels_last, ONNX Runtime."""
    import onnxruntime

    from openfer.export import export_onnx

    model, weights = default_model()
    net = model.net.eval()
    x = torch.randn(batch_size, model.channels, model.image_size, model.image_size)
    results = {"eager fp32": images_per_second(lambda: net(x), batch_size, batches, warmup)}

    fast = copy.deepcopy(net).to(memory_format=torch.channels_last)
    x_last = x.contiguous(memory_format=torch.channels_last)

    def bf16() -> torch.Tensor:
        with torch.autocast("cpu", dtype=torch.bfloat16):
            return fast(x_last)

    results["eager bf16 + channels_last"] = images_per_second(bf16, batch_size, batches, warmup)
    with tempfile.TemporaryDirectory() as folder:
        path = export_onnx(model, Path(folder) / "openfer_vgg.onnx")
        session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        feed = {session.get_inputs()[0].name: x.numpy()}
        results["onnxruntime fp32"] = images_per_second(lambda: session.run(None, feed), batch_size, batches, warmup)
    return results, weights


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch-size", type=int, default=64, help="training batch (the recipe's: 64)")
    parser.add_argument("--inference-batch-size", type=int, default=256)
    parser.add_argument("--train-steps", type=int, default=20, help="timed training steps per setting")
    parser.add_argument("--inference-batches", type=int, default=20, help="timed forward passes per backend")
    parser.add_argument("--warmup", type=int, default=3, help="untimed steps/passes before timing")
    args = parser.parse_args()
    logging.getLogger("lightning.pytorch").setLevel(logging.WARNING)  # keep the table uncluttered

    rows: list[tuple[str, str, float]] = []
    for label, precision, channels_last in (("fp32", "32-true", False), ("bf16-mixed + channels_last", "bf16-mixed", True)):
        rows.append(("training", label, training_throughput(precision, channels_last, args.batch_size, args.train_steps, args.warmup)))
    inference, weights = inference_throughputs(args.inference_batch_size, args.inference_batches, args.warmup)
    rows += [("inference", label, value) for label, value in inference.items()]

    import onnxruntime

    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"command: python {' '.join(sys.argv)}")
    print(f"date: {datetime.datetime.now():%Y-%m-%d %H:%M}; CPU: {cpu_name()}, {os.cpu_count()} cores, {bf16_note()}; load average at the end: {load:.1f}")
    print(f"torch {torch.__version__} ({torch.get_num_threads()} threads), lightning {L.__version__}, onnxruntime {onnxruntime.__version__}")
    print(f"model: openfer_vgg ({weights}); batch {args.batch_size} for training, {args.inference_batch_size} for inference\n")
    baseline = {kind: value for kind, label, value in rows if label in ("fp32", "eager fp32")}
    print("| phase | setting | images/s | vs fp32 |")
    print("|---|---|---:|---:|")
    for kind, label, value in rows:
        print(f"| {kind} | {label} | {value:,.0f} | {value / baseline[kind]:.2f}x |")


if __name__ == "__main__":
    main()
