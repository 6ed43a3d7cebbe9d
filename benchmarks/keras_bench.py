"""The full Keras model, the baseline every exported model is compared with.

Runs in its own child process with TensorFlow's thread pools fixed before TF
starts (one child per thread setting). Four ways of running it, each a row:

- ``predict`` on one image (what a tutorial does; pays Keras' per-call set-up),
- a direct call ``model(x)`` (eager),
- a compiled ``tf.function`` call (the fastest single-image path in TensorFlow),
- ``predict`` on all test images at batch 1000 (throughput when batching is possible).

Single-image paths are timed with the same harness as the TFLite models, on the
same images. This child also converts the model to ONNX for the ONNX Runtime row.

    python -m benchmarks          # includes these rows unless --edge-only
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np

from benchmarks.models_bench import TimingOptions, current_rss_mb, peak_rss_mb, summarize_ns, time_calls

PREDICT_BATCH = 1000  # digits per batch for the throughput row
# The slow paths get fewer calls: predict is ~30 ms, a call ~10 ms (NOTES).
SLOW_PATH_SHARE = {"predict": 0.05, "call": 0.05, "function": 1.0}
MIN_SLOW_REPS = 20


def resolve_keras(path: str | Path) -> Path:
    """A run directory (with model.keras) or a .keras file -> the .keras file."""
    p = Path(path)
    if p.is_dir():
        p = p / "model.keras"
    if not p.is_file():
        raise FileNotFoundError(
            f"Keras model not found: {p}; train it with make train (runs/lstm) or pass --keras"
        )
    return p


def load_keras(path: str | Path):
    """The trained tf_keras model, through training.train.load_trained when it is available."""
    file = resolve_keras(path)
    try:
        from training.train import load_trained
    except ImportError:
        load_trained = None
    if load_trained is not None and file.name == "model.keras":
        model, _config = load_trained(file.parent)
        return model
    from training.tfkeras import keras

    try:  # registers the custom peephole cell, if that module exists
        import training.peephole  # noqa: F401
    except ImportError:
        pass
    return keras.models.load_model(file, compile=False)


def measure_keras(spec: dict, x: np.ndarray, y: np.ndarray, timing: TimingOptions) -> tuple[dict, dict]:
    """All four Keras paths at one thread setting (``spec["threads"]``), plus the ONNX export."""
    threads = int(spec["threads"])
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    from training.tfkeras import tf

    # Must happen before TensorFlow runs anything.
    tf.config.threading.set_intra_op_parallelism_threads(threads)
    tf.config.threading.set_inter_op_parallelism_threads(threads)

    t0 = time.perf_counter()
    model = load_keras(spec["path"])
    load_ms = (time.perf_counter() - t0) * 1e3
    model(x[:1], training=False)
    loaded_rss = current_rss_mb()  # TensorFlow imported, model loaded, one digit run

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
    result: dict = {
        "threads": threads,
        "file": str(resolve_keras(spec["path"])),
        "size_bytes": resolve_keras(spec["path"]).stat().st_size,
        "load_ms": load_ms,
        "paths": {},
    }
    samples: dict = {}
    for name, (step, inputs) in paths.items():
        reps = (
            timing.reps
            if SLOW_PATH_SHARE[name] >= 1
            else max(MIN_SLOW_REPS, int(timing.reps * SLOW_PATH_SHARE[name]))
        )
        warmup = max(3, min(timing.warmup, reps // 5))
        ns = time_calls(step, inputs, reps, warmup)
        summary = summarize_ns(ns)
        summary["digits_per_s"] = 1e9 / float(ns.mean())
        result["paths"][name] = summary
        samples[f"latency_ns_{name}"] = ns

    # Throughput and accuracy: predict on all test digits in batches.
    xb = np.ascontiguousarray(x, dtype=np.float32)
    model.predict(xb[:PREDICT_BATCH], batch_size=PREDICT_BATCH, verbose=0)  # warm-up
    times, logits = [], None
    for _ in range(3):
        t0 = time.perf_counter()
        logits = model.predict(xb, batch_size=PREDICT_BATCH, verbose=0)
        times.append(time.perf_counter() - t0)
    batch_s = float(np.median(times))
    preds = np.asarray(logits).argmax(axis=1)
    result["paths"]["predict_batch"] = {
        "batch_size": PREDICT_BATCH,
        "pass_s": batch_s,
        "digits_per_s": len(xb) / batch_s,
        "batch_ms": batch_s * 1e3 / max(1, int(np.ceil(len(xb) / PREDICT_BATCH))),
    }
    result["accuracy"] = float((preds == y).mean())
    samples["preds"] = preds.astype(np.int8)
    samples["logits"] = np.asarray(logits, dtype=np.float32)
    result["loaded_rss_mb"] = loaded_rss
    result["peak_rss_mb"] = peak_rss_mb()  # before the ONNX conversion, which is not Keras' cost

    if spec.get("onnx_out"):
        from benchmarks.onnx_bench import convert_to_onnx

        try:
            result["onnx"] = convert_to_onnx(model, spec["onnx_out"])
        except Exception as exc:  # noqa: BLE001 - the report says why the ONNX row is missing
            result["onnx"] = {"error": f"{type(exc).__name__}: {exc}"}

    if spec.get("paired_tflite") and threads == 1:
        result["paired"] = _paired(spec, compiled_fn, tensor_inputs, numpy_inputs, result.get("onnx"))
    return result, samples


def _paired(spec: dict, compiled_fn, tensor_inputs: list, numpy_inputs: list, onnx: dict | None) -> dict:
    """The default TFLite model, tf.function and ONNX Runtime timed in alternating rounds here."""
    from benchmarks.models_bench import tflite_step
    from benchmarks.paired_bench import QUICK_PAIRED, PairedOptions, measure_paired
    from edge_runtime.classifier import DigitClassifier

    options = QUICK_PAIRED if spec.get("quick") else PairedOptions()
    clf = DigitClassifier(spec["paired_tflite"], num_threads=1)
    contenders = {
        "tflite": (tflite_step(clf), [clf.quantize_input(a) for a in numpy_inputs], options.tflite_reps),
        "keras_function": (lambda t: compiled_fn(t).numpy(), tensor_inputs, options.keras_reps),
    }
    if onnx and "error" not in onnx and spec.get("onnx_out"):
        from benchmarks.onnx_bench import onnx_step, session

        sess = session(spec["onnx_out"], 1)
        name = sess.get_inputs()[0].name
        contenders["onnx"] = (onnx_step(sess), [{name: a} for a in numpy_inputs], options.onnx_reps)
    out = measure_paired(contenders, options)
    out["tflite_model"] = spec["paired_tflite"]
    return out
