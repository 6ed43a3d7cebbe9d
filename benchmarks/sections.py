"""report.md, made of sections: each renderer takes the report.json dict and returns Markdown.

Adding a benchmark section is one line in :data:`EXTRA_SECTIONS`: the report.json key it
stores its dict under, and a :class:`Section` with its ``render_<name>(data) -> str``
(``data`` is that key's dict) and, optionally, ``measure(context) -> dict`` that
``python -m benchmarks`` calls to fill the key. A section whose key is absent from
report.json (not measured in this run) is left out of report.md.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from benchmarks import finder_profile, instructions, readings_check, serve_bench, styles_bench
from benchmarks.arm64 import compare as arm64_compare
from benchmarks.markdown import fmt_pct, fmt_us, fmt_x, table
from benchmarks.options import BenchOptions
from benchmarks.pipeline_bench import STAGES
from benchmarks.rows import BenchRow, find_row
from edge_runtime.manifest import sha256_file


@dataclass(frozen=True)
class BenchContext:
    """What an extra section's ``measure`` may use; it adds a note for anything it skips."""

    options: BenchOptions
    manifest: dict
    entries: list[dict]
    """The manifest's model entries (files in options.models_dir)."""
    x: np.ndarray
    """(n, 28, 28) float32 MNIST test digits in [0, 1]."""
    y: np.ndarray
    work: Path
    """This run's temporary folder (deleted at the end)."""
    notes: list[str]


@dataclass(frozen=True)
class Section:
    render: Callable[[dict], str]
    """report.json[key] -> Markdown (with its own "## " title)."""
    measure: Callable[[BenchContext], dict] | None = None
    """Fills report.json[key] during python -m benchmarks; None: the key is filled elsewhere."""


def measure_arm64(context: BenchContext) -> dict:
    """The last ``make pi-check``'s table (benchmarks/reports/arm64.json): pi-check runs under
    emulation, apart from this benchmark; its table joins the report while the models are the
    ones it checked (the manifest's sha256 says so)."""
    path = Path(__file__).resolve().parent / "reports" / "arm64.json"
    if not path.is_file():
        raise RuntimeError("no make pi-check result in benchmarks/reports/arm64.json")
    data = json.loads(path.read_text())
    manifest = Path(context.options.models_dir) / "manifest.json"
    if sha256_file(manifest) != data["manifest_sha256"]["a"]:
        raise RuntimeError("benchmarks/reports/arm64.json checked other models; run make pi-check again")
    return data


EXTRA_SECTIONS: dict[str, Section] = {
    "finder_profile": Section(finder_profile.render_finder_profile, finder_profile.measure_finder_profile),
    "instructions": Section(instructions.render_instructions, instructions.measure_instructions),
    "readings_check": Section(readings_check.render_readings_check, readings_check.measure_readings_check),
    "styles": Section(styles_bench.render_styles, styles_bench.measure_styles),
    "serve": Section(serve_bench.render_serve, serve_bench.measure_serve),
    "arm64": Section(arm64_compare.markdown, measure_arm64),
}
"""Sections other benchmarks add, in report order (after start-up, before the plots)."""


# ---------------------------------------------------------------- header and summary


def render_header(report: dict, command: str) -> str:
    m, o = report["machine"], report["options"]
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
    return "\n".join(lines)


def _bar_lines(report: dict) -> list[str]:
    """The default model against the Keras and ONNX bars."""
    s, o = report["summary"], report["options"]
    d = find_row([BenchRow.from_json(r) for r in report["models"]], s["default"])
    lines = [
        f"- Default model (from models/manifest.json): **{s['default']}** — "
        f"{d.quantization} {d.format}, {d.size_bytes / 1024:.0f} KB, "
        f"{fmt_pct(s['default_accuracy'])} on {o['test_images']} MNIST test digits, "
        f"{fmt_us(s['default_p50_us_1_thread'])} per digit (median, 1 thread)."
    ]
    for path, label in (
        ("function", "compiled tf.function call (Keras' fastest single-image path)"),
        ("predict", "`model.predict` on one image"),
    ):
        v = s.get(f"speedup_vs_keras_{path}")
        if v:
            side = f"; side by side in one process {fmt_x(v['side_by_side'])}" if "side_by_side" in v else ""
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
    return lines


def _paired_line(paired: dict) -> list[str]:
    if not paired.get("p50_us"):
        return []
    names = {"tflite": "default TFLite", "keras_function": "Keras tf.function", "onnx": "ONNX Runtime"}
    return [
        f"- Side by side (one process, one thread, {paired['rounds']} alternating rounds, median of round "
        "medians): "
        + ", ".join(f"{names.get(k, k)} {fmt_us(v)}" for k, v in paired["p50_us"].items())
        + ". The separate-process table below drifts with the machine's speed between runs; the "
        "verdicts above use these side-by-side ratios where they exist."
    ]


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


def _accuracy_check_lines(report: dict) -> list[str]:
    mc, o = report["manifest_accuracy_check"], report["options"]
    lines = []
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
    return lines


def render_summary(report: dict) -> str:
    lines = ["## Summary", ""]
    lines += _bar_lines(report) if report["summary"] else ["- No default model was measured (see Notes)."]
    lines += _paired_line(report.get("paired") or {})
    lines += [f"- {line}" for line in edge_targets(report)]
    lines += [f"- {q}" for q in report["quantization_costs"]]
    lines += _accuracy_check_lines(report)
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------- models table


def fmt_lat(row: BenchRow, threads: str) -> str:
    lat = row.latency.get(threads)
    if not lat:
        batch = (row.batch or {}).get(threads)
        return f"{batch['batch_ms']:.0f} ms per 1000" if batch else "-"
    if lat["p50_us"] >= 10_000:
        return f"{lat['p50_us'] / 1e3:.1f} / {lat['p90_us'] / 1e3:.1f} / {lat['p99_us'] / 1e3:.1f} ms"
    return f"{lat['p50_us']:.1f} / {lat['p90_us']:.1f} / {lat['p99_us']:.1f} us"


MODEL_COLUMNS = (
    "model",
    "format",
    "quantization",
    "size",
    "accuracy",
    "agrees with Keras",
    "p50 / p90 / p99, 1 thread",
    "p50 / p90 / p99, {t} threads",
    "digits/s",
    "load",
    "memory: runtime+model / peak",
    "faster than Keras tf.function",
    "faster than Keras predict",
    "size vs Keras",
)


def _agreement_cell(r: BenchRow) -> str:
    if r.kind == "keras":
        return "(reference)"
    if r.agreement is not None:
        return fmt_pct(r.agreement)
    if r.manifest_agreement is not None:
        return f"{fmt_pct(r.manifest_agreement)} (manifest)"
    return "-"


def _model_cells(r: BenchRow, all_threads: str) -> list[str]:
    name = f"**{r.name}** (default)" if r.default else r.name
    return [
        name if r.shipped else name + " (not shipped)",
        r.format,
        r.quantization,
        f"{r.size_bytes / 1024:.0f} KB" if r.size_bytes else "-",
        fmt_pct(r.accuracy),
        _agreement_cell(r),
        fmt_lat(r, "1"),
        fmt_lat(r, all_threads) if all_threads != "1" else "-",
        f"{r.digits_per_s:,.0f}" if r.digits_per_s else "-",
        f"{r.load_ms:.0f} ms" if r.load_ms is not None else "-",
        f"{r.model_rss_mb:.0f} / {r.peak_rss_mb:.0f} MB" if r.peak_rss_mb else "-",
        fmt_x(r.speedup_vs_keras_function),
        fmt_x(r.speedup_vs_keras_predict),
        f"{r.size_ratio_vs_keras:.2f}" if r.size_ratio_vs_keras else "-",
    ]


def models_table(rows: list[BenchRow], all_threads: str) -> str:
    header = [c.format(t=all_threads) for c in MODEL_COLUMNS]
    out = [_model_cells(r, all_threads) for r in rows]
    # Drop columns nothing was measured for (e.g. the Keras ratios in an --edge-only run).
    keep = [i for i in range(len(header)) if any(row[i] != "-" for row in out)]
    return table([header[i] for i in keep], [[row[i] for i in keep] for row in out])


def _how_to_read(o: dict) -> list[str]:
    return [
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


def render_models(report: dict) -> str:
    rows = [BenchRow.from_json(r) for r in report["models"]]
    o = report["options"]
    lines = ["## Models", "", models_table(rows, str(report["all_cores_threads"])), ""] + _how_to_read(o)
    if o.get("edge_only"):
        lines += [
            "Edge-only run: no Keras or ONNX rows; 'agrees with Keras' is the manifest's export-time figure.",
            "",
        ]
    return "\n".join(lines)


# ---------------------------------------------------------------- pipeline and start-up


def pipeline_table(pipeline: dict, which: str, default: str | None) -> str:
    header = ["model", *STAGES, "total (median)", "frames/s", "digits read correctly", "images read exactly"]
    out = []
    for name, entry in pipeline.get("models", {}).items():
        s = entry.get(which)
        if not s:
            continue
        label = f"**{name}** (default)" if name == default else name
        out.append(
            [label]
            + [f"{s['stage_ms'][k]:.2f} ms" for k in STAGES]
            + [
                f"{s['total_ms']:.1f} ms",
                f"{s['fps']:.1f}",
                f"{fmt_pct(s['digit_accuracy'], 1)} of {s['digits_total']}",
                f"{fmt_pct(s['image_accuracy'], 0)} of {s['images']}",
            ]
        )
    return table(header, out)


def render_pipeline(report: dict) -> str:
    pipe, popt = report["pipeline"], report["options"]["pipeline"]
    if not pipe.get("models"):
        return "## Pipeline on frames\n\nNot measured (see Notes).\n"
    lines = [
        "## Pipeline on frames",
        "",
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
    return "\n".join(lines)


def render_startup(report: dict) -> str:
    if not report.get("startup"):
        return ""
    launches = [
        [
            Path(s["image"]).name,
            str(s["runs"]),
            f"{s['wall_ms_median']:.0f} ms ({s['wall_ms_min']:.0f}-{s['wall_ms_max']:.0f})",
            f"{s['peak_rss_mb']:.0f} MB",
            f"`{s['text']}`",
        ]
        for s in report["startup"]
    ]
    return "\n".join(
        [
            "## Edge program: start-up and memory",
            "",
            "`python -m edge_runtime image IMAGE --json` with the default model, launched fresh each time: "
            "wall time from launch to exit (Python start, imports, model load, decode, find, normalize, "
            "classify, output) and the process's peak resident memory (VmHWM).",
            "",
            table(["image", "launches", "wall time median (min-max)", "peak memory", "read"], launches),
            "",
        ]
    )


# ---------------------------------------------------------------- plots, machine, notes

PLOT_TITLES = {
    "latency": "Latency per digit, one thread",
    "accuracy_size": "Accuracy against size",
    "confusion": "Default model's confusion matrix",
    "pipeline": "Pipeline time per stage",
}


def render_plots(report: dict) -> str:
    if not report["plots"]:
        return ""
    lines = ["## Plots", ""]
    for key, file in report["plots"].items():
        lines += [f"### {PLOT_TITLES[key]}", "", f"![{PLOT_TITLES[key]}]({file})", ""]
    return "\n".join(lines)


def cpu_details(cpu_id: dict | None) -> str:
    """ ", family 25, model 1, stepping 1; avx2 fma" from ``sysinfo.cpu_id`` ("" for older reports)."""
    if not cpu_id:
        return ""
    ids = ", ".join(f"{k} {v}" for k, v in cpu_id.items() if k != "vector")
    vector = " ".join(cpu_id.get("vector", [])) or "no listed vector extensions"
    return (f", {ids}" if ids else "") + f"; {vector}"


def render_machine(report: dict) -> str:
    m, o, t = report["machine"], report["options"], report["all_cores_threads"]
    settings = {k: v for k, v in o.items() if k not in ("data_sha256", "onnx_export")}
    lines = [
        "## Machine and settings",
        "",
        f"- CPU: {m['cpu']} ({m['arch']}{cpu_details(m.get('cpu_id'))}), {m['cores']['logical']} logical cores "
        f"({m['cores']['usable']} usable); all-cores columns use {t} threads",
        f"- OS: {m['os']}; Python {m['python']}",
        "- Libraries: " + ", ".join(f"{k} {v}" for k, v in m["versions"].items() if k != "python"),
        f"- Load average at start: {m.get('load_average_at_start')} (other work on the machine makes timings noisy)",
        f"- Test set: {o['test_images']} MNIST test images (data sha256 {o.get('data_sha256', '?')[:16]}...), "
        "the same float32 inputs for every model",
        f"- Options: `{json.dumps(settings)}`",
        "",
    ]
    e = o.get("onnx_export")
    if e and "error" not in e:
        lines += [
            f"- ONNX peer: tf2onnx {e['tf2onnx']} `from_keras`, opset {e['opset']}, input (None, 28, 28) "
            "float32; run on ONNX Runtime's CPU provider with intra-op threads as per column, sequential "
            "execution, all graph optimizations. Comparison only; not shipped.",
            "",
        ]
    return "\n".join(lines)


def render_notes(report: dict) -> str:
    if not report["notes"]:
        return ""
    return "\n".join(["## Notes", ""] + [f"- {n}" for n in report["notes"]] + [""])


BUILTIN_BEFORE = (render_summary, render_models, render_pipeline, render_startup)
BUILTIN_AFTER = (render_plots, render_machine, render_notes)


def render_markdown(report: dict, command: str) -> str:
    """report.json -> report.md: the header, the built-in sections, the extra ones, the rest."""
    parts = [render_header(report, command)]
    parts += [render(report) for render in BUILTIN_BEFORE]
    parts += [s.render(report[key]) for key, s in EXTRA_SECTIONS.items() if key in report]
    parts += [render(report) for render in BUILTIN_AFTER]
    return "\n".join(p for p in parts if p)
