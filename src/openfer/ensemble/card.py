"""Model cards of packed ensembles: what each member is and how it was trained, how the members were chosen,
what the ensemble scores, and how fast it runs here (measured when the card is written).

:func:`model_card` reads a file from ``openfer ensemble pack`` (``mixed_ensemble``) or ``openfer weights
ensemble`` (``average_ensemble``): the members' training records come from the file's metadata
(:func:`openfer.checkpoints.training_record`, stored at packing), the choice and its accuracies from the JSON
that ``openfer ensemble select --output`` writes. ``openfer ensemble card`` writes it.
"""

from __future__ import annotations

import datetime
import json
import os
import time
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from openfer.errors import CheckpointError, ConfigError


def _describe_training(record: Mapping[str, Any]) -> str:
    """One cell: data, epochs, optimiser and schedule, losses, augmentation, seed, start and targets."""
    if not record:
        return "not recorded (packed from a file without training metadata)"
    parts = []
    data = " ".join(str(record[k]) for k in ("dataset", "train_split") if record.get(k))
    if data:
        parts.append(data)
    if record.get("epochs"):
        parts.append(f"{record['epochs']} epochs ({record.get('steps', '?')} steps)")
    if record.get("optimizer"):
        optimiser = f"{record['optimizer']} lr {record.get('lr')}"
        if record.get("nesterov"):
            optimiser += " nesterov"
        if record.get("weight_decay"):
            optimiser += f", wd {record['weight_decay']}{' decoupled' if record.get('decoupled_weight_decay') else ''}"
        parts.append(optimiser)
    if record.get("scheduler"):
        parts.append(f"{record['scheduler']} schedule")
    if record.get("losses"):
        parts.append("loss " + ", ".join(name + (f" ({', '.join(f'{k} {v}' for k, v in options.items())})" if options else "") for name, options in record["losses"].items()))
    if record.get("augment"):
        on = {k: v for k, v in record["augment"].items() if k != "output_size" and v not in (0, 0.0, False, None, [1.0, 1.0])}
        parts.append("augment " + ", ".join(f"{k} {v}" for k, v in on.items()) if on else "no augmentation")
    for key, label in (("mixup", "mixup"), ("ema_decay", "EMA"), ("soft_targets", "soft targets"), ("init_weights", "from"), ("sampler", "sampler"), ("class_weights", "class weights")):
        if record.get(key):
            parts.append(f"{label} {record[key]}")
    if record.get("snapshots"):
        parts.append("snapshot")
    if "seed" in record:
        parts.append(f"seed {record['seed']}")
    return "; ".join(parts)


def _members(meta: Mapping[str, Any]) -> list[dict[str, Any]]:
    if meta.get("model") == "mixed_ensemble":
        return [dict(m) for m in meta.get("member_metadata") or []]
    if meta.get("model") == "average_ensemble":
        options = meta.get("model_options") or {}
        training = meta.get("member_training") or [{}] * len(meta.get("members") or [])
        return [
            {"file": name, "model": options.get("member"), "model_options": options.get("member_options") or {}, "input_size": meta.get("input_size"),
             "classes": meta.get("classes"), "training": record}
            for name, record in zip(meta.get("members") or [], training)
        ]  # fmt: skip
    raise CheckpointError(f"not an ensemble file (model {meta.get('model')!r}); pack one with 'openfer ensemble pack'")


def measure_speed(model: Any, faces: int = 64, repeats: int = 5, seed: int = 0) -> float:
    """Median milliseconds per face of ``model.predict_proba`` on ``faces`` random 48 x 48 crops, after a warm-up."""
    crops = np.random.default_rng(seed).integers(0, 256, (faces, 48, 48), dtype=np.uint8)
    model.predict_proba(crops)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        model.predict_proba(crops)
        times.append(time.perf_counter() - start)
    return 1000 * float(np.median(times)) / faces


def model_card(path: str | Path, selection: Mapping[str, Any] | None = None, speed_faces: int = 64, command: str | None = None) -> str:
    """The Markdown model card of the ensemble file ``path``; ``selection``: the JSON of ``openfer ensemble
    select --output`` that chose its members (the card then gives the split they were chosen on, its accuracy
    there and on the report split); ``command``: the command that wrote the card, quoted in it."""
    from openfer.checkpoints import read_state_dict
    from openfer.explain.report import _cpu_model
    from openfer.files import file_sha256
    from openfer.inference import load_model

    path = Path(path)
    _, meta = read_state_dict(path)
    members = _members(meta)
    model = load_model(path)
    lines = [f"# Model card: `{path.name}`", ""]
    rule = meta.get("rule", "average")
    weights = meta.get("weights")
    lines += [
        f"An ensemble of {len(members)} networks, combined by **{rule}**" + (f" with weights {weights}" if weights else "")
        + f"; classes {', '.join(model.classes)}; test-time augmentation of each member: {model.tta}.",
        f"File: {path.stat().st_size / 1e6:.1f} MB, SHA-256 {file_sha256(path)[:16]}…; load it with `openfer.load_model(\"{path.name}\")`.",
        "",
        "## Members and how each was trained",
        "",
        "| # | file | architecture | input | how it was trained |",
        "|---:|---|---|---|---|",
    ]
    for i, member in enumerate(members):
        options = member.get("model_options") or {}
        architecture = f"`{member.get('model')}`" + (f" {json.dumps(options)}" if options else "")
        size = "x".join(map(str, member.get("input_size") or [])) or "-"
        lines.append(f"| {i} | {member.get('file', '-')} | {architecture} | {size} | {_describe_training(member.get('training') or {})} |")
    lines.append("")
    if selection:
        chosen = selection.get("chosen") or {}
        select_split, report_split = selection.get("select_split", "PublicTest"), selection.get("report_split", "PrivateTest")
        lines += [
            "## Selection and accuracy",
            "",
            f"Members, rule and weights were chosen on **{select_split}** only (`openfer ensemble select`); {report_split} was read "
            "only to report the subsets listed.",
            "",
            f"| subset | rule | weights | {select_split} | {report_split} |",
            "|---|---|---|---:|---:|",
        ]
        for row in (selection.get("ranked") or [chosen])[:10]:
            mark = "**" if row.get("members") == chosen.get("members") and row.get("weights") == chosen.get("weights") else ""
            lines.append(
                f"| {mark}{' + '.join(Path(m).name for m in row.get('members', []))}{mark} | {row.get('rule')} | {row.get('weights') or '-'} | "
                f"{100 * row.get(f'{select_split}_accuracy', float('nan')):.2f} % | {100 * row.get(f'{report_split}_accuracy', float('nan')):.2f} % |"
            )
        lines.append("")
    per_face = measure_speed(model, speed_faces)
    lines += [
        "## Speed",
        "",
        f"{per_face:.2f} ms per face ({1000 / per_face:.0f} faces/s) through `predict_proba`, {speed_faces} faces of 48 x 48 per call, "
        f"measured when this card was written: {datetime.date.today()}, {_cpu_model()}, {os.cpu_count()} cores"
        + (", bf16" if getattr(model, "bf16", False) or any(getattr(m, "bf16", False) for m in getattr(model, "members", [])) else "") + ".",
        "",
    ]
    if command:
        lines += ["Written by:", "", "```", command, "```", ""]
    lines += [
        "## Limitations",
        "",
        "- Trained on web faces of 48 x 48 grey (FER2013 and relabellings of it): accuracy drops on profiles, occlusion, "
        "strong lighting and very small faces.",
        "- Expressions are displays, not felt emotions: do not use the output to infer a person's inner state or to make "
        "decisions about people.",
        "",
    ]
    return "\n".join(lines)


def read_selection(path: str | Path | None) -> dict[str, Any] | None:
    """The JSON of ``openfer ensemble select --output``, or None; :class:`ConfigError` naming the file when it is not that."""
    if path is None:
        return None
    try:
        data = json.loads(Path(path).read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ConfigError(f"{path}: not a readable selection file ({str(error).splitlines()[0]})") from None
    if not isinstance(data, dict) or "chosen" not in data:
        raise ConfigError(f"{path}: not the JSON 'openfer ensemble select --output' writes (no 'chosen' entry)")
    return data
