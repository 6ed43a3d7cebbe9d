"""One benchmark run, top to bottom: inputs, the models table, the pipeline, start-up, extras.

The chain below this module has no circle: ``harness`` (timing, summaries, memory) <-
one module per runtime (``tflite_bench``, ``onnx_bench``, ``paired_bench``,
``keras_bench``) <- ``child`` (the measurement process) <- ``models_bench`` (the
models table) <- this module <- ``__main__`` (the CLI); the report (``report``,
``sections``, ``figures``, ``plots``) reads only what this module gathers.

    python -m benchmarks          # see benchmarks/__main__.py for the flags
"""

from __future__ import annotations

import subprocess
import tempfile
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np

from benchmarks import sysinfo
from benchmarks.harness import ChildSpec
from benchmarks.models_bench import default_entry, measure_models, read_models, say
from benchmarks.options import BenchOptions, BenchResult, portable_path
from benchmarks.pipeline_bench import real_photos, render_frames, run_pipeline
from benchmarks.sections import EXTRA_SECTIONS, BenchContext
from benchmarks.startup_bench import measure_startup
from edge_runtime.contract import PROJECT_ROOT
from training.data import load_mnist  # numpy only: no TensorFlow


def load_test_set(options: BenchOptions) -> tuple[np.ndarray, np.ndarray, str]:
    """(n, 28, 28) float32 in [0, 1], (n,) labels, and the data hash; the same for every model."""
    data = load_mnist(options.mnist)
    n = min(options.test_images, len(data.x_test))
    x = data.x_test[:n].astype(np.float32) / 255.0
    return x, data.y_test[:n].astype(np.int64), data.sha256


def options_json(options: BenchOptions) -> dict:
    """BenchOptions as report.json records them: tuples as lists, paths relative to the project."""

    def plain(obj):
        if isinstance(obj, dict):
            return {k: plain(v) for k, v in obj.items()}
        if isinstance(obj, (list, tuple)):
            return [plain(v) for v in obj]
        if isinstance(obj, Path):
            return portable_path(obj)
        return obj

    return plain(asdict(options))


def run(options: BenchOptions) -> BenchResult:
    """Measure everything, return the figures (``benchmarks.report.write_report`` writes them)."""
    t_start = time.perf_counter()
    manifest, entries = read_models(options.models_dir)
    res = BenchResult(options=options_json(options), machine=sysinfo.machine(), manifest=manifest)
    x, y, data_sha = load_test_set(options)
    res.options["data_sha256"] = data_sha

    with tempfile.TemporaryDirectory(prefix="digits-bench-") as tmp:
        work = Path(tmp)
        np.savez(work / "inputs.npz", x=x, y=y)
        base: ChildSpec = {"inputs": str(work / "inputs.npz"), "timing": options.timing.to_json()}
        measure_models(options, manifest, entries, base, work, res)
        res.pipeline = _timed("pipeline", lambda: _pipeline(options, entries, x, y, work, res))
        res.startup = _timed("edge program start-up", lambda: _startup(options, manifest, work, res))
        context = BenchContext(options, manifest, entries, x, y, work, res.notes)
        for key, section in EXTRA_SECTIONS.items():
            if section.measure is None:
                continue
            try:  # one failing section never stops the report
                res.sections[key] = _timed(key, lambda s=section: s.measure(context))
            except (OSError, ValueError, RuntimeError) as exc:
                res.notes.append(f"{key}: not measured ({exc})")
    res.seconds = time.perf_counter() - t_start
    return res


def _timed(label: str, job):
    """``job()``, with one progress line saying how long it took."""
    t0 = time.perf_counter()
    out = job()
    say(f"  {label:<28} {time.perf_counter() - t0:5.1f} s")
    return out


def _pipeline(options: BenchOptions, entries: list[dict], x, y, work: Path, res: BenchResult) -> dict:
    popt = options.pipeline
    x_uint8 = np.clip(np.round(x * 255), 0, 255).astype(np.uint8)
    frames = render_frames(x_uint8, y, work / "frames", popt)
    photos = None
    if popt.photos_dir is None:
        res.notes.append("real photos skipped: DIGITS_PHOTOS_DIR is not set")
    else:
        try:
            photos = real_photos(Path(popt.photos_dir))[: popt.max_photos]
        except (OSError, ValueError) as exc:
            res.notes.append(f"real photos skipped: {exc}")
    models = [
        {"name": e["name"], "path": str(options.models_dir / e["file"])}
        for e in entries
        if (options.models_dir / e["file"]).is_file()
    ]
    if not frames and not photos:
        return {}
    out = run_pipeline(models, frames, photos, popt)
    res.notes += [
        f"pipeline with {name}: not measured ({e['error']})"
        for name, e in out["models"].items()
        if "error" in e
    ]
    out["frames"] = len(frames)
    out["photos"] = len(photos) if photos else 0
    return out


def _startup(options: BenchOptions, manifest: dict, work: Path, res: BenchResult) -> list[dict]:
    """Launch the edge program on a synthetic frame and on the largest real photo, default model."""
    default = default_entry(manifest)
    model = options.models_dir / default["file"] if default else None
    if model is None or not model.is_file():
        res.notes.append("edge program start-up not measured: no default model file")
        return []
    images = sorted((work / "frames").glob("*.jpg"))[:1]
    if options.pipeline.photos_dir is not None:
        photos = [p.path for p in real_photos(Path(options.pipeline.photos_dir))]
        if photos:
            images.append(max(photos, key=lambda p: p.stat().st_size))
    out = []
    for image in images:
        try:
            s = measure_startup(model, image, runs=2 if options.quick else 7, cwd=PROJECT_ROOT)
        except (RuntimeError, OSError, subprocess.TimeoutExpired) as exc:
            res.notes.append(f"edge program start-up on {image.name}: not measured ({exc})")
            continue
        out.append(dict(s, image=portable_path(image, work), model=portable_path(model)))
    return out
