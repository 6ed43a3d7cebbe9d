"""The models table: every shipped TFLite model, the Keras model's four paths, the ONNX peer.

Each model is measured in its own child (``benchmarks.child``); this module builds the
specs, turns the children's summaries into :class:`benchmarks.rows.BenchRow` and adds
what needs several rows at once (agreement with Keras, the default's confusion matrix).
The parent never imports TensorFlow.

    python -m benchmarks          # the models table is the report's core
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import numpy as np

from benchmarks.child import ChildError, run_child
from benchmarks.harness import ChildSpec
from benchmarks.options import DEFAULT_RUN, BenchOptions, BenchResult, portable_path
from benchmarks.rows import BenchRow, default_row
from edge_runtime.contract import PROJECT_ROOT
from export.manifest import sha256_file  # stdlib only: no TensorFlow

KERAS_PATHS = {
    "predict": "Keras model.predict, 1 image",
    "call": "Keras direct call model(x)",
    "function": "Keras compiled tf.function",
    "predict_batch": "Keras model.predict, batch 1000",
}


def say(message: str) -> None:
    """One progress line per measured model on stderr (the report files are the output)."""
    print(message, file=sys.stderr, flush=True)


# ---------------------------------------------------------------- inputs


def read_models(models_dir: Path) -> tuple[dict, list[dict]]:
    """The manifest and its entries; a clear error if there is none."""
    path = models_dir / "manifest.json"
    if not path.is_file():
        raise FileNotFoundError(f"no model manifest at {path}; run make export or pass --models DIR")
    manifest = json.loads(path.read_text())
    entries = manifest.get("models", [])
    for i, e in enumerate(entries):
        if not isinstance(e, dict) or not e.get("name") or not e.get("file"):
            raise ValueError(
                f"{path}: model entry {i} has no name or file ({e!r:.80}); run make export again"
            )
    # lstm_stepwise (the serve page's per-row outputs) is no digit classifier: not benchmarked
    entries = [e for e in entries if (e.get("role") or "classifier") == "classifier"]
    if not entries:
        raise ValueError(f"{path} lists no models; run make export")
    return manifest, entries


def default_entry(manifest: dict) -> dict | None:
    return next((e for e in manifest["models"] if e["name"] == manifest.get("default")), None)


def keras_source(options: BenchOptions, manifest: dict) -> Path | None:
    """The Keras model the default model was converted from: --keras, else the default entry's
    ``keras.file`` (export writes it relative to the project), else runs/lstm."""
    if options.keras:
        return Path(options.keras)
    entry = default_entry(manifest)
    if entry and entry.get("keras"):
        file = PROJECT_ROOT / entry["keras"]["file"]
        if file.is_file():
            return file
    return DEFAULT_RUN if (DEFAULT_RUN / "model.keras").is_file() else None


# ---------------------------------------------------------------- one child


def measure(res: BenchResult, spec: ChildSpec, work: Path, tag: str, row: BenchRow) -> BenchRow | None:
    """Run one child and fill ``row`` from it; on failure add a note (one bad model never stops
    the report)."""
    t0 = time.perf_counter()
    try:
        summary, samples = run_child(spec, work, tag)
    except (ChildError, OSError, ValueError) as exc:
        res.notes.append(f"{row.name}: not measured ({exc})")
        return None
    say(f"  {tag:<28} {time.perf_counter() - t0:5.1f} s  accuracy {summary['accuracy']:.4f}")
    for key in ("load_ms", "accuracy", "digits_per_s", "peak_rss_mb", "model_rss_mb", "latency"):
        setattr(row, key, summary[key])
    for key in ("stateful", "input_dtype", "tensorflow_imported"):
        setattr(row, key, summary.get(key))
    row.preds = samples["preds"]
    res.latency_samples[row.name] = {
        k.removeprefix("latency_ns_"): v for k, v in samples.items() if k.startswith("latency_ns_")
    }
    res.rows.append(row)
    return row


# ---------------------------------------------------------------- TFLite and ONNX rows


def tflite_row(
    res: BenchResult, e: dict, manifest: dict, base: ChildSpec, work: Path, models_dir: Path
) -> None:
    path = models_dir / e["file"]
    if not path.is_file():
        res.notes.append(
            f"{e['name']}: file {e['file']} is listed in the manifest but missing; run make export"
        )
        return
    if sha256_file(path) != e["sha256"]:
        res.notes.append(
            f"{e['name']}: sha256 of {path.name} differs from the manifest (re-exported without "
            "updating it?); figures below are for the file on disk"
        )
    row = BenchRow(
        name=e["name"],
        kind="tflite",
        format=f"TFLite ({e['graph']} graph)",
        quantization=e["quantization"],
        shipped=True,
        size_bytes=path.stat().st_size,
        file=e["file"],
        arch=e["arch"],
        graph=e["graph"],
        default=e["name"] == manifest.get("default"),
        manifest_test_accuracy=e.get("test_accuracy"),
        manifest_agreement=e.get("agreement"),
    )
    measure(res, {"kind": "tflite", "path": str(path), **base}, work, f"tflite_{e['name']}", row)


def onnx_row(res: BenchResult, base: ChildSpec, work: Path) -> None:
    onnx_file = work / "keras.onnx"
    if not onnx_file.is_file():
        return
    row = BenchRow(
        name="onnx-runtime",
        kind="onnx",
        format="ONNX (opset 17), ONNX Runtime",
        quantization="float32",
        shipped=False,
        size_bytes=onnx_file.stat().st_size,
    )
    measure(res, {"kind": "onnx", "path": str(onnx_file), **base}, work, "onnx", row)


def tflite_order(entries: list[dict], manifest: dict) -> list[dict]:
    """The default model's architecture first (the Keras rows are its network), then by name."""
    base_arch = (default_entry(manifest) or {}).get("arch")
    return sorted(entries, key=lambda e: (e["arch"] != base_arch, e["arch"], e["name"]))


# ---------------------------------------------------------------- Keras rows


def keras_rows(options: BenchOptions, manifest: dict, base: ChildSpec, work: Path, res: BenchResult):
    """One child per thread count; returns the Keras test-set predictions (or None)."""
    source = keras_source(options, manifest)
    if source is None:
        res.notes.append(
            f"Keras rows skipped: no trained model (looked in the manifest and {portable_path(DEFAULT_RUN)}); "
            "run make train or pass --keras"
        )
        return None
    _check_keras_hash(source, manifest, res)
    default = default_entry(manifest)
    preds = None
    for i, threads in enumerate(dict.fromkeys(options.keras_threads or options.timing.threads)):
        spec: ChildSpec = {
            "kind": "keras",
            "path": str(source),
            "threads": threads,
            "quick": options.quick,
            **base,
        }
        if i == 0 and options.onnx:
            spec["onnx_out"] = str(work / "keras.onnx")
        if default is not None:
            spec["paired_tflite"] = str(options.models_dir / default["file"])
        t0 = time.perf_counter()
        try:
            summary, samples = run_child(spec, work, f"keras_{threads}_threads")
        except (ChildError, OSError, ValueError) as exc:
            res.notes.append(f"Keras ({threads} threads): not measured ({exc})")
            continue
        say(
            f"  keras_{threads}_threads{'':<14} {time.perf_counter() - t0:5.1f} s  accuracy {summary['accuracy']:.4f}"
        )
        preds = samples["preds"] if preds is None else preds
        _keep_keras_extras(summary, samples, threads, work, res)
        res.rows.extend(keras_rows_from(summary, portable_path(source), preds, threads))
    merge_keras_rows(res)
    return preds


def _check_keras_hash(source: Path, manifest: dict, res: BenchResult) -> None:
    file = source / "model.keras" if source.is_dir() else source
    recorded = ((default_entry(manifest) or {}).get("keras") or {}).get("sha256")
    if file.is_file() and recorded and sha256_file(file) != recorded:
        res.notes.append(
            f"Keras model {portable_path(file)} is not the one the default model was converted from "
            "(sha256 differs from the manifest's keras record); ratios compare different weights"
        )


def _keep_keras_extras(summary: dict, samples: dict, threads: int, work: Path, res: BenchResult) -> None:
    """The side-by-side pass, the ONNX export record and the raw samples of one Keras child."""
    if "paired" in summary:
        res.paired = dict(summary["paired"], tflite_model=portable_path(summary["paired"]["tflite_model"]))
    if "onnx" in summary:
        onnx = dict(summary["onnx"])
        if "path" in onnx:
            onnx["path"] = portable_path(onnx["path"], work)
        res.options["onnx_export"] = onnx
        if "error" in onnx:
            res.notes.append(f"ONNX row skipped: conversion failed ({onnx['error']})")
    for path in summary["paths"]:
        if f"latency_ns_{path}" in samples:
            res.latency_samples.setdefault(f"keras {path}", {})[str(threads)] = samples[f"latency_ns_{path}"]


def keras_rows_from(summary: dict, source: str, preds: np.ndarray, threads: int) -> list[BenchRow]:
    rows = []
    for path, s in summary["paths"].items():
        row = BenchRow(
            name=f"keras {path}",
            kind="keras",
            format=KERAS_PATHS[path],
            quantization="float32",
            shipped=False,
            size_bytes=summary["size_bytes"],
            file=source,
            keras_path=path,
            accuracy=summary["accuracy"],
            load_ms=summary["load_ms"],
            peak_rss_mb=summary["peak_rss_mb"],
            model_rss_mb=summary["model_rss_mb"],
            digits_per_s=s["digits_per_s"],
            preds=preds,
        )
        if "p50_us" in s:
            row.latency[str(threads)] = {k: v for k, v in s.items() if k != "digits_per_s"}
        else:
            row.batch = {str(threads): s}
        rows.append(row)
    return rows


def merge_keras_rows(res: BenchResult) -> None:
    """Fold the per-thread Keras rows into one row per path (latency keyed by thread count)."""
    merged: dict[str, BenchRow] = {}
    others = []
    for row in res.rows:
        if row.kind != "keras":
            others.append(row)
            continue
        m = merged.setdefault(row.name, row)
        if m is not row:
            m.latency.update(row.latency)
            if row.batch:
                m.batch = {**(m.batch or {}), **row.batch}
            m.peak_rss_mb = max(m.peak_rss_mb, row.peak_rss_mb)
            m.model_rss_mb = max(m.model_rss_mb, row.model_rss_mb)
    for m in merged.values():  # batch throughput quoted at the largest thread count measured
        if m.batch:
            m.digits_per_s = m.batch[max(m.batch, key=int)]["digits_per_s"]
    res.rows = list(merged.values()) + others


# ---------------------------------------------------------------- the table


def measure_models(
    options: BenchOptions, manifest: dict, entries: list[dict], base: ChildSpec, work: Path, res: BenchResult
) -> None:
    """Every row of the models table, agreement with Keras and the default's confusion matrix."""
    keras_preds = None
    if not options.edge_only:
        keras_preds = keras_rows(options, manifest, base, work, res)
        if options.onnx:
            onnx_row(res, base, work)
    else:
        res.notes.append(
            "--edge-only: no Keras or ONNX rows (they need TensorFlow); agreement "
            "with Keras is the figure recorded in the manifest at export time."
        )
    for e in tflite_order(entries, manifest):
        tflite_row(res, e, manifest, base, work, options.models_dir)

    # The Keras rows are the default model's network; models of another architecture were
    # compared with their own Keras model at export time (the manifest's figure is shown).
    base_arch = (default_entry(manifest) or {}).get("arch")
    if keras_preds is not None:
        for row in res.rows:
            if row.preds is not None and (row.kind != "tflite" or row.arch == base_arch):
                row.agreement = float(np.mean(row.preds == keras_preds))
    default = default_row(res.rows)
    if default is not None and default.preds is not None:
        y = np.load(base["inputs"])["y"]
        res.confusion = {"model": default.name, "matrix": confusion(y, default.preds).tolist()}
    for row in res.rows:
        row.preds = None


def confusion(y: np.ndarray, preds: np.ndarray) -> np.ndarray:
    """(10, 10) counts: rows are true labels, columns predictions."""
    m = np.zeros((10, 10), dtype=np.int64)
    np.add.at(m, (np.asarray(y, int), np.asarray(preds, int)), 1)
    return m
