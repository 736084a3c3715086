"""Image files that must be refused at once, in one line, while the rest of a batch is processed:
a FIFO named .jpg, /dev/zero, decompression bombs of every header format, names with control characters."""

from __future__ import annotations

import struct
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from openfer.cli import main
from openfer.errors import ImageError
from openfer.imageio import MAX_PIXELS, decode_image, read_image
from openfer.recognize import Recognizer
from tests.robustness.conftest import face_photo, fifo, tiff_bomb

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="FIFOs and /dev/zero are POSIX")


def run_predict(random_model_file: Path, capsys, *sources: str) -> tuple[int, str, str]:
    status = main(["predict", *sources, "--model", str(random_model_file), "--backend", "torch", "--detector", "haar"])
    out, err = capsys.readouterr()
    return status, out, err


def test_a_fifo_named_jpg_is_refused_without_blocking(tmp_path: Path, deadline) -> None:
    path = fifo(tmp_path / "photo.jpg")
    with pytest.raises(ImageError, match=r"photo\.jpg: not a regular file \(a FIFO\)"):
        read_image(path, grey=False)


def test_dev_zero_is_refused_without_reading(deadline) -> None:
    with pytest.raises(ImageError, match=r"/dev/zero: not a regular file \(a device or socket\)"):
        read_image("/dev/zero", grey=False)


def test_a_folder_with_a_fifo_and_a_bomb_goes_on_with_its_good_photo(random_model_file: Path, tmp_path: Path, capsys, deadline) -> None:
    folder = tmp_path / "batch"
    folder.mkdir()
    fifo(folder / "a_fifo.jpg")
    tiff_bomb(folder / "b_bomb.tif")
    cv2.imwrite(str(folder / "c_good.jpg"), face_photo())
    status, out, err = run_predict(random_model_file, capsys, str(folder), "/dev/zero")
    assert status == 1  # some sources failed, the good one was read
    skipped = [line for line in err.splitlines() if line.startswith("openfer: skipped")]
    assert len(skipped) == 3
    assert any("a_fifo.jpg: not a regular file (a FIFO)" in line for line in skipped)
    assert any("b_bomb.tif: image of 60000 x 60000 pixels is larger than the limit" in line for line in skipped)
    assert any("/dev/zero: not a regular file" in line for line in skipped)
    assert "c_good.jpg" in out + err and "Traceback" not in err


def test_only_bad_sources_exit_2(random_model_file: Path, tmp_path: Path, capsys, deadline) -> None:
    status, _, err = run_predict(random_model_file, capsys, str(fifo(tmp_path / "x.jpg")))
    assert status == 2 and "not a regular file" in err


def png_header(width: int, height: int) -> bytes:
    chunk = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + struct.pack(">I", len(chunk)) + b"IHDR" + chunk + b"\0\0\0\0"


def gif_header(width: int, height: int) -> bytes:
    return b"GIF89a" + struct.pack("<HHBBB", width, height, 0, 0, 0) + b";"


def bmp_header(width: int, height: int) -> bytes:
    info = struct.pack("<IiiHHIIiiII", 40, width, height, 1, 24, 0, 0, 0, 0, 0, 0)
    return b"BM" + struct.pack("<IHHI", 14 + len(info), 0, 0, 14 + len(info)) + info


def jpeg_header(width: int, height: int) -> bytes:
    frame = struct.pack(">HBHHB", 11, 8, height, width, 1) + b"\x01\x11\x00"
    return b"\xff\xd8" + b"\xff\xc0" + frame + b"\xff\xda\x00\x08\x01\x01\x00\x00\x3f\x00" + b"\x00" * 64 + b"\xff\xd9"


def webp_header(width: int, height: int) -> bytes:
    chunk = b"VP8X" + struct.pack("<I", 10) + b"\0\0\0\0" + (width - 1).to_bytes(3, "little") + (height - 1).to_bytes(3, "little")
    return b"RIFF" + struct.pack("<I", 4 + len(chunk)) + b"WEBP" + chunk


@pytest.mark.parametrize("header", [png_header, gif_header, bmp_header, jpeg_header, webp_header], ids=["png", "gif", "bmp", "jpeg", "webp"])
def test_every_format_is_refused_from_its_header(header) -> None:
    with pytest.raises(ImageError, match="50000 x 40000 pixels is larger than the limit"):
        decode_image(header(50_000, 40_000), grey=False, name="bomb")


def test_a_tiff_bomb_is_refused_before_decoding(tmp_path: Path) -> None:
    path = tiff_bomb(tmp_path / "bomb.tiff")
    assert path.stat().st_size < 10_000 and 60_000 * 60_000 > MAX_PIXELS
    with pytest.raises(ImageError, match=r"bomb\.tiff: image of 60000 x 60000 pixels"):
        read_image(path, grey=True)
    big_endian = bytearray(path.read_bytes())  # the same refusal from a Motorola-order header
    assert big_endian[:2] in (b"II", b"MM")


def test_the_service_answers_a_bomb_with_one_line_400(tmp_path: Path, random_model_file: Path) -> None:
    pytest.importorskip("httpx")
    from fastapi.testclient import TestClient

    from openfer.inference import load_model
    from openfer.serve import create_app

    data = tiff_bomb(tmp_path / "bomb.tif").read_bytes()
    with TestClient(create_app(Recognizer(load_model(random_model_file), "haar"))) as client:
        response = client.post("/predict", content=data, headers={"Content-Type": "image/tiff"})
        assert response.status_code == 400
        detail = response.json()["detail"]
        assert "60000 x 60000 pixels is larger than the limit" in detail and "\n" not in detail
        good = client.post("/predict", content=cv2.imencode(".jpg", face_photo())[1].tobytes(), headers={"Content-Type": "image/jpeg"})
        assert good.status_code == 200  # the server goes on


def test_names_with_control_characters_are_printed_escaped(random_model_file: Path, tmp_path: Path, capsys) -> None:
    hostile = tmp_path / "red\x1b[31m\x07name\n.jpg"
    hostile.write_bytes(b"not an image")
    cv2.imwrite(str(tmp_path / "good.jpg"), face_photo())
    status, out, err = run_predict(random_model_file, capsys, str(hostile), str(tmp_path / "good.jpg"))
    assert status == 1
    assert "\x1b" not in out + err and "\x07" not in out + err
    (line,) = [line for line in err.splitlines() if "cannot decode" in line]
    assert "red\\x1b[31m\\x07name\\n.jpg" in line
    with pytest.raises(ImageError) as caught:
        read_image(hostile, grey=True)
    assert "\n" not in str(caught.value) and "\\x1b" in str(caught.value)


def noisy_png() -> bytes:
    """An 8 x 8 PNG with a too-short iCCP chunk and a tEXt chunk with a wrong CRC: libpng warns about both."""
    import zlib

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)

    data = cv2.imencode(".png", np.zeros((8, 8), np.uint8))[1].tobytes()
    bad_crc = struct.pack(">I", 4) + b"tEXt" + b"a\x00bc" + b"\0\0\0\0"
    return data[:33] + chunk(b"iCCP", b"bad\x00\x00" + zlib.compress(b"not a profile" * 10)) + bad_crc + data[33:]


def test_libpng_warnings_do_not_reach_the_terminal(capfd) -> None:
    assert decode_image(noisy_png(), grey=True).shape == (8, 8)
    out, err = capfd.readouterr()
    assert "libpng" not in out + err
    import os

    os.write(2, b"a line of our own\n")  # stderr still works afterwards
    assert capfd.readouterr().err == "a line of our own\n"
