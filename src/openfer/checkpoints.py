"""Reading and writing weights: the one place checkpoints are loaded and checked.

Weights are read with safetensors or ``torch.load(weights_only=True)``, so a file carrying pickled
code is refused. Every key and shape is checked; a mismatch raises :class:`CheckpointError` listing
what did not match, never a silent partial load.
"""

from __future__ import annotations

import json
import pickle
import zipfile
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import torch
from torch import nn

from openfer.errors import CheckpointError, ConfigError
from openfer.files import atomic_path
from openfer.options import STORAGES


def read_state_dict(path: str | Path) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """The tensors and metadata stored in ``path`` (.safetensors, a Lightning .ckpt or a torch .pt/.pth).

    Lightning checkpoints give their ``state_dict`` with the ``net.`` prefix removed and their
    ``hyper_parameters`` as metadata; safetensors give their string metadata (JSON values decoded).
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: no such checkpoint file")
    if path.suffix == ".safetensors":
        from safetensors import SafetensorError
        from safetensors import safe_open

        try:
            with safe_open(str(path), framework="pt") as f:  # one open for the metadata and the tensors
                raw = f.metadata() or {}
                tensors = {key: f.get_tensor(key) for key in f.keys()}
        except (SafetensorError, OSError, ValueError) as error:
            raise CheckpointError(f"{path}: not a readable safetensors file ({error})") from None
        metadata: dict[str, Any] = {}
        for key, value in raw.items():
            try:
                metadata[key] = json.loads(value)
            except json.JSONDecodeError:
                metadata[key] = value
        if any(key.endswith(INT8_SCALE_SUFFIX) for key in tensors):
            tensors = dequantize_int8(tensors)
        return tensors, metadata
    kind = _file_kind(path)
    if kind == "hdf5":
        raise CheckpointError(
            f"{path}: a Keras/HDF5 weights file; read it with openfer.keras_weights.read_keras_h5 "
            "(or pass it as backbone_weights to mobilenet_v1 / pattlite)"
        )
    if kind == "unknown":
        raise CheckpointError(f"{path}: not a checkpoint file (neither a PyTorch zip or pickle archive nor safetensors)")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as error:
        raise CheckpointError(
            f"{path}: refused to load: the file holds pickled objects beyond tensors ({str(error).splitlines()[0]})"
        ) from None
    except (RuntimeError, EOFError, OSError, zipfile.BadZipFile, ValueError) as error:
        raise CheckpointError(f"{path}: not a readable checkpoint ({str(error).splitlines()[0]})") from None
    if not isinstance(payload, Mapping):
        raise CheckpointError(f"{path}: expected a state dict or a Lightning checkpoint, got {type(payload).__name__}")
    metadata = {**dict(payload.get("datamodule_hyper_parameters", {}) or {}), **dict(payload.get("hyper_parameters", {}) or {})}
    if "hyper_parameters" in payload and isinstance(payload.get("epoch"), int):
        metadata[TRAINED_KEY] = {"epochs": payload["epoch"] + 1, "steps": int(payload.get("global_step", 0))}
    state = _unwrap_state_dict(payload)
    if state is None:
        raise CheckpointError(f"{path}: no state dict of tensors inside (top-level keys: {', '.join(map(str, list(payload)[:8]))})")
    if "state_dict" in payload and any(k.startswith("net.") for k in state):
        state = {k[4:]: v for k, v in state.items() if k.startswith("net.")}
    if state and all(k.startswith("module.") for k in state):  # saved from nn.DataParallel / DDP
        state = {k.removeprefix("module."): v for k, v in state.items()}
    return dict(state), metadata


#: Where training scripts in this field keep the network's weights inside a checkpoint dictionary:
#: Lightning and most repositories (``state_dict``), DAN (``model_state_dict``), the Residual Masking
#: Network (``net``), and others (``model``, ``state_dict_ema``).
STATE_DICT_KEYS = ("state_dict", "model_state_dict", "net", "model", "state_dict_ema")


#: Suffix of the per-channel scales stored beside an int8-quantised tensor.
INT8_SCALE_SUFFIX = "::int8_scale"


def quantize_int8(tensor: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Symmetric per-output-channel int8: ``tensor ~= q * scale`` with ``scale = max|row| / 127`` per row
    (dim 0: output channels of a conv kernel or a linear weight). Returns (int8 q, float32 scale (C,))."""
    flat = tensor.detach().float().reshape(tensor.shape[0], -1)
    scale = (flat.abs().amax(dim=1) / 127.0).clamp_min(1e-12)
    q = torch.round(flat / scale[:, None]).clamp_(-127, 127).to(torch.int8)
    return q.reshape(tensor.shape), scale


def dequantize_int8(state: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """``state`` with every int8 tensor that has a stored scale turned back into float32."""
    out = {}
    for key, value in state.items():
        if key.endswith(INT8_SCALE_SUFFIX):
            continue
        scale = state.get(key + INT8_SCALE_SUFFIX)
        if scale is not None:
            value = value.float() * scale.float().reshape(-1, *([1] * (value.dim() - 1)))
        out[key] = value
    return out


def _is_state_dict(value: object) -> bool:
    return isinstance(value, Mapping) and bool(value) and all(isinstance(v, torch.Tensor) for v in value.values())


def _unwrap_state_dict(payload: Mapping[str, Any]) -> Mapping[str, torch.Tensor] | None:
    """The state dict inside ``payload``: ``payload`` itself, or the first of :data:`STATE_DICT_KEYS` holding one."""
    if _is_state_dict(payload):
        return payload
    for key in STATE_DICT_KEYS:
        if _is_state_dict(payload.get(key)):
            return payload[key]
    return None


def _file_kind(path: Path) -> str:
    """``zip`` (torch.save since 1.6), ``pickle`` (legacy torch.save / pickle), ``hdf5`` or ``unknown``, from the first bytes."""
    with open(path, "rb") as handle:
        head = handle.read(8)
    if head.startswith(b"PK"):
        return "zip"
    if head.startswith(b"\x89HDF"):
        return "hdf5"
    if head[:1] == b"\x80" or head[:1] in (b"}", b"]", b"("):  # pickle protocol >= 2, or protocol 0/1 opcodes
        return "pickle"
    return "unknown"


def check_state_dict(
    model: nn.Module | Mapping[str, torch.Tensor], state: Mapping[str, torch.Tensor], source: str, strict: bool = True
) -> list[str]:
    """Check every key and shape of ``state`` against ``model`` (a module or the state dict it expects);
    return the report lines of what differs.

    With ``strict`` any missing, unexpected or mis-shaped key raises :class:`CheckpointError`.
    """
    expected = model.state_dict() if isinstance(model, nn.Module) else model
    missing = [k for k in expected if k not in state]
    unexpected = [k for k in state if k not in expected]
    shapes = [
        f"{k}: checkpoint {tuple(state[k].shape)} vs model {tuple(expected[k].shape)}"
        for k in expected
        if k in state and tuple(state[k].shape) != tuple(expected[k].shape)
    ]
    report = [f"missing: {k}" for k in missing] + [f"unexpected: {k}" for k in unexpected] + [f"shape {s}" for s in shapes]
    if strict and report:
        head = "; ".join(report[:5]) + (f"; ... {len(report) - 5} more" if len(report) > 5 else "")
        raise CheckpointError(f"{source}: does not match the model ({len(report)} problems: {head})")
    return report


def load_weights(model: nn.Module, path: str | Path, strict: bool = True, skip_prefix: str | None = None) -> list[str]:
    """Load ``path`` into ``model`` after checking it; returns the mismatch report (empty when exact).

    ``skip_prefix`` (a module name such as ``fc`` or ``backbone.fc``): its keys on both sides are left out,
    so that module keeps its initial weights (a classifier trained on another label set).
    """
    state, _ = read_state_dict(path)
    expected = model.state_dict()
    if skip_prefix:
        def kept(key: str) -> bool:
            return key != skip_prefix and not key.startswith(skip_prefix + ".")

        state = {k: v for k, v in state.items() if kept(k)}
        expected = {k: v for k, v in expected.items() if kept(k)}
    report = check_state_dict(expected, state, str(path), strict=strict)
    usable = {k: v for k, v in state.items() if k in expected and tuple(v.shape) == tuple(expected[k].shape)}
    model.load_state_dict(usable, strict=False)
    return report


def load_backbone_weights(
    model: nn.Module,
    path: str | Path,
    head: str | None,
    *,
    state: Mapping[str, torch.Tensor] | None = None,
    convert: Callable[[dict[str, torch.Tensor]], dict[str, torch.Tensor]] | None = None,
    skip: Callable[[str], str | None] | None = None,
    backbone: nn.Module | None = None,
) -> list[str]:
    """Load a backbone checkpoint into ``model``, every key and shape checked; return what was not loaded.

    ``head``: the name of the classifier module (the registry's ``head``, e.g. ``fc``); its keys on either side
    are left as they are and reported, ``None`` loads it too. ``state``: the tensors of ``path`` already read
    (a converted Keras file), else :func:`read_state_dict` reads them. ``convert`` renames another key layout
    to the model's; ``skip(key)`` gives a reason to leave a checkpoint key out (reported), or ``None``.
    ``backbone``: the module whose keys the checkpoint must hold (default ``model``); a model that adds
    modules to it (EmoNeXt on ConvNeXt) keeps those as initialised, reported. ``module.`` prefixes are
    stripped, and BN counters missing from checkpoints older than PyTorch 0.4.1 keep the model's values.
    Any other missing, unexpected or mis-shaped key raises :class:`CheckpointError` listing them.
    """
    if state is None:
        state, _ = read_state_dict(path)
    state = {key.removeprefix("module."): value for key, value in state.items()}
    if convert is not None:
        state = convert(state)
    own = model.state_dict()
    expected = (backbone if backbone is not None else model).state_dict()

    def is_head(key: str) -> bool:
        return head is not None and key.split(".")[0] == head

    for key in expected:
        if key.endswith("num_batches_tracked") and key in own:
            state.setdefault(key, own[key])
    report = []
    for key in sorted({k for k in own if is_head(k)} | {k for k in state if is_head(k)}):
        found = f"checkpoint {tuple(state[key].shape)}" if key in state else "not in checkpoint"
        kept = f"model {tuple(own[key].shape)}" if key in own else "not in model"
        report.append(f"head not loaded: {key}: {found} vs {kept}")
    usable = {}
    for key, value in state.items():
        reason = skip(key) if skip is not None and not is_head(key) else None
        if reason:
            report.append(f"{reason}: {key}")
        elif not is_head(key):
            usable[key] = value
    check_state_dict({k: v for k, v in expected.items() if not is_head(k)}, usable, str(path), strict=True)
    missing, unexpected = model.load_state_dict(usable, strict=False)
    if unexpected:
        raise CheckpointError(f"{path}: keys not in the model: {', '.join(unexpected[:5])}")
    return report + [f"not in checkpoint, left initialised: {key}" for key in missing if not is_head(key)]


def save_safetensors(state: Mapping[str, torch.Tensor], path: str | Path, metadata: Mapping[str, Any] | None = None) -> None:
    """Write tensors (+ JSON-encoded metadata) to ``path`` atomically."""
    from safetensors.torch import save_file

    tensors = {k: v.detach().contiguous().cpu() for k, v in state.items()}
    with atomic_path(path) as temporary:
        save_file(tensors, temporary, metadata={k: json.dumps(v) for k, v in (metadata or {}).items()})


def pack_checkpoint(
    checkpoint: str | Path, output: str | Path, extra_metadata: Mapping[str, Any] | None = None, storage: str = "float32"
) -> Path:
    """Turn a Lightning training checkpoint into a weights-only safetensors file that
    :func:`openfer.load_model` reads: the network's tensors plus the metadata needed to rebuild it
    (architecture, options, classes, input size, normalisation) and how it was trained (:func:`training_record`).
    ``storage``: ``float32`` or ``float16`` (half the size; loading restores float32)."""
    if storage not in ("float32", "float16"):
        raise ConfigError(f"storage must be float32 or float16 for one network; got {storage!r}")
    state, meta = read_state_dict(checkpoint)
    if storage == "float16":
        state = {key: value.half() if value.is_floating_point() else value for key, value in state.items()}
    metadata = {**packed_metadata(meta, checkpoint), "training": training_record(meta), "storage": storage, **dict(extra_metadata or {})}
    save_safetensors(state, output, metadata)
    return Path(output)


#: Metadata key :func:`read_state_dict` adds for Lightning checkpoints: epochs and optimiser steps done.
TRAINED_KEY = "_trained"
#: The recipe entries :func:`training_record` keeps: what a model card needs to say how a network was trained.
TRAINING_KEYS = (
    "dataset", "train_split", "val_split", "image_size", "batch_size", "soft_targets", "sampler", "class_weights",
    "optimizer", "lr", "momentum", "nesterov", "weight_decay", "decoupled_weight_decay", "scheduler", "warmup_epochs",
    "scheduler_options", "losses", "augment", "mixup", "ema_decay", "snapshots", "init_weights", "seed",
)  # fmt: skip


def training_record(meta: Mapping[str, Any]) -> dict[str, Any]:
    """How a network was trained, from a training checkpoint's hyper-parameters (the recipe's data and model
    sections, epochs and steps done), or the record a packed file already carries; {} when neither is there."""
    if isinstance(meta.get("training"), Mapping):
        return dict(meta["training"])
    record = {key: meta[key] for key in TRAINING_KEYS if meta.get(key) not in (None, {}, [])}
    if isinstance(meta.get(TRAINED_KEY), Mapping):
        record.update(meta[TRAINED_KEY])
    return json.loads(json.dumps(record, default=str))  # tuples and paths as JSON has them


def packed_metadata(meta: Mapping[str, Any], source: str | Path) -> dict[str, Any]:
    """What :func:`openfer.load_model` needs to rebuild a network, from a training checkpoint's
    hyper-parameters or a packed file's metadata: architecture, options, classes, input size, normalisation."""
    from openfer.models.registry import model_info  # the models import this module

    if "model" not in meta:
        raise CheckpointError(f"{source}: not an openfer checkpoint (no 'model' entry in its metadata)")
    info = model_info(meta["model"])
    if meta.get("input_size"):
        channels, size = int(meta["input_size"][0]), int(meta["input_size"][-1])
    else:
        channels, size = int(meta.get("channels", info.channels)), int(meta.get("image_size", info.image_size))
    return {
        "model": meta["model"],
        "model_options": dict(meta.get("model_options") or {}),
        "classes": list(meta.get("classes") or []),
        "input_size": [channels, size, size],
        "mean": float(meta.get("mean", info.mean)),
        "std": float(meta.get("std", info.std)),
    }


def pack_ensemble(checkpoints: list[str | Path], output: str | Path, storage: str = "float16") -> Path:
    """Several trained networks of one architecture -> one ``average_ensemble`` safetensors file.

    ``checkpoints``: Lightning training checkpoints or packed ``.safetensors`` files (independent runs or
    snapshots of one run). All must share the model, its options, classes, input and normalisation.
    Tensors are stored as ``members.<i>.<key>``; ``storage`` sets how floating-point ones are kept:
    ``float32``, ``float16`` (half the size) or ``int8`` (a quarter: :func:`quantize_int8` on weight
    matrices and kernels, float16 for the rest). Loading restores float32 either way.
    """
    if storage not in STORAGES:
        raise ConfigError(f"storage must be one of {', '.join(STORAGES)}; got {storage!r}")
    if len(checkpoints) < 2:
        raise CheckpointError("an ensemble needs at least two checkpoints")
    states, metas = zip(*(read_state_dict(c) for c in checkpoints))
    packed = [packed_metadata(meta, path) for meta, path in zip(metas, checkpoints)]
    for path, meta in zip(checkpoints[1:], packed[1:]):
        differing = [k for k in packed[0] if meta[k] != packed[0][k]]
        if differing:
            raise CheckpointError(f"{path}: differs from {checkpoints[0]} in {', '.join(differing)}")
    if packed[0]["model"] == "average_ensemble":
        raise CheckpointError(f"{checkpoints[0]}: already an ensemble; list its member checkpoints instead")
    tensors = stored_members(states, storage)
    metadata = {
        **packed[0],
        "storage": storage,
        "model": "average_ensemble",
        "model_options": {"member": packed[0]["model"], "members": len(checkpoints), "member_options": packed[0]["model_options"]},
        "members": [Path(c).name for c in checkpoints],
        "member_training": [training_record(meta) for meta in metas],
    }
    save_safetensors(tensors, output, metadata)
    return Path(output)


def stored_members(states: Sequence[Mapping[str, torch.Tensor]], storage: str) -> dict[str, torch.Tensor]:
    """The members' tensors as ``members.<i>.<key>``, floating-point ones kept as ``storage`` says (:func:`pack_ensemble`)."""
    tensors: dict[str, torch.Tensor] = {}
    for i, state in enumerate(states):
        for key, value in state.items():
            name = f"members.{i}.{key}"
            if not value.is_floating_point() or storage == "float32":
                tensors[name] = value
            elif storage == "int8" and value.dim() >= 2:
                tensors[name], tensors[name + INT8_SCALE_SUFFIX] = quantize_int8(value)
            else:
                tensors[name] = value.half()
    return tensors


#: The ``model`` entry of a mixed ensemble file (:func:`pack_mixed_ensemble`).
MIXED_ENSEMBLE = "mixed_ensemble"


def pack_mixed_ensemble(
    checkpoints: Sequence[str | Path],
    output: str | Path,
    rule: str = "average",
    alpha: float = 1.9,
    beta: float = 1.0,
    weights: Sequence[float] | None = None,
    classes: str | Sequence[str] | None = None,
    storage: str = "float32",
) -> Path:
    """Networks of any architectures, input sizes and label sets -> one ``mixed_ensemble`` safetensors file.

    Tensors are stored as ``members.<i>.<key>`` (``storage`` as in :func:`pack_ensemble`); the metadata holds
    each member's own :func:`packed_metadata` (architecture, options, classes, input size, mean/std) under
    ``member_metadata``, and the rule (``average``, ``weighted``, ``noi``, ``t1v``, ``t2v``), its options and the
    ensemble's ``classes`` (default: the first member's). :func:`openfer.load_model` reads it as an
    :class:`openfer.ensemble.mixed.MixedEnsemble`.
    """
    from openfer.ensemble.mixed import rule_options
    from openfer.labels import vocabulary

    if storage not in STORAGES:
        raise ConfigError(f"storage must be one of {', '.join(STORAGES)}; got {storage!r}")
    if not checkpoints:
        raise CheckpointError("an ensemble needs at least one checkpoint")
    rule_options(rule, alpha, beta, weights)
    if weights is not None and len(weights) != len(checkpoints):
        raise ConfigError(f"weights: {len(weights)} values for {len(checkpoints)} checkpoints")
    if rule == "weighted" and weights is None:
        raise ConfigError("rule 'weighted' needs weights, one per checkpoint")
    states, members = [], []
    for path in checkpoints:
        state, meta = read_state_dict(path)
        if meta.get("model") == MIXED_ENSEMBLE:
            raise CheckpointError(f"{path}: already a mixed ensemble; list its member checkpoints instead")
        packed = packed_metadata(meta, path)
        if not packed["classes"]:
            raise CheckpointError(f"{path}: its metadata names no classes, which a mixed ensemble maps by")
        states.append(state)
        members.append({**packed, "file": Path(path).name, "training": training_record(meta)})
    metadata = {
        "model": MIXED_ENSEMBLE,
        "classes": list(vocabulary(classes if classes is not None else members[0]["classes"])),
        "rule": rule,
        "alpha": float(alpha),
        "beta": float(beta),
        "weights": None if weights is None else [float(w) for w in weights],
        "storage": storage,
        "member_metadata": members,
    }
    save_safetensors(stored_members(states, storage), output, metadata)
    return Path(output)


def split_ensemble(path: str | Path, output_dir: str | Path) -> list[Path]:
    """Each network of an ensemble file (``openfer weights ensemble`` or ``openfer ensemble pack``) as its own
    weights file ``<output_dir>/<stem>_<i>.safetensors``, with the metadata that rebuilds it and its training
    record; tensors are kept in the storage they have (int8 ones restored to float32)."""
    path = Path(path)
    state, meta = read_state_dict(path)
    kind = meta.get("model")
    if kind == MIXED_ENSEMBLE:
        described = [dict(m) for m in meta.get("member_metadata") or []]
    elif kind == "average_ensemble":
        options = meta.get("model_options") or {}
        training = meta.get("member_training") or [{}] * int(options.get("members", 0))
        base = {key: meta[key] for key in ("classes", "input_size", "mean", "std") if key in meta}
        described = [{**base, "model": options.get("member"), "model_options": options.get("member_options") or {}, "training": record} for record in training]
    else:
        raise CheckpointError(f"{path}: not an ensemble file (model {kind!r}); nothing to split")
    if not described:
        raise CheckpointError(f"{path}: its metadata lists no members")
    outputs = []
    for i, member in enumerate(described):
        prefix = f"members.{i}."
        member_state = {key[len(prefix) :]: value for key, value in state.items() if key.startswith(prefix)}
        if not member_state:
            raise CheckpointError(f"{path}: no tensors for member {i}")
        metadata = {key: member[key] for key in ("model", "model_options", "classes", "input_size", "mean", "std") if key in member}
        metadata["training"] = member.get("training") or {}
        metadata["split_from"] = f"{path.name}#{i}"
        output = Path(output_dir) / f"{path.stem}_{i}.safetensors"
        output.parent.mkdir(parents=True, exist_ok=True)
        save_safetensors(member_state, output, metadata)
        outputs.append(output)
    return outputs
