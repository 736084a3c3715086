"""The names of the choices the API and the ``openfer`` command share (TTA modes, presets, backends, output
formats, weight storages, voting rules) and the defaults they share, in one torch-free module: the command
parses its arguments and rejects bad ones without loading torch, and each module that implements a choice
imports its names from here."""

from __future__ import annotations

from typing import Any

#: Inference precisions of :class:`openfer.ExpressionModel` (``auto``: bf16 where the CPU computes it natively).
PRECISIONS: tuple[str, ...] = ("fp32", "bf16", "auto")
#: Test-time augmentation modes (:mod:`openfer.augment`).
TTA_MODES: tuple[str, ...] = ("none", "flip", "tencrop", "affine")
#: The shipped-model presets and the options each implies (:func:`openfer.load_model`; options given to it
#: override these): the whole shipped ensemble with the 14 affine views, and the one distilled network with flip.
PRESETS: dict[str, dict[str, Any]] = {"default": {"tta": "affine"}, "fast": {"tta": "flip"}}
#: How a recogniser runs its classifier (:mod:`openfer.recognize.classifiers`).
BACKENDS: tuple[str, ...] = ("auto", "onnx", "onnx-int8", "torch", "torch-bf16")
#: Per-face record formats (:mod:`openfer.recognize.outputs`).
FORMATS: tuple[str, ...] = ("csv", "jsonl")
#: How packed weights store their tensors (:mod:`openfer.checkpoints`).
STORAGES: tuple[str, ...] = ("float32", "float16", "int8")
#: Ensemble voting rules (:mod:`openfer.ensemble.mixed`).
RULE_NAMES: tuple[str, ...] = ("t2v", "t1v", "noi", "average", "weighted")
#: Rules an ensemble's members may be chosen under (:mod:`openfer.ensemble.selection`); ``weighted`` ranks
#: subsets by equal weights, then searches the weights.
SELECTION_RULES: tuple[str, ...] = ("average", "noi", "t2v", "t1v", "weighted")
#: Calibration methods of onnxruntime's static quantisation, by the names ``openfer export`` takes.
CALIBRATION_METHODS: tuple[str, ...] = ("minmax", "percentile", "entropy")
#: FGA's parent-selection temperature: softmax(-loss / T) (:mod:`openfer.ensemble.fga`).
FGA_TEMPERATURE = 0.05
