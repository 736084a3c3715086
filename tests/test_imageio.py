"""Images: decoding files and bytes (colour order, bit depth, alpha, palettes, EXIF orientation, bad
input), encoding and writing, channel and size conversion; and what the module may import."""

from __future__ import annotations

import ast
import struct
import zlib
from pathlib import Path

import cv2
import numpy as np
import pytest

from openfer import imageio
from openfer.errors import ImageError
from openfer.imageio import read_image


def _encode(extension: str, image: np.ndarray) -> bytes:
    ok, data = cv2.imencode(extension, image)
    assert ok
    return data.tobytes()


def _png_chunk(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))


def _exif_jpeg(image: np.ndarray, orientation: int) -> bytes:
    """A JPEG with an EXIF APP1 segment holding only the orientation tag (0x0112)."""
    data = _encode(".jpg", image)
    tiff = b"MM\x00\x2a" + struct.pack(">IH", 8, 1) + struct.pack(">HHIHH", 0x0112, 3, 1, orientation, 0) + b"\0" * 4
    app1 = b"Exif\x00\x00" + tiff
    return data[:2] + b"\xff\xe1" + struct.pack(">H", len(app1) + 2) + app1 + data[2:]


def test_colour_image_is_rgb_and_grey_on_request(tmp_path: Path) -> None:
    bgr = np.zeros((6, 9, 3), np.uint8)
    bgr[..., 2] = 200  # red in OpenCV's BGR order
    path = tmp_path / "red.png"
    path.write_bytes(_encode(".png", bgr))
    rgb = read_image(path, grey=False)
    assert rgb.shape == (6, 9, 3) and rgb.dtype == np.uint8
    assert rgb[0, 0].tolist() == [200, 0, 0]
    grey = read_image(path, grey=True)
    assert grey.shape == (6, 9) and grey[0, 0] == round(0.299 * 200)


@pytest.mark.parametrize("extension", [".jpg", ".png", ".bmp", ".tiff", ".webp", ".pgm"])
def test_grey_file_in_every_supported_format(tmp_path: Path, extension: str) -> None:
    image = np.tile(np.arange(0, 240, 20, dtype=np.uint8), (10, 1))
    path = tmp_path / f"face{extension}"
    path.write_bytes(_encode(extension, image))
    grey = read_image(path, grey=True)
    assert grey.shape == (10, 12)
    assert np.abs(grey.astype(int) - image).max() <= 8  # JPEG and lossy WebP are close, the rest exact
    assert read_image(path, grey=False).shape == (10, 12, 3)


def test_sixteen_bit_is_scaled_to_eight(tmp_path: Path) -> None:
    image = np.array([[0, 257, 257 * 128, 65535]], dtype=np.uint16)
    path = tmp_path / "deep.png"
    path.write_bytes(_encode(".png", image))
    assert read_image(path, grey=True).tolist() == [[0, 1, 128, 255]]


def test_alpha_is_dropped(tmp_path: Path) -> None:
    bgra = np.zeros((4, 5, 4), np.uint8)
    bgra[..., 0], bgra[..., 3] = 90, 0  # blue, fully transparent
    path = tmp_path / "alpha.png"
    path.write_bytes(_encode(".png", bgra))
    rgb = read_image(path, grey=False)
    assert rgb.shape == (4, 5, 3) and rgb[0, 0].tolist() == [0, 0, 90]


def test_palette_png_is_expanded(tmp_path: Path) -> None:
    width, height = 4, 3
    rows = b"".join(b"\x00" + bytes((x + y) % 2 for x in range(width)) for y in range(height))
    png = (
        b"\x89PNG\r\n\x1a\n"
        + _png_chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 3, 0, 0, 0))
        + _png_chunk(b"PLTE", bytes([255, 0, 0, 0, 0, 255]))
        + _png_chunk(b"IDAT", zlib.compress(rows))
        + _png_chunk(b"IEND", b"")
    )
    path = tmp_path / "palette.png"
    path.write_bytes(png)
    rgb = read_image(path, grey=False)
    assert rgb.shape == (3, 4, 3)
    assert rgb[0, 0].tolist() == [255, 0, 0] and rgb[0, 1].tolist() == [0, 0, 255]


def test_exif_orientation_is_applied(tmp_path: Path) -> None:
    image = np.zeros((20, 40), np.uint8)
    image[:6, :6] = 255  # a white block at the top left
    path = tmp_path / "rotated.jpg"
    path.write_bytes(_exif_jpeg(image, orientation=6))  # 6: display rotated 90 degrees clockwise
    upright = read_image(path, grey=True)
    assert upright.shape == (40, 20)
    rows, cols = np.nonzero(upright > 128)
    assert rows.mean() < 10 and cols.mean() > 10  # the block is now at the top right


def _truncated_png(tmp_path: Path) -> Path:
    data = _encode(".png", np.random.default_rng(0).integers(0, 255, (50, 50), dtype=np.uint8))
    path = tmp_path / "cut.png"
    path.write_bytes(data[: len(data) // 2])
    return path


def _truncated_jpeg(tmp_path: Path) -> Path:
    data = _encode(".jpg", np.random.default_rng(0).integers(0, 255, (50, 50), dtype=np.uint8))
    path = tmp_path / "cut.jpg"
    path.write_bytes(data[:-2])  # only the end-of-image marker is missing
    return path


@pytest.mark.parametrize(
    "make, expected",
    [
        (lambda tmp: tmp / "missing.png", "no such image file"),
        (lambda tmp: (tmp / "empty.png", (tmp / "empty.png").write_bytes(b""))[0], "empty file"),
        (lambda tmp: (tmp / "notes.jpg", (tmp / "notes.jpg").write_text("not an image"))[0], "cannot decode"),
        (lambda tmp: (tmp / "folder.png", (tmp / "folder.png").mkdir())[0], "not a regular file (a folder)"),
        (_truncated_png, "cannot decode"),
        (_truncated_jpeg, "truncated"),
    ],
    ids=["missing", "empty", "text", "folder", "truncated-png", "truncated-jpeg"],
)
def test_bad_files_raise_one_line_naming_the_file(tmp_path: Path, make, expected: str) -> None:
    path = make(tmp_path)
    with pytest.raises(ImageError) as caught:
        read_image(path, grey=True)
    message = str(caught.value)
    assert str(path) in message and expected in message and "\n" not in message


def test_huge_image_is_refused_from_its_header(tmp_path: Path) -> None:
    header = b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", struct.pack(">IIBBBBB", 20000, 20000, 8, 0, 0, 0, 0))
    path = tmp_path / "huge.png"
    path.write_bytes(header)  # no pixel data at all: refused before decoding
    with pytest.raises(ImageError, match="20000 x 20000 pixels is larger than the limit"):
        read_image(path, grey=True)


def test_pixel_limit_applies_after_decoding_formats_without_a_header_check(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "face.tiff"
    path.write_bytes(_encode(".tiff", np.zeros((10, 12), np.uint8)))
    monkeypatch.setattr(imageio, "MAX_PIXELS", 119)
    with pytest.raises(ImageError, match="12 x 10 pixels"):
        read_image(path, grey=True)
    monkeypatch.setattr(imageio, "MAX_PIXELS", 120)
    assert read_image(path, grey=True).shape == (10, 12)


@pytest.mark.parametrize("extension", [".png", ".jpg", ".bmp", ".webp", ".pgm"])
def test_header_size_is_read_without_decoding(extension: str) -> None:
    data = _encode(extension, np.zeros((10, 12, 3) if extension == ".webp" else (10, 12), np.uint8))
    assert imageio._header_size(data) == (12, 10)


def test_lossless_webp_header() -> None:
    ok, data = cv2.imencode(".webp", np.zeros((10, 12, 3), np.uint8), [cv2.IMWRITE_WEBP_QUALITY, 101])
    assert data.tobytes()[12:16] == b"VP8L" and imageio._header_size(data.tobytes()) == (12, 10)


@pytest.mark.parametrize("make, expected", [
    (lambda tmp: b"", "empty file"),
    (lambda tmp: b"not an image", "cannot decode"),
    (lambda tmp: _truncated_png(tmp).read_bytes(), "cannot decode"),
    (lambda tmp: _truncated_jpeg(tmp).read_bytes(), "truncated"),
    (lambda tmp: b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", struct.pack(">IIBBBBB", 20000, 20000, 8, 0, 0, 0, 0)), "larger than the limit"),
], ids=["empty", "text", "truncated-png", "truncated-jpeg", "huge"])
def test_bad_bytes_raise_one_line_naming_the_upload(tmp_path: Path, make, expected: str) -> None:
    with pytest.raises(ImageError) as caught:
        imageio.decode_image(make(tmp_path), grey=False, name="photo.jpg")
    message = str(caught.value)
    assert message.startswith("photo.jpg: ") and expected in message and "\n" not in message


def test_bytes_decode_as_the_file_does(tmp_path: Path) -> None:
    image = np.random.default_rng(1).integers(0, 255, (20, 30, 3), dtype=np.uint8)
    path = tmp_path / "face.png"
    path.write_bytes(_encode(".png", image))
    for grey in (False, True):
        np.testing.assert_array_equal(imageio.decode_image(path.read_bytes(), grey=grey), read_image(path, grey=grey))


def test_write_image_round_trips_and_refuses_unknown_suffixes(tmp_path: Path) -> None:
    image = np.random.default_rng(2).integers(0, 255, (20, 30, 3), dtype=np.uint8)
    path = imageio.write_image(tmp_path / "sub" / "face.png", image)
    np.testing.assert_array_equal(read_image(path, grey=False), image)
    with pytest.raises(ImageError, match=r"face\.xyz: cannot encode"):
        imageio.write_image(tmp_path / "face.xyz", image)
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["face.png", "sub"]


def test_channel_and_size_conversion() -> None:
    rgb = np.random.default_rng(3).integers(0, 255, (10, 16, 3), dtype=np.uint8)
    assert imageio.to_channels(rgb, 1).shape == (10, 16)
    assert imageio.to_channels(rgb[:, :, :1], 3).shape == (10, 16, 3)
    assert imageio.resize(rgb, (5, 8)).shape == (5, 8, 3) and imageio.resize(rgb, 20).shape == (20, 20, 3)
    assert imageio.to_model_input_size(rgb, 12, 1).shape == (1, 12, 12)
    assert imageio.to_model_input_size(rgb, 12, 3).shape == (3, 12, 12)


SOURCE = Path(imageio.__file__).parent
PIXEL_HELPERS = {"to_channels", "resize", "to_model_input_size", "read_image", "decode_image", "write_image", "encode_image"}


def _imports(path: Path) -> list[tuple[str, set[str]]]:
    """(module, names) for every import in a source file, relative imports resolved within openfer."""
    found = []
    package = ".".join(path.relative_to(SOURCE.parent).with_suffix("").parts[:-1])
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found += [(alias.name, set()) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            module = node.module or ""
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                module = ".".join([*base, module] if module else base)
            found.append((module, {alias.name for alias in node.names}))
    return found


def _module_file(module: str) -> Path | None:
    path = SOURCE.parent.joinpath(*module.split("."))
    return path / "__init__.py" if path.is_dir() else path.with_suffix(".py") if path.with_suffix(".py").is_file() else None


def test_imageio_imports_nothing_from_data() -> None:
    """Neither imageio nor the openfer modules it imports (followed down) import anything from data/."""
    seen, todo, reached = set(), ["openfer.imageio"], []
    while todo:
        module = todo.pop()
        if module in seen:
            continue
        seen.add(module)
        for imported, names in _imports(_module_file(module)):
            candidates = [imported] + [f"{imported}.{name}" for name in names if _module_file(f"{imported}.{name}")]
            for candidate in candidates:
                if candidate.startswith("openfer.") and _module_file(candidate):
                    reached.append(candidate)
                    todo.append(candidate)
    assert "openfer.files" in reached and "openfer.errors" in reached
    assert not [m for m in reached if m == "openfer.data" or m.startswith("openfer.data.")]


@pytest.mark.parametrize("part", ["faces", "recognize", "inference.py", "export.py", "serve.py"])
def test_recognition_code_takes_no_pixel_helper_from_data(part: str) -> None:
    files = [SOURCE / part] if part.endswith(".py") else sorted((SOURCE / part).rglob("*.py"))
    offending = []
    for path in files:
        for module, names in _imports(path):
            if module.startswith("openfer.data"):
                submodule = module.split(".")[2] if module.count(".") >= 2 else None
                if submodule in ("imageops", "augment", "cache") or names & (PIXEL_HELPERS | {"imageops"}):
                    offending.append(f"{path.name}: from {module} import {', '.join(sorted(names))}")
    assert not offending
