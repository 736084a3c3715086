"""What the recogniser classifies faces with: anything :func:`openfer.load_model` resolves, a list of
those averaged as an ensemble, or a ready classifier; and the backend each runs on.

Every model here follows the :class:`~openfer.inference.ExpressionModel` contract: ``classes`` and
``predict_proba(faces) -> (N, len(classes))`` on uint8 face crops of any size.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Protocol, Sequence, Union, runtime_checkable

import numpy as np

from openfer.ensemble.averaging import AverageEnsemble
from openfer.errors import CheckpointError, ConfigError
from openfer.inference import FAST_INT8, FAST_WEIGHTS, ExpressionModel, Faces, has_amx, load_model, native_bf16
from openfer.options import BACKENDS

#: The shipped-model preset a Recognizer uses when given no model.
RECOGNIZER_PRESET = "fast"

__all__ = ["BACKENDS", "RECOGNIZER_PRESET", "AverageEnsemble", "FaceClassifier", "ModelSpec", "resolve_model"]


@runtime_checkable
class FaceClassifier(Protocol):
    """Anything with ``classes`` and ``predict_proba`` on face crops (ExpressionModel, its ONNX twin, ensembles)."""

    classes: tuple[str, ...]

    def predict_proba(self, faces: Faces) -> np.ndarray: ...


ModelSpec = Union[FaceClassifier, str, Path, Sequence[Union[FaceClassifier, str, Path]], None]


def resolve_model(
    model: ModelSpec = None, checkpoint: str | Path | None = None, backend: str = "auto"
) -> FaceClassifier:
    """A face classifier from any of the accepted forms.

    * None or ``"fast"``: one network distilled from the shipped ensemble (the recogniser's default: about 3x
      faster to classify than the whole ensemble); ``"default"``: the whole shipped ensemble (the most
      accurate; :data:`openfer.inference.PRESETS`);
    * an object with ``classes`` and ``predict_proba`` (used as given);
    * anything else :func:`openfer.load_model` takes: a weights/checkpoint file, an ``.onnx`` file, or a
      registered model name with ``checkpoint`` holding its weights;
    * a list or tuple of the above: an :class:`~openfer.ensemble.AverageEnsemble`.

    ``backend``: ``"onnx"`` runs weights files through onnxruntime (exported once into the cache folder),
    ``"onnx-int8"`` the ``fast`` preset's shipped int8 export (:data:`openfer.inference.FAST_INT8`; other
    models: export one with ``openfer export --int8`` and pass the ``.onnx`` file), ``"torch"`` in PyTorch
    (fp32), ``"torch-bf16"`` in PyTorch with bfloat16 autocast. ``"auto"``: for the ``fast`` preset the int8
    export where onnxruntime is installed and the CPU has no AMX (there it runs the pipeline 1.37x faster
    than bf16 at the same accuracy); otherwise torch-bf16 where the CPU computes bf16 natively (AMX or
    AVX512-BF16), else onnx when onnxruntime is installed, else torch (measured in docs/recognize.md#speed).
    """
    if backend not in BACKENDS:
        raise ConfigError(f"backend must be one of {', '.join(BACKENDS)}; got {backend!r}")
    if isinstance(model, (list, tuple)):
        if checkpoint is not None:
            raise ConfigError("checkpoint: give one per model inside the list instead (as paths)")
        return AverageEnsemble([resolve_model(m, backend=backend) for m in model])
    if isinstance(model, FaceClassifier):
        return model
    if model is not None and not isinstance(model, (str, Path)):
        raise ConfigError(f"model: expected a model, a path, a registered name or a list; got {type(model).__name__}")
    loaded = load_model(RECOGNIZER_PRESET if model is None else model, checkpoint)
    return _with_backend(loaded, backend)


def _with_backend(model: ExpressionModel, backend: str) -> ExpressionModel:
    """``model`` on ``backend``: its precision set, or exported to ONNX once (cached by its weights file)."""
    from openfer.ensemble.mixed import MixedEnsemble
    from openfer.export import OnnxExpressionModel

    if isinstance(model, MixedEnsemble):  # members share one file, which the ONNX cache keys on: torch only
        if backend == "onnx":
            raise ConfigError("a mixed ensemble (openfer ensemble pack) runs with backend 'torch', 'torch-bf16' or 'auto'")
        model.set_precision("bf16" if backend == "torch-bf16" or (backend == "auto" and native_bf16()) else "fp32")
        return model
    if isinstance(model, OnnxExpressionModel):
        if backend in ("torch", "torch-bf16"):
            raise ConfigError(f"{model.path}: an ONNX file runs only with backend 'onnx' or 'auto'")
        return model
    onnxruntime = importlib.util.find_spec("onnxruntime") is not None
    fast = model.weights_file is not None and Path(model.weights_file).resolve() == FAST_WEIGHTS.resolve()
    if backend == "auto":
        int8 = fast and onnxruntime and FAST_INT8.is_file() and not has_amx()
        backend = "onnx-int8" if int8 else "torch-bf16" if native_bf16() else "onnx" if onnxruntime else "torch"
    if backend == "onnx-int8":
        if not fast:
            raise ConfigError(
                f"backend 'onnx-int8': an int8 export ships only for the 'fast' preset; for {model.weights_file or model.name}, "
                "write one with 'openfer export --int8 --checkpoint FILE --output FILE.onnx' and pass that file"
            )
        if not onnxruntime:
            raise ConfigError("backend 'onnx-int8' needs onnxruntime: pip install onnxruntime")
        if not FAST_INT8.is_file():
            raise CheckpointError(f"{FAST_INT8}: the fast preset's int8 export is missing from this installation")
        return OnnxExpressionModel(FAST_INT8, tta=model.tta, batch_size=model.batch_size)
    if backend in ("torch", "torch-bf16"):
        model.set_precision("bf16" if backend == "torch-bf16" else "fp32")
        return model
    if not onnxruntime:
        raise ConfigError("backend 'onnx' needs onnxruntime: pip install onnxruntime")
    from openfer.export import cached_onnx_model

    return cached_onnx_model(model, model.weights_file)
