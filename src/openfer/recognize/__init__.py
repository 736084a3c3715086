"""Recognition on real inputs: :class:`Recognizer`, its sources, :class:`Results` and outputs."""

from openfer.recognize.classifiers import BACKENDS, AverageEnsemble, FaceClassifier, resolve_model
from openfer.recognize.outputs import FORMATS, RecordWriter, plot_timeline, write_image
from openfer.recognize.recognizer import Recognizer
from openfer.recognize.report import Report
from openfer.recognize.results import FACE_COLUMNS, FaceTable, Results, to_dataframe
from openfer.recognize.sources import Frame, iter_frames

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
