"""Faces: detectors (YuNet, Haar cascade, dlib), landmarks, eye alignment and crops, DPSAN region crops."""

from openfer.faces.align import eye_centres, face_crop
from openfer.faces.detection import Detection, FaceDetector, create_detector, list_detectors, register_detector
from openfer.faces.dlib_detector import DlibDetector
from openfer.faces.haar import HaarDetector
from openfer.faces.yunet import YuNetDetector

__all__ = [
    "Detection",
    "DlibDetector",
    "FaceDetector",
    "HaarDetector",
    "YuNetDetector",
    "create_detector",
    "eye_centres",
    "face_crop",
    "list_detectors",
    "register_detector",
]
