"""Recognition on real inputs: :class:`Recognizer`, its sources, :class:`Results` and outputs.

The names load on first use (PEP 562), so :mod:`openfer.recognize.sources` can be imported without torch
(the ``openfer predict`` command checks its paths before it loads a model)."""

from __future__ import annotations

import importlib
import importlib.util
from typing import TYPE_CHECKING, Any

from openfer.options import BACKENDS, FORMATS

if TYPE_CHECKING:
    from openfer.recognize.classifiers import AverageEnsemble, FaceClassifier, resolve_model
    from openfer.recognize.outputs import RecordWriter, plot_timeline, write_image
    from openfer.recognize.recognizer import Recognizer
    from openfer.recognize.report import Report
    from openfer.recognize.results import FACE_COLUMNS, FaceTable, Results, to_dataframe
    from openfer.recognize.sources import Frame, iter_frames

#: Public name -> the submodule that defines it.
_LAZY = {
    **dict.fromkeys(("AverageEnsemble", "FaceClassifier", "resolve_model"), "classifiers"),
    **dict.fromkeys(("RecordWriter", "plot_timeline", "write_image"), "outputs"),
    "Recognizer": "recognizer",
    "Report": "report",
    **dict.fromkeys(("FACE_COLUMNS", "FaceTable", "Results", "to_dataframe"), "results"),
    **dict.fromkeys(("Frame", "iter_frames"), "sources"),
}

__all__ = [
    "BACKENDS",
    "FACE_COLUMNS",
    "FORMATS",
    "AverageEnsemble",
    "FaceTable",
    "FaceClassifier",
    "Frame",
    "RecordWriter",
    "Recognizer",
    "Report",
    "Results",
    "iter_frames",
    "plot_timeline",
    "resolve_model",
    "to_dataframe",
    "write_image",
]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(importlib.import_module(f"openfer.recognize.{_LAZY[name]}"), name)
        globals()[name] = value
        return value
    if not name.startswith("_") and importlib.util.find_spec(f"openfer.recognize.{name}") is not None:
        return importlib.import_module(f"openfer.recognize.{name}")  # a submodule, as the eager imports used to bind it
    raise AttributeError(f"module 'openfer.recognize' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
