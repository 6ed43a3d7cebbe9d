"""Figures derived from the measured rows: ratios against Keras, the verdicts on the bars,
the manifest cross-check and the plain-words quantization costs."""

from __future__ import annotations

from benchmarks.rows import BenchRow, default_row, find_row

TARGETS = {"function": 20.0, "predict": 300.0}
"""Speed-up of the default model over these Keras paths that the project promises."""


def add_ratios(rows: list[BenchRow]) -> None:
    """Speed (1-thread median vs the Keras path's best median) and size ratios against Keras."""
    func, pred = find_row(rows, "keras function"), find_row(rows, "keras predict")
    keras_size = func.size_bytes if func else None
    # The Keras rows are the default model's network: other architectures get no ratios against it.
    base = default_row(rows)
    base_arch = base.arch if base else None
    for r in rows:
        if r.arch not in (None, base_arch):
            continue
        mine = r.p50("1")
        if mine and r.kind != "keras":
            if func and func.best_p50():
                r.speedup_vs_keras_function = func.best_p50() / mine
            if pred and pred.best_p50():
                r.speedup_vs_keras_predict = pred.best_p50() / mine
        if keras_size and r.size_bytes:
            r.size_ratio_vs_keras = r.size_bytes / keras_size


def headline(rows: list[BenchRow], all_threads: str, paired: dict | None = None) -> dict:
    """The default model against the bars: tf.function x20, predict x300, ONNX Runtime.

    Where the side-by-side pass (benchmarks.paired_bench) ran, the tf.function and the
    1-thread ONNX verdicts are taken from it: its ratios are measured under the same
    machine state, the table's come from processes run at different moments.
    """
    side = (paired or {}).get("ratio_vs_tflite", {})
    default = default_row(rows)
    if default is None or default.p50("1") is None:
        return {}
    out: dict = {
        "default": default.name,
        "default_p50_us_1_thread": default.p50("1"),
        "default_accuracy": default.accuracy,
    }
    for path, target in TARGETS.items():
        k = find_row(rows, f"keras {path}")
        if k and k.best_p50():
            ratio = k.best_p50() / default.p50("1")
            v = {"ratio": ratio, "target": target, "met": ratio >= target, "keras_p50_us": k.best_p50()}
            if path == "function" and "keras_function" in side:
                v.update(side_by_side=side["keras_function"], met=side["keras_function"] >= target)
            out[f"speedup_vs_keras_{path}"] = v
    onnx = find_row(rows, "onnx-runtime")
    for t in dict.fromkeys(("1", all_threads)) if onnx else ():
        if onnx.p50(t) and default.p50(t):
            v = {
                "default_p50_us": default.p50(t),
                "onnx_p50_us": onnx.p50(t),
                "ratio": onnx.p50(t) / default.p50(t),
                "met": default.p50(t) < onnx.p50(t),
            }
            if t == "1" and "onnx" in side:
                v.update(side_by_side=side["onnx"], met=side["onnx"] > 1.0)
            out[f"vs_onnx_{t}_threads"] = v
    return out


def manifest_check(rows: list[BenchRow], manifest: dict, test_images: int) -> dict:
    """Do the accuracies measured here equal the ones the export recorded (same images)?"""
    entries = {e["name"]: e for e in manifest.get("models", [])}
    checked, mismatched = [], []
    for r in rows:
        e = entries.get(r.name)
        if r.kind != "tflite" or e is None or e.get("test_accuracy") is None:
            continue
        if int(e["test_images"]) != test_images:
            continue
        checked.append(r.name)
        if abs(r.accuracy - e["test_accuracy"]) > 0.5 / test_images:
            mismatched.append({"model": r.name, "measured": r.accuracy, "manifest": e["test_accuracy"]})
    return {"checked": checked, "mismatched": mismatched}


def _float_twin(r: BenchRow, tflite: list[BenchRow]) -> BenchRow | None:
    """The float32 file of the same graph and architecture as ``r``."""
    return next(
        (f for f in tflite if f.quantization == "float32" and f.graph == r.graph and f.arch == r.arch), None
    )


def quantization_costs(rows: list[BenchRow]) -> list[str]:
    """Plain sentences where a quantized model is slower (or faster) than float32 of its graph."""
    lines = []
    tflite = [r for r in rows if r.kind == "tflite" and r.p50("1")]
    for r in tflite:
        ref = _float_twin(r, tflite) if r.quantization != "float32" else None
        if ref is None:
            continue
        speed = r.p50("1") / ref.p50("1")
        if speed > 1.25:
            why = (
                "its integer kernel is slower than the float one here"
                if r.quantization == "int8"
                else "converting its weights back to float costs more than it saves here"
            )
            lines.append(
                f"**{r.name}** ({r.quantization}, {r.graph} graph) is {speed:.1f}x "
                f"*slower* than {ref.name} (float32) on this CPU ({r.p50('1'):.0f} vs "
                f"{ref.p50('1'):.0f} us): {why}; this quantization buys size, not speed."
            )
        elif speed < 0.8:
            lines.append(
                f"**{r.name}** ({r.quantization}) is {1 / speed:.1f}x faster than {ref.name} (float32)."
            )
    return lines
