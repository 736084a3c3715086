"""The HTTP service: ``POST /predict`` an image, get every face and its expression as JSON; ``GET /health``.

An image is sent either as the raw request body with an ``image/*`` content type
(``curl --data-binary @photo.jpg -H 'Content-Type: image/jpeg' URL/predict``) or as the ``file`` field
of a multipart form (``curl -F 'file=@photo.jpg;type=image/jpeg' URL/predict``). Uploads over the size
limit get 413, other content types 415, undecodable images 400. At most ``max_concurrency`` images are
processed at once and ``max_queue`` wait; further requests get 503 at once.
"""

from __future__ import annotations

import asyncio
from contextlib import asynccontextmanager
from typing import Any, AsyncIterator

from fastapi import FastAPI, HTTPException, Request
from fastapi.concurrency import run_in_threadpool

from openfer.errors import ConfigError, ImageError
from openfer.imageio import decode_image
from openfer.recognize.recognizer import Recognizer
from openfer.recognize.results import Results

DEFAULT_MAX_UPLOAD_BYTES = 10 * 1024 * 1024
# Room for the multipart boundaries and part headers around the image itself.
_MULTIPART_OVERHEAD = 16 * 1024


class _Limiter:
    """Admits ``concurrency`` requests at a time and ``queue`` more waiting; refuses the rest with 503."""

    def __init__(self, concurrency: int, queue: int) -> None:
        self.concurrency, self.capacity = concurrency, concurrency + queue
        self.admitted = 0
        self._semaphore: asyncio.Semaphore | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    @asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        loop = asyncio.get_running_loop()
        if self._loop is not loop:  # a semaphore belongs to one event loop
            self._semaphore, self._loop = asyncio.Semaphore(self.concurrency), loop
        if self.admitted >= self.capacity:
            raise HTTPException(503, "busy: too many images in progress; retry later", headers={"Retry-After": "1"})
        self.admitted += 1
        try:
            async with self._semaphore:
                yield
        finally:
            self.admitted -= 1


def create_app(
    recognizer: Recognizer | None = None,
    *,
    max_upload_bytes: int = DEFAULT_MAX_UPLOAD_BYTES,
    max_concurrency: int = 1,
    max_queue: int = 4,
) -> FastAPI:
    """The FastAPI app around ``recognizer`` (default: ``Recognizer()``, the shipped model).

    ``max_concurrency`` above 1 runs the recogniser from several threads at once; the ONNX and PyTorch
    models allow that, OpenCV's Haar cascade is not documented as thread-safe.
    """
    from openfer import __version__

    if max_upload_bytes < 1 or max_concurrency < 1 or max_queue < 0:
        raise ConfigError(
            f"need max_upload_bytes >= 1, max_concurrency >= 1 and max_queue >= 0; got {max_upload_bytes}, {max_concurrency}, {max_queue}"
        )
    recognizer = recognizer or Recognizer()
    limiter = _Limiter(max_concurrency, max_queue)
    app = FastAPI(title="openfer", version=__version__, description="Facial expression recognition.")

    @app.get("/health")
    def health() -> dict[str, Any]:
        """Liveness, the model and detector in use, and the current load."""
        return {
            "status": "ok",
            "model": repr(recognizer.model),
            "detector": recognizer.detector.name,
            "classes": list(recognizer.classes),
            "in_progress_or_queued": limiter.admitted,
            "max_upload_bytes": max_upload_bytes,
        }

    @app.post("/predict")
    async def predict(request: Request) -> dict[str, Any]:
        """Every face in the uploaded image: box [x, y, w, h], detector score, label and class probabilities."""
        content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
        multipart = content_type == "multipart/form-data"
        if not (multipart or content_type.startswith("image/")):
            raise HTTPException(415, f"unsupported content type {content_type or '(none)'!r}: send an image/* body or a multipart form with a 'file' field")
        limit = max_upload_bytes + (_MULTIPART_OVERHEAD if multipart else 0)
        body = await _read_body(request, limit, max_upload_bytes)
        name = "upload"
        if multipart:
            body, name, content_type = await _file_part(request, body)
            if not content_type.startswith("image/"):
                raise HTTPException(415, f"unsupported content type {content_type or '(none)'!r} of the 'file' part: send an image")
            if len(body) > max_upload_bytes:
                raise HTTPException(413, f"image larger than the limit of {max_upload_bytes} bytes")
        async with limiter.slot():
            try:
                result = await run_in_threadpool(_recognize, recognizer, body, name)
            except ImageError as error:
                raise HTTPException(400, str(error)) from None
        height, width = result.image.shape[:2]
        faces = result.to_records(include_source=False)
        return {"source": name, "width": width, "height": height, "classes": list(result.classes), "faces": faces}

    return app


async def _read_body(request: Request, limit: int, max_upload_bytes: int) -> bytes:
    """The request body, refused with 413 as soon as it grows past ``limit`` bytes."""
    too_large = HTTPException(413, f"upload larger than the limit of {max_upload_bytes} bytes")
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise too_large
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise too_large
    if not body:
        raise HTTPException(400, "empty upload (0 bytes)")
    return bytes(body)


async def _file_part(request: Request, body: bytes) -> tuple[bytes, str, str]:
    """(bytes, file name, content type) of the ``file`` field of a multipart body."""
    from starlette.datastructures import UploadFile
    from starlette.formparsers import MultiPartException, MultiPartParser

    async def stream() -> AsyncIterator[bytes]:
        yield body

    try:
        form = await MultiPartParser(request.headers, stream(), max_files=1, max_fields=8).parse()
    except MultiPartException as error:
        raise HTTPException(400, f"malformed multipart form: {error.message}") from None
    upload = form.get("file")
    if not isinstance(upload, UploadFile):
        raise HTTPException(400, "multipart form without a 'file' field holding the image")
    data = await upload.read()
    await form.close()
    if not data:
        raise HTTPException(400, "empty upload (0 bytes)")
    return data, upload.filename or "upload", (upload.content_type or "").lower()


def _recognize(recognizer: Recognizer, data: bytes, name: str) -> Results:
    """Decode the upload in memory with the image decoder and recognise its faces."""
    image = decode_image(data, grey=False, name=name)
    (result,) = recognizer.predict(image)
    return result
