"""The model zoo trained here: each seed model's CPU-scale recipe on FER2013 (or FERPlus, CK+), scored on its test split.

For every ``configs/<model>_<dataset>_cpu.yaml`` (or the models named with ``--models``) this trains the
recipe with ``openfer train`` into ``runs/zoo/<model>`` (FERPlus: ``runs/zoo_ferplus/<model>``, CK+:
``runs/zoo_ckplus/<model>``; resumable: a run cut off continues with ``--resume last`` the next time), evaluates its
best checkpoint (selected on the recipe's validation split, PublicTest for FER2013) on the recipe's test split
(PrivateTest) without test-time augmentation, counts parameters and MACs at the recipe's input
size, and prints a table beside the figures the papers report and the papers' settings. Results accumulate in
``results.jsonl`` there and in the committed ``benchmarks/results/zoo/<dataset>.jsonl`` (runs/ does not outlive a
machine; a model's latest row wins); ``--table-only`` prints the table from them without training.

    python benchmarks/zoo_cpu.py [--dataset fer2013|ferplus|ckplus] [--models resnet18 dan ...] [--table-only]
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
from machine import bf16_note, cpu_name  # noqa: E402  (shared by the scripts in benchmarks/)

REPO = Path(__file__).resolve().parents[1]
RUNS = REPO / "runs" / "zoo"
#: Where each dataset's zoo runs live.
RUN_DIRS = {"fer2013": RUNS, "ferplus": REPO / "runs" / "zoo_ferplus", "ckplus": REPO / "runs" / "zoo_ckplus"}
#: The committed copy of each dataset's results, one JSON row per scored run.
KEPT = REPO / "benchmarks" / "results" / "zoo"

#: What each paper reports and in which setting (shared/reference/models.md; docs/models/*.md).
REPORTED = {
    "dan": ("RAF-DB 89.70, AffectNet-7 65.69 (no FER2013 figure)", "224 px, ResNet-18 pretrained on MS-Celeb-1M"),
    "dpsan": ("CK+ 93.26, FERPlus 87.63 (no FER2013 figure)", "96 px global + 4 crops, two ResNet-18s"),
    "gclnet": ("RAF-DB 85.07, CK+ 99.35 (no FER2013 figure)", "224 px, ResNet-34 pre-trained on 50k pooled faces"),
    "faml": ("RAF-DB 90.32, AffectNet-7 65.83 (no FER2013 figure)", "224 px, ResNet-18 pretrained on MS-Celeb-1M"),
    "resemotenet": ("FER2013 79.79 claimed; 78.08 authors' checkpoint; 82 re-trained", "64 px, 3 channels, from scratch, 80 epochs"),
    "rmn": ("FER2013 74.14", "224 px, ResNet-34 trunk with masking blocks"),
    "pattlite": ("FER2013 92.5 claimed; 77 re-run", "224 px, ImageNet MobileNetV1"),
    "emonext_tiny": ("FER2013 73.34", "224 px, ImageNet-22k ConvNeXt-T"),
    "resnet18": ("RAF-DB 85.40 (ImageNet) / 88.62 (MS-Celeb-1M), FAML paper", "224 px, pretrained"),
    "mobilenet_v1": ("(backbone of PAtt-Lite; no FER figure)", "224 px, ImageNet"),
}


def recipes(models: list[str] | None, dataset: str = "fer2013") -> dict[str, Path]:
    """Model name -> its CPU recipe for ``dataset``."""
    suffix = f"_{dataset}_cpu.yaml"
    found = {p.name.removesuffix(suffix): p for p in sorted((REPO / "configs").glob(f"*{suffix}"))}
    if models:
        unknown = [m for m in models if m not in found]
        if unknown:
            raise SystemExit(f"no CPU recipe for {', '.join(unknown)}; available: {', '.join(found)}")
        return {m: found[m] for m in models}
    return found


def add_seconds(spent: Path, seconds: float) -> float:
    """Add ``seconds`` to the running total kept in ``spent`` (written atomically) and return the new total."""
    total = (json.loads(spent.read_text())["seconds"] if spent.is_file() else 0.0) + seconds
    partial = spent.with_suffix(".tmp")
    partial.write_text(json.dumps({"seconds": total}))
    os.replace(partial, spent)
    return total


def _stop(signum: int, frame: object) -> None:
    """SIGTERM as an exception: ``train`` records the time spent and ``subprocess.run`` stops the training child."""
    raise SystemExit(128 + signum)


def train(name: str, recipe: Path, runs: Path = RUNS, extra: list[str] | None = None) -> float:
    """Train (or finish) the recipe into ``runs/name`` (``extra``: more ``openfer train`` arguments); returns the
    wall seconds of this invocation (0 when already done)."""
    run_dir = runs / name
    done = run_dir / "done.json"
    if done.is_file():
        return 0.0
    command = [sys.executable, "-m", "openfer", "train", "--config", str(recipe), "--run_dir", str(run_dir),
               "--trainer.enable_progress_bar", "false", *(extra or []), "--resume", "last"]  # fmt: skip
    run_dir.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    try:
        with open(run_dir / "train.log", "a") as log:
            code = subprocess.run(command, cwd=REPO, stdout=log, stderr=subprocess.STDOUT).returncode
    finally:  # a run stopped part-way (SIGTERM, Ctrl-C) keeps its time, so a resumed run's total covers every part
        seconds = time.perf_counter() - start
        total = add_seconds(run_dir / "train_seconds.json", seconds)
    if code != 0:
        raise SystemExit(f"{name}: training failed (exit {code}); see {run_dir / 'train.log'}")
    done.write_text(json.dumps({"seconds": total, "finished": datetime.datetime.now().isoformat(timespec="minutes")}))
    return seconds


def score(name: str, recipe: Path, runs: Path = RUNS) -> dict:
    """Test-split accuracy of the best checkpoint (PrivateTest for FER2013/FERPlus), parameters, MACs and training time."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    from openfer.data import load_dataset
    from openfer.engine.evaluate import evaluate
    from openfer.inference import load_model

    config = yaml.safe_load(recipe.read_text())
    data = config["data"]
    root = (REPO / data["root"]).resolve() if not Path(data["root"]).is_absolute() else Path(data["root"])
    checkpoint = runs / name / "checkpoints" / "best.ckpt"
    model = load_model(checkpoint, tta="none")
    test_split = data.get("test_split", "PrivateTest")
    split = load_dataset(data["dataset"], root, **(data.get("dataset_options") or {}))[test_split]
    report = evaluate(model, split, dataset=data["dataset"])
    net = model.net.float().eval()
    params = sum(p.numel() for p in net.parameters())
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        net(torch.zeros(1, model.channels, model.image_size, model.image_size))
    seconds = json.loads((runs / name / "done.json").read_text())["seconds"]
    return {
        "model": name,
        "recipe": str(recipe.relative_to(REPO)),
        "input": model.image_size,
        "epochs": config["trainer"]["max_epochs"],
        "test_split": test_split,
        "accuracy": report.accuracy,
        "balanced_accuracy": report.balanced_accuracy,
        "params": params,
        "macs": counter.get_total_flops() / 2,
        "train_minutes": seconds / 60,
        "date": datetime.date.today().isoformat(),
        "cpu": f"{cpu_name()}, {os.cpu_count()} cores, {bf16_note()}",
    }


def print_table(rows: dict[str, dict]) -> None:
    splits = sorted({row.get("test_split", "PrivateTest") for row in rows.values()})
    print(f"| model | recipe | input | epochs | {'/'.join(splits)} acc. | balanced | params | MACs | train time | paper reports | paper's setting |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|---|---|")
    for name, row in rows.items():
        reported, setting = REPORTED.get(name, ("", ""))
        print(
            f"| `{name}` | `{row['recipe']}` | {row['input']} | {row['epochs']} | {100 * row['accuracy']:.2f} % "
            f"| {100 * row['balanced_accuracy']:.2f} % | {row['params'] / 1e6:.2f} M | {row['macs'] / 1e9:.3f} G "
            f"| {row['train_minutes']:.0f} min | {reported} | {setting} |"
        )
    machines = sorted({row["cpu"] for row in rows.values()})
    print(f"\nmeasured {', '.join(sorted({r['date'] for r in rows.values()}))} on {'; '.join(machines)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", choices=sorted(RUN_DIRS), default="fer2013", help="whose recipes: *_<dataset>_cpu.yaml")
    parser.add_argument("--models", nargs="+", help="models to run (default: every *_<dataset>_cpu.yaml recipe)")
    parser.add_argument("--table-only", action="store_true", help="print the table from the results.jsonl of the runs")
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, _stop)
    runs = RUN_DIRS[args.dataset]
    runs.mkdir(parents=True, exist_ok=True)
    stores = [KEPT / f"{args.dataset}.jsonl", runs / "results.jsonl"]
    rows: dict[str, dict] = {}
    for store in stores:
        for line in store.read_text().splitlines() if store.is_file() else []:
            row = json.loads(line)
            if rows.get(row["model"], {}).get("date", "") <= row["date"]:
                rows[row["model"]] = row
    if not args.table_only:
        KEPT.mkdir(parents=True, exist_ok=True)
        for name, recipe in recipes(args.models, args.dataset).items():
            train(name, recipe, runs)
            rows[name] = score(name, recipe, runs)
            for store in stores:
                with open(store, "a") as handle:
                    handle.write(json.dumps(rows[name]) + "\n")
            print(f"{name}: {100 * rows[name]['accuracy']:.2f} % in {rows[name]['train_minutes']:.0f} min", flush=True)
    print_table(rows)


if __name__ == "__main__":
    main()
