"""Turn a BenchResult into report.md (for people), report.json (for programs) and PNG plots.

Every figure in report.md comes from report.json's numbers; plots use matplotlib's
Agg backend and are skipped with a note where matplotlib is not installed (a bare
Raspberry Pi install).

    python -m benchmarks --out /tmp/report     # writes /tmp/report/report.md etc.
"""

from __future__ import annotations

import json
import math
import shlex
import sys
from pathlib import Path

import numpy as np

TARGETS = {"function": 20.0, "predict": 300.0}
"""Speed-up of the default model over these Keras paths that the project promises."""
PLOTS = {
    "latency": "latency.png",
    "accuracy_size": "accuracy_vs_size.png",
    "confusion": "confusion_default.png",
    "pipeline": "pipeline_stages.png",
}


# ---------------------------------------------------------------- figures


def p50(row: dict, threads: str) -> float | None:
    lat = row.get("latency", {}).get(threads)
    return lat["p50_us"] if lat else None


def best_p50(row: dict | None) -> float | None:
    """Fastest median over the thread settings measured (the Keras path at its best)."""
    if not row or not row.get("latency"):
        return None
    return min(v["p50_us"] for v in row["latency"].values())


def find_row(rows: list[dict], name: str) -> dict | None:
    return next((r for r in rows if r["name"] == name), None)


def add_ratios(rows: list[dict]) -> None:
    """Speed (1-thread median vs the Keras path's best median) and size ratios against Keras."""
    func, pred = find_row(rows, "keras function"), find_row(rows, "keras predict")
    keras_size = func["size_bytes"] if func else None
    # The Keras rows are the default model's network: other architectures get no ratios against it.
    base_arch = next((r.get("arch") for r in rows if r.get("default")), None)
    for r in rows:
        if r.get("arch") not in (None, base_arch):
            continue
        mine = p50(r, "1")
        if mine and r.get("kind") != "keras":
            if best_p50(func):
                r["speedup_vs_keras_function"] = best_p50(func) / mine
            if best_p50(pred):
                r["speedup_vs_keras_predict"] = best_p50(pred) / mine
        if keras_size and r.get("size_bytes"):
            r["size_ratio_vs_keras"] = r["size_bytes"] / keras_size


def headline(rows: list[dict], all_threads: str, paired: dict | None = None) -> dict:
    """The default model against the bars: tf.function x20, predict x300, ONNX Runtime.

    Where the side-by-side pass (benchmarks.paired_bench) ran, the tf.function and the
    1-thread ONNX verdicts are taken from it: its ratios are measured under the same
    machine state, the table's come from processes run at different moments.
    """
    side = (paired or {}).get("ratio_vs_tflite", {})
    out: dict = {}
    default = next((r for r in rows if r.get("default")), None)
    if default is None or p50(default, "1") is None:
        return out
    out["default"] = default["name"]
    out["default_p50_us_1_thread"] = p50(default, "1")
    out["default_accuracy"] = default.get("accuracy")
    for path, target in TARGETS.items():
        k = find_row(rows, f"keras {path}")
        if best_p50(k):
            ratio = best_p50(k) / p50(default, "1")
            out[f"speedup_vs_keras_{path}"] = {
                "ratio": ratio,
                "target": target,
                "met": ratio >= target,
                "keras_p50_us": best_p50(k),
            }
            if path == "function" and "keras_function" in side:
                out[f"speedup_vs_keras_{path}"].update(
                    side_by_side=side["keras_function"], met=side["keras_function"] >= target
                )
    onnx = find_row(rows, "onnx-runtime")
    if onnx:
        for t in ("1", all_threads):
            if p50(onnx, t) and p50(default, t):
                out[f"vs_onnx_{t}_threads"] = {
                    "default_p50_us": p50(default, t),
                    "onnx_p50_us": p50(onnx, t),
                    "ratio": p50(onnx, t) / p50(default, t),
                    "met": p50(default, t) < p50(onnx, t),
                }
                if t == "1" and "onnx" in side:
                    out["vs_onnx_1_threads"].update(side_by_side=side["onnx"], met=side["onnx"] > 1.0)
    return out


def manifest_check(rows: list[dict], manifest: dict, test_images: int) -> dict:
    """Do the accuracies measured here equal the ones the export recorded (same images)?"""
    entries = {e["name"]: e for e in manifest.get("models", [])}
    checked, mismatched = [], []
    for r in rows:
        e = entries.get(r["name"])
        if r.get("kind") != "tflite" or e is None or e.get("test_accuracy") is None:
            continue
        if int(e.get("test_images", 10000)) != test_images:
            continue
        checked.append(r["name"])
        if abs(r["accuracy"] - e["test_accuracy"]) > 0.5 / test_images:
            mismatched.append({"model": r["name"], "measured": r["accuracy"], "manifest": e["test_accuracy"]})
    return {"checked": checked, "mismatched": mismatched}


def quantization_costs(rows: list[dict]) -> list[str]:
    """Plain sentences where a quantized model is slower (or not smaller) than float32 of its graph."""
    lines = []
    tflite = [r for r in rows if r.get("kind") == "tflite" and p50(r, "1")]
    for r in tflite:
        if r["quantization"] == "float32":
            continue
        ref = next(
            (
                f
                for f in tflite
                if f["quantization"] == "float32"
                and f.get("graph") == r.get("graph")
                and f.get("arch") == r.get("arch")
            ),
            None,
        )
        if ref is None:
            continue
        speed = p50(r, "1") / p50(ref, "1")
        if speed > 1.25:
            why = (
                "its integer kernel is slower than the float one here"
                if r["quantization"] in ("int8", "int16x8")
                else "converting its weights back to float costs more than it saves here"
            )
            lines.append(
                f"**{r['name']}** ({r['quantization']}, {r.get('graph')} graph) is {speed:.1f}x "
                f"*slower* than {ref['name']} (float32) on this CPU ({p50(r, '1'):.0f} vs "
                f"{p50(ref, '1'):.0f} us): {why}; this quantization buys size, not speed."
            )
        elif speed < 0.8:
            lines.append(
                f"**{r['name']}** ({r['quantization']}) is {1 / speed:.1f}x faster than {ref['name']} (float32)."
            )
    return lines


# ---------------------------------------------------------------- markdown helpers


def fmt_us(us: float | None) -> str:
    if us is None or (isinstance(us, float) and math.isnan(us)):
        return "-"
    if us >= 10_000:
        return f"{us / 1000:.1f} ms"
    if us >= 100:
        return f"{us:.0f} us"
    return f"{us:.1f} us"


def fmt_lat(row: dict, threads: str) -> str:
    lat = row.get("latency", {}).get(threads)
    if not lat:
        batch = row.get("batch", {}).get(threads)
        return f"{batch['batch_ms']:.0f} ms per 1000" if batch else "-"
    if lat["p50_us"] >= 10_000:
        return f"{lat['p50_us'] / 1e3:.1f} / {lat['p90_us'] / 1e3:.1f} / {lat['p99_us'] / 1e3:.1f} ms"
    return f"{lat['p50_us']:.1f} / {lat['p90_us']:.1f} / {lat['p99_us']:.1f} us"


def fmt_x(v: float | None, digits: int = 1) -> str:
    if v is None:
        return "-"
    return f"{v:,.0f}x" if v >= 100 else f"{v:.{digits}f}x"


def fmt_pct(v: float | None, digits: int = 2) -> str:
    return "-" if v is None else f"{100 * v:.{digits}f}%"


def table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines)


def models_table(rows: list[dict], all_threads: str) -> str:
    header = [
        "model",
        "format",
        "quantization",
        "size",
        "accuracy",
        "agrees with Keras",
        "p50 / p90 / p99, 1 thread",
        f"p50 / p90 / p99, {all_threads} threads",
        "digits/s",
        "load",
        "memory: runtime+model / peak",
        "faster than Keras tf.function",
        "faster than Keras predict",
        "size vs Keras",
    ]
    out = []
    for r in rows:
        name = f"**{r['name']}** (default)" if r.get("default") else r["name"]
        if not r.get("shipped"):
            name += " (not shipped)"
        agreement = r.get("agreement")
        agree_txt = (
            fmt_pct(agreement)
            if agreement is not None
            else (
                f"{fmt_pct(r['manifest_agreement'])} (manifest)"
                if r.get("manifest_agreement") is not None
                else "-"
            )
        )
        if r.get("kind") == "keras":
            agree_txt = "(reference)"
        out.append(
            [
                name,
                r.get("format", "-"),
                r.get("quantization", "-"),
                f"{r['size_bytes'] / 1024:.0f} KB" if r.get("size_bytes") else "-",
                fmt_pct(r.get("accuracy")),
                agree_txt,
                fmt_lat(r, "1"),
                fmt_lat(r, all_threads) if all_threads != "1" else "-",
                f"{r['digits_per_s']:,.0f}" if r.get("digits_per_s") else "-",
                f"{r['load_ms']:.0f} ms" if r.get("load_ms") is not None else "-",
                f"{r['model_rss_mb']:.0f} / {r['peak_rss_mb']:.0f} MB" if r.get("peak_rss_mb") else "-",
                fmt_x(r.get("speedup_vs_keras_function")),
                fmt_x(r.get("speedup_vs_keras_predict")),
                f"{r['size_ratio_vs_keras']:.2f}" if r.get("size_ratio_vs_keras") else "-",
            ]
        )
    # Drop columns nothing was measured for (e.g. the Keras ratios in an --edge-only run).
    keep = [i for i in range(len(header)) if any(row[i] != "-" for row in out)]
    return table([header[i] for i in keep], [[row[i] for i in keep] for row in out])


def pipeline_table(pipeline: dict, which: str, default: str | None) -> str:
    header = [
        "model",
        "decode",
        "find",
        "normalize",
        "classify",
        "total (median)",
        "frames/s",
        "digits read correctly",
        "images read exactly",
    ]
    out = []
    for name, entry in pipeline.get("models", {}).items():
        s = entry.get(which)
        if not s:
            continue
        st = s["stage_ms"]
        label = f"**{name}** (default)" if name == default else name
        out.append(
            [label]
            + [f"{st[k]:.2f} ms" for k in ("decode", "find", "normalize", "classify")]
            + [
                f"{s['total_ms']:.1f} ms",
                f"{s['fps']:.1f}",
                f"{fmt_pct(s['digit_accuracy'], 1)} of {s['digits_total']}",
                f"{fmt_pct(s['image_accuracy'], 0)} of {s['images']}",
            ]
        )
    return table(header, out)


# ---------------------------------------------------------------- plots


def group_of(row: dict) -> str:
    """Legend group of a row: the TFLite network and graph, or the Keras / ONNX peer."""
    if row.get("kind") == "keras":
        return "Keras (.keras file)"
    if row.get("kind") == "onnx":
        return "ONNX Runtime"
    return f"{row.get('arch', '?')} {row.get('graph', '')}".strip()


def make_plots(result, out: Path, all_threads: str) -> tuple[dict[str, str], list[str]]:
    """PNG name per plot that was drawn, and notes for any that were not."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        import matplotlib.ticker
    except ImportError:
        return {}, ["plots skipped: matplotlib is not installed (pip install matplotlib)"]
    drawn, notes = {}, []
    rows = result.rows

    # 1. latency distribution per model, one thread, log scale
    names, data = [], []
    for r in rows:
        samples = result.latency_samples.get(r["name"], {}).get("1")
        if samples is not None and len(samples):
            names.append(r["name"] + (" *" if r.get("default") else ""))
            data.append(np.asarray(samples) / 1e3)
    if data:
        fig, ax = plt.subplots(figsize=(9, 0.45 * len(data) + 1.5))
        ax.boxplot(data, vert=False, whis=(1, 99), showfliers=False, tick_labels=names)
        ax.invert_yaxis()  # same order as the models table
        ax.set_xscale("log")
        ax.set_xlabel("latency per digit, microseconds (log scale; whiskers p1-p99)")
        ax.set_title("Batch-1 latency, one thread (* = default model)")
        ax.grid(axis="x", which="both", alpha=0.3)
        fig.tight_layout()
        fig.savefig(out / PLOTS["latency"], dpi=110)
        plt.close(fig)
        drawn["latency"] = PLOTS["latency"]

    # 2. accuracy against size: colour = network, marker = quantization (legends), default and peers named
    pts = [
        r
        for r in rows
        if r.get("accuracy") is not None and r.get("size_bytes") and r.get("keras_path") in (None, "function")
    ]
    if pts:
        from matplotlib.lines import Line2D

        markers = {"float32": "o", "float16": "s", "dynamic_int8": "^", "int8": "D", "int16x8": "v"}
        groups = list(dict.fromkeys(group_of(r) for r in pts))
        colours = {g: plt.get_cmap("tab10")(i % 10) for i, g in enumerate(groups)}
        fig, ax = plt.subplots(figsize=(8, 5))
        for r in pts:
            xy = (r["size_bytes"] / 1024, 100 * r["accuracy"])
            ax.scatter(
                *xy,
                color=colours[group_of(r)],
                marker=markers.get(r["quantization"], "o"),
                s=70,
                edgecolors="black" if r.get("default") else "none",
                linewidths=1.5,
                zorder=3,
            )
            if r.get("default"):
                ax.annotate(
                    f"{r['name']} (default)", xy, textcoords="offset points", xytext=(8, -12), fontsize=8
                )
        handles = [Line2D([], [], color=colours[g], marker="o", ls="", label=g) for g in groups]
        handles += [
            Line2D([], [], color="grey", marker=m, ls="", label=q)
            for q, m in markers.items()
            if any(r["quantization"] == q for r in pts)
        ]
        ax.legend(handles=handles, fontsize=7, loc="best", ncol=2)
        ax.set_xscale("log")
        ax.xaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda v, _: f"{v:g}"))
        ax.xaxis.set_minor_formatter(
            matplotlib.ticker.FuncFormatter(lambda v, _: f"{v:g}" if str(int(v))[0] in "25" else "")
        )
        ax.set_xlabel("file size, KB (log scale)")
        ax.set_ylabel("MNIST test accuracy, %")
        ax.set_title("Accuracy against size (colour: network, marker: quantization, outlined: default)")
        ax.title.set_fontsize(10)
        ax.grid(alpha=0.3)
        fig.tight_layout()
        fig.savefig(out / PLOTS["accuracy_size"], dpi=110)
        plt.close(fig)
        drawn["accuracy_size"] = PLOTS["accuracy_size"]

    # 3. the default model's confusion matrix
    if result.confusion:
        m = np.asarray(result.confusion["matrix"])
        fig, ax = plt.subplots(figsize=(5.5, 5))
        ax.imshow(np.log1p(m), cmap="Blues")
        for i in range(10):
            for j in range(10):
                if m[i, j]:
                    ax.text(
                        j,
                        i,
                        str(m[i, j]),
                        ha="center",
                        va="center",
                        fontsize=7,
                        color="white" if i == j else "black",
                    )
        ax.set_xticks(range(10))
        ax.set_yticks(range(10))
        ax.set_xlabel("predicted")
        ax.set_ylabel("true")
        ax.set_title(f"{result.confusion['model']}: MNIST test confusion")
        fig.tight_layout()
        fig.savefig(out / PLOTS["confusion"], dpi=110)
        plt.close(fig)
        drawn["confusion"] = PLOTS["confusion"]

    # 4. pipeline time per stage, stacked
    bars = []
    for name, entry in result.pipeline.get("models", {}).items():
        for which in ("frames", "photos"):
            if which in entry and entry[which]["images"]:
                bars.append((f"{name} ({which})", entry[which]["stage_ms"]))
    if bars:
        from benchmarks.pipeline_bench import STAGES

        bars.sort(key=lambda b: "photos" in b[0])  # all frame bars, then all photo bars
        fig, ax = plt.subplots(figsize=(8, 0.42 * len(bars) + 1.6))
        left = np.zeros(len(bars))
        for stage in STAGES:
            vals = np.array([b[1][stage] for b in bars])
            ax.barh(range(len(bars)), vals, left=left, label=stage)
            left += vals
        ax.set_yticks(range(len(bars)))
        ax.set_yticklabels([b[0] for b in bars], fontsize=8)
        ax.invert_yaxis()
        ax.set_xlabel("ms per image (median per stage)")
        ax.set_title("Pipeline time per stage, one thread")
        ax.legend(loc="lower right", fontsize=8)
        fig.tight_layout()
        fig.savefig(out / PLOTS["pipeline"], dpi=110)
        plt.close(fig)
        drawn["pipeline"] = PLOTS["pipeline"]
    return drawn, notes


# ---------------------------------------------------------------- the report


def build_json(result, all_threads: str, plots: dict) -> dict:
    rows = [{k: v for k, v in r.items() if k != "preds"} for r in result.rows]
    return {
        "schema": 1,
        "machine": result.machine,
        "options": result.options,
        "seconds": result.seconds,
        "default_model": result.manifest.get("default"),
        "all_cores_threads": int(all_threads),
        "models": rows,
        "summary": headline(rows, all_threads, result.paired),
        "paired": result.paired,
        "quantization_costs": quantization_costs(rows),
        "manifest_accuracy_check": manifest_check(rows, result.manifest, int(result.options["test_images"])),
        "pipeline": result.pipeline,
        "startup": result.startup,
        "confusion_default": result.confusion,
        "plots": plots,
        "notes": result.notes,
    }


def edge_targets(report: dict) -> list[str]:
    """Summary lines for the edge program's own targets: frame budget, start-up, memory."""
    lines = []
    frames = ((report["pipeline"].get("models") or {}).get(report["default_model"]) or {}).get("frames")
    if frames and frames.get("process_ms") == frames.get("process_ms"):  # not NaN
        n = report["options"]["pipeline"]["digits_per_frame"]
        ms = frames["process_ms"]
        lines.append(
            f"640x480 frame with {n} digits, default model, one thread: find + normalize + classify "
            f"{ms:.1f} ms (median; fastest {frames['process_ms_min']:.1f} ms); target <= 5 ms: "
            f"{'met' if ms <= 5 else '**NOT met**'}."
        )
    for s in report.get("startup") or []:
        ok = s["wall_ms_median"] < 1500 and s["peak_rss_mb"] < 150
        lines.append(
            f"Edge program from launch to the result for {Path(s['image']).name}: {s['wall_ms_median']:.0f} ms "
            f"(median of {s['runs']}), peak memory {s['peak_rss_mb']:.0f} MB; targets < 1.5 s and < 150 MB: "
            f"{'met' if ok else '**NOT met**'}."
        )
    return lines


def render_markdown(report: dict, command: str) -> str:
    m, o, rows = report["machine"], report["options"], report["models"]
    t = str(report["all_cores_threads"])
    edge_only = bool(o.get("edge_only"))
    lines = ["# Benchmark report", ""]
    if o.get("quick"):
        lines += [
            "> **Quick smoke run** (few images and repetitions): the numbers below prove the benchmark "
            "works; do not quote them. Run `make bench` for the real report.",
            "",
        ]
    lines += [f"Generated {m['date_utc']} by `{command}` in {report['seconds']:.0f} s.", ""]
    load = (m.get("load_average_at_start") or [0.0])[0]
    if load > 0.5 * (m["cores"]["usable"] or 1):
        lines += [
            f"> **The machine was busy** (load average {load:.1f} on {m['cores']['usable']} cores at the "
            "start): timings are noisy and ratios may be off; re-run on a quiet machine before quoting them.",
            "",
        ]

    lines += ["## Summary", ""]
    s = report["summary"]
    if s:
        d = find_row(rows, s["default"])
        lines.append(
            f"- Default model (from models/manifest.json): **{s['default']}** — "
            f"{d.get('quantization')} {d.get('format')}, {d['size_bytes'] / 1024:.0f} KB, "
            f"{fmt_pct(s['default_accuracy'])} on {o['test_images']} MNIST test digits, "
            f"{fmt_us(s['default_p50_us_1_thread'])} per digit (median, 1 thread)."
        )
        for path, label in (
            ("function", "compiled tf.function call (Keras' fastest single-image path)"),
            ("predict", "`model.predict` on one image"),
        ):
            v = s.get(f"speedup_vs_keras_{path}")
            if v:
                side = (
                    f"; side by side in one process {fmt_x(v['side_by_side'])}" if "side_by_side" in v else ""
                )
                lines.append(
                    f"- {fmt_x(v['ratio'])} faster than the Keras model's {label} "
                    f"({fmt_us(v['keras_p50_us'])}, separate processes{side}); target >= {v['target']:.0f}x: "
                    f"{'met' if v['met'] else '**NOT met**'}."
                )
        for key, v in s.items():
            if key.startswith("vs_onnx_"):
                th = key.split("_")[2]
                verdict = "faster" if v["met"] else "**slower**"
                side = (
                    f"; side by side in one process ONNX/default = {v['side_by_side']:.2f}"
                    if "side_by_side" in v
                    else ""
                )
                lines.append(
                    f"- {th} thread{'s' if th != '1' else ''}: {verdict} than ONNX Runtime on the same "
                    f"network ({fmt_us(v['default_p50_us'])} vs {fmt_us(v['onnx_p50_us'])}, "
                    f"ONNX/default = {v['ratio']:.2f}{side})."
                )
    else:
        lines.append("- No default model was measured (see Notes).")
    pr = report.get("paired") or {}
    if pr.get("p50_us"):
        names = {"tflite": "default TFLite", "keras_function": "Keras tf.function", "onnx": "ONNX Runtime"}
        lines.append(
            f"- Side by side (one process, one thread, {pr['rounds']} alternating rounds, median of round "
            "medians): "
            + ", ".join(f"{names.get(k, k)} {fmt_us(v)}" for k, v in pr["p50_us"].items())
            + ". The separate-process table below drifts with the machine's speed between runs; the "
            "verdicts above use these side-by-side ratios where they exist."
        )
    lines += [f"- {line}" for line in edge_targets(report)]
    for q in report["quantization_costs"]:
        lines.append(f"- {q}")
    mc = report["manifest_accuracy_check"]
    if mc["checked"] and not mc["mismatched"]:
        lines.append(
            f"- Test accuracy measured here equals models/manifest.json's export-time figure for all "
            f"{len(mc['checked'])} shipped models (same {o['test_images']} images)."
        )
    for mm in mc["mismatched"]:
        lines.append(
            f"- **{mm['model']}: measured accuracy {fmt_pct(mm['measured'])} differs from the manifest's "
            f"{fmt_pct(mm['manifest'])}**: the file or the runtime changed since export; re-run make export."
        )
    lines.append("")

    lines += ["## Models", "", models_table(rows, t), ""]
    lines += [
        "How to read it:",
        f"- **accuracy**: top-1 on the first {o['test_images']} images of the MNIST test set "
        "(TFLite through `edge_runtime.classifier.DigitClassifier.logits`, ONNX by `session.run`, one digit per call; "
        "Keras by `predict` at batch 1000). **agrees with Keras**: share of those digits where the top-1 class "
        "equals the Keras model's; '(manifest)' marks the export-time figure against the model's own Keras "
        "network, shown where this run has no Keras rows or the model is another architecture.",
        "- **latency**: median / 90th / 99th percentile of single-digit calls "
        f"({o['timing']['reps']} timed calls after {o['timing']['warmup']} warm-up calls, cycling through "
        f"{o['timing']['latency_images']} test digits, `time.perf_counter_ns` around each call). TFLite: "
        "`reset_all_variables()` (fused LSTM only) + `set_tensor` + `invoke` + `get_tensor`, the path the runtime "
        "uses per digit, input already in the model's dtype. ONNX Runtime: `session.run` on a (1, 28, 28) float32. "
        "Keras: `predict`, `model(x)` and a compiled `tf.function` on the same digits; TensorFlow's thread pools "
        "are fixed per column.",
        "- **digits/s**: TFLite and ONNX: the whole accuracy pass, one digit at a time on one thread; Keras "
        f"single-image rows: 1 / mean latency; Keras batch row: all {o['test_images']} test digits at batch "
        "1000 (median of 3 passes; TensorFlow with the most threads measured).",
        "- **load**: constructing the interpreter/session/model (imports excluded). **memory**: each model is "
        "measured in a fresh process; *runtime+model* is the resident memory added by importing the runtime, "
        "loading the model and running one digit; *peak* is the process's peak resident memory (VmHWM), "
        f"which also holds Python, numpy and the benchmark's own {o['test_images']} x 28 x 28 float32 inputs "
        "and outputs.",
        "- **faster than Keras ...**: the Keras path's best median over thread settings divided by this model's "
        "1-thread median. **size vs Keras**: file size / the .keras file's size. The Keras rows are the default "
        "model's network, so these ratios are given for that architecture (and its ONNX twin) only.",
        "",
    ]
    if edge_only:
        lines += [
            "Edge-only run: no Keras or ONNX rows; 'agrees with Keras' is the manifest's export-time figure.",
            "",
        ]

    pipe = report["pipeline"]
    lines += ["## Pipeline on frames", ""]
    if pipe.get("models"):
        popt = o["pipeline"]
        lines += [
            f"Decode (`edge_runtime.imageio.load_image`) + `DigitReader.read` (find, normalize, classify) "
            f"with each shipped model on one thread; median ms per image over {popt['reps']} timed read(s) of "
            "each image after one warm-up; frames/s = 1000 / median total. Digits read correctly = "
            "sum(max(0, len(label) - edit distance)) / sum(len(label)) (as `edge_runtime.evaluate`); "
            "reader threshold 0 (best guess shown).",
            "",
        ]
        if pipe.get("frames"):
            lines += [
                f"### Synthetic camera frames ({pipe['frames']} frames, 640x480 JPEG, "
                f"{popt['digits_per_frame']} MNIST test digits in {popt['rows']} rows each, seed {popt['seed']})",
                "",
                pipeline_table(pipe, "frames", report["default_model"]),
                "",
            ]
        if pipe.get("photos"):
            lines += [
                f"### Real photos ({pipe['photos']} labelled images from DIGITS_PHOTOS_DIR)",
                "",
                pipeline_table(pipe, "photos", report["default_model"]),
                "",
            ]
    else:
        lines += ["Not measured (see Notes).", ""]

    if report.get("startup"):
        lines += [
            "## Edge program: start-up and memory",
            "",
            "`python -m edge_runtime image IMAGE --json` with the default model, launched fresh each time: "
            "wall time from launch to exit (Python start, imports, model load, decode, find, normalize, "
            "classify, output) and the process's peak resident memory (VmHWM).",
            "",
            table(
                ["image", "launches", "wall time median (min-max)", "peak memory", "read"],
                [
                    [
                        Path(s["image"]).name,
                        str(s["runs"]),
                        f"{s['wall_ms_median']:.0f} ms ({s['wall_ms_min']:.0f}-{s['wall_ms_max']:.0f})",
                        f"{s['peak_rss_mb']:.0f} MB",
                        f"`{s['text']}`",
                    ]
                    for s in report["startup"]
                ],
            ),
            "",
        ]

    plots = report["plots"]
    if plots:
        lines += ["## Plots", ""]
        titles = {
            "latency": "Latency per digit, one thread",
            "accuracy_size": "Accuracy against size",
            "confusion": "Default model's confusion matrix",
            "pipeline": "Pipeline time per stage",
        }
        for key, file in plots.items():
            lines += [f"### {titles[key]}", "", f"![{titles[key]}]({file})", ""]

    lines += [
        "## Machine and settings",
        "",
        f"- CPU: {m['cpu']} ({m['arch']}), {m['cores']['logical']} logical cores "
        f"({m['cores']['usable']} usable); all-cores columns use {t} threads",
        f"- OS: {m['os']}; Python {m['python']}",
        "- Libraries: " + ", ".join(f"{k} {v}" for k, v in m["versions"].items() if k != "python"),
        f"- Load average at start: {m.get('load_average_at_start')} (other work on the machine makes timings noisy)",
        f"- Test set: {o['test_images']} MNIST test images (data sha256 {o.get('data_sha256', '?')[:16]}...), "
        "the same float32 inputs for every model",
        f"- Options: `{json.dumps({k: v for k, v in o.items() if k not in ('data_sha256', 'onnx_export')})}`",
        "",
    ]
    if o.get("onnx_export") and "error" not in o["onnx_export"]:
        e = o["onnx_export"]
        lines += [
            f"- ONNX peer: tf2onnx {e['tf2onnx']} `from_keras`, opset {e['opset']}, input (None, 28, 28) "
            "float32; run on ONNX Runtime's CPU provider with intra-op threads as per column, sequential "
            "execution, all graph optimizations. Comparison only; not shipped.",
            "",
        ]
    if report["notes"]:
        lines += ["## Notes", ""] + [f"- {n}" for n in report["notes"]] + [""]
    return "\n".join(lines)


def write_report(result, out: Path) -> list[Path]:
    """Write report.md, report.json and the plots into ``out``; return the files written."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    threads = [int(k) for r in result.rows for k in r.get("latency", {})]
    all_threads = str(max(threads)) if threads else "1"
    add_ratios(result.rows)
    plots, plot_notes = make_plots(result, out, all_threads)
    result.notes.extend(plot_notes)
    report = build_json(result, all_threads, plots)
    command = "python -m benchmarks " + " ".join(shlex.quote(a) for a in sys.argv[1:])
    (out / "report.json").write_text(json.dumps(report, indent=1, default=_default) + "\n")
    (out / "report.md").write_text(render_markdown(report, command.strip()) + "\n")
    return [out / "report.md", out / "report.json"] + [out / f for f in plots.values()]


def _default(obj):
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"not JSON-serializable: {type(obj).__name__}")
