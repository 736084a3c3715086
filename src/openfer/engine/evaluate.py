"""Evaluate a model on a dataset split: accuracy, balanced accuracy, per-class metrics and a confusion matrix.

The model's own test-time augmentation applies unless ``tta`` (``none``, ``flip``, ``tencrop`` or ``affine``)
overrides it; it averages class probabilities over the views of :func:`openfer.augment.tta_views`
(``docs/evaluation.md`` explains the choices). The metrics come from :mod:`openfer.engine.metrics`.
"""

from __future__ import annotations

import copy
import dataclasses
import io
import json
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence

import numpy as np

from openfer.data.base import FaceSplit
from openfer.engine import metrics
from openfer.engine.plots import plot_rank_distribution
from openfer.errors import ConfigError, DatasetError
from openfer.files import atomic_write
from openfer.inference import ExpressionModel
from openfer.labels import canonical, map_probabilities, mapping

if TYPE_CHECKING:
    import pandas as pd


def predict_proba(model: ExpressionModel, split: FaceSplit, tta: str | None = None, batch_size: int = 256, progress: bool = False) -> np.ndarray:
    """Probabilities (N, len(model.classes)) for every face of ``split``, averaged over the TTA views
    (the model's own, or ``tta`` when given).

    Faces are read ``batch_size`` at a time, so splits decoded lazily from disk never sit in memory whole.
    ``progress``: a progress bar on a terminal (:mod:`openfer.progress`).
    """
    from openfer.progress import ProgressBar

    scorer = model
    if tta is not None:
        scorer = copy.copy(model)
        scorer.tta = tta  # the model checks the name
    out = np.zeros((len(split), len(model.classes)), dtype=np.float32)
    with ProgressBar(f"eval {split.name}", total=len(split), enabled=progress, unit="faces") as bar:
        for start in range(0, len(split), batch_size):
            stop = min(start + batch_size, len(split))
            out[start:stop] = scorer.predict_proba([split.image(i) for i in range(start, stop)])
            bar.advance(stop - start)
    return out


@dataclass
class EvaluationReport:
    """Predictions on one split and the metrics computed from them.

    ``probabilities`` (N, C) are in the order of ``classes`` (the split's); a model with another class
    vocabulary has its probabilities mapped by meaning (``model_classes`` records its own).
    ``soft_targets`` (N, C): the split's vote distributions (FERPlus probability mode), scored by cross-entropy
    and KL divergence. ``classes_not_scored`` / ``samples_not_scored``: what ``classes="shared"`` left out.
    """

    classes: tuple[str, ...]
    targets: np.ndarray = field(repr=False)
    probabilities: np.ndarray = field(repr=False)
    tta: str = "none"
    #: "fp32" or "bf16": the arithmetic the model ran in ("" when not known).
    inference_precision: str = ""
    model: str = ""
    dataset: str = ""
    split: str = ""
    model_classes: tuple[str, ...] = ()
    image_ids: Sequence[str] | None = field(default=None, repr=False)
    soft_targets: np.ndarray | None = field(default=None, repr=False)
    classes_not_scored: tuple[str, ...] = ()
    samples_not_scored: int = 0

    @property
    def predictions(self) -> np.ndarray:
        """Predicted class index of each sample."""
        return self.probabilities.argmax(1)

    @cached_property
    def confusion(self) -> np.ndarray:
        """(C, C) counts, rows = true class, columns = predicted class."""
        return metrics.confusion_matrix(self.targets, self.predictions, len(self.classes))

    @property
    def num_samples(self) -> int:
        return int(len(self.targets))

    @property
    def accuracy(self) -> float:
        return metrics.accuracy(self.confusion)

    @property
    def balanced_accuracy(self) -> float:
        """Mean per-class recall."""
        return metrics.balanced_accuracy(self.confusion)

    @property
    def macro_f1(self) -> float:
        return metrics.macro_f1(self.confusion)

    @property
    def precision(self) -> np.ndarray:
        return metrics.precision_recall_f1(self.confusion)[0]

    @property
    def recall(self) -> np.ndarray:
        return metrics.precision_recall_f1(self.confusion)[1]

    @property
    def f1(self) -> np.ndarray:
        return metrics.precision_recall_f1(self.confusion)[2]

    @property
    def support(self) -> np.ndarray:
        """Number of samples of each true class."""
        return self.confusion.sum(1)

    @property
    def classes_dropped(self) -> tuple[str, ...]:
        """The model's classes with no counterpart among ``classes`` (their probability mass is dropped)."""
        if not self.model_classes:
            return ()
        table = mapping(self.model_classes, self.classes, missing="drop")
        return tuple(name for name, j in zip(self.model_classes, table) if j < 0)

    @cached_property
    def rank_counts(self) -> np.ndarray:
        """Samples whose true label ranks 1, 2, ... in the output (FAML paper, Table 1; ties: lower index first)."""
        return metrics.rank_distribution(self.probabilities, self.targets)

    def rank_table(self) -> pd.DataFrame:
        """The true-label rank distribution: per rank the count, the percentage and the cumulative percentage."""
        import pandas as pd

        share = 100 * self.rank_counts / max(1, self.num_samples)
        return pd.DataFrame(
            {"count": self.rank_counts, "percent": share, "cumulative_percent": np.cumsum(share)},
            index=pd.Index(np.arange(1, len(self.rank_counts) + 1), name="rank"),
        )

    @property
    def cross_entropy(self) -> float | None:
        """Mean cross-entropy against ``soft_targets`` (None without them)."""
        return None if self.soft_targets is None else metrics.soft_cross_entropy(self.probabilities, self.soft_targets)

    @property
    def kl_divergence(self) -> float | None:
        """Mean KL(soft target || prediction) (None without soft targets)."""
        return None if self.soft_targets is None else metrics.kl_divergence(self.probabilities, self.soft_targets)

    def to_df(self) -> pd.DataFrame:
        """A pandas DataFrame with one row per class: precision, recall, f1, support."""
        import pandas as pd

        return pd.DataFrame(
            {"precision": self.precision, "recall": self.recall, "f1": self.f1, "support": self.support},
            index=pd.Index(self.classes, name="class"),
        )

    def summary(self) -> dict[str, Any]:
        """Everything the report holds except the per-sample predictions, as JSON-ready values."""
        return {
            "model": self.model,
            "dataset": self.dataset,
            "split": self.split,
            "tta": self.tta,
            "inference_precision": self.inference_precision,
            "num_samples": self.num_samples,
            "accuracy": self.accuracy,
            "balanced_accuracy": self.balanced_accuracy,
            "macro_f1": self.macro_f1,
            "classes": list(self.classes),
            "model_classes": list(self.model_classes or self.classes),
            "per_class": {
                name: {"precision": float(p), "recall": float(r), "f1": float(f), "support": int(s)}
                for name, p, r, f, s in zip(self.classes, self.precision, self.recall, self.f1, self.support)
            },
            "confusion_matrix": self.confusion.tolist(),
            "rank_distribution": self.rank_table()[["count", "percent"]].reset_index().to_dict("records"),
            "classes_dropped": list(self.classes_dropped),
            **({"classes_not_scored": list(self.classes_not_scored), "samples_not_scored": self.samples_not_scored} if self.classes_not_scored else {}),
            **({"cross_entropy": self.cross_entropy, "kl_divergence": self.kl_divergence} if self.soft_targets is not None else {}),
        }

    def save(self, directory: str | Path) -> list[Path]:
        """Write ``summary.json``, ``per_class.csv``, ``confusion_matrix.csv``/``.png``, ``predictions.csv`` and
        the true-label rank distribution (``rank_distribution.csv``/``.md``/``.png``).

        Each file is written atomically; returns the paths written.
        """
        import pandas as pd

        directory = Path(directory)
        confusion = pd.DataFrame(self.confusion, index=list(self.classes), columns=list(self.classes))
        confusion.index.name = "true \\ predicted"
        predictions = pd.DataFrame(self.probabilities, columns=[f"p_{name}" for name in self.classes])
        predictions.insert(0, "image_id", list(self.image_ids) if self.image_ids is not None else range(self.num_samples))
        predictions.insert(1, "target", [self.classes[i] for i in self.targets])
        predictions.insert(2, "prediction", [self.classes[i] for i in self.predictions])
        files = {
            "summary.json": json.dumps(self.summary(), indent=2).encode(),
            "per_class.csv": self.to_df().to_csv().encode(),
            "confusion_matrix.csv": confusion.to_csv().encode(),
            "predictions.csv": predictions.to_csv(index=False).encode(),
            "confusion_matrix.png": plot_confusion_matrix(self.confusion, self.classes, self._title()),
            "rank_distribution.csv": self.rank_table().to_csv().encode(),
            "rank_distribution.md": rank_markdown(self.rank_table(), self._title()).encode(),
            "rank_distribution.png": plot_rank_distribution(self.rank_counts, f"{self.model or 'model'}: true-label rank"),
        }
        written = []
        for name, data in files.items():
            with atomic_write(directory / name) as f:
                f.write(data)
            written.append(directory / name)
        return written

    def _title(self) -> str:
        where = " ".join(part for part in (self.dataset, self.split) if part)
        return f"{self.model or 'model'} on {where or 'data'} (tta {self.tta}): accuracy {self.accuracy:.2%}"


def rank_markdown(table: pd.DataFrame, title: str = "") -> str:
    """A rank table (:meth:`EvaluationReport.rank_table`) as Markdown, ranks as columns as in the FAML paper's Table 1."""
    ranks = [str(r) for r in table.index]
    lines = [f"{title}\n" if title else "", "| | " + " | ".join(ranks) + " |", "|---|" + "---:|" * len(ranks)]
    lines.append("| % | " + " | ".join(f"{v:.2f}" for v in table["percent"]) + " |")
    lines.append("| cumulative % | " + " | ".join(f"{v:.2f}" for v in table["cumulative_percent"]) + " |")
    lines.append("| count | " + " | ".join(str(int(v)) for v in table["count"]) + " |")
    return "\n".join(line for line in lines if line) + "\n"


def shared_classes(split: FaceSplit, model_classes: Sequence[str]) -> tuple[FaceSplit, tuple[str, ...], int]:
    """``split`` restricted to the classes ``model_classes`` also has (by meaning): samples of the other classes
    are left out and labels renumbered over the kept classes (in the split's order). Returns the restricted
    split, the names of the classes left out and the number of samples left out."""
    meanings = {canonical(name) for name in model_classes}
    kept = [i for i, name in enumerate(split.classes) if canonical(name) in meanings]
    if len(kept) == len(split.classes):
        return split, (), 0
    if not kept:
        raise ConfigError(f"classes shared: the model's classes {list(model_classes)} share none with {list(split.classes)}")
    rows = np.flatnonzero(np.isin(split.labels, kept))
    restricted = split.subset(rows)
    renumber = np.full(len(split.classes), -1, dtype=np.int64)
    renumber[kept] = np.arange(len(kept))
    soft = None
    if restricted.soft_labels is not None:
        soft = np.asarray(restricted.soft_labels, dtype=np.float64)[:, kept]
        soft = soft / np.maximum(soft.sum(1, keepdims=True), 1e-12)
    restricted = dataclasses.replace(
        restricted, classes=tuple(split.classes[i] for i in kept), labels=renumber[restricted.labels], soft_labels=soft
    )
    left_out = tuple(name for i, name in enumerate(split.classes) if i not in kept)
    return restricted, left_out, len(split) - len(rows)


CLASS_MODES = ("all", "shared")


def plot_confusion_matrix(confusion: np.ndarray, classes: Sequence[str], title: str = "") -> bytes:
    """PNG bytes of a confusion matrix: colour = share of the true class, text = count and share."""
    from matplotlib.figure import Figure

    shares = confusion / np.maximum(confusion.sum(1, keepdims=True), 1)
    size = 1.0 + 0.8 * len(classes)
    figure = Figure(figsize=(size + 1.5, size))
    axis = figure.subplots()
    image = axis.imshow(shares, cmap="Blues", vmin=0, vmax=1)
    figure.colorbar(image, ax=axis, fraction=0.046, pad=0.04, label="share of true class")
    axis.set_xticks(range(len(classes)), classes, rotation=45, ha="right")
    axis.set_yticks(range(len(classes)), classes)
    axis.set_xlabel("predicted")
    axis.set_ylabel("true")
    for i in range(len(classes)):
        for j in range(len(classes)):
            colour = "white" if shares[i, j] > 0.5 else "black"
            axis.text(j, i, f"{confusion[i, j]}\n{shares[i, j]:.0%}", ha="center", va="center", fontsize=8, color=colour)
    if title:
        axis.set_title(title, fontsize=10)
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=100)
    return buffer.getvalue()


def evaluate(
    model: ExpressionModel,
    split: FaceSplit,
    tta: str | None = None,
    batch_size: int = 256,
    dataset: str = "",
    classes: str = "all",
    progress: bool = False,
) -> EvaluationReport:
    """Predict every face of ``split`` with ``model`` and score the predictions against its labels.

    ``tta``: None (default) applies the model's own test-time augmentation, so a model scores here as it
    predicts; a name overrides it. When the model's classes differ from the split's, its probabilities are
    mapped to the split's vocabulary by meaning (:func:`openfer.labels.map_probabilities`); a class the
    model lacks is never predicted and counts as an error, unless ``classes="shared"``: then only the classes
    both share are scored (:func:`shared_classes`: the other samples are left out, and the model's output is
    renormalised over the shared classes). Soft labels of the split (FERPlus probability mode) are scored by
    cross-entropy and KL divergence as well. ``progress``: a progress bar on a terminal.
    """
    if classes not in CLASS_MODES:
        raise ConfigError(f"classes must be one of {', '.join(CLASS_MODES)}; got {classes!r}")
    split, not_scored, samples_not_scored = shared_classes(split, model.classes) if classes == "shared" else (split, (), 0)
    if len(split) == 0:  # an accuracy over no faces would read as 0.0000 and mean nothing
        where = f"{dataset + ' ' if dataset else ''}split {split.name!r}"
        raise DatasetError(f"{where}: no faces to evaluate" + (" after keeping the classes shared with the model" if samples_not_scored else ""))
    tta = model.tta if tta is None else tta
    probabilities = predict_proba(model, split, tta=tta, batch_size=batch_size, progress=progress)
    if tuple(model.classes) != tuple(split.classes):
        probabilities = map_probabilities(probabilities, model.classes, split.classes).astype(np.float32)
    return EvaluationReport(
        classes=tuple(split.classes),
        targets=np.asarray(split.labels, dtype=np.int64),
        probabilities=probabilities,
        tta=tta,
        inference_precision="bf16" if getattr(model, "bf16", False) else "fp32",
        model=model.name,
        dataset=dataset,
        split=split.name,
        model_classes=tuple(model.classes),
        image_ids=split.image_ids,
        soft_targets=None if split.soft_labels is None else np.asarray(split.soft_labels, dtype=np.float64),
        classes_not_scored=not_scored,
        samples_not_scored=samples_not_scored,
    )
