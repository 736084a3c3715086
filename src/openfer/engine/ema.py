"""An exponential moving average (EMA) of a network's weights, used for validation and saved as the weights.

After every training batch ``ema = decay * ema + (1 - decay) * weights`` for each floating-point parameter and
buffer (integer buffers such as batch-norm counters are copied). EmoNeXt's authors evaluate with such an
average (decay 0.999 is the usual choice, timm's ``ModelEmaV2``).
"""

from __future__ import annotations

import copy
from typing import Any, MutableMapping

import torch
from torch import nn

from openfer.errors import ConfigError


def ema_copy(net: nn.Module, decay: float) -> nn.Module:
    """A frozen copy of ``net`` to hold its average; ``decay`` must lie in (0, 1)."""
    if not 0.0 < decay < 1.0:
        raise ConfigError(f"ema_decay={decay}: expected a number in (0, 1), e.g. 0.999")
    return copy.deepcopy(net).requires_grad_(False).eval()


@torch.no_grad()
def update_ema(ema: nn.Module, net: nn.Module, decay: float) -> None:
    """One averaging step of ``ema`` towards ``net``'s current weights."""
    for average, current in zip(ema.state_dict().values(), net.state_dict().values()):
        if average.dtype.is_floating_point:
            average.lerp_(current.to(average.dtype), 1.0 - decay)
        else:
            average.copy_(current)


def swap_weights(state_dict: MutableMapping[str, Any], first: str = "net.", second: str = "ema_net.") -> None:
    """Exchange the tensors under prefix ``first`` and ``second`` in place (its own inverse).

    A checkpoint keeps the average under ``net.`` (what evaluation and inference read) and the raw training
    weights under ``ema_net.``; loading swaps them back so that training resumes exactly.
    """
    for key in [k for k in state_dict if k.startswith(first)]:
        other = second + key[len(first) :]
        if other in state_dict:
            state_dict[key], state_dict[other] = state_dict[other], state_dict[key]
