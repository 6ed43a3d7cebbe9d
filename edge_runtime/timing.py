"""The one timing loop: warm-up calls, then ``perf_counter_ns`` around each single call.

Export's quick latency check (``export.verify``) and every benchmark runtime
(``benchmarks.harness``) time their per-digit call with :func:`time_calls`, so a
figure from one is comparable with a figure from the other. It lives here, the
lowest layer, because export must not depend on the benchmarks; it needs only numpy.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

import numpy as np


def time_calls(step: Callable[[object], object], inputs: Sequence, reps: int, warmup: int) -> np.ndarray:
    """Latency of ``step(x)`` in nanoseconds, (reps,) int64, one sample per call, cycling through
    ``inputs``; ``warmup`` untimed calls first (caches, lazy allocations, CPU clocks)."""
    n = len(inputs)
    for i in range(warmup):
        step(inputs[i % n])
    clock = time.perf_counter_ns
    out = np.empty(reps, dtype=np.int64)
    for i in range(reps):
        x = inputs[i % n]
        t0 = clock()
        step(x)
        out[i] = clock() - t0
    return out
