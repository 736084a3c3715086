"""Recognition on real inputs: :class:`Recognizer`, its sources, :class:`Results` and outputs."""

from openfer.recognize.models import AverageEnsemble, FaceClassifier, resolve_model
from openfer.recognize.outputs import RecordWriter, plot_timeline, video_summary, write_image
from openfer.recognize.recognizer import Recognizer
from openfer.recognize.results import Results, to_dataframe
from openfer.recognize.sources import Frame, iter_frames

__all__ = [
    "AverageEnsemble",
    "FaceClassifier",
    "Frame",
    "RecordWriter",
    "Recognizer",
    "Results",
    "iter_frames",
    "plot_timeline",
    "resolve_model",
    "to_dataframe",
    "video_summary",
    "write_image",
]
