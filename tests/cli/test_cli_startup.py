"""The ``openfer`` command starts without torch: ``import openfer``, argument parsing, ``--help`` and the refusal
of input that can give no frame never load it (a second or more of start-up on a CPU)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from openfer.recognize.sources import unreadable_reason

#: Runs a snippet in a fresh interpreter in which importing torch raises.
BLOCK_TORCH = """
import sys
class _NoTorch:
    def find_spec(self, name, path=None, target=None):
        if name == "torch" or name.startswith("torch."):
            raise ImportError("torch was imported")
sys.meta_path.insert(0, _NoTorch())
"""


def run_without_torch(code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", BLOCK_TORCH + code], capture_output=True, text=True, timeout=120)


def test_import_and_parser_are_torch_free() -> None:
    result = run_without_torch(
        "import openfer\nfrom openfer.cli import build_parser\nbuild_parser()\n"
        "import openfer.recognize.sources\nprint(openfer.__version__, 'torch' in sys.modules)"
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split()[-1] == "False"


def test_public_names_and_submodules_still_load_on_use() -> None:
    result = run_without_torch("import openfer\nopenfer.load_model")
    assert "torch was imported" in result.stderr  # the name is lazy, not missing: it loads (and here fails) on use

    import openfer
    import openfer.recognize

    assert openfer.load_model is openfer.inference.load_model
    assert openfer.recognize.sources.webcam_index("0") == 0  # submodules resolve as attributes, as before
    assert openfer.Recognizer is openfer.recognize.recognizer.Recognizer
    assert openfer.recognize.FACE_COLUMNS[0] == "source"
    assert {"load_model", "Recognizer", "create_model"} <= set(dir(openfer))
    with pytest.raises(AttributeError, match="no attribute 'nothing'"):
        openfer.nothing  # noqa: B018


def test_help_exits_0_without_torch() -> None:
    result = run_without_torch("from openfer.cli import main\nraise SystemExit(main(['--help']))")
    assert result.returncode == 0, result.stderr
    assert "predict" in result.stdout


@pytest.mark.skipif(sys.platform == "win32", reason="FIFOs and /dev/zero are POSIX")
def test_hopeless_input_exits_2_before_any_model_loads(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe.jpg"
    os.mkfifo(fifo)
    result = run_without_torch(f"from openfer.cli import main\nraise SystemExit(main(['predict', '/dev/zero', {str(fifo)!r}, {str(tmp_path / 'gone.jpg')!r}]))")
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert lines[0] == "openfer: skipped /dev/zero: not a regular file (a device or socket); only regular files are read"
    assert lines[1].endswith("pipe.jpg: not a regular file (a FIFO); only regular files are read")
    assert lines[2].endswith("gone.jpg: no such file or folder")
    assert lines[3] == "openfer: 0 sources read (0 faces), 3 failed, nothing written"


def test_unreadable_reason_only_for_sources_that_cannot_give_a_frame(tmp_path: Path) -> None:
    image = tmp_path / "face.jpg"
    image.write_bytes(b"not really a jpeg")  # a regular file: whether it decodes is for the reader to say
    assert unreadable_reason(str(image)) is None
    assert unreadable_reason(str(tmp_path)) is None
    assert unreadable_reason(str(tmp_path / "*.png")) is None
    assert unreadable_reason("rtsp://camera/live") is None
    assert unreadable_reason(0) is None
    assert unreadable_reason(str(tmp_path / "missing.mp4")).endswith("missing.mp4: no such file or folder")
