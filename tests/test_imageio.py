"""load_image / decode_image on real encoded files: depths, channels, corrupt and huge inputs."""

import cv2
import numpy as np
import pytest

from edge_runtime.imageio import ImageError, decode_image, expand_inputs, load_image


def encode(ext, img, *params):
    ok, buf = cv2.imencode(ext, img, list(params))
    assert ok
    return buf.tobytes()


def test_16bit_grey_png_is_scaled_to_8bit(tmp_path):
    ramp = (np.arange(256, dtype=np.uint16)[None, :] * 257).repeat(4, axis=0)  # 0..65535
    (tmp_path / "r.png").write_bytes(encode(".png", ramp))
    img = load_image(tmp_path / "r.png")
    assert img.dtype == np.uint8 and img.shape == (4, 256)
    np.testing.assert_array_equal(img[0], np.arange(256))


def test_rgba_composited_on_white_and_bgr_kept(tmp_path):
    rgba = np.zeros((8, 8, 4), np.uint8)
    rgba[:, :4] = (10, 20, 30, 255)  # opaque dark half
    rgba[:, 4:] = (0, 0, 0, 0)  # transparent half reads as paper
    (tmp_path / "a.png").write_bytes(encode(".png", rgba))
    img = load_image(tmp_path / "a.png")
    assert img.shape == (8, 8, 3)
    assert tuple(img[0, 0]) == (10, 20, 30) and tuple(img[0, 7]) == (255, 255, 255)


def test_bad_inputs_have_clear_errors(tmp_path):
    good = encode(".jpg", np.full((64, 64, 3), 200, np.uint8))
    cases = {
        "trunc.jpg": (good[: len(good) // 2], "truncated"),
        "empty.png": (b"", "empty"),
        "text.png": (b"hello\n", "not a readable image"),
    }
    for name, (data, message) in cases.items():
        (tmp_path / name).write_bytes(data)
        with pytest.raises(ImageError, match=message):
            load_image(tmp_path / name)
    with pytest.raises(ImageError, match="no such file"):
        load_image(tmp_path / "missing.png")
    with pytest.raises(ImageError, match="folder"):
        load_image(tmp_path)


def test_huge_image_refused_from_its_header():
    data = bytearray(encode(".png", np.zeros((8, 8), np.uint8)))
    data[16:24] = (20000).to_bytes(4, "big") * 2  # the header now claims 20000 x 20000 px
    with pytest.raises(ImageError, match="too large"):
        decode_image(bytes(data), "huge.png")


def test_expand_inputs_folders_and_globs(tmp_path):
    for name in ("b.png", "a.jpg", "notes.txt"):
        (tmp_path / name).write_bytes(b"x")
    assert [p.split("/")[-1] for p in expand_inputs([str(tmp_path)])] == ["a.jpg", "b.png"]
    assert [p.split("/")[-1] for p in expand_inputs([str(tmp_path / "*.png")])] == ["b.png"]
    assert expand_inputs([str(tmp_path / "none*.png")]) == [str(tmp_path / "none*.png")]


# ---------------------------------------------------------------- hostile inputs (issue 10)

SMALL = np.tile(np.arange(64, dtype=np.uint8), (48, 1))  # 64 x 48


@pytest.mark.parametrize("ext", [".png", ".jpg", ".bmp", ".tif", ".webp", ".pgm", ".ppm", ".pbm", ".pfm"])
def test_header_size_reads_every_format_opencv_writes(ext):
    img = SMALL.astype(np.float32) / 255 if ext == ".pfm" else SMALL
    if ext in (".ppm", ".pfm"):
        img = cv2.cvtColor(img, cv2.COLOR_GRAY2BGR)
    from edge_runtime.imageio import header_size

    assert header_size(encode(ext, img)) == (64, 48)


def test_header_size_reads_lossless_webp_and_bigtiff_style_headers():
    from edge_runtime.imageio import header_size

    assert header_size(encode(".webp", SMALL, cv2.IMWRITE_WEBP_QUALITY, 80)) == (64, 48)  # lossy VP8
    big_endian = b"MM\x00*" + (8).to_bytes(4, "big") + (2).to_bytes(2, "big")
    big_endian += (
        (256).to_bytes(2, "big") + (4).to_bytes(2, "big") + (1).to_bytes(4, "big") + (7).to_bytes(4, "big")
    )
    big_endian += (
        (257).to_bytes(2, "big") + (3).to_bytes(2, "big") + (1).to_bytes(4, "big") + b"\x00\x05\x00\x00"
    )
    assert header_size(big_endian) == (7, 5)


def _claim(data: bytes, ext: str, w: int, h: int) -> bytes:
    """The same file with its header claiming w x h pixels."""
    d = bytearray(data)
    if ext == ".tif":  # OpenCV writes little-endian TIFF; rewrite the first IFD's width/length
        ifd = int.from_bytes(d[4:8], "little")
        for k in range(int.from_bytes(d[ifd : ifd + 2], "little")):
            e = ifd + 2 + 12 * k
            tag, typ = int.from_bytes(d[e : e + 2], "little"), int.from_bytes(d[e + 2 : e + 4], "little")
            if tag in (256, 257):
                size = 2 if typ == 3 else 4
                d[e + 8 : e + 8 + size] = (w if tag == 256 else h).to_bytes(size, "little")
        return bytes(d)
    if ext == ".webp":  # lossy VP8: 14-bit width and height at 26..30
        d[26:30] = w.to_bytes(2, "little") + h.to_bytes(2, "little")
        return bytes(d)
    if ext == ".pgm":
        return data.replace(b"64 48", f"{w} {h}".encode(), 1)
    raise AssertionError(ext)


@pytest.mark.parametrize("ext,w,h", [(".tif", 20000, 20000), (".webp", 16000, 16000), (".pgm", 20000, 20000)])
def test_huge_tiff_webp_pnm_refused_from_their_headers(ext, w, h):
    params = [cv2.IMWRITE_WEBP_QUALITY, 80] if ext == ".webp" else []  # lossy VP8 header
    data = _claim(encode(ext, SMALL, *params), ext, w, h)
    with pytest.raises(ImageError, match="too large"):
        decode_image(data, "huge" + ext)


def test_unknown_format_is_refused_not_decoded():
    # A Sun raster (a format OpenCV reads) with a cut header, and random bytes: refused.
    for data in (b"\x59\xa6\x6a\x95\x00", b"\x00\x01\x02garbage" * 10):
        with pytest.raises(ImageError, match="not a readable image"):
            decode_image(data)


@pytest.fixture(scope="module")
def big_tiff(tmp_path_factory):
    """A real 20000 x 20000 LZW TIFF (~5 MB on disk, 400 MP decoded)."""
    path = tmp_path_factory.mktemp("big") / "big.tif"
    ok, buf = cv2.imencode(".tif", np.zeros((20000, 20000), np.uint8), [cv2.IMWRITE_TIFF_COMPRESSION, 5])
    assert ok
    path.write_bytes(buf.tobytes())
    return path


def _peak_rss_mb(code: str) -> tuple[float, str]:
    import subprocess
    import sys

    # Peak RSS of this process's own memory: VmHWM. getrusage's ru_maxrss is not usable here: Linux
    # carries it across fork + exec, so a child of a big pytest process reports the parent's peak.
    probe = code + (
        "\nhwm = [line for line in open('/proc/self/status') if line.startswith('VmHWM:')][0]"
        "\nprint('RSS', int(hwm.split()[1]) / 1024)"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    rss = float(out.stdout.split("RSS")[-1])
    return rss, out.stdout


def test_20000x20000_lzw_tiff_refused_with_small_peak_memory(big_tiff):
    code = (
        "import cv2\n"  # cv2 imported first, as a library user might: the header check must still hold
        "from edge_runtime.imageio import ImageError, load_image\n"
        f"try:\n    load_image({str(big_tiff)!r})\nexcept ImageError as exc:\n    print('refused', exc)\n"
    )
    rss, out = _peak_rss_mb(code)
    assert "refused" in out and "too large" in out
    assert rss < 200, f"peak RSS {rss:.0f} MB"


def test_opencv_pixel_limit_is_in_force_when_edge_runtime_is_imported_first(big_tiff):
    # The second guard: OPENCV_IO_MAX_IMAGE_PIXELS is read when cv2 is imported, so the package
    # sets it before any of its modules import cv2. Raw cv2.imdecode must then refuse the file.
    code = (
        "import edge_runtime, cv2, numpy as np\n"
        f"data = np.fromfile({str(big_tiff)!r}, np.uint8)\n"
        "try:\n    r = cv2.imdecode(data, cv2.IMREAD_UNCHANGED)\n    print('decoded', r is not None)\n"
        "except cv2.error:\n    print('refused by opencv')\n"
    )
    rss, out = _peak_rss_mb(code)
    assert "refused by opencv" in out and rss < 200, (out, rss)


def test_fifo_and_devices_are_refused_without_blocking(tmp_path):
    import os
    import subprocess
    import sys

    fifo = tmp_path / "pipe.png"
    os.mkfifo(fifo)
    # In a child with a timeout: a regression here would block forever on the FIFO's open.
    code = (
        "from edge_runtime.imageio import ImageError, load_image\n"
        f"for p in ({str(fifo)!r}, '/dev/zero'):\n"
        "    try:\n        load_image(p)\n    except ImageError as exc:\n        print(exc)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    lines = out.stdout.splitlines()
    assert len(lines) == 2 and all("not a regular file" in line for line in lines), out


def test_oversized_file_is_refused_before_reading(tmp_path):
    from edge_runtime.imageio import MAX_FILE_BYTES

    big = tmp_path / "sparse.png"
    with open(big, "wb") as f:
        f.truncate(MAX_FILE_BYTES + 1)  # sparse: no disk, no memory
    with pytest.raises(ImageError, match="file too large"):
        load_image(big)


def test_folder_without_images_is_reported(tmp_path):
    (tmp_path / "notes.txt").write_text("x")
    assert expand_inputs([str(tmp_path)]) == [str(tmp_path)]
    with pytest.raises(ImageError, match="folder has no images"):
        load_image(tmp_path)


@pytest.mark.parametrize(
    "array",
    [
        np.zeros((0, 5), np.uint8),
        np.zeros((4,), np.uint8),
        np.zeros((2, 2, 2), np.uint8),
        np.zeros((2, 2, 5), np.uint8),
        np.zeros((2, 2, 3, 1), np.uint8),
        np.zeros((2, 2), np.complex64),
    ],
)
def test_to_uint8_refuses_non_images_with_image_error(array):
    from edge_runtime.imageio import to_grey, to_uint8

    with pytest.raises(ImageError):
        to_uint8(array)
    with pytest.raises(ImageError):
        to_grey(array)


def test_to_uint8_maps_nan_and_inf_to_black():
    from edge_runtime.imageio import to_uint8

    img = to_uint8(np.array([[np.nan, np.inf], [-np.inf, 1.0]], np.float32))
    assert img.dtype == np.uint8 and img.tolist() == [[0, 0], [0, 255]]
