import csv
import os
import pickle
from pathlib import Path

import pytest
import torch
from lightning.pytorch.callbacks import EarlyStopping, RichProgressBar

from openfer.engine.module import FERModule
from openfer.engine.storage import AtomicCheckpointIO
from openfer.engine.train import check_resumable, train
from openfer.errors import CheckpointError
from openfer.models.registry import create_model

TINY = {"widths": [8, 16], "hidden": 16, "dropout": 0.0}


def metric_rows(run_dir: Path) -> list[dict[str, str]]:
    with open(run_dir / "logs" / "metrics.csv", newline="") as f:
        return list(csv.DictReader(f))


def test_a_run_writes_checkpoints_logs_and_curves(tiny_recipe, tmp_path: Path) -> None:
    trainer = train(["--config", str(tiny_recipe(trainer={"enable_progress_bar": True})), "--early_stopping", "3"])
    run = tmp_path / "run"
    for name in ("checkpoints/best.ckpt", "checkpoints/last.ckpt", "logs/metrics.csv", "logs/curves.png", "logs/config.yaml"):
        assert (run / name).is_file(), name
    assert list((run / "tensorboard").glob("events.out.tfevents.*"))
    assert not [p for p in (run / "checkpoints").iterdir() if p.suffix == ".tmp"]
    assert (run / "logs" / "curves.png").read_bytes().startswith(b"\x89PNG")

    assert trainer.precision == "bf16-mixed"
    assert isinstance(trainer.strategy.checkpoint_io, AtomicCheckpointIO)
    assert any(isinstance(c, RichProgressBar) for c in trainer.callbacks)
    assert [c.patience for c in trainer.callbacks if isinstance(c, EarlyStopping)] == [3]
    conv = trainer.lightning_module.net.features[0]
    assert conv.weight.is_contiguous(memory_format=torch.channels_last)

    validation = [row for row in metric_rows(run) if row["val/acc"]]
    assert len(validation) == 1
    row = {key.removeprefix("val/"): float(value) for key, value in validation[0].items() if key.startswith("val/") and value}
    recalls = [value for key, value in row.items() if key.startswith("recall_")]
    f1s = [value for key, value in row.items() if key.startswith("f1_")]
    assert len(recalls) == len(f1s) == 7
    # The logged summaries agree with the logged per-class values: balanced accuracy is the mean recall,
    # macro F1 the mean F1, and each F1 the harmonic mean of its precision and recall.
    assert row["balanced_acc"] == pytest.approx(sum(recalls) / 7, abs=1e-6)
    assert row["macro_f1"] == pytest.approx(sum(f1s) / 7, abs=1e-6)
    p, r = row["precision_happy"], row["recall_happy"]
    assert row["f1_happy"] == pytest.approx(2 * p * r / (p + r) if p + r else 0.0, abs=1e-6)


def test_resume_last_continues_a_killed_run_exactly(tiny_recipe, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    two_epochs = ["--trainer.max_epochs", "2"]
    straight = train(["--config", str(tiny_recipe(run_dir=tmp_path / "straight")), *two_epochs])

    recipe = tiny_recipe(run_dir=tmp_path / "killed")
    original = FERModule.on_train_epoch_start

    def killed_in_second_epoch(module: FERModule) -> None:
        if module.current_epoch == 1:
            raise RuntimeError("killed")
        original(module)

    monkeypatch.setattr(FERModule, "on_train_epoch_start", killed_in_second_epoch)
    with pytest.raises(RuntimeError, match="killed"):
        train(["--config", str(recipe), *two_epochs])
    monkeypatch.setattr(FERModule, "on_train_epoch_start", original)
    assert torch.load(tmp_path / "killed/checkpoints/last.ckpt", weights_only=True)["global_step"] == 2

    resumed = train(["--config", str(recipe), *two_epochs, "--resume", "last"])
    assert (resumed.current_epoch, resumed.global_step) == (2, 4) == (straight.current_epoch, straight.global_step)
    # Seeds depend on (seed, epoch) only, so the resumed run ends where the uninterrupted one did.
    for key, value in straight.lightning_module.net.state_dict().items():
        torch.testing.assert_close(resumed.lightning_module.net.state_dict()[key], value, msg=key)
    # The CSV log keeps the first epoch's rows and holds each epoch once.
    epochs = [row["epoch"] for row in metric_rows(tmp_path / "killed") if row["val/acc"]]
    assert epochs == ["0", "1"]


def lightning_like_checkpoint(path: Path, **model_options) -> Path:
    net = create_model("openfer_vgg", **{**TINY, **model_options})
    torch.save({"state_dict": {f"net.{k}": v for k, v in net.state_dict().items()}, "epoch": 0}, path)
    return path


class Payload:
    """An object of a custom class: unpickling it would import and run this module's code."""


class RunsShell:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def bad_checkpoints(folder: Path) -> dict[str, tuple[Path, str]]:
    """Checkpoints that must be refused, each with the message that must name the problem."""
    good = lightning_like_checkpoint(folder / "good.ckpt")
    truncated = folder / "truncated.ckpt"
    truncated.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    text = folder / "notes.ckpt"
    text.write_text("not a checkpoint\n")
    custom = folder / "custom.ckpt"
    torch.save({"state_dict": Payload()}, custom)
    shell_zip, shell_pickle = folder / "shell.ckpt", folder / "shell-pickle.ckpt"
    torch.save({"state_dict": RunsShell(folder / "pwned")}, shell_zip)
    shell_pickle.write_bytes(pickle.dumps({"state_dict": RunsShell(folder / "pwned")}))
    return {
        "other architecture": (lightning_like_checkpoint(folder / "wide.ckpt", widths=[8, 32]), "does not match the model"),
        "other class count": (lightning_like_checkpoint(folder / "five.ckpt", num_classes=5), "does not match the model"),
        "truncated": (truncated, "not a readable checkpoint"),
        "not a checkpoint": (text, "notes.ckpt: not a checkpoint file"),
        "custom class": (custom, "refused to load"),
        "code in a zip checkpoint": (shell_zip, "refused to load"),
        "code in a plain pickle": (shell_pickle, "refused to load"),
        "safetensors": (folder / "weights.safetensors", "expects a Lightning .ckpt"),
    }


def test_resume_refuses_bad_checkpoints_before_loading_anything(tiny_recipe, tmp_path: Path) -> None:
    recipe = str(tiny_recipe(model={"model_options": TINY}))
    cases = bad_checkpoints(tmp_path)
    (tmp_path / "weights.safetensors").write_bytes(b"")
    module = FERModule(model="openfer_vgg", model_options=TINY)
    check_resumable(tmp_path / "good.ckpt", module)  # the control passes
    for case, (path, message) in cases.items():
        with pytest.raises(CheckpointError, match=message):
            train(["--config", recipe, "--resume", str(path)])
        assert not (tmp_path / "pwned").exists(), case
    assert not (tmp_path / "run" / "checkpoints").exists()
