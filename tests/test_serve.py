"""The HTTP service through FastAPI's test client (no network): results, limits and refusals."""

from __future__ import annotations

import threading
from pathlib import Path

import cv2
import numpy as np
import pytest

pytest.importorskip("httpx")

from fastapi.testclient import TestClient  # noqa: E402

from openfer.faces import Detection, FaceDetector  # noqa: E402
from openfer.inference import load_model  # noqa: E402
from openfer.recognize import Recognizer  # noqa: E402
from openfer.serve import create_app  # noqa: E402


class OneFace(FaceDetector):
    """One face in the middle of any image that is not black; waits on ``gate`` when one is given."""

    name = "one-face"

    def __init__(self, gate: threading.Event | None = None) -> None:
        super().__init__()
        self.gate, self.entered = gate, threading.Event()

    def _detect(self, image_rgb: np.ndarray) -> list[Detection]:
        self.entered.set()
        if self.gate is not None:
            assert self.gate.wait(30)
        if image_rgb.max() == 0:
            return []
        height, width = image_rgb.shape[:2]
        return [Detection((width // 4, height // 4, width // 2, height // 2), 0.9)]


@pytest.fixture(scope="module")
def model(random_model_file: Path):
    return load_model(random_model_file)


@pytest.fixture
def client(model) -> TestClient:
    with TestClient(create_app(Recognizer(model, OneFace()), max_upload_bytes=200_000)) as client:
        yield client


def jpeg(image: np.ndarray) -> bytes:
    return cv2.imencode(".jpg", image)[1].tobytes()


FACE = np.random.default_rng(0).integers(30, 255, (80, 120, 3), dtype=np.uint8)


def test_health_names_the_model_and_classes(client: TestClient) -> None:
    body = client.get("/health").json()
    assert body["status"] == "ok" and body["detector"] == "one-face" and body["classes"][3] == "happy"


def test_raw_image_body_gives_faces_and_expressions(client: TestClient) -> None:
    response = client.post("/predict", content=jpeg(FACE), headers={"Content-Type": "image/jpeg"})
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["width"], body["height"]) == (120, 80)
    (face,) = body["faces"]
    assert face["box"] == [30, 20, 60, 40] and face["label"] in body["classes"]
    assert sum(face["probabilities"].values()) == pytest.approx(1.0, abs=1e-4)


def test_multipart_upload_and_an_image_without_faces(client: TestClient) -> None:
    files = {"file": ("black.png", cv2.imencode(".png", np.zeros((30, 30, 3), np.uint8))[1].tobytes(), "image/png")}
    response = client.post("/predict", files=files)
    assert response.status_code == 200 and response.json()["faces"] == [] and response.json()["source"] == "black.png"


def test_wrong_content_types_get_415(client: TestClient) -> None:
    assert client.post("/predict", content=b"hello", headers={"Content-Type": "text/plain"}).status_code == 415
    assert client.post("/predict", files={"file": ("a.txt", b"hello", "text/plain")}).status_code == 415


def test_uploads_over_the_limit_get_413(client: TestClient) -> None:
    big = b"\xff\xd8" + bytes(300_000)
    assert client.post("/predict", content=big, headers={"Content-Type": "image/jpeg"}).status_code == 413
    assert client.post("/predict", files={"file": ("big.jpg", big, "image/jpeg")}).status_code == 413


def test_corrupt_empty_and_truncated_images_get_400_naming_the_upload(client: TestClient) -> None:
    response = client.post("/predict", files={"file": ("photo.jpg", b"GIF89a nonsense", "image/jpeg")})
    assert response.status_code == 400 and response.json()["detail"].startswith("photo.jpg: ")
    truncated = jpeg(FACE)[:500]
    assert client.post("/predict", content=truncated, headers={"Content-Type": "image/jpeg"}).status_code == 400
    assert client.post("/predict", content=b"", headers={"Content-Type": "image/jpeg"}).status_code == 400


def test_requests_beyond_concurrency_and_queue_get_503(model) -> None:
    gate = threading.Event()
    detector = OneFace(gate)
    app = create_app(Recognizer(model, detector), max_concurrency=1, max_queue=0)
    with TestClient(app) as client:
        first: dict = {}
        worker = threading.Thread(
            target=lambda: first.update(response=client.post("/predict", content=jpeg(FACE), headers={"Content-Type": "image/jpeg"}))
        )
        worker.start()
        assert detector.entered.wait(30)
        busy = client.post("/predict", content=jpeg(FACE), headers={"Content-Type": "image/jpeg"})
        assert busy.status_code == 503 and busy.headers["Retry-After"] == "1"
        gate.set()
        worker.join(30)
        assert first["response"].status_code == 200
        assert client.get("/health").json()["in_progress_or_queued"] == 0


def test_docs_is_a_local_page_that_loads_nothing_from_the_network(client: TestClient) -> None:
    page = client.get("/docs")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "POST /predict" in page.text and "/openapi.json" in page.text
    assert "<script" not in page.text and "http" not in page.text.replace("openapi.json", "")
    assert client.get("/openapi.json").json()["paths"]["/predict"]
    assert client.get("/redoc").status_code == 404


def _post_streamed(app, chunks: list[bytes], headers: dict[str, str]) -> tuple[int, int]:
    """POST ``chunks`` as a streamed body through the ASGI app; (status, how many chunks the server pulled)."""
    import asyncio

    import httpx

    pulled = [0]

    async def scenario() -> int:
        async def body():
            for chunk in chunks:
                pulled[0] += 1
                yield chunk

        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as session:
            response = await session.post("/predict", content=body(), headers=headers)
            return response.status_code

    status = asyncio.run(scenario())
    return status, pulled[0]


def test_a_declared_length_over_the_limit_is_refused_before_reading(model) -> None:
    app = create_app(Recognizer(model, OneFace()), max_upload_bytes=1000)
    status, pulled = _post_streamed(app, [b"\xff\xd8" + bytes(100)] * 50, {"Content-Type": "image/jpeg", "Content-Length": "5100"})
    assert status == 413 and pulled == 0


def test_a_streamed_body_is_cut_off_at_the_limit(model) -> None:
    app = create_app(Recognizer(model, OneFace()), max_upload_bytes=1000)
    status, pulled = _post_streamed(app, [bytes(100)] * 50, {"Content-Type": "image/jpeg"})  # chunked, no Content-Length
    assert status == 413 and pulled <= 12  # stopped just past 1,000 bytes, not after 5,000


def test_an_upload_counts_against_the_limit_while_its_body_is_still_arriving(model) -> None:
    import asyncio

    import httpx

    app = create_app(Recognizer(model, OneFace()), max_concurrency=1, max_queue=0)

    async def scenario() -> tuple[int, int, int, int]:
        release = asyncio.Event()

        async def slow_body():
            yield jpeg(FACE)[:100]
            await release.wait()
            yield jpeg(FACE)[100:]

        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as session:
            first = asyncio.create_task(session.post("/predict", content=slow_body(), headers={"Content-Type": "image/jpeg"}))
            for _ in range(200):
                load = (await session.get("/health")).json()["in_progress_or_queued"]
                if load:
                    break
                await asyncio.sleep(0.01)
            busy = await session.post("/predict", content=jpeg(FACE), headers={"Content-Type": "image/jpeg"})
            release.set()
            done = await first
            after = (await session.get("/health")).json()["in_progress_or_queued"]
            return load, busy.status_code, done.status_code, after

    load, busy, done, after = asyncio.run(scenario())
    assert (load, busy, done, after) == (1, 503, 200, 0)
