import csv
import json
import os
from pathlib import Path

import pytest
import torch
import yaml

from openfer.cli import main

REPO = Path(__file__).resolve().parents[2]
RECIPE = REPO / "configs" / "openfer_vgg_fer2013.yaml"
# The recipe's network at a fraction of its width: the test is about the command, not the model.
SMALL_NET = ["--model.model_options", '{"widths": [8, 16], "hidden": 16}']
QUIET = ["--trainer.enable_progress_bar", "false", "--trainer.enable_model_summary", "false"]


def test_train_logs_checkpoints_resumes_and_evaluates_on_shared_fer2013(
    fer2013_cache: tuple[Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root, cache = fer2013_cache
    monkeypatch.setenv("OPENFER_CACHE", str(cache))
    run = tmp_path / "run"
    short = ["--trainer.limit_train_batches", "3", "--trainer.limit_val_batches", "2", "--data.limit_train", "512"]
    common = ["train", "--config", str(RECIPE), "--data.root", str(root), "--run_dir", str(run), *short, *SMALL_NET, *QUIET]

    assert main([*common, "--trainer.max_epochs", "1"]) == 0
    for name in ("checkpoints/best.ckpt", "checkpoints/last.ckpt", "logs/metrics.csv", "logs/curves.png"):
        assert (run / name).is_file(), name

    assert main([*common, "--trainer.max_epochs", "2", "--resume", "last"]) == 0
    last = torch.load(run / "checkpoints/last.ckpt", weights_only=True)
    assert last["global_step"] == 6  # 3 steps in each of two epochs: continued, not restarted
    with open(run / "logs/metrics.csv", newline="") as f:
        assert [row["epoch"] for row in csv.DictReader(f) if row["val/acc"]] == ["0", "1"]

    output = tmp_path / "eval"
    args = ["eval", "--checkpoint", str(run / "checkpoints/best.ckpt"), "--dataset", "fer2013", "--root", str(root)]
    assert main([*args, "--split", "PrivateTest", "--output", str(output)]) == 0
    summary = json.loads((output / "summary.json").read_text())
    assert summary["num_samples"] == 3589 and summary["model"] == "openfer_vgg"
    with open(output / "predictions.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 3589  # the accuracy printed and saved is that of the predictions saved
    assert summary["accuracy"] == pytest.approx(sum(row["target"] == row["prediction"] for row in rows) / len(rows))


def recipe_with(tmp_path: Path, root: Path, section: str, key: str, value: str) -> Path:
    recipe = yaml.safe_load(RECIPE.read_text())
    recipe["data"]["root"] = str(root)
    recipe[section][key] = value
    path = tmp_path / f"recipe-{key}.yaml"
    path.write_text(yaml.safe_dump(recipe))
    return path


def error_line(capsys: pytest.CaptureFixture) -> str:
    """The one line the command printed for the error (Lightning's own log lines may precede it)."""
    err = capsys.readouterr().err
    assert "Traceback" not in err
    lines = [line for line in err.splitlines() if "error" in line.lower()]
    assert len(lines) == 1 and lines[0].startswith("openfer: error:"), err
    return lines[0]


@pytest.mark.parametrize(
    "case, message",
    [
        ("unknown model", "unknown model 'no_such_net'"),
        ("unknown dataset", "unknown dataset 'no_such_set'"),
        ("bad value", "trainer.max_epochs"),
        ("unknown option", "--model.bogus"),
        ("missing recipe", "does not exist"),
    ],
)
def test_bad_recipes_and_overrides_are_one_line_and_exit_2(
    case: str, message: str, tiny_fer2013: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    args = {
        "unknown model": ["--config", str(recipe_with(tmp_path, tiny_fer2013, "model", "model", "no_such_net"))],
        "unknown dataset": ["--config", str(recipe_with(tmp_path, tiny_fer2013, "data", "dataset", "no_such_set"))],
        "bad value": ["--config", str(RECIPE), "--trainer.max_epochs", "many"],
        "unknown option": ["--config", str(RECIPE), "--model.bogus", "3"],
        "missing recipe": ["--config", str(tmp_path / "missing.yaml")],
    }[case]
    assert main(["train", *args, "--run_dir", str(tmp_path / "run")]) == 2
    assert message in error_line(capsys)
    assert not (tmp_path / "run").exists()


class RunsShell:
    def __reduce__(self):
        return (os.system, ("touch pwned",))


def test_resuming_from_a_checkpoint_carrying_code_is_refused_without_running_it(
    tiny_fer2013: Path, tmp_path: Path, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("OPENFER_CACHE", str(tmp_path / "cache"))
    evil = tmp_path / "evil.ckpt"
    torch.save({"state_dict": RunsShell()}, evil)
    args = ["train", "--config", str(RECIPE), "--data.root", str(tiny_fer2013), "--run_dir", "run", "--resume", str(evil)]
    assert main(args) == 2
    assert "refused to load" in error_line(capsys)
    assert not (tmp_path / "pwned").exists()
