"""ONNX export of expression models and the onnxruntime backend.

:func:`export_onnx` writes a model's network as ONNX with a dynamic batch axis and stores what is
needed to read faces (classes, input size, channels, normalisation) in the file's metadata, so
:class:`OnnxExpressionModel` needs nothing else. :func:`cached_onnx_model` exports once per weights
file into the cache folder (keyed by the file's SHA-256) and reuses it afterwards.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from openfer.cache import cache_dir
from openfer.errors import CheckpointError
from openfer.files import atomic_path, file_sha256
from openfer.inference import ExpressionModel
from openfer.losses import logits_of

#: Bump when the exported graph or its metadata change, so that cached exports are rebuilt.
ONNX_FORMAT = 1
INPUT_NAME, OUTPUT_NAME = "faces", "logits"


class _LogitsOnly(nn.Module):
    """The network with its outputs reduced to float logits (some networks return dicts)."""

    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        self.net = net

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return logits_of(self.net(x)).float()


def export_onnx(model: ExpressionModel, output: str | Path, opset: int = 17, tolerance: float | None = None) -> Path:
    """Write ``model``'s network to ``output`` as ONNX (input ``faces`` N x C x S x S, output ``logits``).

    The file is written atomically; its metadata holds the classes and preprocessing. With ``tolerance``,
    the graph's probabilities are checked against ``model``'s (:func:`verify_onnx`, same TTA) before the
    file takes its name: a mismatch raises :class:`CheckpointError` and leaves no file behind.
    """
    import onnx

    output = Path(output)
    net = _LogitsOnly(model.net).eval()
    example = torch.zeros(2, model.channels, model.image_size, model.image_size)
    with atomic_path(output) as temporary:
        with warnings.catch_warnings():
            # The TorchScript exporter is deprecated in favour of the torch.export one, which needs the
            # extra onnxscript package; the TorchScript one needs nothing and handles every openfer model.
            warnings.simplefilter("ignore", category=DeprecationWarning)
            warnings.simplefilter("ignore", category=FutureWarning)
            warnings.simplefilter("ignore", category=torch.jit.TracerWarning)  # constants traced by the ensemble's voting
            torch.onnx.export(
                net,
                (example,),
                str(temporary),
                input_names=[INPUT_NAME],
                output_names=[OUTPUT_NAME],
                dynamic_axes={INPUT_NAME: {0: "batch"}, OUTPUT_NAME: {0: "batch"}},
                opset_version=opset,
                dynamo=False,
            )
        graph = onnx.load(temporary)
        metadata = {
            "openfer_onnx_format": ONNX_FORMAT,
            "name": model.name,
            "classes": list(model.classes),
            "image_size": model.image_size,
            "channels": model.channels,
            "mean": model.mean,
            "std": model.std,
            "tta": model.tta,
        }
        for key, value in metadata.items():
            graph.metadata_props.add(key=key, value=json.dumps(value))
        onnx.save(graph, temporary)
        if tolerance is not None:
            verify_onnx(model, temporary, tolerance=tolerance, name=output)
    return output


class _OnnxNet(nn.Module):
    """An onnxruntime session behind the ``nn.Module`` call that :class:`ExpressionModel` makes."""

    def __init__(self, session: Any) -> None:
        super().__init__()
        self.session = session

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        (logits,) = self.session.run([OUTPUT_NAME], {INPUT_NAME: np.ascontiguousarray(x.numpy(), dtype=np.float32)})
        return torch.from_numpy(logits)


class OnnxExpressionModel(ExpressionModel):
    """An :class:`ExpressionModel` whose network runs in onnxruntime (CPU); same preprocessing and TTA.

    ``tta``: None for the TTA stored in the file by :func:`export_onnx` (that of the exported model; flip for
    files without one). ``threads`` sets onnxruntime's intra-op threads (None: its default, one per core).
    """

    def __init__(self, path: str | Path, tta: str | None = None, batch_size: int = 256, threads: int | None = None) -> None:
        import onnxruntime

        path = Path(path)
        if not path.is_file():
            raise CheckpointError(f"{path}: no such ONNX file")
        options = onnxruntime.SessionOptions()
        if threads is not None:
            options.intra_op_num_threads = threads
        try:
            session = onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        except Exception as error:  # onnxruntime raises its own untyped errors for unreadable graphs
            raise CheckpointError(f"{path}: not a readable ONNX model ({str(error).splitlines()[0]})") from None
        raw = session.get_modelmeta().custom_metadata_map
        if "classes" not in raw:
            raise CheckpointError(f"{path}: no openfer metadata (classes, input size); export it with 'openfer export'")
        meta = {key: json.loads(value) for key, value in raw.items()}
        super().__init__(
            _OnnxNet(session),
            meta["classes"],
            image_size=int(meta["image_size"]),
            channels=int(meta["channels"]),
            mean=float(meta["mean"]),
            std=float(meta["std"]),
            tta=tta or meta.get("tta", "flip"),
            batch_size=batch_size,
            name=f"{meta.get('name') or path.stem} (onnxruntime)",
        )
        self.path = path


def cached_onnx_model(model: ExpressionModel, weights: str | Path, **options: Any) -> OnnxExpressionModel:
    """``model`` (built from the file ``weights``) as an :class:`OnnxExpressionModel`.

    The export is made on first use into ``cache_dir()/onnx``, named by the weights file's hash and the
    model's name, and reused while the file is unchanged. ``options`` go to :class:`OnnxExpressionModel`.
    """
    key = f"{model.name or 'model'}-{file_sha256(weights)[:20]}-v{ONNX_FORMAT}".replace("/", "_")
    path = cache_dir() / "onnx" / f"{key}.onnx"
    if not path.is_file():
        export_onnx(model, path)
    return OnnxExpressionModel(path, **{"tta": model.tta, "batch_size": model.batch_size, **options})


def verify_onnx(model: ExpressionModel, path: str | Path, tolerance: float = 1e-4, faces: int = 8, name: str | Path | None = None) -> float:
    """The largest difference between the probabilities of the ONNX file ``path`` and of ``model`` (same TTA)
    on random faces; :class:`CheckpointError` (naming ``name``, default ``path``) when it exceeds ``tolerance``."""
    crops = np.random.default_rng(0).integers(0, 256, (faces, model.image_size, model.image_size), dtype=np.uint8)
    difference = float(np.abs(OnnxExpressionModel(path, tta=model.tta).predict_proba(crops) - model.predict_proba(crops)).max())
    if not difference <= tolerance:  # NaN fails too
        raise CheckpointError(
            f"{name or path}: ONNX probabilities differ from PyTorch by {difference:.2e} (more than {tolerance:.0e}, tta {model.tta}); nothing written"
        )
    return difference
