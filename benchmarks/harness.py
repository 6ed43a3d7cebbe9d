"""The measuring tools every benchmark runtime shares: loop sizes, summaries, memory readings.

The timing loop itself is :func:`edge_runtime.timing.time_calls` (export's latency check
uses the same one); this module adds what only the benchmarks need. Memory comes from
``/proc/self/status`` (VmHWM, VmRSS) rather than psutil, which has no portable peak:
VmHWM belongs to the current address space, so a child started by fork+exec does not
inherit the parent's peak (``ru_maxrss`` can).
"""

from __future__ import annotations

import os
import resource
import sys
from dataclasses import asdict, dataclass
from typing import TypedDict

import numpy as np

from edge_runtime.timing import time_calls

__all__ = [
    "ChildSpec",
    "LatencySummary",
    "TimingOptions",
    "current_rss_mb",
    "peak_rss_mb",
    "summarize_ns",
    "time_calls",
]


@dataclass(frozen=True)
class TimingOptions:
    """How hard each latency loop works (the same for every model in one run)."""

    reps: int = 3000
    """Timed single-digit calls per model and thread setting."""
    warmup: int = 200
    """Untimed calls before timing starts (caches, lazy allocations, CPU clocks)."""
    latency_images: int = 1000
    """Distinct test images the latency loop cycles through."""
    threads: tuple[int, ...] = (1, os.cpu_count() or 1)
    """Thread counts to time: one thread, and all cores."""

    @classmethod
    def from_json(cls, d: dict) -> TimingOptions:
        return cls(**{k: tuple(v) if k == "threads" else v for k, v in d.items()})

    def to_json(self) -> dict:
        return {**asdict(self), "threads": list(self.threads)}


class LatencySummary(TypedDict):
    """Percentiles of one latency sample, microseconds."""

    p50_us: float
    p90_us: float
    p99_us: float
    mean_us: float
    n: int


def summarize_ns(samples: np.ndarray) -> LatencySummary:
    """Percentiles in microseconds of a latency sample in nanoseconds."""
    us = np.asarray(samples, dtype=np.float64) / 1e3
    p50, p90, p99 = np.percentile(us, [50, 90, 99])
    return {
        "p50_us": float(p50),
        "p90_us": float(p90),
        "p99_us": float(p99),
        "mean_us": float(us.mean()),
        "n": int(us.size),
    }


def _status_mb(field: str) -> float | None:
    """A ``VmXXX:`` line of /proc/self/status in MB; None where there is no /proc (not Linux)."""
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None


def peak_rss_mb() -> float:
    """This process's peak resident memory in MB (VmHWM; ru_maxrss where there is no /proc)."""
    hwm = _status_mb("VmHWM")
    if hwm is not None:
        return hwm
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return rss / 1024 / (1024 if sys.platform == "darwin" else 1)  # bytes on macOS, KB elsewhere


def current_rss_mb() -> float:
    """This process's resident memory now, in MB (NaN where there is no /proc)."""
    rss = _status_mb("VmRSS")
    return float("nan") if rss is None else rss


class ChildSpec(TypedDict, total=False):
    """What the parent asks one measurement child to do (written as JSON; see benchmarks.child)."""

    kind: str
    """tflite, onnx or keras: which runtime module measures it."""
    path: str
    """The model: .tflite, .onnx, or a Keras run folder / .keras file."""
    inputs: str
    """inputs.npz: x (n, 28, 28) float32 in [0, 1], y (n,) labels."""
    timing: dict
    """TimingOptions.to_json()."""
    result: str
    """Where the child writes its JSON summary."""
    samples: str
    """Where the child writes its .npz of raw latencies and predictions."""
    threads: int
    """Keras only: TensorFlow's thread pools for this child."""
    quick: bool
    """Keras only: smaller side-by-side rounds."""
    onnx_out: str
    """Keras only: also convert the model to ONNX here."""
    paired_tflite: str
    """Keras only: the default TFLite model to time side by side (benchmarks.paired_bench)."""
