"""What one benchmark run is asked to do (:class:`BenchOptions`) and what it gathers (:class:`BenchResult`)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from benchmarks.harness import TimingOptions
from benchmarks.pipeline_bench import PipelineOptions
from benchmarks.rows import BenchRow
from edge_runtime.contract import MODELS_DIR, PROJECT_ROOT

REPORTS_DIR = Path(__file__).resolve().parent / "reports"
DEFAULT_RUN = PROJECT_ROOT / "runs" / "lstm"


@dataclass(frozen=True)
class BenchOptions:
    """Everything one benchmark run needs; defaults are the full report."""

    out: Path = REPORTS_DIR
    """Folder for report.md, report.json and the PNG plots (created; files overwritten)."""
    models_dir: Path = MODELS_DIR
    """Folder with manifest.json and the shipped .tflite files."""
    keras: Path | None = None
    """Keras run folder or .keras file; default: the one the default model was exported from, else runs/lstm."""
    mnist: str | None = None
    """mnist.npz; default: $MNIST_PATH, else the Keras cache."""
    test_images: int = 10000
    """MNIST test images for accuracy and agreement (the first n of the official 10k)."""
    timing: TimingOptions = TimingOptions()
    """Latency loop sizes and thread counts."""
    keras_threads: tuple[int, ...] | None = None
    """Thread counts for the Keras rows (one TensorFlow process each); None: the same as timing.threads."""
    pipeline: PipelineOptions = PipelineOptions()
    """Frames, photos and repetitions of the pipeline table."""
    edge_only: bool = False
    """Skip everything that needs TensorFlow (Keras and ONNX rows); never imports it."""
    onnx: bool = True
    """Add the ONNX Runtime peer (needs tf2onnx and onnxruntime; not with edge_only)."""
    quick: bool = False
    """Recorded in the report: a smoke run whose numbers are not for quoting."""
    baseline: str | None = None
    """Git ref of earlier code whose digit finder is profiled beside this one (None: this code only)."""
    serve: bool = True
    """Measure digits-edge serve over loopback (needs the [serve] extra; the full run only)."""


QUICK = dict(
    test_images=300,
    timing=TimingOptions(reps=200, warmup=20, latency_images=100),
    keras_threads=(1,),
    pipeline=PipelineOptions(frames=3, reps=1, max_photos=6),
)
"""--quick: the smoke run the tests use (< 1 minute)."""


@dataclass
class BenchResult:
    """What the report is made from (see benchmarks.report)."""

    options: dict
    """BenchOptions as JSON, paths relative to the project, plus data_sha256 and onnx_export."""
    machine: dict
    manifest: dict
    rows: list[BenchRow] = field(default_factory=list)
    pipeline: dict = field(default_factory=dict)
    confusion: dict = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    paired: dict = field(default_factory=dict)
    """Default TFLite vs tf.function vs ONNX Runtime timed side by side (benchmarks.paired_bench)."""
    startup: list[dict] = field(default_factory=list)
    """Edge program launches (benchmarks.startup_bench), one entry per image."""
    sections: dict[str, dict] = field(default_factory=dict)
    """Extra sections (benchmarks.sections.EXTRA_SECTIONS): report.json key -> that section's data."""
    latency_samples: dict = field(default_factory=dict, repr=False)
    """row name -> {threads: latency ns array}; only for the plots, not written to JSON."""
    seconds: float = 0.0


def portable_path(path: str | Path | None, work: Path | None = None) -> str | None:
    """A path as report.json records it: relative to the project (``../shared/x`` outside it);
    a file in the run's temporary folder by its name only (it is gone after the run)."""
    if path is None:
        return None
    p = Path(path).resolve()
    if work is not None and p.is_relative_to(work.resolve()):
        return p.name
    return os.path.relpath(p, PROJECT_ROOT)
