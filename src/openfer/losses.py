"""Training losses. ``build_loss(name, **options)`` returns a module ``loss(outputs, targets)``.

``outputs`` is whatever the model's forward returns (logits, or a dict holding ``logits`` and
model-specific extras such as attention maps); each loss takes what it needs from it.
"""

from __future__ import annotations

import inspect
import warnings
from typing import Any, Callable

import torch
import torch.nn.functional as F
from torch import nn

from openfer.errors import ConfigError

_LOSSES: dict[str, Callable[..., nn.Module]] = {}


def register_loss(name: str) -> Callable[[type[nn.Module]], type[nn.Module]]:
    def decorate(cls: type[nn.Module]) -> type[nn.Module]:
        _LOSSES[name] = cls
        return cls

    return decorate


def logits_of(outputs: Any) -> torch.Tensor:
    """The class logits inside a model's outputs (a tensor, or a dict with key ``logits``)."""
    return outputs["logits"] if isinstance(outputs, dict) else outputs


@register_loss("cross_entropy")
class CrossEntropy(nn.Module):
    """Cross-entropy with optional label smoothing (Szegedy et al., 2016) and class weights.

    ``class_weights`` (one per class) gives the class-weighted CE (WCE) used against class imbalance,
    e.g. the inverse class frequencies normalised to mean 1 (no separate ``class_weighted_ce`` loss);
    ``class_weights: balanced`` has :class:`~openfer.engine.module.FERModule` compute those from the training
    split at setup (:func:`balanced_class_weights`).
    Soft targets (a float N x C tensor, e.g. FERPlus vote distributions) are accepted as well.
    """

    def __init__(self, label_smoothing: float = 0.0, class_weights: list[float] | str | None = None) -> None:
        super().__init__()
        self.label_smoothing = label_smoothing
        self.balanced = class_weights == "balanced"
        self.register_buffer("weight", class_weight_tensor(class_weights), persistent=False)

    def forward(self, outputs: Any, targets: torch.Tensor) -> torch.Tensor:
        check_weights_set(self)
        logits = logits_of(outputs).float()
        return F.cross_entropy(logits, targets, weight=self.weight, label_smoothing=self.label_smoothing)


def balanced_class_weights(labels: Any, num_classes: int) -> torch.Tensor:
    """Inverse class frequencies of ``labels`` normalised to mean 1 over the classes present (absent ones: 0),
    the ``class_weights: balanced`` of the weighted cross-entropy (FAML's WCE; reference/models.md §4.7)."""
    counts = torch.bincount(torch.as_tensor(labels, dtype=torch.long).reshape(-1), minlength=num_classes)[:num_classes].double()
    inverse = torch.where(counts > 0, 1.0 / counts.clamp_min(1), torch.zeros_like(counts))
    present = counts > 0
    if not present.any():
        raise ConfigError("class_weights balanced: the training split holds no labels")
    return (inverse / inverse[present].mean()).float()


def class_weight_tensor(class_weights: list[float] | str | None) -> torch.Tensor | None:
    """The weight buffer of a loss: given weights, or None (unweighted, or ``balanced``: set at setup)."""
    if isinstance(class_weights, str):
        if class_weights != "balanced":
            raise ConfigError(f"class_weights: a list of numbers or 'balanced', got {class_weights!r}")
        return None
    return None if class_weights is None else torch.tensor(class_weights, dtype=torch.float32)


def check_weights_set(loss: nn.Module) -> None:
    if getattr(loss, "balanced", False) and loss.weight is None:
        raise ConfigError("class_weights balanced: the weights come from the training split when FERModule is set up with its data")


def class_indices(targets: torch.Tensor) -> torch.Tensor:
    """Hard class indices from ``targets`` (indices, or an N x C soft-label tensor whose argmax is taken)."""
    return targets.argmax(dim=1) if targets.is_floating_point() and targets.dim() == 2 else targets


def pooled_features(outputs: Any, loss: str) -> torch.Tensor:
    """The N x D feature vectors in ``outputs["features"]`` (a feature map is globally average-pooled)."""
    if not isinstance(outputs, dict) or "features" not in outputs:
        raise ConfigError(f"loss {loss!r} needs a model whose forward returns a dict with key 'features'")
    features = outputs["features"]
    return features.mean(dim=(2, 3)) if features.dim() == 4 else features


@register_loss("center")
class CenterLoss(nn.Module):
    """Center loss (Wen et al., "A Discriminative Feature Learning Approach for Deep Face Recognition", ECCV 2016).

    Eq. 2: ``L_C = 1/2 sum_i ||x_i - c_{y_i}||^2``, averaged over the batch here. The centres are parameters
    trained by the model's optimiser instead of the paper's separate update rule (Eq. 4).
    Reads ``outputs["features"]`` (N x D, or a map that is average-pooled).
    """

    def __init__(self, num_classes: int = 7, feature_dim: int = 512) -> None:
        super().__init__()
        self.centers = nn.Parameter(torch.randn(num_classes, feature_dim))

    def forward(self, outputs: Any, targets: torch.Tensor) -> torch.Tensor:
        features = pooled_features(outputs, "center").float()
        return 0.5 * (features - self.centers[class_indices(targets)]).pow(2).sum(dim=1).mean()


@register_loss("affinity")
class AffinityLoss(nn.Module):
    """DAN affinity loss (Wen et al., Biomimetics 2023, Eq. 2): ``sum_i ||x_i - c_{y_i}||^2 / sigma_c^2``.

    As in the authors' code (yaoing/DAN): x_i is the GAP of the trunk map ``outputs["features"]``; the centres
    (``num_classes`` x ``feature_dim``, standard-normal init) are trained with the model; sigma_c^2 is the
    per-dimension variance across the class centres (unbiased) summed over dimensions; each term is clamped to
    [1e-12, 1e12] and the sum divided by the batch size. (Upstream clamps the masked N x C distance matrix,
    adding (C - 1) x 1e-12 per image; we leave that out.) Upstream's RAF-DB script keeps 8 centres for 7 classes.
    """

    def __init__(self, num_classes: int = 7, feature_dim: int = 512) -> None:
        super().__init__()
        self.centers = nn.Parameter(torch.randn(num_classes, feature_dim))

    def forward(self, outputs: Any, targets: torch.Tensor) -> torch.Tensor:
        features = pooled_features(outputs, "affinity").float()
        distances = (features - self.centers[class_indices(targets)]).pow(2).sum(dim=1)
        spread = self.centers.var(dim=0).sum()
        return (distances / spread).clamp(min=1e-12, max=1e12).mean()


@register_loss("partition")
class PartitionLoss(nn.Module):
    """DAN partition loss over the K attention heads ``outputs["heads"]`` (N x K x L, after the AFN log-softmax).

    ``form="code"`` (default, reproduces the reported numbers; yaoing/DAN): ``log(1 + K / mean_{i,l} var_j)``.
    ``form="paper"`` (Eq. 6): ``1/(NL) sum_{i,l} log(1 + K / var_j)``. The variance over heads j is the
    unbiased one in both forms (as upstream). With K = 1 the loss is 0.
    """

    def __init__(self, form: str = "code") -> None:
        super().__init__()
        if form not in ("code", "paper"):
            raise ConfigError(f"partition loss: form must be 'code' or 'paper', got {form!r}")
        self.form = form

    def forward(self, outputs: Any, targets: torch.Tensor) -> torch.Tensor:
        if not isinstance(outputs, dict) or "heads" not in outputs:
            raise ConfigError("loss 'partition' needs a model whose forward returns a dict with key 'heads' (DAN)")
        heads = outputs["heads"].float()
        k = heads.size(1)
        if k == 1:
            return heads.new_zeros(())
        variance = heads.var(dim=1)
        if self.form == "code":
            return torch.log1p(k / variance.mean())
        return torch.log1p(k / variance).mean()


@register_loss("faml")
class FAMLMultiLoss(nn.Module):
    """FAML multi-loss (ML): one loss drawn at random per batch (FAML paper, §3.1 and §4.1).

    ``probabilities`` maps loss names to their chance: ``ce`` (Eq. 2), ``lsr`` (label smoothing with the
    true class at ``1 - epsilon`` and ``epsilon / (C - 1)`` elsewhere, Eqs. 4-5; epsilon = 0.1) and ``wce``
    (cross-entropy weighted by ``class_weights``). Paper: RAF-DB ``{lsr: 0.8, ce: 0.2}``, AffectNet
    ``{lsr: 0.2, wce: 0.8}``. Draws come from a generator seeded with ``seed``.
    """

    def __init__(
        self,
        probabilities: dict[str, float] | None = None,
        epsilon: float = 0.1,
        class_weights: list[float] | str | None = None,
        seed: int = 0,
    ) -> None:
        super().__init__()
        probabilities = dict(probabilities or {"lsr": 0.8, "ce": 0.2})
        unknown = set(probabilities) - {"ce", "lsr", "wce"}
        if unknown:
            raise ConfigError(f"faml loss: unknown losses {sorted(unknown)}; use 'ce', 'lsr' and 'wce'")
        if "wce" in probabilities and class_weights is None:
            raise ConfigError("faml loss: 'wce' needs class_weights")
        if any(p < 0 for p in probabilities.values()) or sum(probabilities.values()) <= 0:
            raise ConfigError(f"faml loss: probabilities must be >= 0 with a positive sum, got {probabilities}")
        self.names = list(probabilities)
        self.probabilities = torch.tensor([probabilities[n] for n in self.names], dtype=torch.float64)
        self.epsilon = epsilon
        self.balanced = class_weights == "balanced"
        self.register_buffer("weight", class_weight_tensor(class_weights), persistent=False)
        self.generator = torch.Generator().manual_seed(seed)

    def component(self, name: str, logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """The value of one of the candidate losses ``ce``, ``lsr`` or ``wce``."""
        if name == "ce":
            return F.cross_entropy(logits, labels)
        if name == "wce":
            check_weights_set(self)
            return F.cross_entropy(logits, labels, weight=self.weight)
        num_classes = logits.size(1)
        smoothed = torch.full_like(logits, self.epsilon / (num_classes - 1))
        smoothed.scatter_(1, labels[:, None], 1.0 - self.epsilon)
        return F.cross_entropy(logits, smoothed)

    def forward(self, outputs: Any, targets: torch.Tensor) -> torch.Tensor:
        choice = int(torch.multinomial(self.probabilities, 1, generator=self.generator))
        return self.component(self.names[choice], logits_of(outputs).float(), class_indices(targets))


@register_loss("emonext_attention")
class EmoNeXtAttentionRegularizer(nn.Module):
    """EmoNeXt self-attention regulariser (El Boudouri & Bohi, MMSP 2023; code yelboudouri/EmoNeXt):
    ``mean((W - mean(W))^2)`` of the attention weights W = ``outputs["attention"]`` (N x T x T), each face's
    weights centred on their own mean (see :mod:`openfer.models.emonext`); its weight comes from the config
    (1 upstream)."""

    def __init__(self) -> None:
        super().__init__()
        self._warned_single_token = False

    def forward(self, outputs: Any, targets: torch.Tensor) -> torch.Tensor:
        if not isinstance(outputs, dict) or "attention" not in outputs:
            raise ConfigError("loss 'emonext_attention' needs a model returning the key 'attention' (EmoNeXt)")
        weights = outputs["attention"].float()
        if weights.shape[-1] == 1 and not self._warned_single_token:
            # One token attends only to itself (weight 1): the variance, and so the term, is 0 for every face.
            self._warned_single_token = True
            warnings.warn(
                "loss 'emonext_attention' is always 0 here: the model's last stage is 1 x 1 at this input size, so "
                "its attention has a single token; give EmoNeXt at least 64 px (a 2 x 2 map) for the regulariser "
                "to act",
                stacklevel=2,
            )
        return (weights - weights.mean(dim=(1, 2), keepdim=True)).pow(2).mean()


def build_loss(name: str, **options: Any) -> nn.Module:
    """A registered loss by name."""
    if name not in _LOSSES:
        raise ConfigError(f"unknown loss {name!r}; available: {', '.join(sorted(_LOSSES))}")
    return _LOSSES[name](**options)


def default_loss_options(name: str, num_classes: int) -> dict[str, Any]:
    """The options a model's default loss ``name`` is built with: ``num_classes`` where the loss takes it."""
    if name not in _LOSSES:
        raise ConfigError(f"unknown loss {name!r}; available: {', '.join(sorted(_LOSSES))}")
    return {"num_classes": num_classes} if "num_classes" in inspect.signature(_LOSSES[name]).parameters else {}


def list_losses() -> list[str]:
    return sorted(_LOSSES)
