"""FGA: genetic-algorithm feature fusion among networks of one architecture (FAML paper, §3.2, Algorithm 1).

Averaging the feature maps of M networks is, when their layer inputs are about equal, the same as
convolving with their averaged kernels (Eqs. 7-9), so a *fused* network takes the channel-wise mean of
its parents' convolution weights. One FGA generation, for each fused network to produce:

1. each well-trained network gets a selection probability from its training loss (lower loss, higher
   probability: ``softmax(-loss / T)``, the paper leaves the formula open; T = 0.05 by default, because losses
   of well-trained networks lie close together and ``softmax(-loss)`` would make best-to-worst odds about 1.2);
2. ``num_selected`` distinct parents are drawn by roulette wheel with those probabilities;
3. every convolution's weights (and bias) are averaged over the parents (Eq. 9).

Layers the paper does not specify follow ``docs/models/faml.md`` (FGA): BatchNorm affine
parameters and running statistics are averaged too; every other parameter (fully connected heads,
attention blocks, fusion scalars) is taken from the parent with the lowest loss. Fused networks are
then re-trained (they "cannot classify directly") together with freshly initialised ones, and the
well-trained results feed the next generation: train them with ``--model.init_weights fused_i.safetensors``.
:func:`fuse_checkpoints` runs one generation from weights files (``openfer weights fga`` calls it), drawing
parents by given losses or by those :func:`measure_losses` measures on a split; :func:`run_fga` runs
Algorithm 1 over several generations, re-training each fused network through a ``retrain`` hook, resumably.
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Sequence

import numpy as np
import torch
from torch import nn

from openfer.options import FGA_TEMPERATURE

if TYPE_CHECKING:
    from openfer.data.base import FaceSplit
    from openfer.inference import ExpressionModel

#: Layers whose weights are averaged across parents (Eq. 9), and those whose statistics are averaged too.
CONV_TYPES = (nn.Conv1d, nn.Conv2d, nn.Conv3d)
NORM_TYPES = (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d)


@dataclass
class FusedNetwork:
    """A fused network and where it came from: parent indices (best first) and their selection probabilities."""

    network: nn.Module
    parents: list[int]
    probabilities: list[float]


#: Default temperature of the selection: loss gaps of 0.05 change the odds by e.
TEMPERATURE = FGA_TEMPERATURE


def selection_probabilities(losses: Sequence[float], temperature: float = TEMPERATURE) -> np.ndarray:
    """Roulette-wheel probabilities from training losses: ``softmax(-loss / temperature)`` (lower loss, higher probability)."""
    if not temperature > 0:
        raise ValueError(f"temperature must be > 0, got {temperature}")
    values = -np.asarray(losses, dtype=np.float64) / temperature
    if values.ndim != 1 or len(values) == 0 or not np.isfinite(values).all():
        raise ValueError(f"losses must be a non-empty list of finite numbers, got {list(losses)}")
    weights = np.exp(values - values.max())
    return weights / weights.sum()


def fuse_networks(networks: Sequence[nn.Module], best: int = 0) -> nn.Module:
    """A copy of ``networks[best]`` whose convolutions (and BatchNorms) hold the mean of all ``networks``.

    Every network must have the same architecture (same module names, types and tensor shapes).
    """
    if not networks:
        raise ValueError("fuse_networks needs at least one network")
    reference = dict(networks[best].named_modules())
    for index, network in enumerate(networks):
        modules = dict(network.named_modules())
        if modules.keys() != reference.keys() or any(type(modules[k]) is not type(reference[k]) for k in reference):
            raise ValueError(f"network {index} has another architecture than network {best}")
    fused = copy.deepcopy(networks[best])
    averaged = [name for name, module in fused.named_modules() if isinstance(module, CONV_TYPES + NORM_TYPES)]
    with torch.no_grad():
        for name in averaged:
            target = fused.get_submodule(name)
            for key, tensor in list(target.named_parameters(recurse=False)) + list(target.named_buffers(recurse=False)):
                if not tensor.is_floating_point():
                    continue  # num_batches_tracked stays the best parent's
                parts = [dict(n.get_submodule(name).state_dict())[key] for n in networks]
                if any(p.shape != tensor.shape for p in parts):
                    raise ValueError(f"{name}.{key}: shapes differ across networks")
                tensor.copy_(torch.stack([p.float() for p in parts]).mean(0).to(tensor.dtype))
    return fused


def fga_generation(
    networks: Sequence[nn.Module],
    losses: Sequence[float],
    num_fused: int,
    num_selected: int = 3,
    seed: int = 0,
    temperature: float = TEMPERATURE,
) -> list[FusedNetwork]:
    """One FGA generation: ``num_fused`` networks, each fused from ``num_selected`` parents drawn by loss.

    Parents of one fused network are distinct; draws are seeded, so a generation is reproducible.
    """
    if len(networks) != len(losses):
        raise ValueError(f"{len(networks)} networks but {len(losses)} losses")
    if not 1 <= num_selected <= len(networks):
        raise ValueError(f"num_selected must be between 1 and {len(networks)}, got {num_selected}")
    if num_fused < 1:
        raise ValueError(f"num_fused must be at least 1, got {num_fused}")
    probabilities = selection_probabilities(losses, temperature)
    rng = np.random.default_rng(seed)
    results = []
    for _ in range(num_fused):
        chosen = rng.choice(len(networks), size=num_selected, replace=False, p=probabilities)
        parents = sorted((int(i) for i in chosen), key=lambda i: (losses[i], i))
        fused = fuse_networks([networks[i] for i in parents], best=0)
        results.append(FusedNetwork(fused, parents, [float(probabilities[i]) for i in parents]))
    return results


def measure_losses(models: Sequence[ExpressionModel], split: FaceSplit, limit: int = 2000, seed: int = 0) -> list[float]:
    """Each model's mean cross-entropy on ``split`` without TTA: the training losses FGA draws parents by.

    ``limit``: at most this many faces, drawn from the split with ``seed`` (0: every face).
    """
    from openfer.engine.evaluate import evaluate

    if limit and len(split) > limit:
        split = split.subset(np.sort(np.random.default_rng(seed).choice(len(split), limit, replace=False)))
    losses = []
    for model in models:
        report = evaluate(model, split, tta="none")
        picked = report.probabilities[np.arange(len(split)), report.targets]
        losses.append(float(-np.log(np.clip(picked, 1e-12, None)).mean()))
    return losses


def fuse_checkpoints(
    checkpoints: Sequence[str | Path],
    output_dir: str | Path,
    losses: Sequence[float] | None = None,
    split: FaceSplit | None = None,
    num_fused: int = 2,
    num_selected: int = 3,
    seed: int = 0,
    limit: int = 2000,
    temperature: float = TEMPERATURE,
) -> dict[str, Any]:
    """One FGA generation from weights files (``openfer weights fga``): ``fused_<i>.safetensors`` and ``fga.json``.

    Parents are drawn by ``losses`` (one per file), or by losses measured on ``split`` (:func:`measure_losses`).
    Each fused file carries its best parent's metadata and ``fga_parents``, so it loads with
    :func:`openfer.load_model` and starts a training run (``--model.init_weights``). Returns the record
    written to ``fga.json``: checkpoints, losses, seed, and per fused file its parents and their probabilities.
    """
    from openfer.checkpoints import packed_metadata, read_state_dict, save_safetensors
    from openfer.errors import ConfigError
    from openfer.files import atomic_write
    from openfer.inference import load_model

    checkpoints = [str(path) for path in checkpoints]
    models = [load_model(path, tta="none") for path in checkpoints]
    if losses is None:
        if split is None:
            raise ConfigError("fuse_checkpoints: give losses, or a split to measure each network's loss on")
        losses = measure_losses(models, split, limit, seed)
    losses = [float(loss) for loss in losses]
    generation = fga_generation([model.net for model in models], losses, num_fused, num_selected, seed, temperature)
    output = Path(output_dir)
    record: dict[str, Any] = {"checkpoints": checkpoints, "losses": losses, "seed": seed, "temperature": temperature, "fused": []}
    for index, fused in enumerate(generation):
        path = output / f"fused_{index}.safetensors"
        best = fused.parents[0]
        parents = [checkpoints[i] for i in fused.parents]
        metadata = {**packed_metadata(read_state_dict(checkpoints[best])[1], checkpoints[best]), "fga_parents": parents}
        save_safetensors(fused.network.state_dict(), path, metadata)
        record["fused"].append({"file": path.name, "parents": parents, "probabilities": fused.probabilities})
    with atomic_write(output / "fga.json", "w") as handle:
        handle.write(json.dumps(record, indent=2))
    return record


STATE_FILE = "fga_state.json"


def run_fga(
    checkpoints: Sequence[str | Path],
    output_dir: str | Path,
    retrain: Callable[[Path], str | Path],
    generations: int = 2,
    losses: Callable[[list[str]], Sequence[float]] | None = None,
    split: FaceSplit | None = None,
    num_fused: int = 3,
    num_selected: int = 3,
    fresh: Callable[[int, int], str | Path] | None = None,
    num_fresh: int = 0,
    seed: int = 0,
    temperature: float = TEMPERATURE,
    limit: int = 2000,
) -> dict[str, Any]:
    """FGA over ``generations`` generations (FAML paper, Algorithm 1), resumable.

    Generation g draws parents from the population by loss (``losses(paths)``, or :func:`measure_losses` on
    ``split``), writes ``num_fused`` fused networks to ``output_dir/generation_<g>/`` (:func:`fuse_checkpoints`),
    re-trains each with ``retrain(fused_path) -> trained_path`` (the CLI runs ``openfer train`` with
    ``--model.init_weights``) and adds ``num_fresh`` newly initialised networks trained by ``fresh(g, i) -> path``;
    the re-trained and fresh networks are the next population. After every step the state is written
    atomically to ``output_dir/fga_state.json``, so a rerun continues where the last one stopped (finished
    generations and re-trained children are not redone). Returns the state: per generation the population,
    its losses, the fused files with their parents and the re-trained paths.
    """
    from openfer.errors import ConfigError
    from openfer.files import atomic_write

    if num_fused + num_fresh < num_selected:
        raise ConfigError(f"FGA: {num_fused} fused + {num_fresh} fresh networks cannot feed {num_selected} parents to the next generation")
    if losses is None and split is None:
        raise ConfigError("run_fga: give losses (a callable) or a split to measure each network's loss on")
    output = Path(output_dir)
    state_path = output / STATE_FILE
    population = [str(path) for path in checkpoints]
    state: dict[str, Any] = {"checkpoints": population, "seed": seed, "temperature": temperature, "generations": []}
    if state_path.is_file():
        state = json.loads(state_path.read_text())
        if state["checkpoints"] != population:
            raise ConfigError(f"{state_path}: a run from other checkpoints; use another output folder")

    def save() -> None:
        with atomic_write(state_path, "w") as handle:
            handle.write(json.dumps(state, indent=2))

    for g in range(generations):
        if g < len(state["generations"]) and state["generations"][g].get("done"):
            population = state["generations"][g]["next_population"]
            continue
        if g == len(state["generations"]):
            folder = output / f"generation_{g}"
            measured = [float(v) for v in losses(population)] if losses is not None else None
            record = fuse_checkpoints(population, folder, measured, split, num_fused, num_selected, seed + g, limit, temperature)
            state["generations"].append({"population": population, "losses": record["losses"], "fused": record["fused"], "retrained": [], "fresh": []})
            save()
        current = state["generations"][g]
        folder = output / f"generation_{g}"
        for fused in current["fused"][len(current["retrained"]) :]:
            current["retrained"].append(str(retrain(folder / fused["file"])))
            save()
        for i in range(len(current["fresh"]), num_fresh):
            if fresh is None:
                raise ConfigError("run_fga: num_fresh > 0 needs a fresh(generation, index) hook")
            current["fresh"].append(str(fresh(g, i)))
            save()
        current["next_population"] = current["retrained"] + current["fresh"]
        current["done"] = True
        population = current["next_population"]
        save()
    return state
