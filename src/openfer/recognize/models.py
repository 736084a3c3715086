"""What the recogniser classifies faces with: the shipped default, a file, a registered name, or an ensemble.

Every model here follows the :class:`~openfer.inference.ExpressionModel` contract: ``classes`` and
``predict_proba(faces) -> (N, len(classes))`` on uint8 face crops of any size.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Protocol, Sequence, Union, runtime_checkable

import numpy as np

from openfer.checkpoints import load_weights, read_state_dict
from openfer.errors import CheckpointError, ConfigError
from openfer.inference import DEFAULT_WEIGHTS, PRESETS, ExpressionModel, Faces, load_model, model_from_weights, native_bf16
from openfer.labels import FER2013
from openfer.models.registry import create_model, list_models, model_info

BACKENDS = ("auto", "onnx", "torch", "torch-bf16")
#: The shipped-model preset a Recognizer uses when given no model.
RECOGNIZER_PRESET = "fast"


@runtime_checkable
class FaceClassifier(Protocol):
    """Anything with ``classes`` and ``predict_proba`` on face crops (ExpressionModel, its ONNX twin, ensembles)."""

    classes: tuple[str, ...]

    def predict_proba(self, faces: Faces) -> np.ndarray: ...


ModelSpec = Union[FaceClassifier, str, Path, Sequence[Union[FaceClassifier, str, Path]], None]


class AverageEnsemble:
    """Averages the class probabilities of several models that share the same classes, in the same order."""

    def __init__(self, models: Sequence[FaceClassifier]) -> None:
        if len(models) < 1:
            raise ConfigError("AverageEnsemble: needs at least one model")
        self.models = list(models)
        self.classes: tuple[str, ...] = tuple(models[0].classes)
        for i, model in enumerate(self.models[1:], start=1):
            if tuple(model.classes) != self.classes:
                raise ConfigError(
                    f"AverageEnsemble: model {i} has classes {list(model.classes)}, model 0 has {list(self.classes)}"
                )

    def __repr__(self) -> str:
        return f"AverageEnsemble({', '.join(map(repr, self.models))})"

    def predict_proba(self, faces: Faces) -> np.ndarray:
        """The mean of the models' probabilities, (N, len(classes))."""
        return np.mean([model.predict_proba(faces) for model in self.models], axis=0).astype(np.float32)

    def predict(self, faces: Faces) -> list[str]:
        """The most probable class name of each face."""
        return [self.classes[i] for i in self.predict_proba(faces).argmax(1)]


def resolve_model(
    model: ModelSpec = None, checkpoint: str | Path | None = None, backend: str = "auto"
) -> FaceClassifier:
    """A face classifier from any of the accepted forms.

    * None or ``"fast"``: the first network of the shipped ensemble (the recogniser's default: about 3x
      faster to classify than the whole ensemble, which keeps the pipeline at 2x the ``fer`` package's speed);
      ``"default"``: the whole shipped ensemble (the most accurate; :data:`openfer.inference.PRESETS`);
    * an object with ``classes`` and ``predict_proba`` (used as given);
    * a path to an ``.onnx`` file exported by openfer, or to an openfer weights/checkpoint file;
    * a registered model name (see ``openfer.list_models()``) with ``checkpoint`` holding its weights;
    * a list or tuple of the above: an :class:`AverageEnsemble`.

    ``backend``: ``"onnx"`` runs files through onnxruntime (exported once into the cache folder),
    ``"torch"`` in PyTorch (fp32), ``"torch-bf16"`` in PyTorch with bfloat16 autocast. ``"auto"`` picks the
    fastest measured on the machine's kind of CPU: torch-bf16 where the CPU computes bf16 natively (AMX or
    AVX512-BF16: 1.3 ms per face against onnxruntime's 3.9 ms, docs/recognize.md#speed), else onnx when
    onnxruntime is installed, else torch.
    """
    if backend not in BACKENDS:
        raise ConfigError(f"backend must be one of {', '.join(BACKENDS)}; got {backend!r}")
    if isinstance(model, (list, tuple)):
        if checkpoint is not None:
            raise ConfigError("checkpoint: give one per model inside the list instead (as paths)")
        return AverageEnsemble([resolve_model(m, backend=backend) for m in model])
    if isinstance(model, FaceClassifier):
        return model
    if model is None:
        model = RECOGNIZER_PRESET
    if isinstance(model, str) and model in PRESETS and not Path(model).is_file():
        if checkpoint is not None:
            raise ConfigError(f"checkpoint: not used with the shipped model {model!r}")
        return _with_backend(load_model(model), DEFAULT_WEIGHTS, backend)
    if not isinstance(model, (str, Path)):
        raise ConfigError(f"model: expected a model, a path, a registered name or a list; got {type(model).__name__}")
    if checkpoint is not None:
        return _with_backend(_from_name(str(model), Path(checkpoint)), Path(checkpoint), backend)
    path = Path(model)
    if path.is_file():
        return _from_file(path, backend)
    if str(model) in list_models():
        raise ConfigError(f"model {str(model)!r} is a registered architecture: pass checkpoint=PATH with its weights")
    raise CheckpointError(f"{model}: no such weights file, and not a registered model name")


def _from_file(path: Path, backend: str) -> FaceClassifier:
    if path.suffix == ".onnx":
        if backend == "torch":
            raise ConfigError(f"{path}: an ONNX file runs only with backend 'onnx' or 'auto'")
        from openfer.export import OnnxExpressionModel

        return OnnxExpressionModel(path)
    return _with_backend(model_from_weights(path), path, backend)


def _from_name(name: str, checkpoint: Path) -> ExpressionModel:
    """A registered architecture with weights from ``checkpoint`` (whose metadata may name the model)."""
    _, metadata = read_state_dict(checkpoint)
    stored = metadata.get("model")
    if stored:
        if stored != name:
            raise CheckpointError(f"{checkpoint}: holds weights of model {stored!r}, not {name!r}")
        return model_from_weights(checkpoint)
    info = model_info(name)
    classes = metadata.get("classes") or list(FER2013)
    net = create_model(name, num_classes=len(classes))
    load_weights(net, checkpoint)
    channels, _, size = info.input_size
    return ExpressionModel(net, classes, image_size=size, channels=channels, name=name)


def _with_backend(model: ExpressionModel, weights: Path, backend: str) -> ExpressionModel:
    if backend == "auto":
        backend = "torch-bf16" if native_bf16() else "onnx" if importlib.util.find_spec("onnxruntime") else "torch"
    if backend in ("torch", "torch-bf16"):
        model.set_precision("bf16" if backend == "torch-bf16" else "fp32")
        return model
    if importlib.util.find_spec("onnxruntime") is None:
        raise ConfigError("backend 'onnx' needs onnxruntime: pip install onnxruntime")
    from openfer.export import cached_onnx_model

    return cached_onnx_model(model, weights)
