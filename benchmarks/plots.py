"""The report's PNG plots (matplotlib's Agg backend): latency, accuracy against size, the
default's confusion matrix and the pipeline's stages. Skipped with a note where matplotlib
is not installed (a bare Raspberry Pi install)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from benchmarks.options import BenchResult
from benchmarks.pipeline_bench import STAGES
from benchmarks.rows import BenchRow

PLOTS = {
    "latency": "latency.png",
    "accuracy_size": "accuracy_vs_size.png",
    "confusion": "confusion_default.png",
    "pipeline": "pipeline_stages.png",
}
MARKERS = {"float32": "o", "float16": "s", "dynamic_int8": "^", "int8": "D"}


def group_of(row: BenchRow) -> str:
    """Legend group of a row: the TFLite network and graph, or the Keras / ONNX peer."""
    if row.kind == "keras":
        return "Keras (.keras file)"
    if row.kind == "onnx":
        return "ONNX Runtime"
    return f"{row.arch or '?'} {row.graph or ''}".strip()


def make_plots(result: BenchResult, out: Path) -> tuple[dict[str, str], list[str]]:
    """PNG name per plot that was drawn, and notes for any that were not."""
    try:
        import matplotlib  # optional: not in the edge runtime's install

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return {}, ["plots skipped: matplotlib is not installed (pip install matplotlib)"]
    drawn = {}
    for key, draw in (
        ("latency", latency_plot),
        ("accuracy_size", accuracy_size_plot),
        ("confusion", confusion_plot),
        ("pipeline", pipeline_plot),
    ):
        fig = draw(plt, result)
        if fig is not None:
            fig.tight_layout()
            fig.savefig(out / PLOTS[key], dpi=110)
            plt.close(fig)
            drawn[key] = PLOTS[key]
    return drawn, []


def latency_plot(plt, result: BenchResult):
    """Latency distribution per model, one thread, log scale; None if nothing was timed."""
    names, data = [], []
    for r in result.rows:
        samples = result.latency_samples.get(r.name, {}).get("1")
        if samples is not None and len(samples):
            names.append(r.name + (" *" if r.default else ""))
            data.append(np.asarray(samples) / 1e3)
    if not data:
        return None
    fig, ax = plt.subplots(figsize=(9, 0.45 * len(data) + 1.5))
    ax.boxplot(data, vert=False, whis=(1, 99), showfliers=False, tick_labels=names)
    ax.invert_yaxis()  # same order as the models table
    ax.set_xscale("log")
    ax.set_xlabel("latency per digit, microseconds (log scale; whiskers p1-p99)")
    ax.set_title("Batch-1 latency, one thread (* = default model)")
    ax.grid(axis="x", which="both", alpha=0.3)
    return fig


def accuracy_size_plot(plt, result: BenchResult):
    """Accuracy against size: colour = network, marker = quantization, default outlined and named."""
    from matplotlib.lines import Line2D
    from matplotlib.ticker import FuncFormatter

    pts = [
        r
        for r in result.rows
        if r.accuracy is not None and r.size_bytes and r.keras_path in (None, "function")
    ]
    if not pts:
        return None
    groups = list(dict.fromkeys(group_of(r) for r in pts))
    colours = {g: plt.get_cmap("tab10")(i % 10) for i, g in enumerate(groups)}
    fig, ax = plt.subplots(figsize=(8, 5))
    for r in pts:
        xy = (r.size_bytes / 1024, 100 * r.accuracy)
        ax.scatter(
            *xy,
            color=colours[group_of(r)],
            marker=MARKERS.get(r.quantization, "o"),
            s=70,
            edgecolors="black" if r.default else "none",
            linewidths=1.5,
            zorder=3,
        )
        if r.default:
            ax.annotate(f"{r.name} (default)", xy, textcoords="offset points", xytext=(8, -12), fontsize=8)
    handles = [Line2D([], [], color=colours[g], marker="o", ls="", label=g) for g in groups]
    handles += [
        Line2D([], [], color="grey", marker=m, ls="", label=q)
        for q, m in MARKERS.items()
        if any(r.quantization == q for r in pts)
    ]
    ax.legend(handles=handles, fontsize=7, loc="best", ncol=2)
    ax.set_xscale("log")
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    ax.xaxis.set_minor_formatter(FuncFormatter(lambda v, _: f"{v:g}" if str(int(v))[0] in "25" else ""))
    ax.set_xlabel("file size, KB (log scale)")
    ax.set_ylabel("MNIST test accuracy, %")
    ax.set_title("Accuracy against size (colour: network, marker: quantization, outlined: default)")
    ax.title.set_fontsize(10)
    ax.grid(alpha=0.3)
    return fig


def confusion_plot(plt, result: BenchResult):
    """The default model's confusion matrix, log colour scale, counts written in."""
    if not result.confusion:
        return None
    m = np.asarray(result.confusion["matrix"])
    fig, ax = plt.subplots(figsize=(5.5, 5))
    ax.imshow(np.log1p(m), cmap="Blues")
    for i, j in zip(*np.nonzero(m)):
        ax.text(
            j, i, str(m[i, j]), ha="center", va="center", fontsize=7, color="white" if i == j else "black"
        )
    ax.set_xticks(range(10))
    ax.set_yticks(range(10))
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(f"{result.confusion['model']}: MNIST test confusion")
    return fig


def pipeline_plot(plt, result: BenchResult):
    """Pipeline time per stage, stacked bars: all frame bars, then all photo bars."""
    bars = []
    for name, entry in result.pipeline.get("models", {}).items():
        for which in ("frames", "photos"):
            if which in entry and entry[which]["images"]:
                bars.append((f"{name} ({which})", entry[which]["stage_ms"]))
    if not bars:
        return None
    bars.sort(key=lambda b: "photos" in b[0])
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
    return fig
