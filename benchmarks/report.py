"""Turn a BenchResult into report.json (for programs), report.md (for people) and PNG plots.

Every figure in report.md comes from report.json's numbers: the Markdown is rendered
from the JSON dict by ``benchmarks.sections``.

    python -m benchmarks --out /tmp/report     # writes /tmp/report/report.md etc.
"""

from __future__ import annotations

import json
import shlex
import sys
from pathlib import Path

import numpy as np

from benchmarks.figures import add_ratios, headline, manifest_check, quantization_costs
from benchmarks.options import BenchResult
from benchmarks.plots import make_plots
from benchmarks.sections import render_markdown

SCHEMA = 2
"""report.json's layout version (2: typed rows, paths relative to the project)."""


def all_cores_threads(result: BenchResult) -> str:
    """The largest thread count any row was timed with (the "all cores" columns)."""
    threads = [int(k) for r in result.rows for k in r.latency]
    return str(max(threads)) if threads else "1"


def build_json(result: BenchResult, all_threads: str, plots: dict) -> dict:
    rows = result.rows
    return {
        "schema": SCHEMA,
        "machine": result.machine,
        "options": result.options,
        "seconds": result.seconds,
        "default_model": result.manifest.get("default"),
        "all_cores_threads": int(all_threads),
        "models": [r.to_json() for r in rows],
        "summary": headline(rows, all_threads, result.paired),
        "paired": result.paired,
        "quantization_costs": quantization_costs(rows),
        "manifest_accuracy_check": manifest_check(rows, result.manifest, int(result.options["test_images"])),
        "pipeline": result.pipeline,
        "startup": result.startup,
        "confusion_default": result.confusion,
        "plots": plots,
        "notes": result.notes,
        **result.sections,
    }


def write_report(result: BenchResult, out: Path) -> list[Path]:
    """Write report.md, report.json and the plots into ``out``; return the files written."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    all_threads = all_cores_threads(result)
    add_ratios(result.rows)
    plots, plot_notes = make_plots(result, out)
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
    raise TypeError(f"not JSON-serializable: {type(obj).__name__}")
