"""Batch recognition on a Ray cluster: ``openfer predict --engine ray``, ``Recognizer.run(engine="ray")``.

The driver lists the work: folders and globs are expanded here, images are grouped into tasks of
``images_per_task`` files, videos are split into ranges of ``frames_per_task`` frames. Ray Data hands the
tasks to a pool of actors, each holding one :class:`~openfer.recognize.Recognizer` (built again from
``recognizer.options``), which batches faces across the images of a task as the local engine does. Each
finished task comes back to the driver and is written as one Parquet partition in ``partitions``,
atomically; its last row (``row`` ``"end"``) is the completion flag, so a rerun into the same folder skips
the tasks whose partition is there. The driver then reads the partitions in source order and feeds them
to the same :class:`~openfer.recognize.Report` as the local engine: the same CSV / JSON-lines records,
summary and tally.

A source that cannot be read, or whose task raises, becomes an error row; a worker that dies is restarted
and its task retried by Ray (``max_retries`` times), after which its sources are error rows too (and a
rerun tries them again). Tracks and smoothing run inside each task: within a video range they match the
local engine, and they start again at each range boundary (``frames_per_task=0`` keeps a video in one task).
"""

from __future__ import annotations

import glob
import hashlib
import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator, Sequence

import numpy as np

from openfer.errors import ConfigError, ImageError, display_path
from openfer.faces.detection import Detection
from openfer.files import atomic_path, atomic_write
from openfer.imageio import IMAGE_EXTENSIONS, check_regular_file
from openfer.recognize.results import BOX_COLUMNS, FACE_COLUMNS, Results, smooth_columns
from openfer.recognize.sources import VIDEO_EXTENSIONS, Frame, file_frames, is_video_file, video_frames, webcam_index

if TYPE_CHECKING:
    from openfer.recognize.recognizer import Recognizer
    from openfer.recognize.report import Report

#: Columns a partition adds to the face records: the source's position in the run, its file name, kind and
#: frame rate, the error of a source that could not be read, and what each row is ("face"; "frame" for a
#: frame without faces; "error"; "end", the task's last row).
PARTITION_COLUMNS = ("order", "name", "kind", "fps", "error", "row")
_INTEGER_COLUMNS = {"order", "frame", "track", *BOX_COLUMNS}
_TEXT_COLUMNS = {"source", "label", "name", "kind", "error", "row"}
#: The one-line answer when Ray is not installed.
MISSING_RAY = "the ray engine needs Ray Data: pip install 'openfer[ray]' (or pip install 'ray[data]')"


@dataclass(frozen=True)
class Item:
    """One source of the run, as the driver found it: a file (or an error found before reading it)."""

    order: int
    source: str  # its name in the records: the path, or PATH#2, PATH#3 for a path met again
    path: str
    name: str
    error: str | None = None


@dataclass(frozen=True)
class Task:
    """What one worker call does: a few images, or frames ``start`` to ``end`` of one video (``end`` None: to its end)."""

    items: tuple[Item, ...]
    start: int = 0
    end: int | None = None
    declared: int = 0  # the video's frame count as its container declares it

    def key(self, stride: int) -> str:
        """A name that changes when the task, the stride or any of its files change (size, time)."""
        stats = []
        for item in self.items:
            try:
                stat = os.stat(item.path)
                stats.append((stat.st_size, stat.st_mtime_ns))
            except OSError:
                stats.append(None)
        text = json.dumps([[asdict(item) for item in self.items], self.start, self.end, stride, stats])
        return f"{self.items[0].order:08d}-{self.start:09d}-{hashlib.sha1(text.encode()).hexdigest()[:12]}"


def require_ray() -> Any:
    """The ``ray`` module with Ray Data, or :class:`ConfigError` naming the extra to install."""
    try:
        import ray
        import ray.data  # noqa: F401
    except ImportError:
        raise ConfigError(MISSING_RAY) from None
    return ray


def list_sources(sources: Sequence[Any]) -> tuple[list[Item], list[str]]:
    """The files of ``sources`` in the local engine's order and names (folders recursive and sorted,
    globs sorted, a path met again named ``PATH#n``), and the files skipped as neither image nor video."""
    found: list[tuple[str, str, str | None]] = []  # path, name, error
    skipped: list[str] = []
    for source in sources:
        if isinstance(source, np.ndarray) or webcam_index(source) is not None:
            raise ConfigError(f"the ray engine reads files, folders and globs; {source!r} is an array or a webcam (use engine='local')")
        text = str(source)
        path = Path(text)
        if path.is_dir():
            before = len(found)
            for root, folders, files in os.walk(path):
                folders[:] = sorted(d for d in folders if not d.startswith("."))
                for file_name in sorted(f for f in files if not f.startswith(".")):
                    file = Path(root) / file_name
                    if file.suffix.lower() in IMAGE_EXTENSIONS + VIDEO_EXTENSIONS:
                        found.append((str(file), file.relative_to(path).as_posix(), None))
                    else:
                        skipped.append(str(file))
            if len(found) == before:
                found.append((text, path.name, f"{display_path(path)}: no image or video files in this folder"))
        elif path.exists():
            found.append((text, path.name, None))
        elif any(char in text for char in "*?["):
            matches = [match for match in sorted(glob.glob(text, recursive=True)) if Path(match).is_file()]
            found.extend((match, Path(match).name, None) for match in matches)
            if not glob.glob(text, recursive=True):
                found.append((text, text, f"{display_path(text)}: no file matches this pattern"))
        else:
            found.append((text, path.name, f"{display_path(text)}: no such file or folder"))
    counts: dict[str, int] = {}
    items = []
    for order, (path, name, error) in enumerate(found):
        count = counts[path] = counts.get(path, 0) + 1
        items.append(Item(order, path if count == 1 else f"{path}#{count}", path, name, error))
    return items, skipped


def plan_tasks(items: Sequence[Item], images_per_task: int, frames_per_task: int) -> list[Task]:
    """Readable items as tasks in source order: runs of up to ``images_per_task`` images, and each video
    in ranges of ``frames_per_task`` frames (0: whole) when its container declares its frame count."""
    import cv2

    tasks: list[Task] = []
    images: list[Item] = []
    for item in items:
        if item.error is not None:
            continue
        if not is_video_file(item.path):
            images.append(item)
            if len(images) == images_per_task:
                tasks.append(Task(tuple(images)))
                images = []
            continue
        if images:
            tasks.append(Task(tuple(images)))
            images = []
        declared = 0
        try:
            check_regular_file(item.path, max_bytes=None, what="video file")  # a FIFO would block the driver
            capture = cv2.VideoCapture(item.path)
            declared = int(capture.get(cv2.CAP_PROP_FRAME_COUNT) or 0) if capture.isOpened() else 0
            capture.release()
        except ImageError:
            pass  # the worker reads it and reports the error
        if frames_per_task <= 0 or declared <= frames_per_task:
            tasks.append(Task((item,), declared=declared))
            continue
        starts = range(0, declared, frames_per_task)
        for start in starts:
            end = start + frames_per_task if start + frames_per_task < declared else None
            tasks.append(Task((item,), start, end, declared))
    if images:
        tasks.append(Task(tuple(images)))
    return tasks


def video_range_frames(item: Item, start: int, end: int | None, declared: int, stride: int) -> Iterator[Frame]:
    """Every ``stride``-th frame (counted from the video's first) of frames ``start`` to ``end``; a range
    where decoding stops early ends with the local engine's "read partly" error frame."""
    import cv2

    capture = cv2.VideoCapture(item.path)
    try:
        if not capture.isOpened():
            yield Frame(item.source, item.name, kind="video", error=f"{display_path(item.path)}: cannot open as a video (unsupported or corrupt)")
            return
        fps = capture.get(cv2.CAP_PROP_FPS) or None
        capture.set(cv2.CAP_PROP_POS_FRAMES, start)
        if int(capture.get(cv2.CAP_PROP_POS_FRAMES)) != start:  # no exact seek in this container: read up to it
            capture.release()
            capture = cv2.VideoCapture(item.path)
            for _ in range(start):
                capture.grab()
        index = start
        while (end is None or index < end) and capture.grab():
            if index % stride == 0:
                ok, bgr = capture.retrieve()
                if not ok:
                    break
                yield Frame(item.source, item.name, cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB), index, index / fps if fps else None, fps, "video")
            index += 1
        if index + max(2, declared // 100) < declared:  # containers' counts may be off by a frame or two
            yield Frame(
                item.source, item.name, frame=index, kind="video",
                error=f"{display_path(item.path)}: read partly: decoding stopped after {index} of its {declared} frames (corrupt or truncated)",
            )
    finally:
        capture.release()


def task_frames(task: Task, stride: int) -> Iterator[Frame]:
    """The frames of one task, each named by its item's source name."""
    for item in task.items:
        if task.start == 0 and task.end is None:
            frames = file_frames(Path(item.path), item.name, stride) if not is_video_file(item.path) else video_frames(Path(item.path), item.name, stride)
        else:
            frames = video_range_frames(item, task.start, task.end, task.declared, stride)
        for frame in frames:
            frame.source = item.source
            yield frame


class TaskRunner:
    """A Ray actor's state: one recogniser, built once; each call runs the tasks of a batch into rows."""

    def __init__(self, options: dict[str, Any], stride: int) -> None:
        from openfer.recognize.recognizer import Recognizer

        # One actor per CPU: each detects one frame at a time unless the user asked for more threads.
        self.recognizer = Recognizer(**{**options, "detector_threads": options.get("detector_threads") or 1})
        self.stride = stride

    def __call__(self, batch: dict[str, np.ndarray]) -> Any:
        import pyarrow as pa

        tables = [self.run(key, json.loads(spec)) for key, spec in zip(batch["task"], batch["spec"])]
        return pa.concat_tables(tables)

    def run(self, key: str, spec: dict[str, Any]) -> Any:
        task = _task_from_spec(spec)
        try:
            rows = self._rows(task)
        except Exception:  # noqa: BLE001  (then each source is tried alone; what fails becomes an error row)
            rows = []
            for item in task.items:
                try:
                    rows += self._rows(Task((item,), task.start, task.end, task.declared))
                except Exception as item_error:  # noqa: BLE001
                    rows.append(_error_row(item, f"{display_path(item.path)}: {type(item_error).__name__}: {item_error}", task.start or None))
        orders = {item.source: item.order for item in task.items}
        for row in rows:
            row.setdefault("order", orders.get(row.get("source")))
        rows.append({"order": task.items[0].order, "source": task.items[0].source, "row": "end"})
        return partition_table(rows, self.recognizer.classes, key)

    def _rows(self, task: Task) -> list[dict[str, Any]]:
        recognizer = self.recognizer
        tracker = recognizer.new_tracker() if getattr(recognizer, "track", False) else None
        rows: list[dict[str, Any]] = []
        for result in recognizer.predict_frames(task_frames(task, self.stride)):
            if tracker is not None and result.ok:
                tracker.update(result)
            rows += result_rows(result)
        return rows


def result_rows(result: Results) -> list[dict[str, Any]]:
    """The partition rows of one result: a "face" row per face, else one "frame" (or "error") row."""
    extra = {"name": result.name, "kind": result.kind, "fps": result.fps}
    if not result.ok:
        return [{"source": result.source, "frame": result.frame, **extra, "error": result.error, "row": "error"}]
    columns = [*FACE_COLUMNS, *result.classes, *smooth_columns(result.classes)]
    faces = [{**dict(zip(columns, row)), **extra, "row": "face"} for row in result.rows()]
    return faces or [{"source": result.source, "frame": result.frame, "time": result.time, **extra, "row": "frame"}]


def _error_row(item: Item, message: str, frame: int | None = None) -> dict[str, Any]:
    kind = "video" if is_video_file(item.path) else "image"
    return {"order": item.order, "source": item.source, "frame": frame, "name": item.name, "kind": kind, "error": message, "row": "error"}


def partition_columns(classes: Sequence[str]) -> list[str]:
    """The columns of a partition, in order: the face records' columns, then :data:`PARTITION_COLUMNS`."""
    return [*FACE_COLUMNS, *classes, *smooth_columns(classes), *PARTITION_COLUMNS]


def partition_table(rows: Sequence[dict[str, Any]], classes: Sequence[str], key: str) -> Any:
    """The rows of one task as a typed Arrow table with a ``task`` column (the driver drops it)."""
    import pyarrow as pa

    def arrow_type(name: str) -> Any:
        return pa.int64() if name in _INTEGER_COLUMNS else pa.string() if name in _TEXT_COLUMNS else pa.float64()

    columns = partition_columns(classes)
    arrays = {name: pa.array([row.get(name) for row in rows], type=arrow_type(name)) for name in columns}
    arrays["task"] = pa.array([key] * len(rows), type=pa.string())
    return pa.table(arrays)


def _task_from_spec(spec: dict[str, Any]) -> Task:
    return Task(tuple(Item(**item) for item in spec["items"]), spec["start"], spec["end"], spec["declared"])


def results_of_partition(table: Any, classes: Sequence[str]) -> Iterator[Results]:
    """The :class:`Results` a partition holds, in order: one per frame (faces grouped back together)."""
    smoothed_names = smooth_columns(classes)
    rows = table.to_pylist()
    index = 0
    while index < len(rows):
        row = rows[index]
        if row["row"] == "end":
            index += 1
            continue
        common = dict(name=row["name"], frame=row["frame"], time=row.get("time"), fps=row["fps"], kind=row["kind"])
        if row["row"] == "error":
            yield Results(row["source"], classes, name=row["name"], kind=row["kind"], error=row["error"])
            index += 1
            continue
        faces = []
        while index < len(rows) and rows[index]["row"] == "face" and (rows[index]["source"], rows[index]["frame"]) == (row["source"], row["frame"]):
            faces.append(rows[index])
            index += 1
        if not faces:
            index += 1
        detections = [Detection(tuple(face[name] for name in BOX_COLUMNS), face["detector_score"]) for face in faces]
        probabilities = np.array([[face[name] for name in classes] for face in faces], np.float32).reshape(len(faces), len(classes))
        result = Results(row["source"], classes, detections, probabilities, **common)
        if faces:
            result.tracks = np.array([face["track"] for face in faces], np.int64)
            result.smoothed = np.array([[face[name] for name in smoothed_names] for face in faces], np.float32)
        yield result


def run_on_ray(
    recognizer: Recognizer,
    sources: Sequence[Any],
    report: Report,
    partitions: str | Path,
    *,
    stride: int = 1,
    address: str | None = None,
    workers: int | None = None,
    num_gpus: float = 0,
    images_per_task: int | None = None,
    frames_per_task: int | None = None,
    max_retries: int = 3,
) -> Report:
    """Recognise ``sources`` on Ray and feed every result, in source order, to ``report`` (then finished).

    ``partitions``: the folder of Parquet partitions (one per task; a rerun skips those present).
    ``address``: the cluster (``None``: the one this process is connected to, else a new local one).
    ``workers``: actors in the pool (default: the cluster's CPUs, or its GPUs when ``num_gpus`` > 0);
    ``num_gpus``: GPUs per worker. ``images_per_task``: default the recogniser's ``max_frames``.
    ``frames_per_task``: default 512, or 0 (a video per task, so tracks match the local engine's) when
    the recogniser tracks faces.
    """
    ray = require_ray()
    import pyarrow.parquet as pq

    if getattr(report, "save_dir", None) is not None:
        raise ConfigError("the ray engine writes records and summaries, not annotated copies; drop --save-annotated (save_dir) or use --engine local")
    folder = Path(partitions)
    if folder.exists() and not folder.is_dir():
        raise ConfigError(f"partitions {display_path(folder)} is a file, not a folder")
    items, skipped = list_sources(sources)
    if frames_per_task is None:
        frames_per_task = 0 if getattr(recognizer, "track", False) else 512
    tasks = plan_tasks(items, images_per_task or recognizer.max_frames, frames_per_task)
    keys = [task.key(stride) for task in tasks]
    _check_manifest(folder, recognizer, stride)
    todo = [(key, task) for key, task in zip(keys, tasks) if not _complete(folder / f"{key}.parquet")]
    started_here = False
    lost: set[str] = set()
    if todo:
        if not ray.is_initialized():
            ray.init(address=address, include_dashboard=False, log_to_driver=report.verbose >= 2, logging_level="ERROR")
            started_here = True
        try:
            lost = _run_tasks(ray, recognizer, todo, folder, stride, workers, num_gpus, max_retries, report.verbose)
        finally:
            if started_here:
                ray.shutdown()
    report.tasks_run, report.tasks_skipped = len(todo) - len(lost), len(tasks) - len(todo)
    by_order: dict[int, list[tuple[str, Task]]] = {}
    for key, task in zip(keys, tasks):
        by_order.setdefault(task.items[0].order, []).append((key, task))
    reported_errors: set[str] = set()
    try:
        for item in items:
            if item.error is not None:
                report.add(Results(item.source, recognizer.classes, name=item.name, kind="image", error=item.error))
            for key, task in by_order.get(item.order, []):
                if key in lost:
                    for lost_item in task.items:
                        if lost_item.source not in reported_errors:
                            reported_errors.add(lost_item.source)
                            message = f"{display_path(lost_item.path)}: the worker reading it died {max_retries + 1} times; rerun to try it again"
                            report.add(Results(lost_item.source, recognizer.classes, name=lost_item.name, error=message))
                    continue
                for result in results_of_partition(pq.read_table(folder / f"{key}.parquet"), recognizer.classes):
                    if not result.ok and result.kind == "video":
                        if result.source in reported_errors:  # later ranges of a video cut short
                            continue
                        reported_errors.add(result.source)
                    report.add(result)
    except BaseException:
        report.close(commit=False)
        raise
    report.skipped = skipped
    return report.finish()


def _run_tasks(ray: Any, recognizer: Recognizer, todo: list[tuple[str, Task]], folder: Path, stride: int,
               workers: int | None, num_gpus: float, max_retries: int, verbose: int) -> set[str]:
    """Run the tasks on an actor pool, writing each one's partition as it arrives; the keys of tasks lost."""
    import pyarrow as pa
    import pyarrow.parquet as pq
    from ray.data import ActorPoolStrategy, DataContext

    context = DataContext.get_current()
    context.enable_progress_bars = verbose >= 2
    context.max_errored_blocks = len(todo)  # a task lost after its retries becomes error rows, not a failed run
    resources = ray.cluster_resources()
    if workers is None:
        workers = max(1, int(resources.get("GPU", 0) // num_gpus) if num_gpus else int(resources.get("CPU", 1)))
    if workers < 1:
        raise ConfigError(f"workers must be >= 1, got {workers}")
    specs = [{"task": key, "spec": json.dumps({"items": [asdict(i) for i in task.items], "start": task.start, "end": task.end, "declared": task.declared})} for key, task in todo]
    dataset = ray.data.from_items(specs, override_num_blocks=len(specs)).map_batches(
        TaskRunner,
        fn_constructor_kwargs={"options": recognizer.options, "stride": stride},
        batch_size=1,
        compute=ActorPoolStrategy(size=workers),
        num_cpus=0 if num_gpus else 1,
        num_gpus=num_gpus,
        max_restarts=max_retries,
        max_task_retries=max_retries,
    )
    folder.mkdir(parents=True, exist_ok=True)
    pending: dict[str, list[Any]] = {}
    done: set[str] = set()
    for batch in dataset.iter_batches(batch_size=None, batch_format="pyarrow"):
        import pyarrow.compute as pc

        for key in batch.column("task").unique().to_pylist():
            part = batch.filter(pc.equal(batch.column("task"), key))
            pending.setdefault(key, []).append(part)
            if "end" in part.column("row").to_pylist():
                table = pa.concat_tables(pending.pop(key)).drop(["task"])
                table = table.replace_schema_metadata({"openfer.task": key, "openfer.complete": "1"})
                with atomic_path(folder / f"{key}.parquet") as temporary:
                    pq.write_table(table, temporary)
                done.add(key)
    return {key for key, _ in todo} - done


def _complete(path: Path) -> bool:
    """Whether a partition is there and carries its completion flag."""
    if not path.is_file():
        return False
    import pyarrow.parquet as pq

    try:
        metadata = pq.read_schema(path).metadata or {}
    except (OSError, ValueError):
        return False
    return metadata.get(b"openfer.complete") == b"1"


def _check_manifest(folder: Path, recognizer: Recognizer, stride: int) -> None:
    """Write what the partitions were made with (model, detector, crop, stride), or refuse a folder made otherwise."""
    settings = {"recognizer": repr(recognizer), "classes": list(recognizer.classes), "stride": stride}
    manifest = folder / "openfer-run.json"
    if manifest.is_file():
        held = json.loads(manifest.read_text())
        if held != settings:
            raise ConfigError(
                f"partitions {display_path(folder)} were written by another setup ({held['recognizer']}, stride {held['stride']}); "
                "give another folder or remove it"
            )
        return
    folder.mkdir(parents=True, exist_ok=True)
    with atomic_write(manifest, "w") as handle:
        json.dump(settings, handle)

