"""One row of the models table: the single definition every writer and reader uses.

The measurement children return plain JSON summaries; the orchestration
(``benchmarks.models_bench``) turns them into :class:`BenchRow`; the report
(``benchmarks.figures``, ``benchmarks.sections``, ``benchmarks.plots``) reads
report.json's ``models`` list back with :meth:`BenchRow.from_json`, which refuses
keys it does not know instead of guessing.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Literal, TypedDict

import numpy as np

from benchmarks.harness import LatencySummary

Kind = Literal["tflite", "onnx", "keras"]


class BatchSummary(TypedDict):
    """Keras ``predict`` over the whole test set at one thread setting."""

    batch_size: int
    pass_s: float
    digits_per_s: float
    batch_ms: float


@dataclass
class BenchRow:
    """One model (or one way of running the Keras model) and what was measured for it."""

    name: str
    """Manifest name for TFLite rows; "keras <path>" or "onnx-runtime" for the peers."""
    kind: Kind
    format: str
    """Human description: "TFLite (unrolled graph)", "Keras compiled tf.function", ..."""
    quantization: str
    shipped: bool
    """In models/ (TFLite rows); the peers are comparison only."""
    size_bytes: int | None = None
    file: str | None = None
    """Model file, relative to the project (TFLite: relative to the models folder)."""
    arch: str | None = None
    graph: str | None = None
    default: bool | None = None
    """The manifest's default model (TFLite rows only)."""
    keras_path: str | None = None
    """predict, call, function or predict_batch (Keras rows only)."""
    manifest_test_accuracy: float | None = None
    manifest_agreement: float | None = None
    accuracy: float | None = None
    """Top-1 on the benchmark's MNIST test images, in [0, 1]."""
    agreement: float | None = None
    """Share of test images whose top-1 equals the Keras model's (same network only)."""
    digits_per_s: float | None = None
    load_ms: float | None = None
    peak_rss_mb: float | None = None
    model_rss_mb: float | None = None
    latency: dict[str, LatencySummary] = field(default_factory=dict)
    """Thread count (as text, JSON keys) -> batch-1 latency percentiles."""
    batch: dict[str, BatchSummary] | None = None
    """Thread count -> whole-set predict figures (the Keras predict_batch row)."""
    stateful: bool | None = None
    input_dtype: str | None = None
    tensorflow_imported: bool | None = None
    speedup_vs_keras_function: float | None = None
    speedup_vs_keras_predict: float | None = None
    size_ratio_vs_keras: float | None = None
    preds: np.ndarray | None = field(default=None, repr=False)
    """Test-set predictions while the run lasts (agreement, confusion); never written."""

    def p50(self, threads: str) -> float | None:
        lat = self.latency.get(threads)
        return lat["p50_us"] if lat else None

    def best_p50(self) -> float | None:
        """Fastest median over the thread settings measured (the Keras path at its best)."""
        return min(v["p50_us"] for v in self.latency.values()) if self.latency else None

    def to_json(self) -> dict:
        """The JSON object report.json holds: unset fields and the predictions left out."""
        return {
            f.name: getattr(self, f.name)
            for f in fields(self)
            if f.name != "preds" and getattr(self, f.name) is not None
        }

    @classmethod
    def from_json(cls, d: dict) -> BenchRow:
        unknown = set(d) - {f.name for f in fields(cls)}
        if unknown:
            raise ValueError(
                f"benchmark row {d.get('name')!r} has unknown keys {sorted(unknown)}; "
                "the report was written by another version: run make bench"
            )
        return cls(**d)


def find_row(rows: list[BenchRow], name: str) -> BenchRow | None:
    return next((r for r in rows if r.name == name), None)


def default_row(rows: list[BenchRow]) -> BenchRow | None:
    return next((r for r in rows if r.default), None)
