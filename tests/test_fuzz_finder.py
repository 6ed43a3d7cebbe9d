"""Property tests: the digit finder, the reader's image check and the normaliser take any
array (shape, dtype, channels, contents) and either work or raise the project's own error.

Seeded and derandomized, with a fixed number of examples, so CI runs the same cases each time."""

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from edge_runtime.pipeline import to_grey
from edge_runtime.preprocess import NormalizeInputError, normalize_digit
from edge_runtime.segment import BlobList, FinderInputError, find_digit_candidates, find_digits

FUZZ = settings(
    max_examples=60,
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

DTYPES = st.sampled_from(
    [np.uint8, np.int8, np.uint16, np.int32, np.int64, np.float16, np.float32, np.float64, np.bool_]
)


def arrays(max_side: int = 300):
    """Arrays of 1-4 dimensions (one side at most ``max_side``, a few thin extremes), any
    listed dtype, contents anywhere from constant to random, NaN and inf included."""
    shapes = st.one_of(
        hnp.array_shapes(min_dims=1, max_dims=4, min_side=0, max_side=12),
        st.tuples(st.integers(0, max_side), st.integers(0, max_side)),
        st.tuples(st.integers(1, 3), st.integers(1000, 4000)),  # extreme aspect ratios
        st.tuples(st.integers(1000, 4000), st.integers(1, 3)),
        st.tuples(st.integers(1, 200), st.integers(1, 200), st.sampled_from([1, 2, 3, 4, 5])),
    )
    return st.tuples(DTYPES, shapes, st.sampled_from(["random", "constant", "sparse"]), st.integers(0, 2**31))


def make(spec) -> np.ndarray:
    dtype, shape, kind, seed = spec
    rng = np.random.default_rng(seed)
    dt = np.dtype(dtype)
    if kind == "constant":
        raw = np.full(shape, rng.uniform(-10, 300))
    elif kind == "sparse":
        raw = np.where(rng.random(shape) < 0.02, rng.uniform(0, 255, shape), 230.0)
    else:
        raw = rng.uniform(-300, 300, shape) * (1 if rng.random() < 0.5 else 255)
    if dt.kind == "f" and raw.size and rng.random() < 0.3:
        raw.flat[rng.integers(0, raw.size)] = rng.choice([np.nan, np.inf, -np.inf])
    if dt.kind in "iu":
        info = np.iinfo(dt)
        raw = np.clip(np.nan_to_num(raw), info.min, info.max)
    with np.errstate(over="ignore", invalid="ignore"):
        return raw.astype(dt)


@FUZZ
@given(arrays())
def test_finder_takes_any_array(spec):
    image = make(spec)
    try:
        grey = to_grey(image)
    except FinderInputError:
        return
    for found in find_digit_candidates(grey):
        assert isinstance(found, BlobList)
        for b in found:
            x, y, w, h = b.box
            assert 0 <= x and 0 <= y and w > 0 and h > 0
            assert b.ink.dtype == np.float32 and b.ink.ndim == 2


@FUZZ
@given(arrays(max_side=120))
def test_finder_refuses_what_is_not_grey_uint8(spec):
    image = make(spec)
    if image.ndim == 2 and image.dtype == np.uint8:
        find_digits(image)
    else:
        with pytest.raises(FinderInputError):
            find_digits(image)


@FUZZ
@given(arrays(max_side=200))
def test_normaliser_takes_any_array(spec):
    crop = make(spec)
    try:
        out = normalize_digit(crop)
    except NormalizeInputError:
        return
    assert out.shape == (28, 28) and out.dtype == np.float32
    assert np.isfinite(out).all() and out.min() >= 0.0 and out.max() <= 1.0
