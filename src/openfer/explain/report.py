"""One report per run or ensemble of checkpoints: an HTML page that renders offline (every image embedded as a
data URI, no script, no external address) and its Markdown twin (images written beside it in ``NAME_files/``).

It holds the metrics, the per-class table, the confusion matrix, precision-recall curves, the reliability
diagram with its ECE, the training curves of each run, the t-SNE of penultimate features, Grad-CAM maps, a
gallery of the most confident errors, the recipe (the run's ``config.yaml``) and the environment.
"""

from __future__ import annotations

import base64
import datetime
import html
import platform
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np

from openfer.data.base import FaceSplit
from openfer.engine.evaluate import EvaluationReport, evaluate
from openfer.errors import CheckpointError
from openfer.explain import curves
from openfer.inference import ExpressionModel, load_model

#: Where a run folder (``openfer train --run_dir``) keeps what the report reads, first match wins.
RUN_CHECKPOINTS = ("checkpoints/best.ckpt", "checkpoints/last.ckpt")
RUN_METRICS = ("logs/metrics.csv", "metrics.csv")
RUN_CONFIGS = ("logs/config.yaml", "config.yaml")


@dataclass
class Source:
    """One model of the report: ``spec`` for :func:`openfer.load_model`, and the run folder it came from, if any."""

    label: str
    spec: str
    run_dir: Path | None = None

    def first(self, candidates: Sequence[str]) -> Path | None:
        if self.run_dir is None:
            return None
        return next((self.run_dir / c for c in candidates if (self.run_dir / c).is_file()), None)


def resolve_source(item: str | Path) -> Source:
    """A run folder (its best checkpoint), or anything :func:`openfer.load_model` accepts."""
    path = Path(item)
    if path.is_dir():
        source = Source(path.name, "", path)
        checkpoint = source.first(RUN_CHECKPOINTS)
        if checkpoint is None:
            raise CheckpointError(f"{path}: a run folder needs {' or '.join(RUN_CHECKPOINTS)}")
        source.spec = str(checkpoint)
        return source
    return Source(path.name if path.is_file() else str(item), str(item))


@dataclass
class Plot:
    """One PNG of the report with its caption."""

    name: str
    caption: str
    png: bytes = field(repr=False)


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def environment() -> dict[str, str]:
    """Python, torch and openfer versions, the CPU model (``/proc/cpuinfo``), the platform and the date."""
    import os

    import torch

    import openfer

    return {
        "date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "openfer": openfer.__version__,
        "cpu": f"{_cpu_model()} ({os.cpu_count()} logical cores, {torch.get_num_threads()} torch threads)",
        "platform": platform.platform(),
    }


def _thumbnail(face: np.ndarray, size: int = 96) -> bytes:
    import cv2

    from openfer.explain.gradcam import to_rgb
    from openfer.imageio import encode_image

    return encode_image(cv2.resize(to_rgb(face), (size, size), interpolation=cv2.INTER_NEAREST), ".png")


@dataclass
class Report:
    """What a report shows; :meth:`html` and :meth:`markdown` render it, :meth:`save` writes both."""

    title: str
    sources: list[Source]
    evaluation: EvaluationReport
    members: list[EvaluationReport]
    figures: list[Plot]
    errors: list[dict[str, object]]
    recipes: dict[str, str]
    environment: dict[str, str]

    def metrics(self) -> dict[str, str]:
        from openfer.engine import metrics

        e = self.evaluation
        values = {
            "faces": str(e.num_samples),
            "accuracy": f"{e.accuracy:.2%}",
            "balanced accuracy": f"{e.balanced_accuracy:.2%}",
            "macro F1": f"{e.macro_f1:.4f}",
            "ECE (15 bins)": f"{metrics.expected_calibration_error(e.probabilities, e.targets, curves.CALIBRATION_BINS):.2%}",
            "test-time augmentation": e.tta,
        }
        for source, member in zip(self.sources, self.members) if len(self.members) > 1 else ():
            values[f"accuracy of {source.label}"] = f"{member.accuracy:.2%}"
        return values

    def _rows(self) -> list[list[str]]:
        df = self.evaluation.to_df()
        return [[str(name), f"{r.precision:.4f}", f"{r.recall:.4f}", f"{r.f1:.4f}", str(int(r.support))] for name, r in df.iterrows()]

    def html(self) -> str:
        def uri(png: bytes) -> str:
            return "data:image/png;base64," + base64.b64encode(png).decode("ascii")

        e = html.escape
        parts = [
            "<!DOCTYPE html>",
            '<html lang="en"><head><meta charset="utf-8">',
            '<link rel="icon" href="data:,">',
            f"<title>{e(self.title)}</title>",
            "<style>body{font-family:sans-serif;max-width:1100px;margin:2em auto;padding:0 1em}"
            "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:4px 8px;text-align:right}"
            "td:first-child,th:first-child{text-align:left}figure{display:inline-block;margin:1em}"
            ".gallery figure{width:120px;font-size:12px;margin:.5em}pre{background:#f4f4f4;padding:1em;overflow:auto}</style>",
            "</head><body>",
            f"<h1>{e(self.title)}</h1>",
            "<h2>Models</h2><ul>" + "".join(f"<li>{e(s.label)}: <code>{e(s.spec)}</code></li>" for s in self.sources) + "</ul>",
            "<h2>Metrics</h2><table>" + "".join(f"<tr><th>{e(k)}</th><td>{e(v)}</td></tr>" for k, v in self.metrics().items()) + "</table>",
            "<h2>Per class</h2><table><tr><th>class</th><th>precision</th><th>recall</th><th>F1</th><th>support</th></tr>"
            + "".join("<tr>" + "".join(f"<td>{e(c)}</td>" for c in row) + "</tr>" for row in self._rows())
            + "</table>",
            "<h2>Plots</h2>",
        ]
        for fig in self.figures:
            parts.append(f'<figure><img src="{uri(fig.png)}" alt="{e(fig.caption)}"><figcaption>{e(fig.caption)}</figcaption></figure>')
        parts.append(f"<h2>Most confident errors</h2><p>{len(self.errors)} faces, most confident first.</p><div class=\"gallery\">")
        for error in self.errors:
            caption = f"#{error['index']}: true {error['true']}, predicted {error['predicted']} ({error['confidence']:.0%})"
            parts.append(
                f'<figure><img src="{uri(error["png"])}" width="96" height="96" alt="{e(caption)}">'  # type: ignore[arg-type]
                f"<figcaption>{e(caption)}</figcaption></figure>"
            )
        parts.append("</div><h2>Recipe</h2>")
        if not self.recipes:
            parts.append("<p>No run folder with a config.yaml among the sources.</p>")
        for label, text in self.recipes.items():
            parts.append(f"<h3>{e(label)}</h3><pre>{e(text)}</pre>")
        parts.append("<h2>Environment</h2><table>" + "".join(f"<tr><th>{e(k)}</th><td>{e(v)}</td></tr>" for k, v in self.environment.items()) + "</table>")
        parts.append("</body></html>")
        return "\n".join(parts) + "\n"

    def markdown(self, files: str) -> str:
        """The Markdown twin; images are referenced as ``files/NAME.png`` (written by :meth:`save`)."""
        lines = [f"# {self.title}", "", "## Models", ""]
        lines += [f"- {s.label}: `{s.spec}`" for s in self.sources]
        lines += ["", "## Metrics", "", "| metric | value |", "| --- | ---: |"]
        lines += [f"| {k} | {v} |" for k, v in self.metrics().items()]
        lines += ["", "## Per class", "", "| class | precision | recall | F1 | support |", "| --- | ---: | ---: | ---: | ---: |"]
        lines += ["| " + " | ".join(row) + " |" for row in self._rows()]
        lines += ["", "## Plots", ""]
        lines += [f"![{fig.caption}]({files}/{fig.name}.png)  \n*{fig.caption}*\n" for fig in self.figures]
        lines += ["## Most confident errors", "", "| face | true | predicted | confidence |", "| --- | --- | --- | ---: |"]
        lines += [
            f"| ![#{err['index']}]({files}/error_{err['index']}.png) | {err['true']} | {err['predicted']} | {err['confidence']:.0%} |"
            for err in self.errors
        ]
        lines += ["", "## Recipe", ""]
        for label, text in self.recipes.items():
            lines += [f"### {label}", "", "```yaml", text.rstrip(), "```", ""]
        if not self.recipes:
            lines += ["No run folder with a config.yaml among the sources.", ""]
        lines += ["## Environment", "", "| | |", "| --- | --- |"] + [f"| {k} | {v} |" for k, v in self.environment.items()]
        return "\n".join(lines) + "\n"

    def save(self, output: str | Path) -> list[Path]:
        """Write ``output`` (.html), its Markdown twin (same name, ``.md``) and the PNGs it references in ``NAME_files/``."""
        from openfer.files import write_bytes

        output = Path(output)
        folder = output.with_name(f"{output.stem}_files")
        written = [write_bytes(folder / f"{fig.name}.png", fig.png) for fig in self.figures]
        written += [write_bytes(folder / f"error_{err['index']}.png", err["png"]) for err in self.errors]  # type: ignore[arg-type]
        written.append(write_bytes(output.with_suffix(".md"), self.markdown(folder.name).encode()))
        written.append(write_bytes(output, self.html().encode()))
        return written


def _ensemble(members: list[EvaluationReport], name: str) -> EvaluationReport:
    if len(members) == 1:
        return members[0]
    first = members[0]
    probabilities = np.mean([m.probabilities for m in members], axis=0).astype(np.float32)
    return EvaluationReport(
        classes=first.classes, targets=first.targets, probabilities=probabilities, tta=first.tta,
        model=name, dataset=first.dataset, split=first.split, model_classes=first.classes, image_ids=first.image_ids,
    )


def build_report(
    sources: Sequence[str | Path],
    split: FaceSplit,
    *,
    dataset: str = "",
    limit: int | None = None,
    tta: str | None = None,
    errors: int = 24,
    tsne_limit: int = 2000,
    gradcam_faces: int = 8,
    batch_size: int = 256,
) -> Report:
    """Evaluate the models of ``sources`` (run folders or checkpoints; several: their probabilities averaged)
    on the first ``limit`` faces of ``split`` and gather every plot of the report.

    ``tta``: None uses each model's own; ``tsne_limit``: faces in the t-SNE (0: none); ``gradcam_faces``:
    the most confident errors shown with the first model's Grad-CAM map (0: none).
    """
    from openfer.explain.embeddings import tsne as embed
    from openfer.explain.gradcam import gradcam

    resolved = [resolve_source(s) for s in sources]
    if not resolved:
        raise CheckpointError("report: give at least one run folder or checkpoint")
    if limit is not None and limit < len(split):
        split = split.subset(np.arange(limit))
    models: list[ExpressionModel] = [load_model(s.spec) for s in resolved]
    members = [evaluate(m, split, tta=tta, batch_size=batch_size, dataset=dataset) for m in models]
    name = " + ".join(s.label for s in resolved)
    evaluation = _ensemble(members, name)
    where = f"{dataset} {split.name}".strip()
    figures = [
        Plot("confusion_matrix", f"confusion matrix on {where}", curves.plot_confusion_matrix(evaluation.confusion, evaluation.classes, evaluation._title())),
        Plot("precision_recall", "precision-recall per class (one against the rest)", curves.plot_precision_recall(evaluation.probabilities, evaluation.targets, evaluation.classes)),
        Plot("reliability", "reliability diagram, 15 confidence bins", curves.plot_reliability(evaluation.probabilities, evaluation.targets)),
    ]
    recipes = {}
    for index, source in enumerate(resolved):
        metrics_csv = source.first(RUN_METRICS)
        png = curves.plot_training_curves(metrics_csv) if metrics_csv else None
        if png:
            figures.append(Plot(f"training_curves_{index}", f"training curves of {source.label}", png))
        config = source.first(RUN_CONFIGS)
        if config is not None:
            recipes[source.label] = config.read_text()
    if tsne_limit:
        embedding = embed(models[0], split, limit=tsne_limit, batch_size=batch_size)
        figures.append(Plot("tsne", f"t-SNE of {resolved[0].label}'s penultimate features, {len(embedding.labels)} faces", embedding.plot()))

    predicted = evaluation.predictions
    confidence = evaluation.probabilities.max(1)
    wrong = np.flatnonzero(predicted != evaluation.targets)
    wrong = wrong[np.argsort(-confidence[wrong], kind="stable")][:errors]
    gallery = [
        {
            "index": int(i),
            "true": evaluation.classes[evaluation.targets[i]],
            "predicted": evaluation.classes[predicted[i]],
            "confidence": float(confidence[i]),
            "png": _thumbnail(split.image(int(i))),
        }
        for i in wrong
    ]
    shown = wrong[:gradcam_faces]
    if len(shown):
        faces = [split.image(int(i)) for i in shown]
        cams = gradcam(models[0], faces, methods=("gradcam",))
        strip = np.concatenate([_square(cams.overlay(j), 96) for j in range(len(faces))], axis=1)
        figures.append(Plot("gradcam_errors", f"Grad-CAM ({resolved[0].label}, predicted class) of the {len(shown)} most confident errors", _encode(strip)))
    title = f"{name} on {where}"
    return Report(title, resolved, evaluation, members, figures, gallery, recipes, environment())


def _square(image: np.ndarray, size: int) -> np.ndarray:
    import cv2

    return cv2.resize(image, (size, size), interpolation=cv2.INTER_LINEAR)


def _encode(image_rgb: np.ndarray) -> bytes:
    from openfer.imageio import encode_image

    return encode_image(image_rgb, ".png")


def write_report(sources: Sequence[str | Path], split: FaceSplit, output: str | Path, **options: object) -> list[Path]:
    """:func:`build_report` then :meth:`Report.save` to ``output`` (HTML) and its ``.md`` twin; returns the paths."""
    return build_report(sources, split, **options).save(output)  # type: ignore[arg-type]
