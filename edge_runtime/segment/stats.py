"""numpy's median and linear percentile, bit for bit, without its machinery: the finder takes a
few of them per pass on small arrays (tens of blob heights and areas), where ``np.median`` costs
~40 us and ``np.percentile`` ~100 us a call (and the first ``np.median`` of a process imports
numpy.ma: ~19 ms, once), and one percentile of a uint8 map, where sorting was a third of the
ink map's cost."""

from __future__ import annotations

import cv2
import numpy as np


def median(values: np.ndarray):
    """``np.median`` of a small 1-D array, bit for bit (the same two middle values, added and
    halved in the array's dtype): ~3 us a call."""
    v = np.sort(values)
    if v.dtype.kind in "biu":  # numpy takes the mean of integers in float64
        v = v.astype(np.float64)
    m = len(v) // 2
    return v[m] if len(v) % 2 else (v[m - 1] + v[m]) / 2


def percentile(values: np.ndarray, q: float) -> float:
    """``np.percentile(values, q)`` (linear) of a small 1-D array, bit for bit."""
    v = np.sort(values)
    pos = q / 100 * (len(v) - 1)
    lo = int(np.floor(pos))
    return _lerp(float(v[lo]), float(v[min(lo + 1, len(v) - 1)]), pos - lo)


def percentile_u8(image: np.ndarray, q: float) -> float:
    """``np.percentile(image, q)`` (linear) of a uint8 image, read from its histogram: the same
    value, without sorting."""
    counts = cv2.calcHist([image], [0], None, [256], [0, 256]).ravel().astype(np.int64)
    upto = np.cumsum(counts)
    pos = q / 100.0 * (image.size - 1)
    lo = int(np.floor(pos))
    a, b = (float(np.searchsorted(upto, k, side="right")) for k in (lo, min(lo + 1, image.size - 1)))
    return _lerp(a, b, pos - lo)


def _lerp(a: float, b: float, t: float) -> float:
    """numpy's percentile interpolation between neighbours a <= b, term for term, so that the
    result is bit for bit numpy's."""
    return b - (b - a) * (1 - t) if t >= 0.5 else a + (b - a) * t
