"""Balance plans (FER2013 ensembles report, Section 3.3): images per class and how many each class lacks.

Each class of a split is brought up to the split's largest class, or to a fixed ``target``; on FER2013
this gives the report's 21,796 images for Training and 5,240 for the two test splits together.
"""

from __future__ import annotations

from dataclasses import dataclass

from openfer.data.base import FaceSplit
from openfer.errors import ConfigError


@dataclass(frozen=True)
class BalancePlan:
    """Per class of one split: images held and images needed to reach ``target``."""

    split: str
    classes: tuple[str, ...]
    counts: tuple[int, ...]
    target: int

    @property
    def needed(self) -> tuple[int, ...]:
        return tuple(max(0, self.target - count) for count in self.counts)

    @property
    def total(self) -> int:
        return sum(self.counts)

    @property
    def total_needed(self) -> int:
        return sum(self.needed)

    def to_dict(self) -> dict:
        return {
            "split": self.split,
            "target": self.target,
            "classes": {c: {"images": n, "needed": k} for c, n, k in zip(self.classes, self.counts, self.needed)},
            "images": self.total,
            "needed": self.total_needed,
        }

    def table(self) -> str:
        """The plan as the report's script prints it: one row per class, then the totals."""
        width = max(len("class"), *(len(c) for c in self.classes))
        lines = [f"{self.split} (target {self.target} per class)", f"{'class':<{width}}  {'images':>7}  {'needed':>7}"]
        lines += [f"{c:<{width}}  {n:>7}  {k:>7}" for c, n, k in zip(self.classes, self.counts, self.needed)]
        lines.append(f"{'total':<{width}}  {self.total:>7}  {self.total_needed:>7}")
        return "\n".join(lines)


def balance_plan(split: FaceSplit, target: int | None = None) -> BalancePlan:
    """The plan that brings every class of ``split`` to ``target`` images (default: its largest class)."""
    counts = tuple(split.counts())
    if target is not None and target < 1:
        raise ConfigError(f"--target must be a positive number of images per class, got {target}")
    return BalancePlan(split.name, tuple(split.classes), counts, max(counts, default=0) if target is None else target)
