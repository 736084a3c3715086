"""ONNX export of expression models, their int8 quantisation, and the onnxruntime backend.

:func:`export_onnx` writes a model's network as ONNX with a dynamic batch axis and stores what is
needed to read faces (classes, input size, channels, normalisation) in the file's metadata, so
:class:`OnnxExpressionModel` needs nothing else. :func:`cached_onnx_model` exports once per weights
file into the cache folder (keyed by the file's SHA-256) and reuses it afterwards.
"""

from __future__ import annotations

import contextlib
import json
import logging
import tempfile
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import torch
from torch import nn

from openfer.cache import cache_dir
from openfer.data.base import FaceSplit
from openfer.errors import CheckpointError
from openfer.files import atomic_path, file_sha256
from openfer.imageio import display_path
from openfer.inference import ExpressionModel, Faces
from openfer.losses import logits_of
from openfer.models.layers import fuse_conv_bn
from openfer.options import CALIBRATION_METHODS

#: Bump when the exported graph or its metadata change, so that cached exports are rebuilt.
ONNX_FORMAT = 1
INPUT_NAME, OUTPUT_NAME = "faces", "logits"
#: The metadata keys :func:`export_onnx` writes (JSON values) and :class:`OnnxExpressionModel` reads.
METADATA_KEYS = ("openfer_onnx_format", "name", "classes", "image_size", "channels", "mean", "std", "tta", "quantization")


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
    # The inference form: conv + BN pairs folded and re-parameterisable blocks collapsed (same function in eval).
    net = _LogitsOnly(fuse_conv_bn(model.net)).eval()
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
        _set_metadata(graph, metadata)
        onnx.save(graph, temporary)
        if tolerance is not None:
            verify_onnx(model, temporary, tolerance=tolerance, name=output)
    return output


def _set_metadata(graph: Any, metadata: dict[str, Any]) -> None:
    """Write ``metadata`` (JSON values) into an ONNX graph's ``metadata_props``, replacing those keys."""
    kept = [(prop.key, prop.value) for prop in graph.metadata_props if prop.key not in metadata]
    del graph.metadata_props[:]
    for key, value in kept:
        graph.metadata_props.add(key=key, value=value)
    for key, value in metadata.items():
        graph.metadata_props.add(key=key, value=json.dumps(value))



@dataclass(frozen=True)
class QuantizationReport:
    """What :func:`quantize_onnx` did and measured; stored as the ``quantization`` metadata of the file."""

    calibration: str  # where the calibration faces came from, as the caller describes them
    calibration_faces: int
    method: str
    format: str  # "QDQ": QuantizeLinear/DequantizeLinear pairs that onnxruntime fuses into int8 kernels
    activations: str
    weights: str
    check_faces: int
    agreement: float  # share of the check faces whose top class is that of the float model
    max_probability_difference: float


def quantize_onnx(
    model: ExpressionModel,
    output: str | Path,
    calibration: Faces,
    *,
    source: str = "given faces",
    check: Faces | None = None,
    method: str = "minmax",
    min_agreement: float = 0.97,
    opset: int = 17,
) -> QuantizationReport:
    """Write ``model``'s network to ``output`` as an int8 ONNX graph (onnxruntime static quantisation).

    ``calibration``: uint8 face crops (an N x H x W (x 3) array or a list of crops of any size) whose activations set the int8 ranges;
    take them from training data, never from a split that is scored. ``method``: one of
    :data:`CALIBRATION_METHODS`. Weights are int8 per output channel, activations uint8 (the U8S8 kernels of
    x86 CPUs), in QDQ form. ``check``: other faces on which the int8 graph's top class must agree with the
    float model's (same TTA) on at least ``min_agreement`` of them, else :class:`CheckpointError` and no file;
    default: the calibration faces. The file keeps the float export's metadata plus the report.
    """
    import onnx
    from onnxruntime import quantization as ort_quantization

    if method not in CALIBRATION_METHODS:
        raise CheckpointError(f"calibration method must be one of {', '.join(CALIBRATION_METHODS)}, got {method!r}")
    if len(calibration) == 0:
        raise CheckpointError("int8 quantisation needs at least one calibration face")
    check = calibration if check is None else check
    output = Path(output)
    methods = {
        "minmax": ort_quantization.CalibrationMethod.MinMax,
        "percentile": ort_quantization.CalibrationMethod.Percentile,
        "entropy": ort_quantization.CalibrationMethod.Entropy,
    }
    with tempfile.TemporaryDirectory(prefix="openfer-int8-") as work:
        float_path = export_onnx(model, Path(work) / "float.onnx", opset=opset)
        prepared = Path(work) / "prepared.onnx"
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            # Shape inference and graph optimisation before quantising, as onnxruntime recommends.
            ort_quantization.quant_pre_process(str(float_path), str(prepared), skip_symbolic_shape=True)
        quantized = Path(work) / "int8.onnx"
        with _root_log_quieted():  # the quantiser logs each 1-D weight it leaves per-tensor to the root logger
            ort_quantization.quantize_static(
                str(prepared),
                str(quantized),
                _calibration_reader(model, calibration),
                quant_format=ort_quantization.QuantFormat.QDQ,
                per_channel=True,
                activation_type=ort_quantization.QuantType.QUInt8,
                weight_type=ort_quantization.QuantType.QInt8,
                calibrate_method=methods[method],
            )
        float_model = OnnxExpressionModel(float_path, tta=model.tta)
        int8_model = OnnxExpressionModel(quantized, tta=model.tta)
        reference, probabilities = float_model.predict_proba(check), int8_model.predict_proba(check)
        report = QuantizationReport(
            calibration=source,
            calibration_faces=len(calibration),
            method=method,
            format="QDQ",
            activations="uint8 per tensor",
            weights="int8 per channel",
            check_faces=len(check),
            agreement=float((reference.argmax(1) == probabilities.argmax(1)).mean()),
            max_probability_difference=float(np.abs(reference - probabilities).max()),
        )
        if not report.agreement >= min_agreement:
            raise CheckpointError(
                f"{display_path(output)}: the int8 graph agrees with the float model on {report.agreement:.2%} of "
                f"{len(check)} faces (less than {min_agreement:.0%}); nothing written"
            )
        graph = onnx.load(quantized)
        float_graph = onnx.load(float_path)
        metadata = {prop.key: json.loads(prop.value) for prop in float_graph.metadata_props if prop.key in METADATA_KEYS}
        _set_metadata(graph, {**metadata, "quantization": asdict(report)})
        with atomic_path(output) as temporary:
            onnx.save(graph, temporary)
    return report


@contextlib.contextmanager
def _root_log_quieted() -> Iterator[None]:
    """Hide the root logger's records below ERROR for the block (onnxruntime's quantiser writes there)."""
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)
    try:
        yield
    finally:
        root.setLevel(level)


def draw_calibration_faces(split: FaceSplit, calibration: int = 512, check: int = 512, seed: int = 0) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Seeded, disjoint draws of ``calibration`` and ``check`` faces from ``split`` (a training split) for
    :func:`quantize_onnx`; a split too small for both keeps at least one face for the check."""
    if len(split) < 2:
        raise CheckpointError(f"split {split.name} has {len(split)} faces; int8 calibration needs at least 2")
    order = np.random.default_rng(seed).permutation(len(split))[: calibration + check]
    cut = min(calibration, len(order) - 1)
    images = [split.image(int(i)) for i in order]
    return images[:cut], images[cut:]


def _calibration_reader(model: ExpressionModel, faces: Faces, batch_size: int = 64) -> Any:
    """An onnxruntime ``CalibrationDataReader`` feeding ``faces`` preprocessed by ``model``, ``batch_size`` at a time."""
    from onnxruntime.quantization import CalibrationDataReader

    class Reader(CalibrationDataReader):
        def __init__(self) -> None:
            self.start = 0

        def get_next(self) -> dict[str, np.ndarray] | None:
            if self.start >= len(faces):
                return None
            batch = model.preprocess(faces[self.start : self.start + batch_size]).numpy()
            self.start += batch_size
            return {INPUT_NAME: np.ascontiguousarray(batch, dtype=np.float32)}

        def rewind(self) -> None:
            self.start = 0

    return Reader()


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
        try:  # only openfer's keys: other tools (the quantiser) add their own, not JSON
            meta = {key: json.loads(raw[key]) for key in METADATA_KEYS if key in raw}
        except json.JSONDecodeError:
            raise CheckpointError(f"{path}: its openfer metadata is not JSON; export it again with 'openfer export'") from None
        super().__init__(
            _OnnxNet(session),
            meta["classes"],
            image_size=int(meta["image_size"]),
            channels=int(meta["channels"]),
            mean=float(meta["mean"]),
            std=float(meta["std"]),
            tta=tta or meta.get("tta", "flip"),
            batch_size=batch_size,
            precision="fp32",  # onnxruntime runs the graph as exported; bf16 autocast is torch's
            name=f"{meta.get('name') or path.stem} (onnxruntime{' int8' if meta.get('quantization') else ''})",
        )
        self.path = path
        #: What :func:`quantize_onnx` stored (calibration, agreement), or None for a float graph.
        self.quantization: dict[str, Any] | None = meta.get("quantization")


def cached_onnx_model(model: ExpressionModel, weights: str | Path, **options: Any) -> OnnxExpressionModel:
    """``model`` (built from the file ``weights``) as an :class:`OnnxExpressionModel`.

    The export is made on first use into ``cache_dir()/onnx``, named by the weights file's hash and the
    model's name, and reused while the file is unchanged. :func:`quantize_onnx` writes an int8 copy by
onnxruntime's static quantisation, calibrated on faces the caller gives (``openfer export --int8`` takes them from
a training split), and checks it against the float model before the file takes its name. ``options`` go to :class:`OnnxExpressionModel`.
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
    with model.exact():
        reference = model.predict_proba(crops)
    difference = float(np.abs(OnnxExpressionModel(path, tta=model.tta).predict_proba(crops) - reference).max())
    if not difference <= tolerance:  # NaN fails too
        raise CheckpointError(
            f"{name or path}: ONNX probabilities differ from PyTorch by {difference:.2e} (more than {tolerance:.0e}, tta {model.tta}); nothing written"
        )
    return difference
