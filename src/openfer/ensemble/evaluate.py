"""Evaluate an ensemble of checkpoints on a dataset split with the FAML paper's voting rules (``openfer ensemble eval``).

Members may differ in architecture, input size, channels and label set: each is scored by
:func:`openfer.engine.evaluate.evaluate` (its own preprocessing and TTA, its output mapped by meaning to the
split's classes), and the rules combine those outputs as :mod:`openfer.ensemble.mixed` describes (logits
``log p`` for T2V/T1V, probabilities for NOI and the averages; ties to the lowest class index).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence

import numpy as np

from openfer.engine.evaluate import EvaluationReport, evaluate, shared_classes
from openfer.ensemble.mixed import RULE_NAMES, combine_logits, dropped_classes, member_logits, missing_classes, rule_options
from openfer.errors import ConfigError
from openfer.files import atomic_write

if TYPE_CHECKING:
    import pandas as pd

    from openfer.data.base import FaceSplit
    from openfer.inference import ExpressionModel


@dataclass
class MemberResult:
    """One member's own evaluation and what mapping its classes to the split's left out."""

    source: str
    report: EvaluationReport
    classes: tuple[str, ...]
    input_size: str
    dropped: tuple[str, ...]
    missing: tuple[str, ...]


@dataclass
class EnsembleEvaluation:
    """The members' results and one :class:`EvaluationReport` per rule evaluated (``reports[rule]``)."""

    members: list[MemberResult]
    reports: dict[str, EvaluationReport]
    options: dict[str, Any] = field(default_factory=dict)

    @property
    def dropped(self) -> tuple[str, ...]:
        """Every member class that has no counterpart in the split's classes, by name, in first-seen order."""
        return tuple(dict.fromkeys(name for member in self.members for name in member.dropped))

    def members_table(self) -> pd.DataFrame:
        """One row per member: its file, model, classes, input, accuracy, and the classes mapping dropped or lacks."""
        import pandas as pd

        rows = [
            {
                "member": i,
                "checkpoint": m.source,
                "model": m.report.model,
                "classes": len(m.classes),
                "input": m.input_size,
                "tta": m.report.tta,
                "accuracy": m.report.accuracy,
                "balanced_accuracy": m.report.balanced_accuracy,
                "macro_f1": m.report.macro_f1,
                "dropped_classes": " ".join(m.dropped),
                "missing_classes": " ".join(m.missing),
            }
            for i, m in enumerate(self.members)
        ]
        return pd.DataFrame(rows).set_index("member")

    def rules_table(self) -> pd.DataFrame:
        """One row per rule evaluated: accuracy, balanced accuracy, macro F1."""
        import pandas as pd

        rows = [{"rule": rule, "accuracy": r.accuracy, "balanced_accuracy": r.balanced_accuracy, "macro_f1": r.macro_f1} for rule, r in self.reports.items()]
        return pd.DataFrame(rows).set_index("rule")

    def summary(self) -> dict[str, Any]:
        """Rule options, members (with their accuracies and dropped classes) and every rule's accuracy."""
        return {
            **self.options,
            "dropped_classes": list(self.dropped),
            "members": self.members_table().reset_index().to_dict("records"),
            "rules": self.rules_table().reset_index().to_dict("records"),
        }

    def save(self, directory: str | Path) -> list[Path]:
        """What ``openfer eval`` writes (one rule: in ``directory``; several: in ``directory/<rule>/``), plus
        ``members.csv``/``.md``, ``rules.csv``/``.md`` and ``ensemble.json``; each file written atomically."""
        directory = Path(directory)
        written = []
        for rule, report in self.reports.items():
            written += report.save(directory if len(self.reports) == 1 else directory / rule)
        members, rules = self.members_table(), self.rules_table()
        files = {
            "members.csv": members.to_csv(),
            "members.md": markdown_table(members),
            "rules.csv": rules.to_csv(),
            "rules.md": markdown_table(rules),
            "ensemble.json": json.dumps(self.summary(), indent=2),
        }
        for name, text in files.items():
            with atomic_write(directory / name, "w") as handle:
                handle.write(text)
            written.append(directory / name)
        return written


def markdown_table(table: pd.DataFrame) -> str:
    """A DataFrame as a Markdown table, its index as the first column; floats with 4 decimals."""
    frame = table.reset_index()
    cell = lambda v: f"{v:.4f}" if isinstance(v, float) else str(v)  # noqa: E731
    lines = ["| " + " | ".join(map(str, frame.columns)) + " |", "|" + "---|" * len(frame.columns)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in frame.itertuples(index=False)]
    return "\n".join(lines) + "\n"


def evaluate_ensemble(
    models: Sequence[ExpressionModel],
    split: FaceSplit,
    rule: str = "t2v",
    alpha: float = 1.9,
    beta: float = 1.0,
    weights: Sequence[float] | None = None,
    tta: str | None = None,
    batch_size: int = 256,
    dataset: str = "",
    sources: Sequence[str] | None = None,
    classes: str = "all",
) -> EnsembleEvaluation:
    """Score each member and the ensemble of them under ``rule`` (one of :data:`RULE_NAMES`, or ``"all"``).

    ``tta``: None keeps each member's own TTA. ``weights``: one per member for ``weighted`` (``all`` adds
    ``weighted`` only when they are given). ``classes="shared"``: score only the split's classes some member
    has (:func:`openfer.engine.evaluate.shared_classes`). ``sources``: the members' names in the tables.
    """
    if not models:
        raise ConfigError("an ensemble needs at least one checkpoint")
    rules = [r for r in RULE_NAMES if r != "weighted" or weights is not None] if rule == "all" else [rule]
    for name in rules:
        rule_options(name, alpha, beta, weights)
    if weights is not None and len(weights) != len(models):
        raise ConfigError(f"--weights: {len(weights)} values for {len(models)} checkpoints")
    if rule == "weighted" and weights is None:
        raise ConfigError("rule 'weighted' needs weights, one per checkpoint")
    sources = [str(s) for s in sources] if sources is not None else [m.name or f"member {i}" for i, m in enumerate(models)]
    not_scored: tuple[str, ...] = ()
    samples_not_scored = 0
    if classes == "shared":
        union = list(dict.fromkeys(name for model in models for name in model.classes))
        split, not_scored, samples_not_scored = shared_classes(split, union)
    members = []
    for source, model in zip(sources, models):
        report = evaluate(model, split, tta=tta, batch_size=batch_size, dataset=dataset)
        size = getattr(model, "image_size", None)
        members.append(
            MemberResult(
                source=source,
                report=report,
                classes=tuple(model.classes),
                input_size=f"{model.channels}x{size}x{size}" if size else "-",
                dropped=dropped_classes(model.classes, split.classes),
                missing=missing_classes(model.classes, split.classes),
            )
        )
    logits = [member_logits(m.report.probabilities, split.classes, split.classes) for m in members]
    member_tta = {m.report.tta for m in members}
    ensemble_tta = member_tta.pop() if len(member_tta) == 1 else "member"
    reports = {}
    for name in rules:
        reports[name] = EvaluationReport(
            classes=tuple(split.classes),
            targets=np.asarray(split.labels, dtype=np.int64),
            probabilities=combine_logits(logits, name, alpha, beta, weights).astype(np.float32),
            tta=ensemble_tta,
            model=f"{name} ensemble of {len(models)}",
            dataset=dataset,
            split=split.name,
            model_classes=tuple(dict.fromkeys(c for m in members for c in m.classes)),
            image_ids=split.image_ids,
            soft_targets=None if split.soft_labels is None else np.asarray(split.soft_labels, dtype=np.float64),
            classes_not_scored=not_scored,
            samples_not_scored=samples_not_scored,
        )
    options = {"rule": rule, "alpha": alpha, "beta": beta, "weights": None if weights is None else list(weights), "dataset": dataset, "split": split.name}
    return EnsembleEvaluation(members, reports, options)
