"""``openfer cv``: subject-independent k-fold cross-validation end to end on a tiny CK+48 copy."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest
import yaml

from openfer import labels
from openfer.cli import main
from openfer.engine import cv, train as train_module
from openfer.engine.datamodule import FERDataModule


def tiny_ckplus(root: Path, subjects: int = 9) -> set[str]:
    """CK+48's layout: class folders of ``S<subject>_<sequence>_<frame>.png``; two sequences per subject."""
    rng = np.random.default_rng(0)
    names = set()
    for subject in range(subjects):
        for sequence, folder in enumerate((labels.CKPLUS[subject % 7], labels.CKPLUS[(subject + 3) % 7])):
            for frame in range(2):
                path = root / folder / f"S{subject + 100:03d}_{sequence + 1:03d}_{frame + 1:08d}.png"
                path.parent.mkdir(parents=True, exist_ok=True)
                cv2.imwrite(str(path), rng.integers(0, 256, (48, 48), dtype=np.uint8))
                names.add(path.name)
    return names


@pytest.fixture
def ckplus_recipe(tmp_path: Path) -> tuple[Path, set[str]]:
    root = tmp_path / "ckplus48"
    names = tiny_ckplus(root)
    recipe = {
        "run_dir": str(tmp_path / "unused"),
        "seed": 0,
        "trainer": {"max_epochs": 1, "limit_train_batches": 2, "num_sanity_val_steps": 0, "enable_progress_bar": False,
                    "enable_model_summary": False, "precision": "32-true"},
        "model": {"model": "openfer_vgg", "model_options": {"widths": [4, 8], "hidden": 8, "dropout": 0.0},
                  "scheduler": "none", "augment": {"output_size": 24}},
        "data": {"dataset": "ckplus", "root": str(root), "dataset_options": {"fold": 0, "num_folds": 10},
                 "train_split": "train", "val_split": "val", "test_split": "test", "image_size": 24, "channels": 1,
                 "batch_size": 8},
    }
    path = tmp_path / "recipe.yaml"
    path.write_text(yaml.safe_dump(recipe))
    return path, names


def fake_folds(on_train):
    """A stand-in for ``cv._run_fold`` that leaves what it leaves behind (fold k: k + 5 of 10 right), without training;
    ``on_train(fold_dir, fold)`` is called for each fold it would have trained."""

    def fake_fold(config, fold, num_folds, fold_dir, options, overrides, batch_size):
        if (fold_dir / cv.RESULT_FILE).is_file():
            return json.loads((fold_dir / cv.RESULT_FILE).read_text())
        on_train(fold_dir, fold)
        result = {"fold": fold, "num_folds": num_folds, "validation_fold": (fold + 1) % num_folds, "best_val_acc": 0.5,
                  "num_train": 12, "num_val": 12, "num_test": 10, "test_subjects": [f"S{fold}"], "correct": fold + 5,
                  "accuracy": (fold + 5) / 10, "balanced_accuracy": 0.5, "macro_f1": 0.4}
        fold_dir.mkdir(parents=True, exist_ok=True)
        (fold_dir / cv.RESULT_FILE).write_text(json.dumps(result))
        return result

    return fake_fold


@pytest.mark.slow  # about 15 s of CPU: three tiny training runs and a resumed one
def test_three_fold_cv_tests_every_image_once_and_never_selects_on_it(
    ckplus_recipe, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    recipe, names = ckplus_recipe
    validated: list[set[str]] = []
    original_val_loader = FERDataModule.val_dataloader

    def spy_val_loader(self: FERDataModule):
        validated.append({Path(p).name for p in self.splits[self.hparams.val_split].paths})
        return original_val_loader(self)

    monkeypatch.setattr(FERDataModule, "val_dataloader", spy_val_loader)
    run_dir = tmp_path / "cv"
    summary = cv.cross_validate(recipe, folds=3, run_dir=run_dir)

    tested = [set(pd.read_csv(run_dir / f"fold{k}" / "test" / "predictions.csv")["image_id"].map(lambda p: Path(p).name)) for k in range(3)]
    assert sum(map(len, tested)) == len(names) and set().union(*tested) == names  # every image tested exactly once
    subjects = [set(fold["test_subjects"]) for fold in summary["folds"]]
    assert sum(map(len, subjects)) == len(set().union(*subjects)) == 9  # no subject in two test folds
    assert len(validated) == 3
    for k in range(3):
        assert not validated[k] & tested[k]  # selection never saw the fold's test images
        assert validated[k] == tested[(k + 1) % 3]  # it used the next fold, one of the training folds
    accuracies = [fold["accuracy"] for fold in summary["folds"]]
    assert summary["mean_accuracy"] == pytest.approx(np.mean(accuracies))
    assert summary["std_accuracy"] == pytest.approx(np.std(accuracies, ddof=1))
    assert json.loads((run_dir / "cv.json").read_text())["folds"] == summary["folds"]
    markdown = (run_dir / "cv.md").read_text()
    assert "| **mean ± std** |" in markdown and markdown.count("\n| ") == 5  # header + 3 folds + mean

    # openfer eval --fold scores the same test part with the same checkpoint.
    recipe_data = yaml.safe_load(recipe.read_text())["data"]
    best = summary["folds"][1]["checkpoint"]
    eval_args = ["eval", "--checkpoint", best, "--dataset", "ckplus", "--root", recipe_data["root"], "--fold", "1", "--num-folds", "3"]
    assert main([*eval_args, "--output", str(tmp_path / "eval1")]) == 0
    assert json.loads((tmp_path / "eval1" / "summary.json").read_text())["accuracy"] == pytest.approx(accuracies[1])

    # A rerun skips finished folds; a fold without its result resumes from its last.ckpt.
    (run_dir / "fold2" / cv.RESULT_FILE).unlink()
    trained, resumed = [], []
    real_train, real_check = train_module.train, train_module.check_resumable
    monkeypatch.setattr(train_module, "train", lambda args: trained.append(args) or real_train(args))
    monkeypatch.setattr(train_module, "check_resumable", lambda path, module: resumed.append(Path(path)) or real_check(path, module))
    again = cv.cross_validate(recipe, folds=3, run_dir=run_dir)
    assert len(trained) == 1 and str(run_dir / "fold2") in trained[0]
    assert resumed == [run_dir / "fold2" / "checkpoints" / "last.ckpt"]
    assert [f["accuracy"] for f in again["folds"]] == accuracies


def test_cli_cv_and_eval_fold(ckplus_recipe, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    recipe, _ = ckplus_recipe
    run_dir = tmp_path / "cv"
    for k in range(3):  # finished folds are read, not trained: the CLI writes the summary from them
        fold = {"fold": k, "num_folds": 3, "validation_fold": (k + 1) % 3, "best_val_acc": 0.5, "num_train": 12,
                "num_val": 12, "num_test": 12, "test_subjects": [f"S{k}"], "correct": 6 + k, "accuracy": (6 + k) / 12,
                "balanced_accuracy": 0.5, "macro_f1": 0.4}
        (run_dir / f"fold{k}").mkdir(parents=True)
        (run_dir / f"fold{k}" / cv.RESULT_FILE).write_text(json.dumps(fold))
    assert main(["cv", "--config", str(recipe), "--folds", "3", "--run-dir", str(run_dir)]) == 0
    out = capsys.readouterr().out
    assert "**58.33 ± 8.33**" in out and "Pooled accuracy over all 36 test images: 58.33 %" in out
    assert main(["cv", "--config", str(recipe), "--folds", "4", "--run-dir", str(run_dir)]) == 2
    assert "written for 3 folds, not 4" in capsys.readouterr().err


def test_cv_a_few_folds_at_a_time_summarises_what_is_finished(
    ckplus_recipe, tmp_path: Path, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    recipe, _ = ckplus_recipe
    run_dir = tmp_path / "cv"
    trained: list[int] = []
    monkeypatch.setattr(cv, "_run_fold", fake_folds(lambda fold_dir, fold: trained.append(fold)))
    base = ["cv", "--config", str(recipe), "--folds", "4", "--run-dir", str(run_dir)]
    assert main([*base, "--only", "2,0"]) == 0
    out = capsys.readouterr().out
    assert trained == [0, 2]
    assert "4 subject-independent folds (partial: 2 of 4 folds finished)" in out
    summary = json.loads((run_dir / "cv.json").read_text())
    assert summary["complete"] is False and [f["fold"] for f in summary["folds"]] == [0, 2]
    assert summary["pooled_accuracy"] == pytest.approx(12 / 20)
    assert main([*base, "--summary"]) == 0 and trained == [0, 2]  # --summary trains nothing
    assert "partial: 2 of 4" in capsys.readouterr().out
    assert main([*base, "--only", "4"]) == 2
    assert "--only 4: folds are numbered 0 to 3" in capsys.readouterr().err
    (run_dir / "fold1").mkdir()
    (run_dir / "fold1" / cv.RESULT_FILE).write_text("{truncated")
    assert main([*base, "--summary"]) == 2
    assert "fold1/result.json: unreadable fold result" in capsys.readouterr().err
    (run_dir / "fold1" / cv.RESULT_FILE).unlink()
    assert main(["cv", "--config", str(recipe), "--folds", "4", "--run-dir", str(tmp_path / "empty"), "--summary"]) == 2
    assert "no finished fold" in capsys.readouterr().err
    assert main(base) == 0 and trained == [0, 2, 1, 3]  # the rest, without retraining the finished ones
    assert json.loads((run_dir / "cv.json").read_text())["complete"] is True


def test_kept_folds_outlive_a_lost_run_folder(
    ckplus_recipe, tmp_path: Path, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    recipe, _ = ckplus_recipe
    keep = tmp_path / "benchmarks" / "results" / "cv" / "run"
    trained: list[tuple[str, int]] = []
    monkeypatch.setattr(cv, "_run_fold", fake_folds(lambda fold_dir, fold: trained.append((fold_dir.parent.name, fold))))
    base = ["cv", "--config", str(recipe), "--folds", "4", "--keep", str(keep)]
    assert main([*base, "--run-dir", str(tmp_path / "first"), "--only", "0,2"]) == 0
    assert json.loads((keep / "fold2" / cv.RESULT_FILE).read_text())["accuracy"] == 0.7
    assert [f["fold"] for f in json.loads((keep / "cv.json").read_text())["folds"]] == [0, 2]
    assert (keep / "cv.md").read_text() == (tmp_path / "first" / "cv.md").read_text()
    capsys.readouterr()
    # a new machine: the first run folder is gone, the kept folds are not trained again
    assert main([*base, "--run-dir", str(tmp_path / "second")]) == 0
    assert trained == [("first", 0), ("first", 2), ("second", 1), ("second", 3)]
    assert "folds 0, 2: finished before, taken from" in capsys.readouterr().out
    kept = json.loads((keep / "cv.json").read_text())
    assert kept["complete"] is True and kept["pooled_accuracy"] == pytest.approx(26 / 40)
    (keep / "fold3" / cv.RESULT_FILE).write_text("{truncated")
    assert main([*base, "--run-dir", str(tmp_path / "third"), "--summary"]) == 2
    assert "fold3/result.json: unreadable fold result" in capsys.readouterr().err


def test_a_fold_trained_without_a_validation_is_one_clear_error(ckplus_recipe, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    recipe, _ = ckplus_recipe
    command = ["cv", "--config", str(recipe), "--folds", "3", "--run-dir", str(tmp_path / "cv"), "--trainer.limit_val_batches", "0"]
    assert main(command) == 2
    error = capsys.readouterr().err.strip().splitlines()[-1]
    assert "fold 0: training ended before any validation, so no checkpoint was selected" in error
