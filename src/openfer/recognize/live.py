"""A live window that shows results with their boxes and labels as they come (webcam, video)."""

from __future__ import annotations

import os
import re
import sys
from typing import Iterable, Iterator

import cv2

from openfer.errors import ConfigError
from openfer.recognize.results import Results


def display_problem() -> str | None:
    """Why no window can be opened here (no GUI in this OpenCV build, or no display), or None."""
    match = re.search(r"^\s*GUI:\s*(\S+)", cv2.getBuildInformation(), re.MULTILINE)
    if match and match.group(1).upper() == "NONE":
        return "this OpenCV build has no GUI (opencv-python-headless); install opencv-python for a live window"
    if sys.platform.startswith("linux") and not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
        return "no display to open a window on (DISPLAY and WAYLAND_DISPLAY are not set)"
    return None


def show_live(results: Iterable[Results], title: str = "openfer") -> Iterator[Results]:
    """Show each result's annotated image in a window and pass the result on; stops on q, Esc or closing.

    Raises :class:`ConfigError` naming the reason when no window can be opened here.
    """
    problem = display_problem()
    if problem:
        raise ConfigError(f"live window: {problem}; run without the window (--no-show) and save results instead")
    cv2.namedWindow(title, cv2.WINDOW_NORMAL)
    try:
        for result in results:
            if result.image is not None:
                cv2.imshow(title, cv2.cvtColor(result.plot(), cv2.COLOR_RGB2BGR))
            yield result
            key = cv2.waitKey(1) & 0xFF
            if key in (ord("q"), 27) or cv2.getWindowProperty(title, cv2.WND_PROP_VISIBLE) < 1:
                break
    finally:
        cv2.destroyWindow(title)
