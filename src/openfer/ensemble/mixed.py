"""Ensembles of networks of any architectures, input sizes, channel counts and label sets.

Each member reads faces itself (its own :class:`~openfer.inference.ExpressionModel`: input size, channels,
mean/std and TTA). Its output becomes the ensemble's in one documented way, :func:`member_logits`:

* its probabilities ``p`` (averaged over its TTA views) are mapped by meaning to the ensemble's classes with
  :func:`openfer.labels.map_probabilities`: the mass on a class the ensemble lacks (contempt for a 7-class
  ensemble) is dropped and each row renormalised; a class the member lacks gets probability 0;
* the voting rules, which all take logits (:mod:`openfer.ensemble.voting`), get ``log p`` (clipped at
  ``1e-12``). ``softmax(log p) = p``, so NOI and the averages see the member's probabilities, and ``log`` keeps
  the order of the classes, which is all T2V and T1V look at. Without TTA and mapping, the order of ``log p``
  is the order of the member's own logits, so T2V on logits and through this path agree.

Ties go to the lowest class index of the ensemble's classes (``argmax`` takes the first maximum; the top-two
ranking of T2V uses a stable sort). Every rule's scores are returned as shares of their row sum, so each row
sums to 1: probabilities for ``noi``/``average``/``weighted``, vote shares for ``t2v``/``t1v``.
"""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING, Any, Sequence

import numpy as np

from openfer.ensemble.voting import RULES, ensemble_scores
from openfer.errors import ConfigError
from openfer.labels import map_probabilities, mapping
from openfer.options import RULE_NAMES

if TYPE_CHECKING:
    from openfer.inference import ExpressionModel, Faces

#: The rules an ensemble of mixed members takes, in the order ``--rule all`` reports them.
LOG_FLOOR = 1e-12


def dropped_classes(member_classes: Sequence[str], classes: Sequence[str]) -> tuple[str, ...]:
    """The member's classes with no counterpart among ``classes`` (their probability mass is dropped)."""
    table = mapping(member_classes, classes, missing="drop")
    return tuple(name for name, j in zip(member_classes, table) if j < 0)


def missing_classes(member_classes: Sequence[str], classes: Sequence[str]) -> tuple[str, ...]:
    """The ensemble's classes the member lacks (it gives them probability 0)."""
    table = mapping(classes, member_classes, missing="drop")
    return tuple(name for name, j in zip(classes, table) if j < 0)


def member_logits(probabilities: np.ndarray, member_classes: Sequence[str], classes: Sequence[str]) -> np.ndarray:
    """A member's (N, len(classes)) logits for the voting rules: ``log`` of its probabilities mapped by meaning."""
    probabilities = np.asarray(probabilities, dtype=np.float64)
    if tuple(member_classes) != tuple(classes):
        probabilities = map_probabilities(probabilities, member_classes, classes)
    return np.log(np.clip(probabilities, LOG_FLOOR, None))


def rule_options(rule: str, alpha: float = 1.9, beta: float = 1.0, weights: Sequence[float] | None = None) -> dict[str, Any]:
    """The options the voting function of ``rule`` takes: ``alpha``/``beta`` for T2V, ``weights`` for ``weighted``."""
    if rule not in RULES:
        raise ConfigError(f"unknown ensemble rule {rule!r}; available: {', '.join(RULE_NAMES)}")
    if rule == "t2v":
        return {"alpha": float(alpha), "beta": float(beta)}
    if rule == "weighted":
        return {"weights": None if weights is None else [float(w) for w in weights]}
    return {}


def combine_logits(logits: Sequence[np.ndarray], rule: str, alpha: float = 1.9, beta: float = 1.0, weights: Sequence[float] | None = None) -> np.ndarray:
    """(N, C) scores of ``rule`` over the members' logits (all in one class order), each row's shares of its sum."""
    scores = ensemble_scores(np.stack(logits), rule, **rule_options(rule, alpha, beta, weights)).double().numpy()
    total = scores.sum(1, keepdims=True)
    return np.divide(scores, total, out=np.zeros_like(scores), where=total > 0)


def combine(
    member_probabilities: Sequence[np.ndarray],
    member_classes: Sequence[Sequence[str]],
    classes: Sequence[str],
    rule: str = "t2v",
    alpha: float = 1.9,
    beta: float = 1.0,
    weights: Sequence[float] | None = None,
) -> np.ndarray:
    """(N, len(classes)) ensemble scores from each member's probabilities in its own classes (module notes)."""
    if len(member_probabilities) != len(member_classes):
        raise ValueError(f"{len(member_probabilities)} members' outputs but {len(member_classes)} class lists")
    logits = [member_logits(p, c, classes) for p, c in zip(member_probabilities, member_classes)]
    return combine_logits(logits, rule, alpha, beta, weights)


class MixedEnsemble:
    """Several face classifiers of any architectures, input sizes and label sets behind one ``predict_proba``.

    ``classes``: the ensemble's vocabulary (default: the first member's); each member's output is mapped to
    it by meaning and the rule ``rule`` combines them (module notes). ``load_model`` returns one for a file
    written by :func:`openfer.checkpoints.pack_mixed_ensemble`.
    """

    def __init__(
        self,
        members: Sequence[ExpressionModel | Any],
        classes: Sequence[str] | None = None,
        rule: str = "average",
        alpha: float = 1.9,
        beta: float = 1.0,
        weights: Sequence[float] | None = None,
        name: str = "",
    ) -> None:
        if not members:
            raise ConfigError("an ensemble needs at least one member")
        self.members = list(members)
        self.classes: tuple[str, ...] = tuple(classes if classes is not None else self.members[0].classes)
        if weights is not None and len(weights) != len(self.members):
            raise ConfigError(f"weights: {len(weights)} values for {len(self.members)} members")
        rule_options(rule, alpha, beta, weights)  # checks the rule name
        self.rule, self.alpha, self.beta = rule, float(alpha), float(beta)
        self.weights = None if weights is None else [float(w) for w in weights]
        self.name = name or f"{rule} ensemble of {len(self.members)}"
        for member in self.members:
            missing = missing_classes(member.classes, self.classes)
            if len(missing) == len(self.classes):
                raise ConfigError(f"member {member!r} shares no class with the ensemble's {list(self.classes)}")

    def __repr__(self) -> str:
        return f"MixedEnsemble({self.rule}, classes={list(self.classes)}, members=[{', '.join(map(repr, self.members))}])"

    @property
    def tta(self) -> str:
        """The members' common test-time augmentation, or ``"member"`` when each keeps its own different one."""
        modes = {member.tta for member in self.members}
        return modes.pop() if len(modes) == 1 else "member"

    @tta.setter
    def tta(self, tta: str) -> None:
        if tta == self.tta:
            return
        members = []
        for member in self.members:  # copies: a copy of the ensemble with another TTA leaves this one as it is
            member = copy.copy(member)
            member.tta = tta
            members.append(member)
        self.members = members

    @property
    def bf16(self) -> bool:
        """Whether the members run in bfloat16 (all of them: :meth:`set_precision` sets them together)."""
        return all(getattr(member, "bf16", False) for member in self.members)

    def set_precision(self, precision: str) -> None:
        """Every member's precision (``"fp32"``, ``"bf16"``, ``"auto"``: :meth:`ExpressionModel.set_precision`)."""
        for member in self.members:
            member.set_precision(precision)

    def member_probabilities(self, faces: Faces) -> list[np.ndarray]:
        """Each member's probabilities in its own classes, each from its own preprocessing."""
        return [member.predict_proba(faces) for member in self.members]

    def predict_proba(self, faces: Faces) -> np.ndarray:
        """(N, len(classes)) ensemble scores (rows sum to 1; vote shares for T2V/T1V)."""
        if len(faces) == 0:
            return np.zeros((0, len(self.classes)), dtype=np.float32)
        scores = combine(self.member_probabilities(faces), [m.classes for m in self.members], self.classes, self.rule, self.alpha, self.beta, self.weights)
        return scores.astype(np.float32)

    def predict(self, faces: Faces) -> list[str]:
        """The class of each face the ensemble's rule picks (ties: the lowest class index)."""
        return [self.classes[i] for i in self.predict_proba(faces).argmax(1)]
