"""The full Keras model, the baseline every exported model is compared with.

Runs in its own child process with TensorFlow's thread pools fixed before TF
starts (one child per thread setting). Four ways of running it, each a row:

- ``predict`` on one image (what a tutorial does; pays Keras' per-call set-up),
- a direct call ``model(x)`` (eager),
- a compiled ``tf.function`` call (the fastest single-image path in TensorFlow),
- ``predict`` on all test images at batch 1000 (throughput when batching is possible).

Single-image paths are timed with the same harness as the TFLite models, on the
same images. This child also converts the model to ONNX for the ONNX Runtime row
and, at one thread, times the side-by-side pass (``benchmarks.paired_bench``).
TensorFlow is imported inside :func:`measure_keras` on purpose: every measurement
child imports this module, and only the Keras child may load TensorFlow.

    python -m benchmarks          # includes these rows unless --edge-only
"""

from __future__ import annotations

import time

import numpy as np

from benchmarks.harness import ChildSpec, TimingOptions, current_rss_mb, peak_rss_mb, summarize_ns, time_calls
from benchmarks.onnx_bench import convert_to_onnx
from benchmarks.paired_bench import side_by_side_in_keras_child

PREDICT_BATCH = 1000  # digits per batch for the throughput row
# The slow paths get fewer calls: predict on one image takes ~30 ms, a direct call ~10 ms,
# against ~1 ms for the tf.function (measured on the 2-core build machine).
SLOW_PATH_SHARE = {"predict": 0.05, "call": 0.05, "function": 1.0}
MIN_SLOW_REPS = 20


def measure_keras(spec: ChildSpec, x: np.ndarray, y: np.ndarray, timing: TimingOptions) -> tuple[dict, dict]:
    """All four Keras paths at one thread setting (``spec["threads"]``), plus the ONNX export."""
    from training.models import keras_file, load_keras  # TensorFlow: in the Keras child only
    from training.tfkeras import tf

    threads = int(spec["threads"])
    # Must happen before TensorFlow runs anything.
    tf.config.threading.set_intra_op_parallelism_threads(threads)
    tf.config.threading.set_inter_op_parallelism_threads(threads)

    t0 = time.perf_counter()
    model = load_keras(spec["path"])
    load_ms = (time.perf_counter() - t0) * 1e3
    model(x[:1], training=False)
    file = keras_file(spec["path"])
    result: dict = {
        "threads": threads,
        "size_bytes": file.stat().st_size,
        "load_ms": load_ms,
        "loaded_rss_mb": current_rss_mb(),  # TensorFlow imported, model loaded, one digit run
    }

    n_lat = min(timing.latency_images, len(x))
    numpy_inputs = [np.ascontiguousarray(x[i : i + 1], dtype=np.float32) for i in range(n_lat)]
    tensor_inputs = [tf.constant(a) for a in numpy_inputs]
    compiled = tf.function(lambda t: model(t, training=False))
    compiled_fn = compiled.get_concrete_function(tf.TensorSpec([1, 28, 28], tf.float32))
    paths = {
        "predict": (lambda a: model.predict(a, verbose=0), numpy_inputs),
        "call": (lambda t: model(t, training=False).numpy(), tensor_inputs),
        "function": (lambda t: compiled_fn(t).numpy(), tensor_inputs),
    }
    result["paths"], samples = _time_paths(paths, timing)
    result["paths"]["predict_batch"], logits = _predict_batch(model, x)
    preds = np.asarray(logits).argmax(axis=1)
    result["accuracy"] = float((preds == y).mean())
    samples["preds"] = preds.astype(np.int8)
    result["peak_rss_mb"] = peak_rss_mb()  # before the ONNX conversion, which is not Keras' cost

    if spec.get("onnx_out"):
        try:
            result["onnx"] = convert_to_onnx(model, spec["onnx_out"])
        except Exception as exc:  # any converter failure: the report says why the ONNX row is missing
            result["onnx"] = {"error": f"{type(exc).__name__}: {exc}"}
    if spec.get("paired_tflite") and threads == 1:
        result["paired"] = side_by_side_in_keras_child(
            spec, compiled_fn, tensor_inputs, numpy_inputs, result.get("onnx")
        )
    return result, samples


def _time_paths(paths: dict, timing: TimingOptions) -> tuple[dict, dict]:
    """Per single-image path: latency summary + digits/s, and the raw samples."""
    summaries, samples = {}, {}
    for name, (step, inputs) in paths.items():
        share = SLOW_PATH_SHARE[name]
        reps = timing.reps if share >= 1 else max(MIN_SLOW_REPS, int(timing.reps * share))
        warmup = max(3, min(timing.warmup, reps // 5))
        ns = time_calls(step, inputs, reps, warmup)
        summaries[name] = {**summarize_ns(ns), "digits_per_s": 1e9 / float(ns.mean())}
        samples[f"latency_ns_{name}"] = ns
    return summaries, samples


def _predict_batch(model, x: np.ndarray) -> tuple[dict, np.ndarray]:
    """Throughput of predict on all test digits in batches (median of 3 passes), and the logits."""
    xb = np.ascontiguousarray(x, dtype=np.float32)
    model.predict(xb[:PREDICT_BATCH], batch_size=PREDICT_BATCH, verbose=0)  # warm-up
    times, logits = [], None
    for _ in range(3):
        t0 = time.perf_counter()
        logits = model.predict(xb, batch_size=PREDICT_BATCH, verbose=0)
        times.append(time.perf_counter() - t0)
    batch_s = float(np.median(times))
    summary = {
        "batch_size": PREDICT_BATCH,
        "pass_s": batch_s,
        "digits_per_s": len(xb) / batch_s,
        "batch_ms": batch_s * 1e3 / max(1, int(np.ceil(len(xb) / PREDICT_BATCH))),
    }
    return summary, logits
