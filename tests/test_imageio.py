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
