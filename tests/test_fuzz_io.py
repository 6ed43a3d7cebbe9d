"""Property-based tests (Hypothesis): the image reader and the manifest reader never raise
anything but the project's own errors, whatever bytes, arrays or JSON they are given.

Deterministic for CI: derandomized (examples derived from each test, no saved database)
and a fixed number of examples; the whole file takes a few seconds.
"""

from __future__ import annotations

import json

import cv2
import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from edge_runtime.imageio import ImageError, decode_image, header_size, to_grey, to_uint8
from edge_runtime.manifest import ManifestError, parse_manifest

FUZZ = settings(
    derandomize=True,
    database=None,
    max_examples=300,
    deadline=None,  # shared CI machine: no per-example timing
    suppress_health_check=[HealthCheck.too_slow],
)

MAGICS = [
    b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR",
    b"\xff\xd8\xff\xe0",
    b"BM",
    b"II*\x00",
    b"MM\x00*",
    b"II+\x00",
    b"RIFF\x00\x00\x00\x00WEBPVP8 ",
    b"RIFF\x00\x00\x00\x00WEBPVP8L",
    b"RIFF\x00\x00\x00\x00WEBPVP8X",
    b"P1\n",
    b"P5\n",
    b"P6 ",
    b"P7\nWIDTH ",
    b"PF\n",
    b"GIF89a",
    b"\x59\xa6\x6a\x95",
    b"#?RADIANCE\n",
]


def _small_real_images() -> list[bytes]:
    img = np.tile(np.arange(16, dtype=np.uint8) * 16, (12, 1))
    out = []
    for ext in (".png", ".jpg", ".bmp", ".tif", ".webp", ".pgm"):
        ok, buf = cv2.imencode(ext, img)
        assert ok
        out.append(buf.tobytes())
    return out


REAL = _small_real_images()

image_bytes = st.one_of(
    st.binary(max_size=512),
    st.builds(lambda m, tail: m + tail, st.sampled_from(MAGICS), st.binary(max_size=512)),
    # real files, cut short or with bytes flipped: headers that parse, data that does not
    st.builds(lambda i, n: REAL[i][:n], st.integers(0, len(REAL) - 1), st.integers(0, 2000)),
    st.builds(
        lambda i, pos, val: REAL[i][: pos % len(REAL[i])] + bytes([val]) + REAL[i][pos % len(REAL[i]) + 1 :],
        st.integers(0, len(REAL) - 1),
        st.integers(0, 10_000),
        st.integers(0, 255),
    ),
)


@FUZZ
@given(image_bytes)
def test_decode_image_raises_only_image_error(data):
    size = header_size(data)
    assert size is None or (len(size) == 2 and all(isinstance(v, int) for v in size))
    try:
        img = decode_image(data, "fuzz", max_pixels=1_000_000)
    except ImageError:
        return
    assert img.dtype == np.uint8 and (img.ndim == 2 or (img.ndim == 3 and img.shape[2] == 3))
    assert img.shape[0] * img.shape[1] <= 1_000_000


arrays = hnp.arrays(
    dtype=st.sampled_from(
        [
            np.uint8,
            np.uint16,
            np.int8,
            np.int16,
            np.int32,
            np.int64,
            np.float16,
            np.float32,
            np.float64,
            np.bool_,
        ]
    ),
    shape=hnp.array_shapes(min_dims=0, max_dims=4, min_side=0, max_side=6),
    elements=None,
)


@FUZZ
@given(arrays)
def test_to_uint8_and_to_grey_raise_only_image_error(a):
    for fn, channels in ((to_uint8, (2, 3)), (to_grey, (2,))):
        try:
            out = fn(a)
        except ImageError:
            continue
        assert out.dtype == np.uint8 and out.ndim in channels and out.shape[:2] == a.shape[:2]
        if out.ndim == 3:
            assert out.shape[2] == 3


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=5),
    max_leaves=30,
)

GOOD_ENTRY = {
    "name": "lstm_fused_int8",
    "file": "lstm_fused_int8.tflite",
    "sha256": "0" * 64,
    "size_bytes": 10,
    "arch": "lstm",
    "graph": "fused",
    "quantization": "int8",
    "input": {"dtype": "int8", "shape": [1, 28, 28], "scale": 0.004, "zero_point": -128},
    "output": {"dtype": "int8", "shape": [1, 10], "scale": 0.1, "zero_point": 3},
    "test_accuracy": 0.99,
    "latency_us_p50": 30.0,
}
GOOD = {"schema": 1, "default": "lstm_fused_int8", "default_reason": "r", "models": [GOOD_ENTRY]}
KEYS = sorted(GOOD_ENTRY) + ["input_contract", "ops", "training", "keras", "unknown"]


def _mutated(key_top, key_entry, value):
    m = json.loads(json.dumps(GOOD))
    if key_top is not None:
        m[key_top] = value
    else:
        m["models"][0][key_entry] = value
    return m


manifests = st.one_of(
    json_values,
    st.builds(
        _mutated, st.sampled_from(["schema", "default", "default_reason", "models"]), st.none(), json_values
    ),
    st.builds(_mutated, st.none(), st.sampled_from(KEYS), json_values),
)


@FUZZ
@given(manifests)
def test_parse_manifest_raises_only_manifest_error(obj):
    try:
        m = parse_manifest(obj)
    except ManifestError as exc:
        assert "\n" not in str(exc)
        return
    assert m.default in {e.name for e in m.models}
    assert all("/" not in e.file and e.file not in ("", ".", "..") for e in m.models)


@FUZZ
@given(st.binary(max_size=300) | manifests.map(lambda o: json.dumps(o).encode()))
def test_read_manifest_from_any_file_raises_only_manifest_error(tmp_path_factory, data):
    from edge_runtime.manifest import read_manifest

    folder = tmp_path_factory.mktemp("m", numbered=True)
    (folder / "manifest.json").write_bytes(data)
    try:
        read_manifest(folder)
    except ManifestError:
        pass
