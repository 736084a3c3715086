"""Recall of YuNet (and of YuNet or Haar together) on harder versions of the 43 labelled faces.

No offline photos show faces covered by a hand or large grey faces, so they are made from the labelled
faces of the shared photos: *occluded*: a patch of the face's own (lower-half) mean colour over the
forehead and one eye (45 % of the box height, from a quarter-width left of the box to 80 % of its width);
*large*: a crop of twice the box around the face, scaled so that the face is 300 px wide, in colour and
in grey. A face counts as found when a detection overlaps it with IoU >= 0.4. Also: YuNet on the nine
labelled photos and the dogs photo turned grey (IoU >= 0.5, one-to-one, as benchmarks/detector_recall.py).

    python benchmarks/detector_hard_faces.py [--photos DIR]
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import sys
import time
from pathlib import Path

import cv2

sys.path.insert(0, str(Path(__file__).resolve().parent))
from detector_recall import NO_FACE_PHOTO, iou, labelled_boxes, match  # noqa: E402

REPO = Path(__file__).resolve().parents[1]


def found(boxes: list, box: tuple) -> bool:
    return max((iou(box, f) for f in boxes), default=0.0) >= 0.4


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--photos", type=Path, default=Path(os.environ.get("OPENFER_SHARED", REPO.parent / "shared")) / "photos")
    args = parser.parse_args()

    from openfer.faces import create_detector
    from openfer.imageio import read_image, to_channels

    yunet, haar = create_detector("yunet"), create_detector("haar")
    seconds = {"yunet": 0.0, "haar": 0.0}

    def detect(image):
        start = time.perf_counter()
        by_yunet = [d.box for d in yunet.detect(image)]
        seconds["yunet"] += time.perf_counter() - start
        start = time.perf_counter()
        by_haar = [d.box for d in haar.detect(image)]
        seconds["haar"] += time.perf_counter() - start
        return by_yunet, by_haar

    rows = {"occluded forehead and eye": [0, 0, 0], "large face, colour": [0, 0, 0], "large face, grey": [0, 0, 0]}
    images = 0
    for name, boxes in labelled_boxes(args.photos).items():
        image = read_image(args.photos / name, grey=False)
        for x, y, w, h in (tuple(map(int, b)) for b in boxes):
            cx, cy = x + w // 2, y + h // 2
            x0, y0 = max(0, cx - w), max(0, cy - h)
            scale = 300 / w
            crop = cv2.resize(image[y0 : cy + h, x0 : cx + w], None, fx=scale, fy=scale)
            box = ((x - x0) * scale, (y - y0) * scale, w * scale, h * scale)
            occluded = image.copy()
            occluded[y : y + int(0.45 * h), max(0, x - w // 4) : x + int(0.8 * w)] = image[y + h // 2 : y + h, x : x + w].reshape(-1, 3).mean(0)
            for key, picture, target in (
                ("large face, colour", crop, box),
                ("large face, grey", to_channels(to_channels(crop, 1), 3), box),
                ("occluded forehead and eye", occluded, (x, y, w, h)),
            ):
                by_yunet, by_haar = detect(picture)
                images += 1
                row = rows[key]
                row[0] += 1
                row[1] += found(by_yunet, target)
                row[2] += found(by_yunet, target) or found(by_haar, target)
    grey_matched = grey_false = 0
    for name, boxes in labelled_boxes(args.photos).items():
        grey = to_channels(read_image(args.photos / name, grey=True), 3)
        by_yunet = [d.box for d in yunet.detect(grey)]
        grey_matched += match(boxes, by_yunet)
        grey_false += len(by_yunet) - match(boxes, by_yunet)
    grey_dogs = len(yunet.detect(to_channels(read_image(args.photos / NO_FACE_PHOTO, grey=True), 3)))
    print(f"command: python {' '.join(sys.argv)}")
    print(f"date: {datetime.date.today()}; machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores; "
          f"OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', '-')}\n")
    print("| faces | count | YuNet (min score 0.75) | YuNet or Haar |")
    print("|---|---|---|---|")
    for key, (count, by_yunet, either) in rows.items():
        print(f"| {key} | {count} | {by_yunet} | {either} |")
    print(f"| the nine labelled photos turned grey | 43 | {grey_matched} ({grey_false} false, {grey_dogs} on the dogs) | |")
    print(f"\nms per image: YuNet {1000 * seconds['yunet'] / images:.0f}, Haar {1000 * seconds['haar'] / images:.0f}")


if __name__ == "__main__":
    main()
