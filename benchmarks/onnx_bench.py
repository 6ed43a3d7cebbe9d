"""The peer a user would pick instead: the same Keras network run by ONNX Runtime.

Not shipped; benchmark comparison only. :func:`convert_to_onnx` runs in the Keras
child (it needs TensorFlow and tf2onnx); :func:`measure_onnx` runs in its own
child with no TensorFlow loaded, timed by the same harness as the TFLite models:
``session.run`` on one (1, 28, 28) float32 digit per call, inputs pre-built.

    python -m benchmarks          # includes the ONNX row unless --edge-only

tf2onnx, TensorFlow and onnxruntime are imported inside the functions on purpose: every
measurement child imports this module, and a TFLite child (or a Pi without them) must not
load them.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from benchmarks.harness import ChildSpec, TimingOptions, current_rss_mb, summarize_ns, time_calls

OPSET = 17


def convert_to_onnx(model, path: str | Path, opset: int = OPSET) -> dict:
    """tf_keras model -> ONNX file with input "rows" (None, 28, 28) float32; returns a record."""
    import tf2onnx

    from training.tfkeras import tf

    t0 = time.perf_counter()
    signature = (tf.TensorSpec([None, 28, 28], tf.float32, name="rows"),)
    tf2onnx.convert.from_keras(model, input_signature=signature, opset=opset, output_path=str(path))
    return {
        "path": str(path),
        "opset": opset,
        "convert_s": time.perf_counter() - t0,
        "tf2onnx": tf2onnx.__version__,
        "size_bytes": Path(path).stat().st_size,
    }


def session(path: str, threads: int):
    """An ONNX Runtime CPU session pinned to ``threads`` intra-op threads, run sequentially."""
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    return ort.InferenceSession(path, sess_options=opts, providers=["CPUExecutionProvider"])


def onnx_step(sess):
    """One prepared feed dict through ``sess``, everything pre-bound (as DigitClassifier.step)."""
    run = sess.run
    out_names = [sess.get_outputs()[0].name]

    def step(feed):
        return run(out_names, feed)

    return step


def measure_onnx(spec: ChildSpec, x: np.ndarray, y: np.ndarray, timing: TimingOptions) -> tuple[dict, dict]:
    """Load time, accuracy (batch 1 per digit) and batch-1 latency per thread count."""
    import onnxruntime  # noqa: F401 - imported before the clock starts, as TFLite's runtime is

    t0 = time.perf_counter()
    sess = session(spec["path"], 1)
    load_ms = (time.perf_counter() - t0) * 1e3
    in_name = sess.get_inputs()[0].name

    step = onnx_step(sess)
    x = np.ascontiguousarray(x, dtype=np.float32)
    step({in_name: x[:1]})
    loaded_rss = current_rss_mb()  # runtime imported, model loaded, one digit run
    for i in range(min(timing.warmup, len(x))):  # warm-up before the timed accuracy pass
        step({in_name: x[i : i + 1]})
    preds = np.empty(len(x), dtype=np.int8)
    t0 = time.perf_counter()
    for i in range(len(x)):  # batch 1 per digit, as on the device
        preds[i] = step({in_name: x[i : i + 1]})[0].argmax()
    pass_s = time.perf_counter() - t0

    result = {
        "load_ms": load_ms,
        "accuracy": float((preds == y).mean()),
        "digits_per_s": len(x) / pass_s,
        "latency": {},
    }
    samples = {"preds": preds}
    feeds = [{in_name: x[i : i + 1]} for i in range(min(timing.latency_images, len(x)))]
    for threads in timing.threads:
        runner = sess if threads == 1 else session(spec["path"], threads)
        ns = time_calls(onnx_step(runner), feeds, timing.reps, timing.warmup)
        result["latency"][str(threads)] = summarize_ns(ns)
        samples[f"latency_ns_{threads}"] = ns
    result["loaded_rss_mb"] = loaded_rss
    return result, samples
