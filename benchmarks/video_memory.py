"""Frames per second and peak memory of ``Recognizer.run`` against video length (a short clip looped).

Each length runs in a fresh process (so peak RSS is that run's own): records to a CSV, summary and
timeline to a folder, tracking on. A flat peak-RSS column means memory does not grow with the video;
``tracking %`` is the share of the run's time spent in the tracker (association, cut detection, smoothing).

    OMP_NUM_THREADS=1 python benchmarks/video_memory.py --lengths 30 60 120
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import subprocess
import sys
import tempfile
from pathlib import Path

import cv2
import numpy as np

PHOTO = Path("/work/shared/photos/obama_240p.jpg")

CHILD = r"""
import json, resource, sys, time
from openfer.recognize import Recognizer
video, out = sys.argv[1], sys.argv[2]
recognizer = Recognizer("fast")
start = time.perf_counter()
report = recognizer.run(video, output=out + "/faces.csv", summary_dir=out + "/summary", verbose=0)
seconds = time.perf_counter() - start
frames = sum(report.frames.values())
print(json.dumps({"frames": frames, "faces": report.faces, "seconds": seconds, "tracking": recognizer.tracking_seconds,
                  "tracks": len(report.tracks), "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def write_looped(path: Path, seconds: float, fps: float, clip_frames: int) -> int:
    """A video of ``seconds`` at ``fps``: a ``clip_frames``-frame clip of the shared face photo drifting, looped."""
    photo = cv2.imread(str(PHOTO))
    if photo is None:
        sys.exit(f"needs the shared photo {PHOTO}")
    height, width = photo.shape[:2]
    clip = [cv2.warpAffine(photo, np.float32([[1, 0, 6 * np.sin(i / 8)], [0, 1, 3 * np.cos(i / 11)]]), (width, height), borderMode=cv2.BORDER_REPLICATE)
            for i in range(clip_frames)]
    total = round(seconds * fps)
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, (width, height))
    for index in range(total):
        writer.write(clip[index % clip_frames])
    writer.release()
    return total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lengths", type=float, nargs="+", default=[30, 60, 120], help="video lengths in seconds")
    parser.add_argument("--fps", type=float, default=10.0, help="frame rate of the synthesised videos")
    parser.add_argument("--clip-frames", type=int, default=50, help="frames of the clip that is looped")
    args = parser.parse_args()
    print(f"# {' '.join(sys.argv)}")
    print(f"# {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', 'unset')}, "
          f"{datetime.date.today().isoformat()}; video {args.fps:g} fps from {PHOTO.name} (427x240), a {args.clip_frames}-frame clip looped")
    print(f"{'length s':>9} {'frames':>7} {'faces':>6} {'tracks':>6} {'frames/s':>9} {'peak RSS MB':>12} {'tracking %':>11}")
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        for length in args.lengths:
            video = Path(folder) / f"loop{length:g}.mp4"
            write_looped(video, length, args.fps, args.clip_frames)
            out = Path(folder) / f"out{length:g}"
            out.mkdir()
            answer = subprocess.run([sys.executable, "-c", CHILD, str(video), str(out)], capture_output=True, text=True, check=True)
            row = json.loads(answer.stdout.strip().splitlines()[-1])
            rows.append(row)
            print(f"{length:>9g} {row['frames']:>7} {row['faces']:>6} {row['tracks']:>6} {row['frames'] / row['seconds']:>9.1f} "
                  f"{row['peak_rss_mb']:>12.0f} {100 * row['tracking'] / row['seconds']:>10.2f}%", flush=True)
            video.unlink()
    if len(rows) > 1:
        peaks = [row["peak_rss_mb"] for row in rows]
        slope = (rows[-1]["peak_rss_mb"] - rows[0]["peak_rss_mb"]) / max(1, rows[-1]["frames"] - rows[0]["frames"])
        hour = 3600 * args.fps
        print(f"# peak RSS {min(peaks):.0f}-{max(peaks):.0f} MB over {rows[0]['frames']}-{rows[-1]['frames']} frames (slope {slope * 1024:+.2f} KB/frame); "
              f"one hour at {args.fps:g} fps ({hour:.0f} frames) would take {hour / (rows[-1]['frames'] / rows[-1]['seconds']) / 60:.0f} min at the last row's speed")

if __name__ == "__main__":
    main()
