"""The Ray engine (``Recognizer.run(engine="ray")``): on a real three-node cluster on loopback addresses,
records equal to the local engine's, resumable, error rows for bad sources, a dead worker retried."""

from __future__ import annotations

import itertools
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest

from openfer import Recognizer
from openfer.errors import ConfigError
from openfer.recognize.distributed import MISSING_RAY, list_sources
from openfer.recognize.sources import Skipped, iter_frames

# Ray (2.60) turns 127.0.0.1 into the host's routable address, so the nodes take other loopback addresses:
# every socket they use is on lo, and the test waits on nothing outside it.
HEAD, WORKERS = "127.0.0.2", ("127.0.0.3", "127.0.0.4")
START_TIMEOUT = 120


def test_without_ray_the_engine_says_which_extra_to_install(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fake_model, detector) -> None:
    monkeypatch.setitem(sys.modules, "ray", None)
    image = tmp_path / "a.png"
    cv2.imwrite(str(image), np.full((64, 64, 3), 128, np.uint8))
    with pytest.raises(ConfigError, match=r"openfer\[ray\]") as caught:
        Recognizer(fake_model, detector).run([image], tmp_path / "faces.csv", engine="ray", verbose=0)
    assert str(caught.value) == MISSING_RAY
    assert not (tmp_path / "faces.csv").exists()


def test_the_driver_lists_the_sources_the_local_engine_reads(mixed_folder: Path, tmp_path: Path) -> None:
    sources = [mixed_folder, str(mixed_folder / "*.png"), tmp_path / "missing.jpg", str(tmp_path / "*.none"), mixed_folder]
    items, skipped = list_sources(sources)
    local = [frame for frame in iter_frames(sources) if not isinstance(frame, Skipped)]
    files = [key for key, _ in itertools.groupby((frame.source, frame.name) for frame in local)]  # a video's frames: one file
    assert [(item.path, item.name) for item in items] == files
    expected_skipped = [frame.source for frame in iter_frames(sources) if isinstance(frame, Skipped)]
    assert skipped == expected_skipped
    errors = [item.error for item in items if item.error]
    assert any("no such file or folder" in error for error in errors) and any("no file matches" in error for error in errors)
    repeated = [item.source for item in items if item.source.endswith("#2")]
    assert repeated and all(Path(source[:-2]).exists() for source in repeated)


# --- a real cluster: a head and two worker nodes, started and stopped by the test -----------------------


def _free_ports(host: str, count: int) -> list[int]:
    """``count`` distinct ports free on ``host`` (all held open together, so none is given twice)."""
    probes = [socket.socket() for _ in range(count)]
    try:
        for probe in probes:
            probe.bind((host, 0))
        return [probe.getsockname()[1] for probe in probes]
    finally:
        for probe in probes:
            probe.close()


NODE_PORT_FLAGS = ("--node-manager-port", "--object-manager-port", "--dashboard-agent-listen-port", "--dashboard-agent-grpc-port",
                   "--runtime-env-agent-port", "--metrics-export-port")


def _node_ports(ports: list[int], first_worker_port: int) -> list[str]:
    arguments = [value for flag, port in zip(NODE_PORT_FLAGS, ports) for value in (flag, str(port))]
    return [*arguments, "--min-worker-port", str(first_worker_port), "--max-worker-port", str(first_worker_port + 99)]


def _session_processes(session: int) -> list[int]:
    """Live processes of one session (a node started with ``start_new_session``), zombies left out."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                fields = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
            except (OSError, IndexError):
                continue
            if int(fields[3]) == session and fields[0] != "Z":
                found.append(int(entry))
    return found


class LoopbackCluster:
    """``ray start --block`` nodes, each in its own session, so that stopping kills exactly what they started."""

    def __init__(self) -> None:
        self.temp = Path(tempfile.mkdtemp(prefix="ofray"))  # short: Ray's socket paths must fit 107 bytes
        # Every port chosen up front, none twice: the GCS, the client server, then each node's own.
        ports = _free_ports(HEAD, 2 + len(NODE_PORT_FLAGS) * (1 + len(WORKERS)))
        self.port, self.client_port = ports[:2]
        self.node_ports = [ports[2 + i * len(NODE_PORT_FLAGS) : 2 + (i + 1) * len(NODE_PORT_FLAGS)] for i in range(1 + len(WORKERS))]
        self.address = f"{HEAD}:{self.port}"
        self.nodes: list[subprocess.Popen] = []

    def start(self) -> None:
        common = ["--block", "--disable-usage-stats", "--object-store-memory", "200000000"]
        head = ["--head", "--node-ip-address", HEAD, "--port", str(self.port), "--num-cpus", "0", "--include-dashboard", "false",
                "--ray-client-server-port", str(self.client_port), "--temp-dir", str(self.temp), *_node_ports(self.node_ports[0], 21000)]
        self._start_node([*common, *head], "head")
        for number, host in enumerate(WORKERS):
            worker = ["--address", self.address, "--node-ip-address", host, "--num-cpus", "1", *_node_ports(self.node_ports[1 + number], 21100 + 100 * number)]
            self._start_node([*common, *worker], f"worker{number}")

    def _start_node(self, arguments: list[str], name: str) -> None:
        log = self.temp / f"{name}.log"
        env = dict(os.environ, RAY_USAGE_STATS_ENABLED="0", OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
        with open(log, "w") as handle:
            node = subprocess.Popen([sys.executable, "-m", "ray.scripts.scripts", "start", *arguments], stdout=handle, stderr=subprocess.STDOUT,
                                    start_new_session=True, env=env)
        self.nodes.append(node)
        deadline = time.monotonic() + START_TIMEOUT
        while "Ray runtime started" not in log.read_text():
            if node.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"ray {name} did not start:\n{log.read_text()[-2000:]}")
            time.sleep(0.5)

    def stop(self) -> None:
        for node in self.nodes:
            for pid in _session_processes(node.pid):
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
        for node in self.nodes:
            node.wait(timeout=30)
        deadline = time.monotonic() + 30
        while any(_session_processes(node.pid) for node in self.nodes) and time.monotonic() < deadline:
            time.sleep(0.2)
        shutil.rmtree(self.temp, ignore_errors=True)

    def left_running(self) -> list[int]:
        return [pid for node in self.nodes for pid in _session_processes(node.pid)]


@pytest.fixture(scope="module")
def cluster():
    ray = pytest.importorskip("ray", reason="the ray engine's cluster test needs the extra: pip install 'openfer[ray]'")
    cluster = LoopbackCluster()
    try:
        cluster.start()
        ray.init(address=cluster.address, _node_ip_address=HEAD, include_dashboard=False, log_to_driver=False, logging_level="ERROR")
        deadline = time.monotonic() + START_TIMEOUT
        while sum(node["Alive"] for node in ray.nodes()) < 3 and time.monotonic() < deadline:
            time.sleep(0.5)
        yield cluster
    finally:
        ray.shutdown()
        cluster.stop()
        assert cluster.left_running() == []


@pytest.fixture(scope="module")
def photo_folder(shared_photos: Path, tmp_path_factory) -> Path:
    """240 real images: crops and mirror images of the shared photos, small so that both runs stay short."""
    folder = tmp_path_factory.mktemp("ray-photos")
    photos = sorted(shared_photos.glob("*.jpg"))
    count = 0
    for photo in photos:
        image = cv2.imread(str(photo))
        height, width = image.shape[:2]
        for number in range(240 // len(photos) + 1):
            top, left = (number % 4) * height // 16, (number // 4 % 4) * width // 16
            crop = image[top : top + height * 3 // 4, left : left + width * 3 // 4]
            crop = cv2.flip(crop, 1) if number % 2 else crop
            scale = 200 / max(crop.shape[:2])
            subfolder = folder / f"part{number % 3}"
            subfolder.mkdir(exist_ok=True)
            cv2.imwrite(str(subfolder / f"{photo.stem}_{number}.jpg"), cv2.resize(crop, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA))
            count += 1
            if count == 240:
                break
        if count == 240:
            break
    (folder / "part0" / "broken.jpg").write_bytes(b"not a jpeg")
    (folder / "notes.txt").write_text("not an image")
    return folder


def test_records_on_a_three_node_cluster_equal_the_local_engines_and_a_rerun_skips_them(cluster, photo_folder: Path, tmp_path: Path) -> None:
    import ray

    assert [node["Resources"].get("CPU", 0) for node in ray.nodes() if node["Alive"]] in ([0, 1.0, 1.0], [1.0, 0, 1.0], [1.0, 1.0, 0])
    recognizer = Recognizer(track=False)
    sources = [photo_folder, photo_folder / "part1" / "missing.jpg"]
    local = recognizer.run(sources, tmp_path / "local.csv", verbose=0)
    distributed = recognizer.run(sources, tmp_path / "ray.csv", engine="ray", partitions=tmp_path / "parts", workers=2, verbose=0)
    assert local.exit_status == distributed.exit_status == 1
    assert distributed.failed == local.failed and len(distributed.failed) == 2  # the broken file, the missing one
    assert distributed.skipped == local.skipped == [str(photo_folder / "notes.txt")]
    expected, got = pd.read_csv(tmp_path / "local.csv"), pd.read_csv(tmp_path / "ray.csv")
    assert len(expected) > 100 and list(got.columns) == list(expected.columns)
    exact = [column for column in expected.columns if expected[column].dtype.kind != "f"]
    pd.testing.assert_frame_equal(got[exact], expected[exact])
    close = [column for column in expected.columns if expected[column].dtype.kind == "f"]
    np.testing.assert_allclose(got[close].to_numpy(), expected[close].to_numpy(), atol=1e-5, rtol=0)
    assert len(list((tmp_path / "parts").glob("*.parquet"))) == distributed.tasks_run > 1

    again = recognizer.run(sources, tmp_path / "again.csv", engine="ray", partitions=tmp_path / "parts", workers=2, verbose=0)
    assert again.tasks_run == 0 and again.tasks_skipped == distributed.tasks_run
    assert (tmp_path / "again.csv").read_bytes() == (tmp_path / "ray.csv").read_bytes()


class DiesOnce:
    """A model whose first call anywhere kills its worker process (a segfault stand-in), then classifies."""

    classes = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")

    def __init__(self, marker: str) -> None:
        self.marker = marker

    def predict_proba(self, faces) -> np.ndarray:
        if not os.path.exists(self.marker):
            Path(self.marker).write_text(str(os.getpid()))
            os._exit(1)
        means = np.array([np.asarray(face, np.float64).mean() / 255 for face in faces]).reshape(-1, 1)
        return np.repeat(means, len(self.classes), axis=1).astype(np.float32)


def test_a_worker_that_dies_is_restarted_and_its_task_retried(cluster, photo_folder: Path, tmp_path: Path) -> None:
    from ray import cloudpickle

    cloudpickle.register_pickle_by_value(sys.modules[__name__])  # the workers cannot import this test module
    marker = tmp_path / "died"
    images = sorted((photo_folder / "part2").glob("*.jpg"))[:12]
    recognizer = Recognizer(DiesOnce(str(marker)), track=False)
    report = recognizer.run(images, tmp_path / "faces.csv", engine="ray", partitions=tmp_path / "parts", workers=1, verbose=0)
    assert marker.is_file() and int(marker.read_text()) != os.getpid()  # a worker did die
    assert report.exit_status == 0 and sorted(report.read) == sorted(map(str, images))
    local = Recognizer(DiesOnce(str(marker)), track=False).run(images, tmp_path / "local.csv", verbose=0)
    assert (tmp_path / "faces.csv").read_bytes() == (tmp_path / "local.csv").read_bytes() and local.faces == report.faces
