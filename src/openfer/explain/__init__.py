"""Explanations and reports: Grad-CAM maps, t-SNE of features, curves, and one report per run (docs/explain.md)."""

from openfer.explain.curves import plot_confusion_matrix, plot_precision_recall, plot_reliability, plot_training_curves
from openfer.explain.embeddings import Embedding, penultimate_features, tsne
from openfer.explain.gradcam import CamResult, PhotoExplanation, default_layers, explain_photo, gradcam, save_gradcam
from openfer.explain.report import Report, build_report, write_report

__all__ = [
    "CamResult",
    "Embedding",
    "PhotoExplanation",
    "Report",
    "build_report",
    "default_layers",
    "explain_photo",
    "gradcam",
    "penultimate_features",
    "plot_confusion_matrix",
    "plot_precision_recall",
    "plot_reliability",
    "plot_training_curves",
    "save_gradcam",
    "tsne",
    "write_report",
]
