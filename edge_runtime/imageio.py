"""Read image files for the edge runtime: any OpenCV format, 8/16-bit, grey/RGB/RGBA -> uint8.

``load_image`` returns a decoded image as uint8 (H, W) grey or (H, W, 3) BGR and
raises ``ImageError`` with the reason for anything it cannot read: a missing, empty,
truncated or non-image file, or an image above the pixel limit (refused before
decoding when the header says so, to keep memory small on a Raspberry Pi).

    python -m edge_runtime.imageio photo.jpg   # print what was decoded
"""

from __future__ import annotations

import glob
import os
import struct
import sys
from pathlib import Path

MAX_PIXELS = 40_000_000
"""Images with more pixels than this are refused (a 40 MP BGR image is already 120 MB)."""
os.environ.setdefault("OPENCV_IO_MAX_IMAGE_PIXELS", str(MAX_PIXELS))  # before cv2 is imported

import cv2  # noqa: E402
import numpy as np  # noqa: E402

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".webp", ".tif", ".tiff", ".pgm", ".ppm", ".pbm", ".pnm")


class ImageError(ValueError):
    """An input that is not a readable image."""


def header_size(data: bytes) -> tuple[int, int] | None:
    """(width, height) from a PNG, BMP or JPEG header without decoding; None if unknown."""
    if data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) >= 24:
        return struct.unpack(">II", data[16:24])
    if data[:2] == b"BM" and len(data) >= 26:
        w, h = struct.unpack("<ii", data[18:26])
        return abs(w), abs(h)
    if data[:2] == b"\xff\xd8":
        i = 2
        while i + 9 < len(data):
            if data[i] != 0xFF:
                return None
            marker = data[i + 1]
            if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7:
                i += 2
                continue
            seg = struct.unpack(">H", data[i + 2 : i + 4])[0]
            if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
                h, w = struct.unpack(">HH", data[i + 5 : i + 9])
                return w, h
            i += 2 + seg
    return None


def to_uint8(image: np.ndarray) -> np.ndarray:
    """Decoded image of any depth/channels -> uint8 grey (H, W) or BGR (H, W, 3).

    16-bit and float images are scaled by their own range; alpha is composited on
    white (a transparent background reads as paper)."""
    if image.dtype != np.uint8:
        img = image.astype(np.float32)
        lo, hi = float(img.min()), float(img.max())
        if image.dtype == np.uint16 and hi > 255:
            img = img / 257.0
        elif hi > lo:
            img = (img - lo) * (255.0 / (hi - lo))
        image = np.clip(img + 0.5, 0, 255).astype(np.uint8)
    if image.ndim == 3:
        if image.shape[2] == 1:
            image = image[:, :, 0]
        elif image.shape[2] == 4:
            alpha = image[:, :, 3:4].astype(np.float32) / 255.0
            bgr = image[:, :, :3].astype(np.float32)
            image = (bgr * alpha + 255.0 * (1.0 - alpha) + 0.5).astype(np.uint8)
        elif image.shape[2] != 3:
            raise ImageError(f"unsupported channel count {image.shape[2]}")
    return np.ascontiguousarray(image)


def decode_image(data: bytes, name: str = "<bytes>", max_pixels: int = MAX_PIXELS) -> np.ndarray:
    if not data:
        raise ImageError(f"{name}: empty file (0 bytes)")
    size = header_size(data)
    if size and size[0] * size[1] > max_pixels:
        raise ImageError(
            f"{name}: image too large ({size[0]}x{size[1]} = {size[0] * size[1] / 1e6:.0f} MP, "
            f"limit {max_pixels / 1e6:.0f} MP); downscale it first"
        )
    # JPEGs (8-bit, no alpha) are decoded with IMREAD_COLOR, which applies the EXIF orientation
    # as photo viewers do; other formats keep their depth and alpha (IMREAD_UNCHANGED).
    flags = cv2.IMREAD_COLOR if data[:2] == b"\xff\xd8" else cv2.IMREAD_UNCHANGED
    image = cv2.imdecode(np.frombuffer(data, np.uint8), flags)
    if image is None or image.size == 0:
        kind = "truncated or corrupt image" if size else "not a readable image (unknown or corrupt format)"
        raise ImageError(f"{name}: {kind}")
    if image.shape[0] * image.shape[1] > max_pixels:
        raise ImageError(f"{name}: image too large ({image.shape[1]}x{image.shape[0]}); downscale it first")
    return to_uint8(image)


def load_image(path: str | Path) -> np.ndarray:
    """Decode one image file -> uint8 grey (H, W) or BGR (H, W, 3); ``ImageError`` if it cannot."""
    p = Path(path)
    if not p.exists():
        raise ImageError(f"{p}: no such file")
    if p.is_dir():
        raise ImageError(f"{p}: is a folder, not an image")
    try:
        data = p.read_bytes()
    except OSError as exc:
        raise ImageError(f"{p}: cannot read ({exc.strerror})") from exc
    image = decode_image(data, str(p))
    # libjpeg decodes a truncated JPEG into a partly grey image without failing: check the end marker.
    if data[:2] == b"\xff\xd8" and b"\xff\xd9" not in data[-1024:]:
        raise ImageError(f"{p}: truncated JPEG (no end-of-image marker)")
    return image


def to_grey(image: np.ndarray) -> np.ndarray:
    """uint8 BGR or grey -> uint8 grey."""
    return image if image.ndim == 2 else cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)


def expand_inputs(items: list[str]) -> list[str]:
    """Files, folders (their images, sorted) and globs -> a list of paths, in the order given.

    Anything that matches nothing is kept as given so that it is reported as missing."""
    out: list[str] = []
    for item in items:
        p = Path(item)
        if p.is_dir():
            out += sorted(str(f) for f in p.iterdir() if f.suffix.lower() in IMAGE_SUFFIXES and f.is_file())
        elif not p.exists() and glob.has_magic(item):
            matches = sorted(glob.glob(item))
            out += matches if matches else [item]
        else:
            out.append(item)
    return out


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    status = 0
    for path in expand_inputs(argv):
        try:
            img = load_image(path)
            print(f"{path}: {img.shape} {img.dtype}")
        except ImageError as exc:
            print(f"error: {exc}", file=sys.stderr)
            status = 1
    return status


if __name__ == "__main__":
    sys.exit(main())
