"""Images per second of ``openfer predict``'s local engine against the Ray engine with 1 and 2 workers,
measured in one run on the same images, and the peak RSS of each Ray worker.

    OMP_NUM_THREADS=1 python benchmarks/ray_scaling.py [--images 240] [--side 320]

The images are crops and mirror images of the shared photos (``../shared/photos``). Ray runs as a local
cluster of this machine's CPUs; each Ray run writes fresh partitions, so nothing is skipped.
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import resource
import sys
import tempfile
import threading
import time
from pathlib import Path

import cv2

from openfer import Recognizer

REPO = Path(__file__).resolve().parents[1]


def make_images(count: int, side: int, folder: Path) -> list[Path]:
    photos = sorted((REPO.parent / "shared" / "photos").glob("*.jpg"))
    paths = []
    for number in range(count):
        image = cv2.imread(str(photos[number % len(photos)]))
        height, width = image.shape[:2]
        shift = number // len(photos) % 4
        crop = image[shift * height // 16 : shift * height // 16 + height * 3 // 4, shift * width // 16 : shift * width // 16 + width * 3 // 4]
        crop = cv2.flip(crop, 1) if number // len(photos) % 2 else crop
        scale = side / max(crop.shape[:2])
        paths.append(folder / f"{number:04d}.jpg")
        cv2.imwrite(str(paths[-1]), cv2.resize(crop, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA))
    return paths


class WorkerMemory:
    """Polls the peak RSS (VmHWM) of the Ray actor processes running the recognisers."""

    def __init__(self) -> None:
        self.peaks: dict[int, int] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll, daemon=True)

    def __enter__(self) -> WorkerMemory:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()

    def _poll(self) -> None:
        while not self._stop.wait(0.2):
            for entry in os.listdir("/proc"):
                if not entry.isdigit():
                    continue
                try:
                    if not Path(f"/proc/{entry}/cmdline").read_bytes().startswith(b"ray::MapWorker"):
                        continue
                    for line in Path(f"/proc/{entry}/status").read_text().splitlines():
                        if line.startswith("VmHWM:"):
                            self.peaks[int(entry)] = max(self.peaks.get(int(entry), 0), int(line.split()[1]) // 1024)
                except OSError:
                    continue


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=240)
    parser.add_argument("--side", type=int, default=320, help="longer side of each image in pixels")
    args = parser.parse_args()
    import ray

    with tempfile.TemporaryDirectory(prefix="ofbench") as temp:
        folder = Path(temp)
        (folder / "images").mkdir()
        images = make_images(args.images, args.side, folder / "images")
        recognizer = Recognizer(track=False)
        recognizer.run(images[:4], folder / "warm.csv", verbose=0)
        start = time.perf_counter()
        recognizer.run(images, folder / "local.csv", verbose=0)
        rows = [("local (one process)", args.images / (time.perf_counter() - start), resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024, "")]
        ray.init(num_cpus=os.cpu_count(), include_dashboard=False, log_to_driver=False, logging_level="ERROR")
        try:
            for workers in (1, 2):
                with WorkerMemory() as memory:
                    start = time.perf_counter()
                    recognizer.run(images, folder / f"ray{workers}.csv", engine="ray", partitions=folder / f"parts{workers}", workers=workers, verbose=0)
                    seconds = time.perf_counter() - start
                peaks = sorted(memory.peaks.values())
                rows.append((f"ray, {workers} worker{'s' if workers > 1 else ''}", args.images / seconds, max(peaks, default=0), ", ".join(map(str, peaks))))
        finally:
            ray.shutdown()
    baseline = rows[0][1]
    print(f"# {' '.join(sys.argv)}  ({args.images} images of {args.side} px, default model, YuNet; Ray {ray.__version__})")
    print(f"# {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, {datetime.date.today()}; Ray timings include starting the actors")
    print(f"{'engine':<22} {'images/s':>9} {'vs local':>9} {'peak RSS MiB':>13}  per worker")
    for name, rate, rss, per_worker in rows:
        print(f"{name:<22} {rate:9.1f} {rate / baseline:8.2f}x {rss:13d}  {per_worker}")


if __name__ == "__main__":
    main()
