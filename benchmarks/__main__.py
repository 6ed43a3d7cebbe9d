"""Benchmark every shipped model against the full Keras model, and the pipeline on frames.

    python -m benchmarks                 # full report -> benchmarks/reports/ (make bench)
    python -m benchmarks --quick         # smoke run: few images, few reps (< 1 minute)
    python -m benchmarks --edge-only     # no TensorFlow: TFLite rows + pipeline (make bench-edge, Pi)

Writes report.md (tables and plots), report.json (the same figures) and PNG plots
to --out. Each model is measured in its own child process (per-model memory
peaks); the parent never imports TensorFlow. The work is done by
``benchmarks.run.run``; this module only parses the flags.
"""

from __future__ import annotations

import argparse
import os
import sys
from dataclasses import replace
from pathlib import Path

from benchmarks.options import QUICK, REPORTS_DIR, BenchOptions
from benchmarks.report import write_report
from benchmarks.run import run
from edge_runtime.contract import MODELS_DIR

# ---------------------------------------------------------------- CLI


def build_options(argv: list[str] | None = None) -> BenchOptions:
    """Flags -> BenchOptions (a flat list of flags: longer than 60 lines, and clearer whole)."""
    p = argparse.ArgumentParser(prog="digits-bench", description=__doc__.split("\n\n")[0])
    p.add_argument("--out", type=Path, default=REPORTS_DIR, help=f"report folder (default: {REPORTS_DIR})")
    p.add_argument(
        "--models", type=Path, default=MODELS_DIR, help="folder with manifest.json (default: models/)"
    )
    p.add_argument(
        "--keras",
        type=Path,
        help="Keras run folder or .keras file (default: from the manifest, else runs/lstm)",
    )
    p.add_argument("--mnist", help="mnist.npz (default: $MNIST_PATH)")
    p.add_argument(
        "--photos",
        type=Path,
        default=os.environ.get("DIGITS_PHOTOS_DIR") or None,
        help="labelled photo folder (default: $DIGITS_PHOTOS_DIR; unset skips photos)",
    )
    p.add_argument(
        "--quick", action="store_true", help="smoke run: 300 images, 200 reps, 3 frames (< 1 minute)"
    )
    p.add_argument(
        "--edge-only", action="store_true", help="no TensorFlow: TFLite rows and the pipeline only"
    )
    p.add_argument("--no-onnx", action="store_true", help="leave out the ONNX Runtime peer")
    p.add_argument(
        "--test-images", type=int, help="MNIST test images for accuracy (default: 10000; quick 300)"
    )
    p.add_argument(
        "--reps", type=int, help="timed single-digit calls per model and thread count (default: 3000)"
    )
    p.add_argument("--frames", type=int, help="synthetic 640x480 frames for the pipeline (default: 40)")
    p.add_argument("--seed", type=int, default=0, help="seed for frames (default: 0)")
    p.add_argument(
        "--baseline",
        metavar="REF",
        help="git ref of earlier code whose digit finder is profiled beside this one (default: none)",
    )
    p.add_argument("--no-serve", action="store_true", help="leave out the digits-edge serve measurements")
    a = p.parse_args(argv)
    opts = BenchOptions(
        out=a.out,
        models_dir=a.models,
        keras=a.keras,
        mnist=a.mnist,
        edge_only=a.edge_only,
        onnx=not a.no_onnx and not a.edge_only,
        quick=a.quick,
        baseline=a.baseline,
        serve=not a.no_serve and not a.quick,
    )
    if a.quick:
        opts = replace(opts, **QUICK)
    pipe = replace(opts.pipeline, photos_dir=a.photos, seed=a.seed)
    if a.frames is not None:
        pipe = replace(pipe, frames=a.frames)
    opts = replace(opts, pipeline=pipe)
    if a.test_images is not None:
        opts = replace(opts, test_images=a.test_images)
    if a.reps is not None:
        opts = replace(opts, timing=replace(opts.timing, reps=a.reps))
    for name, value in (("--test-images", opts.test_images), ("--reps", opts.timing.reps)):
        if value < 1:
            p.error(f"{name} must be >= 1, got {value}")
    return opts


def main(argv: list[str] | None = None) -> int:
    options = build_options(argv)
    try:
        result = run(options)
        files = write_report(result, options.out)
    except (FileNotFoundError, ValueError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    for note in result.notes:
        print(f"note: {note}", file=sys.stderr)
    print(f"benchmark done in {result.seconds:.0f} s: " + ", ".join(str(f) for f in files))
    return 0


if __name__ == "__main__":
    sys.exit(main())
