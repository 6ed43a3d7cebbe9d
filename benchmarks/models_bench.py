"""Per-model measurements, each in a fresh child process so memory peaks are per model.

The parent writes the test inputs once (``inputs.npz``: (n, 28, 28) float32 in
[0, 1] and labels), then starts one child per model with a JSON spec. The child
loads the model, runs the accuracy pass and the latency loops and writes a JSON
summary plus an ``.npz`` of raw latencies and predictions. Every runtime is timed
by the same harness, :func:`time_calls`: warm-up calls, then ``perf_counter_ns``
around each single call with everything pre-bound, so the numbers are the
runtime's and not Python's.

TFLite path timed: the one ``edge_runtime.classifier.DigitClassifier`` uses per
digit: ``reset_all_variables()`` (fused LSTM graphs only) + ``set_tensor`` +
``invoke`` + ``get_tensor``, on inputs already in the model's dtype.

    python -m benchmarks.models_bench SPEC.json     # what the parent runs per model
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

CHILD_TIMEOUT_S = 900


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


# ---------------------------------------------------------------- the harness


def time_calls(step: Callable[[object], object], inputs: Sequence, reps: int, warmup: int) -> np.ndarray:
    """Latency of ``step(x)`` in nanoseconds, one sample per call, cycling through ``inputs``."""
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


def summarize_ns(samples: np.ndarray) -> dict:
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


def peak_rss_mb() -> float:
    """This process's peak resident memory in MB.

    VmHWM belongs to the current address space, so it is not inflated by the
    parent's memory (ru_maxrss can be, when the child was started by vfork+exec).
    """
    try:
        for line in open("/proc/self/status", encoding="ascii"):
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    import resource

    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return rss / 1024 / (1024 if sys.platform == "darwin" else 1)  # bytes on macOS, KB elsewhere


def current_rss_mb() -> float:
    try:
        for line in open("/proc/self/status", encoding="ascii"):
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return float("nan")


# ---------------------------------------------------------------- TFLite


def tflite_step(clf) -> Callable[[np.ndarray], np.ndarray]:
    """One digit through a DigitClassifier's interpreter, with the runtime's state reset."""
    return clf.step()


def measure_tflite(spec: dict, x: np.ndarray, y: np.ndarray, timing: TimingOptions) -> tuple[dict, dict]:
    """Load time, accuracy (through DigitClassifier.logits) and batch-1 latency per thread count."""
    from edge_runtime.classifier import DigitClassifier, load_interpreter_class

    load_interpreter_class()  # import LiteRT before the clock starts: load time is the model's
    t0 = time.perf_counter()
    clf = DigitClassifier(spec["path"], num_threads=1)
    load_ms = (time.perf_counter() - t0) * 1e3
    clf.logits(x[:1])
    loaded_rss = current_rss_mb()  # runtime imported, model loaded, one digit run
    clf.logits(x[: timing.warmup])  # warm-up before the timed accuracy pass

    t0 = time.perf_counter()
    logits = clf.logits(x)  # the runtime's own API, batch 1 per digit, state reset per digit
    pass_s = time.perf_counter() - t0
    preds = logits.argmax(axis=1)

    result = {
        "load_ms": load_ms,
        "accuracy": float((preds == y).mean()),
        "digits_per_s": len(x) / pass_s,
        "stateful": bool(clf.stateful),
        "input_dtype": str(clf.input.dtype),
        "latency": {},
    }
    samples = {"preds": preds.astype(np.int8)}
    inputs = [clf.quantize_input(x[i : i + 1]) for i in range(min(timing.latency_images, len(x)))]
    for threads in timing.threads:
        runner = clf if threads == 1 else DigitClassifier(spec["path"], num_threads=threads)
        ns = time_calls(tflite_step(runner), inputs, timing.reps, timing.warmup)
        result["latency"][str(threads)] = summarize_ns(ns)
        samples[f"latency_ns_{threads}"] = ns
    result["loaded_rss_mb"] = loaded_rss
    return result, samples


# ---------------------------------------------------------------- child side


def run_spec(spec: dict) -> dict:
    """Measure one model as ``spec`` says; write its JSON and samples; return the JSON."""
    with np.load(spec["inputs"]) as data:
        x, y = data["x"], data["y"]
    timing = TimingOptions(**{k: tuple(v) if k == "threads" else v for k, v in spec["timing"].items()})
    base_rss = current_rss_mb()  # Python, numpy and the inputs; no runtime imported yet
    kind = spec["kind"]
    if kind == "tflite":
        result, samples = measure_tflite(spec, x, y, timing)
    elif kind == "onnx":
        from benchmarks.onnx_bench import measure_onnx

        result, samples = measure_onnx(spec, x, y, timing)
    elif kind == "keras":
        from benchmarks.keras_bench import measure_keras

        result, samples = measure_keras(spec, x, y, timing)
    else:
        raise ValueError(f"unknown model kind {kind!r}; expected tflite, onnx or keras")
    result.setdefault("peak_rss_mb", peak_rss_mb())
    result["model_rss_mb"] = result.pop("loaded_rss_mb") - base_rss
    result["tensorflow_imported"] = "tensorflow" in sys.modules
    np.savez_compressed(spec["samples"], **samples)
    Path(spec["result"]).write_text(json.dumps(result, indent=1))
    return result


# ---------------------------------------------------------------- parent side


class ChildError(RuntimeError):
    """A measurement child failed; the message carries the tail of its stderr."""


def run_child(spec: dict, workdir: Path, tag: str) -> tuple[dict, dict]:
    """Run ``spec`` in a fresh Python process; return (summary, samples)."""
    spec = dict(spec)
    spec.setdefault("result", str(workdir / f"{tag}.json"))
    spec.setdefault("samples", str(workdir / f"{tag}.npz"))
    spec_path = workdir / f"{tag}.spec.json"
    spec_path.write_text(json.dumps(spec, indent=1))
    root = str(Path(__file__).resolve().parents[1])
    env = dict(os.environ)
    env["PYTHONPATH"] = root + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    proc = subprocess.run(
        [sys.executable, "-m", "benchmarks.models_bench", str(spec_path)],
        cwd=workdir,
        env=env,
        capture_output=True,
        text=True,
        timeout=CHILD_TIMEOUT_S,
    )
    if proc.returncode != 0:
        tail = "\n".join(proc.stderr.strip().splitlines()[-8:])
        raise ChildError(f"{tag}: measurement child exited with {proc.returncode}:\n{tail}")
    summary = json.loads(Path(spec["result"]).read_text())
    with np.load(spec["samples"]) as data:
        samples = {k: data[k] for k in data.files}
    return summary, samples


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1:
        print(
            "usage: python -m benchmarks.models_bench SPEC.json (started by python -m benchmarks)",
            file=sys.stderr,
        )
        return 2
    run_spec(json.loads(Path(argv[0]).read_text()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
