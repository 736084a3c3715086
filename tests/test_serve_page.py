"""The service's page (GET /) and tracking sessions: served offline, and driven in a real headless Chromium
against a real server, where uploading a shared group photo draws one box per face."""

from __future__ import annotations

import re
import socket
import threading
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

pytest.importorskip("httpx")

from fastapi.testclient import TestClient  # noqa: E402

from openfer.faces import Detection, FaceDetector  # noqa: E402
from openfer.recognize import Recognizer  # noqa: E402
from openfer.serve import _Sessions, create_app  # noqa: E402

GROUP_PHOTO = Path("/work/shared/photos/2008_002506.jpg")
CLASSES = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")


class FlatModel:
    """A stand-in classifier (the page test is about the page, not the network): fixed probabilities."""

    classes = CLASSES

    def predict_proba(self, faces) -> np.ndarray:
        row = np.array([0.05, 0.05, 0.05, 0.55, 0.1, 0.1, 0.1], np.float32)
        return np.tile(row, (len(faces), 1))


class MovingFace(FaceDetector):
    """One face box that follows the brightest column band of the image (the test moves it)."""

    name = "moving"

    def _detect(self, image_rgb: np.ndarray) -> list[Detection]:
        column = int(np.argmax(image_rgb[..., 0].mean(0)))
        return [Detection((max(0, column - 20), 30, 40, 40), 0.9)]


def jpeg(image: np.ndarray) -> bytes:
    return cv2.imencode(".jpg", image)[1].tobytes()


def frame_with_face_at(column: int) -> bytes:
    image = np.full((120, 200, 3), 30, np.uint8)
    image[:, column - 3 : column + 3] = 250
    return jpeg(image)


def test_page_is_self_contained_and_offline() -> None:
    with TestClient(create_app(Recognizer(FlatModel(), MovingFace()))) as client:
        answer = client.get("/")
    assert answer.status_code == 200 and answer.headers["content-type"].startswith("text/html")
    page = answer.text
    assert "<script>" in page and "<style>" in page and "getUserMedia" in page
    assert not re.search(r"""(src|href)\s*=\s*["'](https?:)?//""", page), "the page must load nothing from the network"
    assert "MAX_FRAMES_PER_SECOND = 4" in page


def test_a_session_keeps_track_ids_across_frames_and_sessions_are_separate() -> None:
    with TestClient(create_app(Recognizer(FlatModel(), MovingFace()))) as client:
        tracks = []
        for step in range(5):
            body = client.post("/predict?session=cam-1", content=frame_with_face_at(60 + 4 * step), headers={"Content-Type": "image/jpeg"}).json()
            tracks.append(body["faces"][0]["track"])
            assert body["frame"] == step and set(body["faces"][0]["smoothed"]) == set(CLASSES)
        assert tracks == [1] * 5
        # Another client starts its own ids; a face far from the last one is a new track in the first session.
        other = client.post("/predict?session=cam-2", content=frame_with_face_at(60), headers={"Content-Type": "image/jpeg"}).json()
        assert other["faces"][0]["track"] == 1 and other["frame"] == 0
        jump = client.post("/predict?session=cam-1", content=frame_with_face_at(170), headers={"Content-Type": "image/jpeg"}).json()
        assert jump["faces"][0]["track"] == 2
        assert client.post("/predict?session=bad id!", content=frame_with_face_at(60), headers={"Content-Type": "image/jpeg"}).status_code == 422
        plain = client.post("/predict", content=frame_with_face_at(60), headers={"Content-Type": "image/jpeg"}).json()
        assert "session" not in plain and plain["faces"][0]["track"] == 1


def test_sessions_are_bounded_and_expire() -> None:
    now = [0.0]
    sessions = _Sessions(lambda: object(), capacity=2, idle_seconds=10, clock=lambda: now[0])
    first = sessions.get("a")
    sessions.get("b")
    assert sessions.get("a") is first
    sessions.get("c")  # full: the least recently used ("b") goes
    assert len(sessions) == 2 and sessions.get("a") is first
    now[0] = 8.0
    assert sessions.get("a") is first  # used again within 10 s: kept, and its idle time starts again
    now[0] = 30.0
    assert sessions.get("a") is not first and len(sessions) == 1  # idle 19 s > 10 s: forgotten


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def server():
    """The app with the real default face detector and a stand-in classifier, served by uvicorn on 127.0.0.1."""
    import uvicorn

    app = create_app(Recognizer(FlatModel(), "auto"))
    port = _free_port()
    instance = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=instance.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not instance.started:
        assert time.monotonic() < deadline and thread.is_alive(), "uvicorn did not start"
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}", app
    instance.should_exit = True
    thread.join(10)


def test_page_in_headless_chromium_draws_one_box_per_face(server, headless_chromium) -> None:
    if not GROUP_PHOTO.is_file():
        pytest.skip(f"shared group photo {GROUP_PHOTO} not present")
    from selenium.webdriver.support.ui import WebDriverWait

    url, app = server
    with TestClient(app) as client:
        expected = client.post("/predict", content=GROUP_PHOTO.read_bytes(), headers={"Content-Type": "image/jpeg"}).json()["faces"]
    assert len(expected) >= 2, "the group photo should have several faces"
    driver = headless_chromium
    driver.get(url + "/")
    assert driver.execute_script("return document.readyState") == "complete"
    canvas = driver.find_element("id", "view")
    assert canvas.get_attribute("data-state") == "idle"
    driver.find_element("id", "file").send_keys(str(GROUP_PHOTO))
    WebDriverWait(driver, 60).until(lambda d: canvas.get_attribute("data-state") in ("done", "error"))
    status = driver.find_element("id", "status").text
    assert canvas.get_attribute("data-state") == "done", status
    assert int(canvas.get_attribute("data-boxes")) == len(expected), status
    assert int(canvas.get_attribute("data-bars")) == len(expected) * len(CLASSES)
    assert f"{len(expected)} faces" in status
    # The canvas shows the photo at its own size, with pixels drawn (not blank).
    width, height = driver.execute_script("const c = document.getElementById('view'); return [c.width, c.height]")
    assert (height, width) == cv2.imread(str(GROUP_PHOTO)).shape[:2]
    errors = [entry for entry in driver.get_log("browser") if entry["level"] in ("SEVERE", "ERROR")]
    assert not errors, errors
