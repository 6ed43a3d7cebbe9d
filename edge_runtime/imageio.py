"""Read image files for the edge runtime: any OpenCV format, 8/16-bit, grey/RGB/RGBA -> uint8.

``load_image`` returns a decoded image as uint8 (H, W) grey or (H, W, 3) BGR and
raises ``ImageError`` with the reason for anything it cannot read: a missing, empty,
truncated or non-image file, a FIFO or device, a file above ``MAX_FILE_BYTES``, or an
image above the pixel limit.

Bounded memory: the size is read from the header of every format we decode (PNG, JPEG,
BMP, TIFF, WebP, PNM/PAM/PFM, GIF, Sun raster, Radiance HDR) and checked *before*
OpenCV allocates anything; a file whose header we cannot parse is refused, not handed
to a decoder that might allocate gigabytes. ``OPENCV_IO_MAX_IMAGE_PIXELS`` is set as
well (edge_runtime/__init__.py, before cv2 is first imported; OpenCV reads it once,
so setting it after ``import cv2`` does nothing): a second guard, not the first.

    python -m edge_runtime.imageio photo.jpg   # print what was decoded
"""

from __future__ import annotations

import glob
import os
import stat
import struct
import sys
from pathlib import Path

import cv2  # noqa: E402,I001 (after edge_runtime, which sets OPENCV_IO_MAX_IMAGE_PIXELS)
import numpy as np  # noqa: E402

from edge_runtime import MAX_PIXELS

MAX_FILE_BYTES = 256 * 1024 * 1024
"""Files larger than this are refused before they are read (a 40 MP 16-bit RGBA PNG is smaller)."""

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".webp", ".tif", ".tiff", ".pgm", ".ppm", ".pbm", ".pnm")


class ImageError(ValueError):
    """An input that is not a readable image."""


# ---------------------------------------------------------------- headers
# Hand-written: no maintained pure-Python library reads only the header of all these formats
# without pulling in a decoder (Pillow would decode too, and is not a runtime dependency).


def _jpeg_size(data: bytes) -> tuple[int, int] | None:
    i = 2
    while i + 9 < len(data):
        if data[i] != 0xFF:
            return None
        marker = data[i + 1]
        if marker == 0xFF:  # fill byte
            i += 1
            continue
        if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7:
            i += 2
            continue
        seg = struct.unpack(">H", data[i + 2 : i + 4])[0]
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
            h, w = struct.unpack(">HH", data[i + 5 : i + 9])
            return w, h
        i += 2 + seg
    return None


def _tiff_size(data: bytes) -> tuple[int, int] | None:
    """Width and length of the first image (IFD) of a classic or BigTIFF file."""
    end = "<" if data[:2] == b"II" else ">"
    version = struct.unpack(end + "H", data[2:4])[0]
    if version == 42:
        ifd = struct.unpack(end + "I", data[4:8])[0]
        count_fmt, entry_size, head = "H", 12, 2
    elif version == 43:
        ifd = struct.unpack(end + "Q", data[8:16])[0]
        count_fmt, entry_size, head = "Q", 20, 8
    else:
        return None
    if ifd + head > len(data):
        return None
    n = struct.unpack(end + count_fmt, data[ifd : ifd + head])[0]
    found: dict[int, int] = {}
    for k in range(min(n, 4096)):
        e = ifd + head + k * entry_size
        if e + entry_size > len(data):
            break
        tag, typ = struct.unpack(end + "HH", data[e : e + 4])
        if tag in (256, 257):
            value = data[e + 8 : e + 12] if version == 42 else data[e + 12 : e + 20]
            fmt = {3: "H", 4: "I", 16: "Q"}.get(typ)
            if fmt is None:
                return None
            found[tag] = struct.unpack(end + fmt, value[: struct.calcsize(fmt)])[0]
    if 256 in found and 257 in found:
        return found[256], found[257]
    return None


def _webp_size(data: bytes) -> tuple[int, int] | None:
    chunk = data[12:16]
    if chunk == b"VP8 " and len(data) >= 30:
        w, h = struct.unpack("<HH", data[26:30])
        return w & 0x3FFF, h & 0x3FFF
    if chunk == b"VP8L" and len(data) >= 25:
        bits = int.from_bytes(data[21:25], "little")
        return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
    if chunk == b"VP8X" and len(data) >= 30:
        return int.from_bytes(data[24:27], "little") + 1, int.from_bytes(data[27:30], "little") + 1
    return None


def _pnm_size(data: bytes) -> tuple[int, int] | None:
    """P1-P6 and PFM (PF/Pf): width and height are the first two numbers after the magic
    (comments start with #); P7 (PAM): WIDTH and HEIGHT lines."""
    text = data[:4096].decode("latin-1")
    if data[:2] == b"P7":
        fields = dict(line.split(None, 1) for line in text.splitlines()[1:] if len(line.split(None, 1)) == 2)
        try:
            return int(fields["WIDTH"]), int(fields["HEIGHT"])
        except (KeyError, ValueError):
            return None
    tokens = []
    for line in text[2:].splitlines():
        tokens += line.split("#", 1)[0].split()
        if len(tokens) >= 2:
            break
    try:
        return int(tokens[0]), int(tokens[1])
    except (IndexError, ValueError):
        return None


def _hdr_size(data: bytes) -> tuple[int, int] | None:
    """Radiance HDR: after the header's blank line, '-Y <h> +X <w>' (or another axis order)."""
    head, sep, rest = data[:65536].partition(b"\n\n")
    parts = rest.split(b"\n", 1)[0].split() if sep else []
    if len(parts) != 4:
        return None
    try:
        a, b = int(parts[1]), int(parts[3])
    except ValueError:
        return None
    return (b, a) if parts[0][1:2] == b"Y" else (a, b)


def header_size(data: bytes) -> tuple[int, int] | None:
    """(width, height) from the header of any format decode_image accepts, without decoding;
    None if the data is not one of them or its header is cut short."""
    try:
        if data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) >= 24:
            return struct.unpack(">II", data[16:24])
        if data[:2] == b"BM" and len(data) >= 26:
            w, h = struct.unpack("<ii", data[18:26])
            return abs(w), abs(h)
        if data[:2] == b"\xff\xd8":
            return _jpeg_size(data)
        if data[:4] in (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+"):
            return _tiff_size(data)
        if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
            return _webp_size(data)
        if data[:1] == b"P" and data[1:2] in b"1234567Ff" and data[1:2]:
            return _pnm_size(data)
        if data[:6] in (b"GIF87a", b"GIF89a") and len(data) >= 10:
            return struct.unpack("<HH", data[6:10])
        if data[:4] == b"\x59\xa6\x6a\x95" and len(data) >= 12:
            return struct.unpack(">II", data[4:12])
        if data[:10] == b"#?RADIANCE" or data[:6] == b"#?RGBE":
            return _hdr_size(data)
    except struct.error:
        return None
    return None


def to_uint8(image: np.ndarray) -> np.ndarray:
    """Decoded image of any depth/channels -> uint8 grey (H, W) or BGR (H, W, 3).

    16-bit and float images are scaled by their own range (NaN and inf count as 0); alpha
    is composited on white (a transparent background reads as paper). ``ImageError`` for
    anything that is not an image: no pixels, not 2-D or 3-D, 2 or more than 4 channels,
    a complex or non-numeric dtype."""
    image = np.asarray(image)
    if image.ndim not in (2, 3) or image.size == 0:
        raise ImageError(f"not an image: shape {image.shape} (expected (H, W) or (H, W, C) with pixels)")
    if image.ndim == 3 and image.shape[2] not in (1, 3, 4):
        raise ImageError(f"unsupported channel count {image.shape[2]} (expected 1, 3 or 4)")
    if image.dtype != np.uint8:
        if image.dtype.kind not in "biuf":
            raise ImageError(f"unsupported pixel type {image.dtype}")
        with np.errstate(over="ignore"):  # float64 beyond float32's range becomes inf, then 0
            img = np.nan_to_num(image.astype(np.float32), nan=0.0, posinf=0.0, neginf=0.0)  # 4 B/px
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
    return np.ascontiguousarray(image)


def decode_image(data: bytes, name: str = "<bytes>", max_pixels: int = MAX_PIXELS) -> np.ndarray:
    """Encoded bytes -> uint8 grey (H, W) or BGR (H, W, 3); ``ImageError`` if the header is not
    one we can read, claims more than ``max_pixels``, or the data does not decode."""
    if not data:
        raise ImageError(f"{name}: empty file (0 bytes)")
    size = header_size(data)
    if size is None:
        raise ImageError(
            f"{name}: not a readable image (unknown or unsupported format, or a cut-off header; "
            "use PNG, JPEG, BMP, TIFF, WebP or PNM)"
        )
    if min(size) <= 0:
        raise ImageError(f"{name}: the header says {size[0]}x{size[1]} pixels: no image")
    if size[0] * size[1] > max_pixels:
        raise ImageError(
            f"{name}: image too large ({size[0]}x{size[1]} = {size[0] * size[1] / 1e6:.0f} MP, "
            f"limit {max_pixels / 1e6:.0f} MP); downscale it first"
        )
    # JPEGs (8-bit, no alpha) are decoded with IMREAD_COLOR, which applies the EXIF orientation
    # as photo viewers do; other formats keep their depth and alpha (IMREAD_UNCHANGED).
    flags = cv2.IMREAD_COLOR if data[:2] == b"\xff\xd8" else cv2.IMREAD_UNCHANGED
    try:
        image = cv2.imdecode(np.frombuffer(data, np.uint8), flags)
    except cv2.error as exc:  # OpenCV's own size guard, or a decoder that throws
        raise ImageError(f"{name}: truncated or corrupt image ({str(exc).strip().splitlines()[-1]})") from exc
    if image is None or image.size == 0:
        raise ImageError(f"{name}: truncated or corrupt image")
    if image.shape[0] * image.shape[1] > max_pixels:
        raise ImageError(f"{name}: image too large ({image.shape[1]}x{image.shape[0]}); downscale it first")
    return to_uint8(image)


def read_file_bounded(path: str | Path, max_bytes: int = MAX_FILE_BYTES) -> bytes:
    """The bytes of a regular file of at most ``max_bytes``; ``ImageError`` otherwise.

    Opened non-blocking and checked with fstat before reading, so a FIFO never blocks and
    /dev/zero or a huge file is never read into memory."""
    p = Path(path)
    try:
        fd = os.open(p, os.O_RDONLY | os.O_NONBLOCK)
    except FileNotFoundError as exc:
        raise ImageError(f"{p}: no such file") from exc
    except IsADirectoryError as exc:
        raise ImageError(f"{p}: is a folder, not an image") from exc
    except OSError as exc:
        raise ImageError(f"{p}: cannot read ({exc.strerror})") from exc
    try:
        st = os.fstat(fd)
        if stat.S_ISDIR(st.st_mode):
            raise ImageError(f"{p}: is a folder, not an image")
        if not stat.S_ISREG(st.st_mode):
            raise ImageError(f"{p}: not a regular file (a FIFO, device or socket); save the image to a file")
        if st.st_size > max_bytes:
            raise ImageError(
                f"{p}: file too large ({st.st_size} bytes, limit {max_bytes}); downscale it first"
            )
        with os.fdopen(os.dup(fd), "rb") as f:
            data = f.read(max_bytes + 1)
    except OSError as exc:
        raise ImageError(f"{p}: cannot read ({exc.strerror})") from exc
    finally:
        os.close(fd)
    if len(data) > max_bytes:  # it grew while we read it
        raise ImageError(f"{p}: file too large (over {max_bytes} bytes); downscale it first")
    return data


def load_image(path: str | Path) -> np.ndarray:
    """Decode one image file -> uint8 grey (H, W) or BGR (H, W, 3); ``ImageError`` if it cannot."""
    p = Path(path)
    if p.is_dir():
        if not _folder_images(p):
            raise ImageError(f"{p}: folder has no images (looked for {', '.join(IMAGE_SUFFIXES)})")
        raise ImageError(f"{p}: is a folder, not an image")
    data = read_file_bounded(p)
    image = decode_image(data, str(p))
    # libjpeg decodes a truncated JPEG into a partly grey image without failing: check the end marker.
    if data[:2] == b"\xff\xd8" and b"\xff\xd9" not in data[-1024:]:
        raise ImageError(f"{p}: truncated JPEG (no end-of-image marker)")
    return image


def to_grey(image: np.ndarray) -> np.ndarray:
    """uint8 BGR or grey -> uint8 grey (anything else goes through ``to_uint8`` first)."""
    image = to_uint8(image)  # no copy for a contiguous uint8 image; checks the shape
    return image if image.ndim == 2 else cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)


def _folder_images(folder: Path) -> list[str]:
    """The image files directly in ``folder``, sorted; [] if none or it cannot be listed."""
    try:
        return sorted(str(f) for f in folder.iterdir() if f.suffix.lower() in IMAGE_SUFFIXES and f.is_file())
    except OSError:
        return []


def expand_inputs(items: list[str]) -> list[str]:
    """Files, folders (their images, sorted) and globs -> a list of paths, in the order given.

    Anything that matches nothing, and a folder without images, is kept as given so that it
    is reported (missing, or no images) instead of silently skipped."""
    out: list[str] = []
    for item in items:
        p = Path(item)
        if p.is_dir():
            out += _folder_images(p) or [item]
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
            shown = os.fsencode(path).decode("utf-8", "backslashreplace")  # any byte in a file name
            print(f"{shown}: {img.shape} {img.dtype}")
        except ImageError as exc:
            print(f"error: {exc}", file=sys.stderr)
            status = 1
    return status


if __name__ == "__main__":
    sys.exit(main())
