"""Subject-independent k-fold cross-validation of a training recipe (``openfer cv``; docs/protocols.md).

Fold ``k`` trains on the folds other than ``k`` and ``k + 1``, selects its checkpoint (``best.ckpt``, best
validation accuracy) on fold ``k + 1`` and is scored once, on fold ``k``
(:func:`openfer.data.splits.select_folds`). Each fold is a run folder ``RUN_DIR/fold{k}``: a fold whose
``result.json`` exists is skipped, an interrupted one resumes from its ``last.ckpt``. The summary goes to
``RUN_DIR/cv.json`` and ``RUN_DIR/cv.md``.

A protocol longer than one session can be run a few folds at a time (``only``): the summary then covers the
folds finished so far and says how many of the ``folds`` those are; ``summarise_finished`` reads them without
training. A fold's ``result.json`` is all the summary needs, so finished folds can be kept (committed) and
copied into a fresh run folder to be skipped there. ``keep`` does both by itself: each fold's result and the
summary are copied into that folder (``benchmarks/results/cv/<run>``) as soon as they are written, and the
folds found there are copied into the run folder before training, so a run folder lost with a machine costs
only its unfinished fold.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import yaml

from openfer.data.splits import validation_fold
from openfer.errors import ConfigError
from openfer.files import write_bytes

RESULT_FILE = "result.json"


def cross_validate(
    config: str | Path,
    folds: int = 10,
    run_dir: str | Path | None = None,
    overrides: Sequence[str] = (),
    batch_size: int = 256,
    only: Sequence[int] | None = None,
    keep: str | Path | None = None,
) -> dict[str, Any]:
    """Train and score every fold of recipe ``config`` (or the folds in ``only``); returns the summary written
    to ``cv.json``.

    ``overrides`` are further ``openfer train`` arguments (``--trainer.max_epochs 2``); ``run_dir``
    defaults to the recipe's ``run_dir``. With ``only``, the summary covers every fold finished so far
    (``complete`` false until all ``folds`` are). ``keep``: a folder that receives each fold result and the
    summary as they are written, and whose finished folds are skipped here (see the module docstring).
    """
    recipe = read_recipe(config)
    data = recipe.get("data") or {}
    if data.get("dataset") not in ("ckplus", "jaffe"):
        raise ConfigError(f"{config}: data.dataset {data.get('dataset')!r} has no subject folds; cv supports ckplus, jaffe")
    run_dir = Path(run_dir or recipe.get("run_dir") or "runs/default")
    todo = _fold_list(only, folds)
    options = {k: v for k, v in dict(data.get("dataset_options") or {}).items() if k not in ("fold", "num_folds", "validation")}
    if keep is not None:
        restore_kept(keep, run_dir, folds)
    for k in todo:
        _run_fold(config, k, folds, run_dir / f"fold{k}", options, overrides, batch_size)
        if keep is not None:
            _copy_result(run_dir / f"fold{k}" / RESULT_FILE, Path(keep) / f"fold{k}" / RESULT_FILE)
    return _write_summary(run_dir, folds, keep, config=str(config), overrides=list(overrides))


def summarise_finished(run_dir: str | Path, folds: int, keep: str | Path | None = None, **extra: Any) -> dict[str, Any]:
    """Summarise the finished folds of ``run_dir`` (those with a ``result.json``) and write ``cv.json``/``cv.md``
    (also into ``keep``, after taking the folds kept there).

    Raises :class:`ConfigError` when none is finished or one was written for another number of folds.
    """
    if keep is not None:
        restore_kept(keep, run_dir, folds)
    return _write_summary(Path(run_dir), folds, keep, **extra)


def _write_summary(run_dir: Path, folds: int, keep: str | Path | None, **extra: Any) -> dict[str, Any]:
    results = [_read_result(run_dir / f"fold{k}" / RESULT_FILE, folds) for k in range(folds)]
    finished = [r for r in results if r is not None]
    if not finished:
        raise ConfigError(f"{run_dir}: no finished fold (no fold*/{RESULT_FILE}) to summarise")
    summary = summarise(finished, **extra, folds_planned=folds, complete=len(finished) == folds)
    for folder in (run_dir, *([Path(keep)] if keep is not None else [])):
        write_bytes(folder / "cv.json", (json.dumps(summary, indent=2) + "\n").encode())
        write_bytes(folder / "cv.md", summary_markdown(summary).encode())
    return summary


def restore_kept(keep: str | Path, run_dir: str | Path, folds: int) -> list[int]:
    """Copy the fold results kept in ``keep`` into ``run_dir`` where it has none; returns the folds copied.

    Each kept result is checked as a finished fold is (:class:`ConfigError` for a corrupt one or one written
    for another number of folds); a fold already finished in ``run_dir`` is left as it is.
    """
    keep, run_dir = Path(keep), Path(run_dir)
    copied = []
    for k in range(folds):
        source, target = keep / f"fold{k}" / RESULT_FILE, run_dir / f"fold{k}" / RESULT_FILE
        if _read_result(source, folds) is not None and not target.exists():
            _copy_result(source, target)
            copied.append(k)
    if copied:
        print(f"folds {', '.join(map(str, copied))}: finished before, taken from {keep}")
    return copied


def _copy_result(source: Path, target: Path) -> None:
    if source.is_file() and source.resolve() != target.resolve():
        write_bytes(target, source.read_bytes())


def _fold_list(only: Sequence[int] | None, folds: int) -> list[int]:
    if folds < 3:
        raise ConfigError(f"--folds {folds}: need 3 or more (a test fold, a validation fold and training folds)")
    if only is None:
        return list(range(folds))
    bad = [k for k in only if not 0 <= k < folds]
    if bad:
        raise ConfigError(f"--only {','.join(map(str, bad))}: folds are numbered 0 to {folds - 1}")
    return sorted(set(only))


def _read_result(path: Path, num_folds: int) -> dict[str, Any] | None:
    if not path.is_file():
        return None
    try:
        result = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ConfigError(f"{path}: unreadable fold result ({error}); delete it to rerun the fold") from None
    if not isinstance(result, dict) or "accuracy" not in result:
        raise ConfigError(f"{path}: not a fold result (no accuracy); delete it to rerun the fold")
    if result.get("num_folds") != num_folds:
        raise ConfigError(f"{path}: written for {result.get('num_folds')} folds, not {num_folds}; use another --run-dir")
    return result


def read_recipe(config: str | Path) -> dict[str, Any]:
    """The recipe file ``config`` as a mapping; :class:`ConfigError` when it is missing or not a mapping."""
    path = Path(config)
    if not path.is_file():
        raise ConfigError(f"--config {config}: no such recipe file")
    recipe = yaml.safe_load(path.read_text())
    if not isinstance(recipe, dict):
        raise ConfigError(f"{config}: expected a YAML mapping (a training recipe)")
    return recipe


def _run_fold(
    config: str | Path,
    fold: int,
    num_folds: int,
    fold_dir: Path,
    options: dict[str, Any],
    overrides: Sequence[str],
    batch_size: int,
) -> dict[str, Any]:
    result_path = fold_dir / RESULT_FILE
    result = _read_result(result_path, num_folds)
    if result is not None:
        print(f"fold {fold}: done before ({result_path}), skipped")
        return result

    from openfer.data import load_dataset
    from openfer.engine.evaluate import evaluate
    from openfer.engine.train import train
    from openfer.inference import load_model

    fold_options = {**options, "fold": fold, "num_folds": num_folds, "validation": True}
    trainer = train(
        [
            "--config", str(config), *overrides,
            "--run_dir", str(fold_dir),
            "--data.dataset_options", json.dumps(fold_options),
            "--data.train_split", "train", "--data.val_split", "val", "--data.test_split", "test",
            "--resume", "last",
        ]
    )  # fmt: skip
    hp = trainer.datamodule.hparams
    splits = load_dataset(hp.dataset, hp.root, **fold_options)
    tested = set(splits["test"].image_ids)
    if tested & (set(splits["train"].image_ids) | set(splits["val"].image_ids)):
        raise ConfigError(f"fold {fold}: test images also in its training or validation part")  # select_folds guarantees not
    callback = trainer.checkpoint_callback
    best = Path(callback.best_model_path or fold_dir / "checkpoints" / "best.ckpt")
    if not best.is_file():
        raise ConfigError(f"fold {fold}: training ended before any validation, so no checkpoint was selected ({best}); train for at least one epoch with validation")
    report = evaluate(load_model(best), splits["test"], batch_size=batch_size, dataset=hp.dataset, progress=True)
    report.save(fold_dir / "test")
    score = callback.best_model_score
    result = {
        "fold": fold,
        "num_folds": num_folds,
        "validation_fold": validation_fold(fold, num_folds),
        "checkpoint": str(best),
        "best_val_acc": None if score is None else float(score),
        "epochs": int(trainer.current_epoch),
        "num_train": len(splits["train"]),
        "num_val": len(splits["val"]),
        "num_test": len(splits["test"]),
        "test_subjects": sorted(set(map(str, splits["test"].groups))),
        "correct": int(np.trace(report.confusion)),
        "accuracy": report.accuracy,
        "balanced_accuracy": report.balanced_accuracy,
        "macro_f1": report.macro_f1,
    }
    write_bytes(result_path, (json.dumps(result, indent=2) + "\n").encode())
    print(f"fold {fold}: accuracy {result['accuracy']:.4f} on {result['num_test']} test images")
    return result


def summarise(results: Sequence[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    """Per-fold results with mean and sample standard deviation (ddof 1) of each metric, and pooled accuracy."""
    summary: dict[str, Any] = {**extra, "num_folds": len(results), "folds": list(results)}
    for metric in ("accuracy", "balanced_accuracy", "macro_f1"):
        values = np.array([r[metric] for r in results], dtype=np.float64)
        summary[f"mean_{metric}"] = float(values.mean())
        summary[f"std_{metric}"] = float(values.std(ddof=1)) if len(values) > 1 else 0.0
    summary["pooled_accuracy"] = sum(r["correct"] for r in results) / max(1, sum(r["num_test"] for r in results))
    return summary


def summary_markdown(summary: dict[str, Any]) -> str:
    """The summary as a Markdown table, one row per fold and a mean ± std row."""
    planned = summary.get("folds_planned", summary["num_folds"])
    done = "" if planned == summary["num_folds"] else f" (partial: {summary['num_folds']} of {planned} folds finished)"
    lines = [
        f"# Cross-validation: {summary.get('config', '')}, {planned} subject-independent folds{done}",
        "",
        "Fold k is tested on fold k, its checkpoint selected on fold k+1 (validation), trained on the rest.",
        "",
        "| fold | train | val | test | test subjects | best val acc | accuracy | balanced acc | macro F1 |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in summary["folds"]:
        val = "–" if r.get("best_val_acc") is None else f"{100 * r['best_val_acc']:.2f}"
        lines.append(
            f"| {r['fold']} | {r['num_train']} | {r['num_val']} | {r['num_test']} | {len(r['test_subjects'])} | {val} "
            f"| {100 * r['accuracy']:.2f} | {100 * r['balanced_accuracy']:.2f} | {100 * r['macro_f1']:.2f} |"
        )
    lines.append(
        "| **mean ± std** | | | | | | "
        + " | ".join(f"**{100 * summary[f'mean_{m}']:.2f} ± {100 * summary[f'std_{m}']:.2f}**" for m in ("accuracy", "balanced_accuracy", "macro_f1"))
        + " |"
    )
    total = sum(r["num_test"] for r in summary["folds"])
    lines += ["", f"Pooled accuracy over all {total} test images: {100 * summary['pooled_accuracy']:.2f} %.", ""]
    if summary.get("overrides"):
        lines += [f"Overrides: `{' '.join(summary['overrides'])}`", ""]
    return "\n".join(lines)
