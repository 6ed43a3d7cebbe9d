"""Benchmark every shipped model against the full Keras model, and the pipeline on frames.

    python -m benchmarks                 # full report -> benchmarks/reports/ (make bench)
    python -m benchmarks --quick         # smoke run: few images, few reps (< 1 minute)
    python -m benchmarks --edge-only     # no TensorFlow: TFLite rows + pipeline (make bench-edge, Pi)

Writes report.md (tables and plots), report.json (the same figures) and PNG plots
to --out. Each model is measured in its own child process (per-model memory
peaks); the parent never imports TensorFlow.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np

from benchmarks import sysinfo
from benchmarks.models_bench import ChildError, TimingOptions, run_child
from benchmarks.pipeline_bench import PipelineOptions, real_photos, render_frames, run_pipeline
from export.manifest import sha256_file  # stdlib only: no TensorFlow

PROJECT = Path(__file__).resolve().parents[1]
REPORTS_DIR = Path(__file__).resolve().parent / "reports"
DEFAULT_MODELS = PROJECT / "models"
DEFAULT_RUN = PROJECT / "runs" / "lstm"


@dataclass(frozen=True)
class BenchOptions:
    """Everything one benchmark run needs; defaults are the full report."""

    out: Path = REPORTS_DIR
    """Folder for report.md, report.json and the PNG plots (created; files overwritten)."""
    models_dir: Path = DEFAULT_MODELS
    """Folder with manifest.json and the shipped .tflite files."""
    keras: Path | None = None
    """Keras run folder or .keras file; default: the manifest's training record, else runs/lstm."""
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


QUICK = dict(
    test_images=300,
    timing=TimingOptions(reps=200, warmup=20, latency_images=100),
    keras_threads=(1,),
    pipeline=PipelineOptions(frames=3, reps=1, max_photos=6),
)


@dataclass
class BenchResult:
    """What the report is made from (see benchmarks.report)."""

    options: dict
    machine: dict
    manifest: dict
    rows: list[dict] = field(default_factory=list)
    pipeline: dict = field(default_factory=dict)
    confusion: dict = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    paired: dict = field(default_factory=dict)
    """Default TFLite vs tf.function vs ONNX Runtime timed side by side (benchmarks.paired_bench)."""
    startup: list[dict] = field(default_factory=list)
    """Edge program launches (benchmarks.startup_bench), one entry per image."""
    latency_samples: dict = field(default_factory=dict, repr=False)
    """row name -> {threads: latency ns array}; only for the plots, not written to JSON."""
    seconds: float = 0.0


# ---------------------------------------------------------------- inputs


def read_models(models_dir: Path) -> tuple[dict, list[dict]]:
    """The manifest and its entries with an absolute "path"; a clear error if there is none."""
    path = models_dir / "manifest.json"
    if not path.is_file():
        raise FileNotFoundError(f"no model manifest at {path}; run make export or pass --models DIR")
    manifest = json.loads(path.read_text())
    entries = []
    for i, e in enumerate(manifest.get("models", [])):
        if not isinstance(e, dict) or not e.get("name") or not e.get("file"):
            raise ValueError(
                f"{path}: model entry {i} has no name or file ({e!r:.80}); run make export again"
            )
        if e.get("role", "classifier") != "classifier":
            continue  # lstm_stepwise (the serve page's per-row outputs) is no digit classifier
        entries.append(dict(e, path=str(models_dir / e["file"])))
    if not entries:
        raise ValueError(f"{path} lists no models; run make export")
    return manifest, entries


def keras_source(options: BenchOptions, manifest: dict) -> Path | None:
    """The Keras model the shipped files were converted from (run folder or .keras file)."""
    if options.keras:
        return Path(options.keras)
    candidates = []
    default_first = sorted(manifest.get("models", []), key=lambda e: e.get("name") != manifest.get("default"))
    for e in default_first:
        for rec in (e.get("keras"), e.get("training")):
            if isinstance(rec, str):
                candidates.append(rec)
            elif isinstance(rec, dict):
                candidates += [
                    rec[k]
                    for k in ("file", "path", "keras_file", "model", "run_dir", "out_dir")
                    if isinstance(rec.get(k), str)
                ]
    for c in candidates:
        for base in (PROJECT, options.models_dir, Path.cwd()):
            p = Path(c) if Path(c).is_absolute() else base / c
            if p.is_file() and p.suffix == ".keras" or (p.is_dir() and (p / "model.keras").is_file()):
                return p
    return DEFAULT_RUN if (DEFAULT_RUN / "model.keras").is_file() else None


def load_test_set(options: BenchOptions) -> tuple[np.ndarray, np.ndarray, str]:
    """(n, 28, 28) float32 in [0, 1], (n,) labels, and the data hash; the same for every model."""
    from training.data import load_mnist

    data = load_mnist(options.mnist)
    n = min(options.test_images, len(data.x_test))
    x = data.x_test[:n].astype(np.float32) / 255.0
    return x, data.y_test[:n].astype(np.int64), data.sha256


# ---------------------------------------------------------------- run


def run(options: BenchOptions) -> BenchResult:
    """Measure everything, return the figures (``benchmarks.report.write_report`` writes them)."""
    t_start = time.perf_counter()
    manifest, entries = read_models(options.models_dir)
    res = BenchResult(options=_jsonable(asdict(options)), machine=sysinfo.machine(), manifest=manifest)
    x, y, data_sha = load_test_set(options)
    res.options["data_sha256"] = data_sha
    timing = {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(options.timing).items()}

    with tempfile.TemporaryDirectory(prefix="digits-bench-") as tmp:
        work = Path(tmp)
        np.savez(work / "inputs.npz", x=x, y=y)
        base = {"inputs": str(work / "inputs.npz"), "timing": timing}
        keras_preds = None

        if not options.edge_only:
            keras_preds = _keras_rows(options, manifest, base, work, res)
            onnx_file = work / "keras.onnx"
            if options.onnx and onnx_file.is_file():
                _measure(
                    res,
                    {"kind": "onnx", "path": str(onnx_file), **base},
                    work,
                    "onnx",
                    row={
                        "name": "onnx-runtime",
                        "format": "ONNX (opset 17), ONNX Runtime",
                        "quantization": "float32",
                        "size_bytes": onnx_file.stat().st_size,
                        "kind": "onnx",
                        "shipped": False,
                    },
                )
        else:
            res.notes.append(
                "--edge-only: no Keras or ONNX rows (they need TensorFlow); agreement "
                "with Keras is the figure recorded in the manifest at export time."
            )

        # The Keras rows are the default model's network; models of another architecture were
        # compared with their own Keras model at export time (the manifest's figure is shown).
        base_arch = next((e.get("arch") for e in entries if e["name"] == manifest.get("default")), None)
        for e in sorted(entries, key=lambda e: (e.get("arch") != base_arch, str(e.get("arch")), e["name"])):
            _tflite_row(res, e, manifest, base, work)

        if keras_preds is not None:
            for row in res.rows:
                if "preds" in row and (row.get("kind") != "tflite" or row.get("arch") == base_arch):
                    row["agreement"] = float(np.mean(row["preds"] == keras_preds))
        default = next((r for r in res.rows if r.get("default")), None)
        if default is not None and "preds" in default:
            res.confusion = {"model": default["name"], "matrix": confusion(y, default["preds"]).tolist()}
        for row in res.rows:
            row.pop("preds", None)

        t0 = time.perf_counter()
        res.pipeline = _pipeline(options, entries, x, y, work, res)
        say(f"  {'pipeline':<28} {time.perf_counter() - t0:5.1f} s")
        t0 = time.perf_counter()
        res.startup = _startup(options, entries, manifest, work, res)
        say(f"  {'edge program start-up':<28} {time.perf_counter() - t0:5.1f} s")
    res.seconds = time.perf_counter() - t_start
    return res


def say(message: str) -> None:
    """One progress line per measured model on stderr (the report files are the output)."""
    print(message, file=sys.stderr, flush=True)


def _child(spec: dict, work: Path, tag: str):
    t0 = time.perf_counter()
    summary, samples = run_child(spec, work, tag)
    acc = summary.get("accuracy")
    say(
        f"  {tag:<28} {time.perf_counter() - t0:5.1f} s"
        + (f"  accuracy {acc:.4f}" if acc is not None else "")
    )
    return summary, samples


def _measure(res: BenchResult, spec: dict, work: Path, tag: str, row: dict) -> dict | None:
    """Run one child; on failure add a note (one bad model never stops the report)."""
    try:
        summary, samples = _child(spec, work, tag)
    except (ChildError, OSError, ValueError) as exc:
        res.notes.append(f"{row['name']}: not measured ({exc})")
        return None
    row.update(summary)
    row["preds"] = samples["preds"]
    res.latency_samples[row["name"]] = {
        k.removeprefix("latency_ns_"): v for k, v in samples.items() if k.startswith("latency_ns_")
    }
    res.rows.append(row)
    return row


def _keras_rows(options: BenchOptions, manifest: dict, base: dict, work: Path, res: BenchResult):
    """One child per thread count; returns the Keras test-set predictions (or None)."""
    source = keras_source(options, manifest)
    if source is None:
        res.notes.append(
            f"Keras rows skipped: no trained model (looked in the manifest and {DEFAULT_RUN}); "
            "run make train or pass --keras"
        )
        return None
    file = source / "model.keras" if source.is_dir() else source
    recorded = {
        (e.get("keras") or {}).get("sha256")
        for e in manifest.get("models", [])
        if isinstance(e.get("keras"), dict) and e.get("name") == manifest.get("default")
    } - {None}
    if file.is_file() and recorded and sha256_file(file) not in recorded:
        res.notes.append(
            f"Keras model {file} is not the one the default model was converted from "
            "(sha256 differs from the manifest's keras record); ratios compare different weights"
        )
    default_path = next(
        (
            str(options.models_dir / e["file"])
            for e in manifest.get("models", [])
            if e.get("name") == manifest.get("default")
        ),
        None,
    )
    preds = None
    for i, threads in enumerate(dict.fromkeys(options.keras_threads or options.timing.threads)):
        spec = {"kind": "keras", "path": str(source), "threads": threads, "quick": options.quick, **base}
        if i == 0 and options.onnx:
            spec["onnx_out"] = str(work / "keras.onnx")
        if default_path is not None:
            spec["paired_tflite"] = default_path
        try:
            summary, samples = _child(spec, work, f"keras_{threads}_threads")
        except (ChildError, OSError, ValueError) as exc:
            res.notes.append(f"Keras ({threads} threads): not measured ({exc})")
            continue
        preds = samples["preds"] if preds is None else preds
        if "paired" in summary:
            res.paired = summary["paired"]
        if "onnx" in summary:
            res.options["onnx_export"] = summary["onnx"]
            if "error" in summary["onnx"]:
                res.notes.append(f"ONNX row skipped: conversion failed ({summary['onnx']['error']})")
        for path in summary["paths"]:
            res.latency_samples.setdefault(f"keras {path}", {})
            if f"latency_ns_{path}" in samples:
                res.latency_samples[f"keras {path}"][str(threads)] = samples[f"latency_ns_{path}"]
        res.rows.extend(keras_rows_from(summary, source, preds, threads))
    merge_keras_rows(res)
    return preds


KERAS_PATHS = {
    "predict": "Keras model.predict, 1 image",
    "call": "Keras direct call model(x)",
    "function": "Keras compiled tf.function",
    "predict_batch": "Keras model.predict, batch 1000",
}


def keras_rows_from(summary: dict, source: Path, preds: np.ndarray, threads: int) -> list[dict]:
    rows = []
    for path, s in summary["paths"].items():
        row = {
            "name": f"keras {path}",
            "format": KERAS_PATHS[path],
            "quantization": "float32",
            "kind": "keras",
            "keras_path": path,
            "shipped": False,
            "size_bytes": summary["size_bytes"],
            "file": str(source),
            "accuracy": summary["accuracy"],
            "load_ms": summary["load_ms"],
            "peak_rss_mb": summary["peak_rss_mb"],
            "model_rss_mb": summary["model_rss_mb"],
            "latency": {},
            "digits_per_s": s["digits_per_s"],
            "preds": preds,
        }
        if "p50_us" in s:
            row["latency"][str(threads)] = {k: v for k, v in s.items() if k != "digits_per_s"}
        else:
            row["batch"] = {str(threads): s}
        rows.append(row)
    return rows


def merge_keras_rows(res: BenchResult) -> None:
    """Fold the per-thread Keras rows into one row per path (latency keyed by thread count)."""
    merged: dict[str, dict] = {}
    others = []
    for row in res.rows:
        if row.get("kind") != "keras":
            others.append(row)
            continue
        m = merged.setdefault(row["name"], row)
        if m is not row:
            m["latency"].update(row["latency"])
            m.setdefault("batch", {}).update(row.get("batch", {}))
            for key in ("peak_rss_mb", "model_rss_mb"):
                m[key] = max(m[key], row[key])
    for m in merged.values():  # batch throughput quoted at the largest thread count measured
        if m.get("batch"):
            m["digits_per_s"] = m["batch"][max(m["batch"], key=int)]["digits_per_s"]
    res.rows = list(merged.values()) + others


def _tflite_row(res: BenchResult, e: dict, manifest: dict, base: dict, work: Path) -> None:
    path = Path(e["path"])
    row = {
        "name": e["name"],
        "format": f"TFLite ({e.get('graph', '?')} graph)",
        "kind": "tflite",
        "quantization": e.get("quantization", "?"),
        "graph": e.get("graph"),
        "arch": e.get("arch"),
        "file": e["file"],
        "shipped": True,
        "default": e["name"] == manifest.get("default"),
        "manifest_test_accuracy": e.get("test_accuracy"),
        "manifest_agreement": e.get("agreement"),
    }
    if not path.is_file():
        res.notes.append(f"{e['name']}: file {path} is listed in the manifest but missing; run make export")
        return
    row["size_bytes"] = path.stat().st_size
    if e.get("sha256") and sha256_file(path) != e["sha256"]:
        res.notes.append(
            f"{e['name']}: sha256 of {path.name} differs from the manifest (re-exported without "
            "updating it?); figures below are for the file on disk"
        )
    _measure(res, {"kind": "tflite", "path": str(path), **base}, work, f"tflite_{e['name']}", row)


def _pipeline(options: BenchOptions, entries: list[dict], x, y, work: Path, res: BenchResult) -> dict:
    popt = options.pipeline
    x_uint8 = np.clip(np.round(x * 255), 0, 255).astype(np.uint8)
    try:
        frames = render_frames(x_uint8, y, work / "frames", popt)
    except ImportError as exc:
        res.notes.append(f"pipeline frames skipped: cannot render scenes ({exc})")
        frames = []
    photos = None
    if popt.photos_dir is None:
        res.notes.append("real photos skipped: DIGITS_PHOTOS_DIR is not set")
    else:
        try:
            photos = real_photos(Path(popt.photos_dir))[: popt.max_photos]
        except (OSError, ValueError) as exc:
            res.notes.append(f"real photos skipped: {exc}")
    models = [{"name": e["name"], "path": e["path"]} for e in entries if Path(e["path"]).is_file()]
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


def _startup(
    options: BenchOptions, entries: list[dict], manifest: dict, work: Path, res: BenchResult
) -> list[dict]:
    """Launch the edge program on a synthetic frame and on the largest real photo, default model."""
    from benchmarks.startup_bench import measure_startup

    default = next((e for e in entries if e["name"] == manifest.get("default")), None)
    if default is None or not Path(default["path"]).is_file():
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
            out.append(
                measure_startup(Path(default["path"]), image, runs=2 if options.quick else 7, cwd=PROJECT)
            )
        except (RuntimeError, OSError, subprocess.TimeoutExpired) as exc:
            res.notes.append(f"edge program start-up on {image.name}: not measured ({exc})")
    return out


def confusion(y: np.ndarray, preds: np.ndarray) -> np.ndarray:
    """(10, 10) counts: rows are true labels, columns predictions."""
    m = np.zeros((10, 10), dtype=np.int64)
    np.add.at(m, (np.asarray(y, int), np.asarray(preds, int)), 1)
    return m


def _jsonable(obj):
    if isinstance(obj, dict):
        return {k: _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, Path):
        return str(obj)
    return obj


# ---------------------------------------------------------------- CLI


def build_options(argv: list[str] | None = None) -> BenchOptions:
    p = argparse.ArgumentParser(prog="digits-bench", description=__doc__.split("\n\n")[0])
    p.add_argument("--out", type=Path, default=REPORTS_DIR, help=f"report folder (default: {REPORTS_DIR})")
    p.add_argument(
        "--models", type=Path, default=DEFAULT_MODELS, help="folder with manifest.json (default: models/)"
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
    a = p.parse_args(argv)
    opts = BenchOptions(
        out=a.out,
        models_dir=a.models,
        keras=a.keras,
        mnist=a.mnist,
        edge_only=a.edge_only,
        onnx=not a.no_onnx and not a.edge_only,
        quick=a.quick,
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
    from benchmarks.report import write_report

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
