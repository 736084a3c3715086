"""The HTTP service: ``POST /predict`` an image, get every face and its expression as JSON; ``GET /health``.

An image is sent either as the raw request body with an ``image/*`` content type
(``curl --data-binary @photo.jpg -H 'Content-Type: image/jpeg' URL/predict``) or as the ``file`` field
of a multipart form (``curl -F 'file=@photo.jpg;type=image/jpeg' URL/predict``). Uploads over the size
limit get 413, other content types 415, undecodable images 400.

Memory stays bounded under any load: a request is counted against the limit of ``max_concurrency``
images processed and ``max_queue`` waiting *before* its body is read, and refused with 503 when both
are full; an admitted body is read as a stream and refused with 413 as soon as it passes the upload
limit (at once when its Content-Length says so). So at most ``max_concurrency + max_queue`` bodies of
at most ``max_upload_bytes`` each are held at a time. ``GET /docs`` is a small local page listing the
endpoints (no script from a CDN); the OpenAPI schema is at ``/openapi.json``.

``GET /`` is a page to try the service in a browser (one self-contained file, works offline): upload an
image or turn on the webcam, and see each face's box, label and class probabilities drawn over it.
``POST /predict?session=ID`` tracks faces across the frames of one client (the page's webcam): the
answer's ``track`` ids then stay with a person from frame to frame. At most ``max_sessions`` are kept;
one idle for ``session_idle_seconds`` is forgotten, and when all are taken the least recently used goes.
"""

from __future__ import annotations

import asyncio
import html
import re
import threading
import time
from collections import OrderedDict
from contextlib import asynccontextmanager
from importlib import resources
from typing import Any, AsyncIterator, Callable, NoReturn

from fastapi import FastAPI, HTTPException, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse

from openfer.errors import ConfigError, ImageError
from openfer.imageio import decode_image
from openfer.recognize.recognizer import Recognizer
from openfer.recognize.results import Results
from openfer.recognize.tracking import FaceTracker

DEFAULT_MAX_UPLOAD_BYTES = 10 * 1024 * 1024
# Room for the multipart boundaries and part headers around the image itself.
_MULTIPART_OVERHEAD = 16 * 1024


class _Limiter:
    """Admits ``concurrency`` requests at a time and ``queue`` more waiting; refuses the rest with 503.

    :meth:`admit` counts a request before its body is read; :meth:`work` lets ``concurrency`` of the
    admitted ones recognise at a time.
    """

    def __init__(self, concurrency: int, queue: int) -> None:
        self.concurrency, self.capacity = concurrency, concurrency + queue
        self.admitted = 0
        self._semaphore: asyncio.Semaphore | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    @property
    def full(self) -> bool:
        return self.admitted >= self.capacity

    @asynccontextmanager
    async def admit(self) -> AsyncIterator[None]:
        """Count this request while the block runs (the caller checks :attr:`full` first)."""
        self.admitted += 1
        try:
            yield
        finally:
            self.admitted -= 1

    @asynccontextmanager
    async def work(self) -> AsyncIterator[None]:
        """Wait for one of the ``concurrency`` recognition slots."""
        loop = asyncio.get_running_loop()
        if self._loop is not loop:  # a semaphore belongs to one event loop
            self._semaphore, self._loop = asyncio.Semaphore(self.concurrency), loop
        async with self._semaphore:
            yield


#: A session id: letters, digits, ``-`` and ``_``, at most 64 characters.
SESSION_PATTERN = re.compile(r"[A-Za-z0-9_-]{1,64}")


class _Session:
    """One client's face tracker and frame counter; ``lock`` keeps its frames in order."""

    def __init__(self, tracker: FaceTracker, now: float) -> None:
        self.tracker, self.frames, self.used = tracker, 0, now
        self.lock = threading.Lock()


class _Sessions:
    """At most ``capacity`` sessions by id; idle ones expire, the least recently used goes when full."""

    def __init__(self, make_tracker: Callable[[], FaceTracker], capacity: int, idle_seconds: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.make_tracker, self.capacity, self.idle_seconds, self.clock = make_tracker, capacity, idle_seconds, clock
        self._sessions: OrderedDict[str, _Session] = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._sessions)

    def get(self, session_id: str) -> _Session:
        with self._lock:
            now = self.clock()
            for key in [k for k, v in self._sessions.items() if now - v.used > self.idle_seconds]:
                del self._sessions[key]
            session = self._sessions.pop(session_id, None) or _Session(self.make_tracker(), now)
            while len(self._sessions) >= self.capacity:
                self._sessions.popitem(last=False)
            session.used = now
            self._sessions[session_id] = session
            return session


def check_options(max_upload_bytes: int, max_concurrency: int, max_queue: int, port: int | None = None) -> None:
    """Raise :class:`ConfigError` naming the first option of the service that is out of range."""
    if max_upload_bytes < 1:
        raise ConfigError(f"max_upload_bytes must be >= 1 (the largest accepted upload); got {max_upload_bytes}")
    if max_concurrency < 1:
        raise ConfigError(f"max_concurrency must be >= 1 (images processed at once); got {max_concurrency}")
    if max_queue < 0:
        raise ConfigError(f"max_queue must be >= 0 (requests allowed to wait); got {max_queue}")
    if port is not None and not 0 <= port <= 65535:
        raise ConfigError(f"port must be between 0 and 65535; got {port}")


def create_app(
    recognizer: Recognizer | None = None,
    *,
    max_upload_bytes: int = DEFAULT_MAX_UPLOAD_BYTES,
    max_concurrency: int = 1,
    max_queue: int = 4,
    max_sessions: int = 64,
    session_idle_seconds: float = 120.0,
) -> FastAPI:
    """The FastAPI app around ``recognizer`` (default: ``Recognizer()``, the shipped model).

    ``max_sessions``, ``session_idle_seconds``: the tracking sessions kept (``POST /predict?session=ID``).

    ``max_concurrency`` above 1 runs the recogniser from several threads at once; the ONNX and PyTorch
    models allow that, OpenCV's Haar cascade is not documented as thread-safe.
    """
    from openfer import __version__

    check_options(max_upload_bytes, max_concurrency, max_queue)
    recognizer = recognizer or Recognizer()
    limiter = _Limiter(max_concurrency, max_queue)
    if max_sessions < 1 or not session_idle_seconds > 0:
        raise ConfigError(f"need max_sessions >= 1 and session_idle_seconds > 0; got {max_sessions}, {session_idle_seconds}")
    sessions = _Sessions(recognizer.new_tracker, max_sessions, session_idle_seconds)
    app = FastAPI(title="openfer", version=__version__, description="Facial expression recognition.", docs_url=None, redoc_url=None)

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

    @app.get("/", include_in_schema=False)
    def page() -> HTMLResponse:
        """The page to try the service: upload an image or use the webcam (everything inline, nothing from the network)."""
        return HTMLResponse(resources.files("openfer").joinpath("serve_page.html").read_text(encoding="utf-8"))

    @app.get("/docs", include_in_schema=False)
    def docs() -> HTMLResponse:
        """A local page listing the endpoints (Swagger UI would load its scripts from a CDN)."""
        return HTMLResponse(_docs_page(app.openapi()))

    @app.post("/predict")
    async def predict(request: Request, session: str | None = None) -> dict[str, Any]:
        """Every face in the uploaded image: track, box [x, y, w, h], detector_score, label, label_probability, class
        probabilities and their track-smoothed values. ``session``: an id of the client's choice (letters, digits,
        - and _) under which its frames are tracked, so that track ids follow faces across frames."""
        if session is not None and not SESSION_PATTERN.fullmatch(session):
            raise HTTPException(422, "session must be 1 to 64 letters, digits, '-' or '_'")
        content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
        multipart = content_type == "multipart/form-data"
        limit = max_upload_bytes + (_MULTIPART_OVERHEAD if multipart else 0)
        declared = request.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > limit:
            raise HTTPException(413, f"upload larger than the limit of {max_upload_bytes} bytes")
        if not (multipart or content_type.startswith("image/")):
            await _refuse(request, limit, 415, f"unsupported content type {content_type or '(none)'!r}: send an image/* body or a multipart form with a 'file' field")
        if limiter.full:
            await _refuse(request, limit, 503, "busy: too many images in progress; retry later", {"Retry-After": "1"})
        async with limiter.admit():
            body = await _read_body(request, limit, max_upload_bytes)
            name = "upload"
            if multipart:
                body, name, content_type = await _file_part(request, body)
                if not content_type.startswith("image/"):
                    raise HTTPException(415, f"unsupported content type {content_type or '(none)'!r} of the 'file' part: send an image")
                if len(body) > max_upload_bytes:
                    raise HTTPException(413, f"image larger than the limit of {max_upload_bytes} bytes")
            async with limiter.work():
                try:
                    result = await run_in_threadpool(_recognize, recognizer, body, name, None if session is None else sessions.get(session))
                except ImageError as error:
                    raise HTTPException(400, str(error)) from None
        height, width = result.image.shape[:2]
        faces = result.to_records(include_source=False)
        answer = {"source": name, "width": width, "height": height, "classes": list(result.classes), "faces": faces}
        if session is not None:
            answer["session"], answer["frame"] = session, result.frame
        return answer

    return app


def serve(app: FastAPI, host: str = "127.0.0.1", port: int = 8000) -> None:
    """Run ``app`` with uvicorn on ``host:port`` until interrupted."""
    import uvicorn

    check_options(1, 1, 0, port)
    uvicorn.run(app, host=host, port=port)


async def _refuse(request: Request, limit: int, status: int, detail: str, headers: dict[str, str] | None = None) -> NoReturn:
    """Answer ``status`` without keeping the body. Up to ``limit`` bytes of it are read and dropped first
    (unless the client waits for ``100 Continue``), so the client reads the answer instead of a reset
    connection."""
    if request.headers.get("expect", "").lower() != "100-continue":
        read = 0
        async for chunk in request.stream():
            read += len(chunk)
            if read > limit:
                break
    raise HTTPException(status, detail, headers=headers)


async def _read_body(request: Request, limit: int, max_upload_bytes: int) -> bytearray:
    """The request body (one buffer, never a second copy), refused with 413 as soon as it grows past ``limit`` bytes."""
    body = bytearray()
    async for chunk in request.stream():
        if len(body) + len(chunk) > limit:
            raise HTTPException(413, f"upload larger than the limit of {max_upload_bytes} bytes")
        body += chunk
    if not body:
        raise HTTPException(400, "empty upload (0 bytes)")
    return body


async def _file_part(request: Request, body: bytearray) -> tuple[bytes, str, str]:
    """(bytes, file name, content type) of the ``file`` field of a multipart body."""
    from starlette.datastructures import UploadFile
    from starlette.formparsers import MultiPartException, MultiPartParser

    async def stream() -> AsyncIterator[bytes]:
        yield bytes(body)

    try:
        form = await MultiPartParser(request.headers, stream(), max_files=1, max_fields=8).parse()
    except MultiPartException as error:
        raise HTTPException(400, f"malformed multipart form: {error.message}") from None
    upload = form.get("file")
    if not isinstance(upload, UploadFile):
        await form.close()
        raise HTTPException(400, "multipart form without a 'file' field holding the image")
    data = await upload.read()
    await form.close()
    if not data:
        raise HTTPException(400, "empty upload (0 bytes)")
    return data, upload.filename or "upload", (upload.content_type or "").lower()


def _docs_page(schema: dict[str, Any]) -> str:
    """A self-contained HTML page: each endpoint, its summary and description, and a link to the schema."""
    items = []
    for path, operations in schema.get("paths", {}).items():
        for method, operation in operations.items():
            summary = html.escape(operation.get("summary", ""))
            description = html.escape(operation.get("description", ""))
            items.append(f"<li><code>{method.upper()} {html.escape(path)}</code>: {summary}<br>{description}</li>")
    title = html.escape(f"{schema['info']['title']} {schema['info']['version']}")
    return (
        f"<!doctype html><html><head><meta charset='utf-8'><title>{title}</title></head><body><h1>{title}</h1>"
        f"<p>{html.escape(schema['info'].get('description', ''))}</p><ul>{''.join(items)}</ul>"
        "<p>The OpenAPI schema: <a href='/openapi.json'>/openapi.json</a>. This page loads nothing from the "
        "network; open the schema in any OpenAPI viewer for an interactive page.</p></body></html>"
    )


def _recognize(recognizer: Recognizer, data: bytes | bytearray, name: str, session: _Session | None = None) -> Results:
    """Decode the upload in memory with the image decoder and recognise its faces; with a session, track
    them as the session's next frame."""
    image = decode_image(data, grey=False, name=name)
    (result,) = recognizer.predict(image)
    if session is not None:
        with session.lock:
            result.source, result.kind, result.frame = "session", "webcam", session.frames
            session.frames += 1
            session.tracker.update(result)
    return result
