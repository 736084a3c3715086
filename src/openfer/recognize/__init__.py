"""Recognition on real inputs: :class:`Recognizer`, its sources, :class:`Results` and outputs.

The names load on first use (PEP 562), so :mod:`openfer.recognize.sources` can be imported without torch
(the ``openfer predict`` command checks its paths before it loads a model)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from openfer.lazy import lazy_attributes
from openfer.options import BACKENDS, FORMATS

if TYPE_CHECKING:
    from openfer.recognize.classifiers import AverageEnsemble, FaceClassifier, resolve_model
    from openfer.recognize.outputs import RecordWriter, plot_timeline, write_image
    from openfer.recognize.recognizer import Recognizer
    from openfer.recognize.report import Report
    from openfer.recognize.results import FACE_COLUMNS, FaceTable, Results, to_dataframe
    from openfer.recognize.sources import Frame, iter_frames

#: Public name -> the module that defines it.
_LAZY = {
    **dict.fromkeys(("AverageEnsemble", "FaceClassifier", "resolve_model"), "openfer.recognize.classifiers"),
    **dict.fromkeys(("RecordWriter", "plot_timeline", "write_image"), "openfer.recognize.outputs"),
    "Recognizer": "openfer.recognize.recognizer",
    "Report": "openfer.recognize.report",
    **dict.fromkeys(("FACE_COLUMNS", "FaceTable", "Results", "to_dataframe"), "openfer.recognize.results"),
    **dict.fromkeys(("Frame", "iter_frames"), "openfer.recognize.sources"),
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


__getattr__, __dir__ = lazy_attributes("openfer.recognize", _LAZY, globals())
