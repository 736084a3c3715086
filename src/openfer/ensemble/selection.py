"""Choosing an ensemble's members (and weights) on one split, then reporting them on another.

:func:`select_members` sees only the selection split (PublicTest for FER2013): every subset of the
candidates up to ``exhaustive_size`` members is scored, and beyond that size the best subset grows by
greedy forward selection (the candidate that helps most is added, one at a time) up to ``max_members``.
Subsets are ranked by their number of correct predictions; ties go to fewer members, then to the
members' names in order (each subset's names sorted). For weighted averaging, :func:`search_weights`
tries a coarse grid of weights on the best subsets. :func:`report` scores chosen subsets on the report split
(PrivateTest) and is the only function here that reads its labels.

Scores use :func:`openfer.ensemble.mixed.combine_logits` on ``log p``, as ``openfer ensemble eval`` does,
so a subset scores here as it scores there.
"""

from __future__ import annotations

import hashlib
import itertools
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Mapping, Sequence

import numpy as np

from openfer.ensemble.mixed import LOG_FLOOR, combine_logits
from openfer.errors import ConfigError
from openfer.options import SELECTION_RULES

if TYPE_CHECKING:
    from openfer.data.base import FaceSplit
    from openfer.inference import ExpressionModel

WEIGHT_GRID = (0.5, 1.0, 2.0)


@dataclass(frozen=True)
class Selection:
    """One subset scored on the selection split: its members (names sorted), rule, weights and correct count."""

    members: tuple[str, ...]
    rule: str
    correct: int
    total: int
    weights: tuple[float, ...] | None = None
    how: str = "exhaustive"

    @property
    def accuracy(self) -> float:
        return self.correct / self.total if self.total else 0.0


def _logits(probabilities: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    shapes = {np.asarray(p).shape for p in probabilities.values()}
    if len(shapes) != 1 or len(next(iter(shapes))) != 2:
        raise ConfigError(f"probabilities: every candidate needs one (N, C) array of the same shape, got {sorted(shapes)}")
    return {name: np.log(np.clip(np.asarray(p, dtype=np.float64), LOG_FLOOR, None)) for name, p in probabilities.items()}


def count_correct(
    logits: Mapping[str, np.ndarray], members: Sequence[str], labels: np.ndarray, rule: str = "average",
    weights: Sequence[float] | None = None, alpha: float = 1.9, beta: float = 1.0,
) -> int:
    """Correct predictions of ``members`` combined by ``rule`` (ties to the lowest class index)."""
    scores = combine_logits([logits[m] for m in members], rule, alpha, beta, weights)
    return int((scores.argmax(1) == labels).sum())


def select_members(
    probabilities: Mapping[str, np.ndarray],
    labels: np.ndarray,
    max_members: int | None = None,
    rule: str = "average",
    exhaustive_size: int = 6,
    alpha: float = 1.9,
    beta: float = 1.0,
    weighted_subsets: int = 10,
) -> list[Selection]:
    """Subsets of the candidates ranked on the selection split, best first (see the module notes).

    ``probabilities``: ``{name: (N, C)}`` on the selection split, in its class order; ``labels``: its (N,)
    labels. ``max_members``: the largest subset (default: every candidate). ``rule="weighted"``: the
    ``weighted_subsets`` best subsets by equal weights get weights from :func:`search_weights` and are
    ranked again by their weighted score (the rest follow, with equal weights).
    """
    if rule not in SELECTION_RULES:
        raise ConfigError(f"--rule {rule!r}: expected one of {', '.join(SELECTION_RULES)}")
    if not probabilities:
        raise ConfigError("select_members: no candidates")
    logits = _logits(probabilities)
    labels = np.asarray(labels, dtype=np.int64)
    if len(labels) != len(next(iter(logits.values()))):
        raise ConfigError(f"labels: {len(labels)} for {len(next(iter(logits.values())))} predictions")
    names = sorted(logits)
    largest = len(names) if max_members is None else min(max_members, len(names))
    if largest < 1:
        raise ConfigError(f"--max-members must be at least 1, got {max_members}")
    ranking_rule = "average" if rule == "weighted" else rule
    score = lambda members: count_correct(logits, members, labels, ranking_rule, None, alpha, beta)  # noqa: E731
    scored: dict[tuple[str, ...], Selection] = {}
    for size in range(1, min(largest, exhaustive_size) + 1):
        for members in itertools.combinations(names, size):
            scored[members] = Selection(members, ranking_rule, score(members), len(labels))
    key = lambda s: (-s.correct, len(s.members), s.members)  # noqa: E731
    if largest > exhaustive_size:
        current = min((s for s in scored.values() if len(s.members) == exhaustive_size), key=key)
        while len(current.members) < largest:
            grown = [tuple(sorted(current.members + (name,))) for name in names if name not in current.members]
            current = min((Selection(m, ranking_rule, score(m), len(labels), how="greedy") for m in grown), key=key)
            scored[current.members] = current
    ranked = sorted(scored.values(), key=key)
    if rule == "weighted":
        weighted = []
        for best in ranked[:weighted_subsets]:
            weights, correct = search_weights(probabilities, best.members, labels)
            weighted.append(Selection(best.members, "weighted", correct, len(labels), weights, how=f"{best.how} + weight grid"))
        ranked = sorted(weighted, key=key) + ranked[weighted_subsets:]
    return ranked


def search_weights(
    probabilities: Mapping[str, np.ndarray], members: Sequence[str], labels: np.ndarray, grid: Sequence[float] = WEIGHT_GRID,
) -> tuple[tuple[float, ...], int]:
    """The weights (one per member, from ``grid``, normalised to sum 1) whose weighted average is most often
    right on the selection split; ties go to the most even weights (smallest max/min), then grid order."""
    logits = _logits({m: probabilities[m] for m in members})
    labels = np.asarray(labels, dtype=np.int64)
    best: tuple[tuple, tuple[float, ...], int] | None = None
    seen = set()
    for combination in itertools.product(sorted(grid), repeat=len(members)):
        weights = tuple(round(w / sum(combination), 6) for w in combination)
        if weights in seen:
            continue
        seen.add(weights)
        correct = count_correct(logits, members, labels, "weighted", weights)
        key = (-correct, max(weights) / min(weights), combination)
        if best is None or key < best[0]:
            best = (key, weights, correct)
    assert best is not None
    return best[1], best[2]


def report(selections: Sequence[Selection], probabilities: Mapping[str, np.ndarray], labels: np.ndarray, alpha: float = 1.9, beta: float = 1.0) -> list[float]:
    """Accuracy of each chosen subset on the report split (the only place its labels are read)."""
    logits = _logits(probabilities)
    labels = np.asarray(labels, dtype=np.int64)
    return [count_correct(logits, s.members, labels, s.rule, s.weights, alpha, beta) / len(labels) for s in selections]


def candidate_key(
    candidate: str | Path, model: ExpressionModel, dataset: str, root: str | Path, split: str, precision: str, member: int | None = None,
) -> str:
    """Cache key of a candidate's probabilities: its file's SHA-256 (the shipped file's for a preset), the
    network ``member`` of an ensemble file when one is taken alone, the dataset, root and split, the TTA and
    the precision."""
    from openfer.files import file_sha256
    from openfer.inference import PRESET_WEIGHTS, preset_name

    preset = preset_name(str(candidate))
    path = PRESET_WEIGHTS[preset] if preset is not None else Path(candidate)
    ident = f"{preset or ''}|{file_sha256(path)}|{'' if member is None else member}|{dataset}|{Path(root).resolve()}|{split}|{model.tta}|{precision}"
    return hashlib.sha256(ident.encode()).hexdigest()[:20]


def cached_probabilities(
    candidate: str | Path, split: FaceSplit, cache: str | Path, dataset: str, root: str | Path,
    tta: str | None = None, precision: str = "fp32", model: ExpressionModel | None = None, member: int | None = None,
) -> np.ndarray:
    """(N, C) probabilities of ``candidate`` (a file or preset; or ``model`` already loaded from it, network
    ``member`` of it when given) on ``split``, mapped to its classes; read from ``cache/<key>.npz`` when
    there, else computed and stored."""
    from openfer.engine.evaluate import evaluate
    from openfer.files import atomic_write
    from openfer.inference import load_model

    if model is None:
        options = {"precision": precision, **({"tta": tta} if tta is not None else {})}
        model = load_model(candidate, **options)
    elif tta is not None:
        model.tta = tta
    file = Path(cache) / f"{candidate_key(candidate, model, dataset, root, split.name, precision, member)}.npz"
    if file.is_file():
        with np.load(file) as stored:
            if len(stored["probabilities"]) == len(split):
                return stored["probabilities"]
    probabilities = evaluate(model, split).probabilities
    file.parent.mkdir(parents=True, exist_ok=True)
    with atomic_write(file, "wb") as handle:
        np.savez(handle, probabilities=probabilities, candidate=str(candidate), split=split.name, tta=model.tta)
    return probabilities


@dataclass
class SelectionResult:
    """Ranked subsets (chosen on the selection split) with each one's accuracy on the report split."""

    ranked: list[Selection]
    report_accuracy: list[float]
    select_split: str = "PublicTest"
    report_split: str = "PrivateTest"

    @property
    def chosen(self) -> Selection:
        return self.ranked[0]

    def to_dict(self) -> dict:
        """The choice and the listed subsets, for ``--output`` (JSON)."""
        rows = [
            {"members": list(s.members), "rule": s.rule, "weights": None if s.weights is None else list(s.weights), "how": s.how,
             f"{self.select_split}_accuracy": s.accuracy, f"{self.report_split}_accuracy": a}
            for s, a in zip(self.ranked, self.report_accuracy)
        ]
        return {"select_split": self.select_split, "report_split": self.report_split, "chosen": rows[0], "ranked": rows}


def select_then_report(
    select_probabilities: Mapping[str, np.ndarray],
    select_labels: np.ndarray,
    report_probabilities: Mapping[str, np.ndarray],
    report_labels: np.ndarray,
    max_members: int | None = None,
    rule: str = "average",
    top: int = 10,
    exhaustive_size: int = 6,
    select_split: str = "PublicTest",
    report_split: str = "PrivateTest",
) -> SelectionResult:
    """:func:`select_members` on the selection split; only then are the ``top`` subsets scored on the report split."""
    ranked = select_members(select_probabilities, select_labels, max_members, rule, exhaustive_size)[:top]
    return SelectionResult(ranked, report(ranked, report_probabilities, report_labels), select_split, report_split)


def choose_ensemble(
    candidates: Sequence[str | Path],
    dataset: str,
    root: str | Path,
    select_split: str = "PublicTest",
    report_split: str = "PrivateTest",
    max_members: int | None = None,
    rule: str = "average",
    tta: str | None = None,
    precision: str = "fp32",
    cache: str | Path = "runs/ensemble_cache",
    top: int = 10,
    exhaustive_size: int = 6,
    progress=None,
    **options,
) -> SelectionResult:
    """``openfer ensemble select``: each candidate's probabilities on both splits (cached), members chosen on
    ``select_split``, then reported on ``report_split``. Candidates are named by the path given."""
    from openfer.data import load_dataset

    data = load_dataset(dataset, root, **options)
    for name in (select_split, report_split):
        if name not in data:
            raise ConfigError(f"split {name!r}: dataset {dataset!r} has {list(data)}")
    if select_split == report_split:
        raise ConfigError(f"--select-split and --report-split are both {select_split!r}; choose on one split, report on another")
    names = [str(c) for c in candidates]
    if len(set(names)) != len(names):
        raise ConfigError("candidates: a checkpoint is named twice")
    scores: dict[str, dict[str, np.ndarray]] = {select_split: {}, report_split: {}}
    for candidate in names:
        for split_name in (select_split, report_split):
            if progress:
                progress(f"{candidate}: {split_name}")
            scores[split_name][candidate] = cached_probabilities(candidate, data[split_name], cache, dataset, root, tta, precision)
    return select_then_report(
        scores[select_split], data[select_split].labels, scores[report_split], data[report_split].labels,
        max_members, rule, top, exhaustive_size, select_split, report_split,
    )
