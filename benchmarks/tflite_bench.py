"""The shipped TFLite models, run by the edge runtime's own classifier (in a child process).

Timed path: the one ``edge_runtime.classifier.DigitClassifier`` uses per digit
(``DigitClassifier.step``): ``reset_all_variables()`` (fused LSTM graphs only) +
``set_tensor`` + ``invoke`` + ``get_tensor``, on inputs already in the model's dtype.
Accuracy goes through ``DigitClassifier.logits`` itself. Never imports TensorFlow.

    python -m benchmarks --edge-only      # the TFLite rows are in every report
"""

from __future__ import annotations

import time

import numpy as np

from benchmarks.harness import ChildSpec, TimingOptions, current_rss_mb, summarize_ns, time_calls
from edge_runtime.classifier import DigitClassifier, load_interpreter_class


def measure_tflite(spec: ChildSpec, x: np.ndarray, y: np.ndarray, timing: TimingOptions) -> tuple[dict, dict]:
    """Load time, accuracy (through DigitClassifier.logits) and batch-1 latency per thread count."""
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
        "loaded_rss_mb": loaded_rss,
    }
    samples = {"preds": preds.astype(np.int8)}
    inputs = [clf.quantize_input(x[i : i + 1]) for i in range(min(timing.latency_images, len(x)))]
    for threads in timing.threads:
        runner = clf if threads == 1 else DigitClassifier(spec["path"], num_threads=threads)
        ns = time_calls(runner.step(), inputs, timing.reps, timing.warmup)
        result["latency"][str(threads)] = summarize_ns(ns)
        samples[f"latency_ns_{threads}"] = ns
    return result, samples
