"""The README's figures, generated from the committed artefacts instead of typed by hand.

Each generated passage sits between two HTML comments in README.md::

    <!-- begin generated: results -->...<!-- end generated: results -->

and is rebuilt from benchmarks/reports/report.json, models/manifest.json and the
training runs' metrics (runs/<arch>/metrics.json, history.json). tests/test_readme.py
fails when a passage disagrees with the artefacts.

    python -m benchmarks.readme            # rewrite README.md's generated passages
    python -m benchmarks.readme --check    # exit 1 if any passage is out of date
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from benchmarks.finder_profile import BAR_SETS, FINDER_BARS_MS
from benchmarks.markdown import fmt_pct, fmt_us, fmt_x, table
from benchmarks.rows import BenchRow, default_row
from edge_runtime.contract import PROJECT_ROOT

README = PROJECT_ROOT / "README.md"
REPORT = PROJECT_ROOT / "benchmarks" / "reports" / "report.json"
PLAIN_RUN = PROJECT_ROOT / "runs" / "lstm_plain"
"""The default recipe without augmentation (make train-all), for the augmentation figures."""


@dataclass(frozen=True)
class Artefacts:
    """The committed files the README quotes."""

    report: dict
    manifest: dict
    metrics: dict
    """metrics.json of the run the default model was exported from."""
    options: dict
    """The training options in that run's config.json (what the recipe label names)."""
    plain_metrics: dict
    plain_history: dict

    @classmethod
    def load(cls, report: Path = REPORT) -> Artefacts:
        report_data = json.loads(report.read_text())
        manifest = json.loads((PROJECT_ROOT / "models" / "manifest.json").read_text())
        default = next(e for e in manifest["models"] if e["name"] == manifest["default"])
        run = (PROJECT_ROOT / default["keras"]["file"]).parent
        return cls(
            report=report_data,
            manifest=manifest,
            metrics=json.loads((run / "metrics.json").read_text()),
            options=json.loads((run / "config.json").read_text()).get("options", {}),
            plain_metrics=json.loads((PLAIN_RUN / "metrics.json").read_text()),
            plain_history=json.loads((PLAIN_RUN / "history.json").read_text()),
        )

    @property
    def rows(self) -> list[BenchRow]:
        return [BenchRow.from_json(r) for r in self.report["models"]]

    def default_pipeline(self, which: str) -> dict:
        return self.report["pipeline"]["models"][self.report["default_model"]][which]


# ---------------------------------------------------------------- the passages


STYLE_BAR = 0.98
"""Issue 13's bar: accuracy on every style of the style suite."""


def bar_totals(profile: dict, measure: str = "fastest") -> dict[str, dict]:
    """{set: p50 / p95 / max of the total} for the sets the finder bars are set on: each frame's
    fastest round, its median over the rounds (``typical``), or one read of each frame
    (``single``, the median over the rounds); {} for a report without it."""
    field = {"typical": "typical_ms", "single": "single_pass_ms"}.get(measure)
    if field:
        return {name: s[field] for name, s in profile["sets"].items() if name in BAR_SETS and field in s}
    return {name: s["stage_ms"]["total"] for name, s in profile["sets"].items() if name in BAR_SETS}


def bars_met(totals: dict[str, dict]) -> bool:
    """Whether every set's p50 / p95 / max total is within issue 11's bars."""
    p50, p95, worst = FINDER_BARS_MS
    return all(t["p50"] <= p50 and t["p95"] <= p95 and t["max"] <= worst for t in totals.values())


def ms_triples(totals: dict[str, dict]) -> str:
    """The totals as text: "rendered 1.9 / 2.2 / 2.5 ms, plain ..."."""
    return ", ".join(
        f"{name} {t['p50']:.1f} / {t['p95']:.1f} / {t['max']:.1f} ms" for name, t in totals.items()
    )


def finder_and_styles_rows(r: dict) -> list[list[str]]:
    """Rows for the finder profile (when the report has one) and the style suite (when it has one)."""
    rows = []
    if "finder_profile" in r:
        profile = r["finder_profile"]
        totals = bar_totals(profile["new"])
        p50, p95, worst = FINDER_BARS_MS
        met = bars_met(totals)
        # The bars are milliseconds on whatever machine made the report: the previous code's
        # figures from the same run say how fast that machine is.
        before = ""
        if isinstance(profile.get("old"), dict) and "baseline" in profile:
            before = (
                f" (the code at `{profile['baseline']['ref']}`, same run: "
                f"{ms_triples(bar_totals(profile['old']))})"
            )
        # A typical process (each frame's median over the rounds) and a single pass (one read of
        # each frame, as one run over a folder reads them), when the report kept them: on a shared
        # machine the fastest round is the code's cost, not what one run gets.
        usual = ""
        for measure, what in (
            ("typical", "a typical process (each frame's median over the rounds)"),
            ("single", "a single pass (each frame read once, the median over the rounds)"),
        ):
            seen = bar_totals(profile["new"], measure)
            if seen:
                usual += f"; {what}: {ms_triples(seen)}, target {'met' if bars_met(seen) else 'not met'}"
        rows.append(
            [
                "finder profile: find + normalise + classify, CPU time, one thread, each frame's fastest of "
                f"{r['finder_profile']['options'].get('rounds', '?')} rounds"
                + (f", {r['finder_profile']['warm_up']}" if r["finder_profile"].get("warm_up") else "")
                + " (p50 / p95 / max)",
                ms_triples(totals)
                + f"; target <= {p50:g} / {p95:g} / {worst:g} ms on each: {'met' if met else 'not met'}"
                + before
                + usual,
            ]
        )
    if "instructions" in r:
        rows.append(instructions_row(r["instructions"]))
    if "styles" in r:
        styles = [x for x in r["styles"]["sets"] if "per_class" in x and x["set"] != "mnist_test"]
        if styles:
            short = sorted((x for x in styles if x["accuracy"] < STYLE_BAR), key=lambda x: x["accuracy"])
            verdict = (
                "not met ("
                + ", ".join(f"`{x['set']}` {fmt_pct(x['accuracy'])}" for x in short)
                + f" below {STYLE_BAR:.0%})"
                if short
                else "met"
            )
            rows.append(
                [
                    f"style suite: MNIST test digits through {len(styles)} style edits (training/styles.py)",
                    f"{fmt_pct(min(x['accuracy'] for x in styles))} to {fmt_pct(max(x['accuracy'] for x in styles))} "
                    f"per style; target >= {STYLE_BAR:.0%} on each: {verdict}",
                ]
            )
    return rows


def instructions_row(data: dict) -> list[str]:
    """The instruction counts' row: each bar set's median count a read, beside the baseline's."""
    new, old = data["new"]["sets"], (data.get("old") or {}).get("sets", {})
    parts = []
    for name in BAR_SETS:
        if name not in new:
            continue
        mine = new[name]["millions"]["p50"]
        part = f"{name} {mine:.1f} M"
        if name in old:
            prev = old[name]["millions"]["p50"]
            part += f" (`{data['baseline']['ref']}`: {prev:.1f} M, {prev / mine:.1f}x as many)"
        parts.append(part)
    return [
        "instructions per frame read (valgrind's callgrind; the same counts when the run is "
        "repeated, whatever the machine's speed; median over a set's frames)",
        ", ".join(parts),
    ]


def results(a: Artefacts) -> str:
    """The "Results at a glance" table."""
    r, m, s = a.report, a.metrics, a.report["summary"]
    rows = a.rows
    default = default_row(rows)
    smallest = min((x for x in rows if x.kind == "tflite"), key=lambda x: x.size_bytes)
    photos, frames = a.default_pipeline("photos"), a.default_pipeline("frames")
    func, pred, onnx = s["speedup_vs_keras_function"], s["speedup_vs_keras_predict"], s["vs_onnx_1_threads"]
    slowest_start = max(r["startup"], key=lambda x: x["wall_ms_median"])
    frame_ms = frames["process_ms"]
    lines = [
        [
            f"{m['arch'].upper()}-{m['units']}, {m['recipe']} recipe{augmentation_label(a.options)}, "
            "MNIST 10k test set",
            f"{fmt_pct(m['test_accuracy'])} (Keras), {m['train_seconds']:.0f} s of training ({m['epochs']} epochs)",
        ],
        [
            f"default edge model `{default.name}`",
            f"{fmt_pct(default.accuracy)} on the test set, {kb(default.size_bytes)}, "
            f"{fmt_us(default.p50('1'))} per digit on one thread (median)",
        ],
        [
            "against the full Keras model and ONNX Runtime",
            f"{fmt_x(func.get('side_by_side', func['ratio']))} faster than a compiled `tf.function` side by side "
            f"in one process ({fmt_x(func['ratio'])} in separate processes; target >= {func['target']:g}x: "
            f"{'met' if func['met'] else 'not met'}), {fmt_x(pred['ratio'])} faster than "
            f"`model.predict` on one image, {onnx.get('side_by_side', onnx['ratio']):.2f}x faster than ONNX Runtime",
        ],
        [
            f"smallest model `{smallest.name}` ({smallest.quantization}, {smallest.graph} graph)",
            f"{fmt_pct(smallest.accuracy)}, {kb(smallest.size_bytes)}, {fmt_us(smallest.p50('1'))} per digit "
            f"({smallest.p50('1') / default.p50('1'):.1f}x the default's time)",
        ],
        [
            f"real photos ({photos['images']} photos, {photos['digits_total']} digits)",
            f"{fmt_pct(photos['digit_accuracy'], 1)} of digits read correctly, "
            f"{round(photos['image_accuracy'] * photos['images'])} of {photos['images']} photos read exactly",
        ],
        [
            f"640x480 frame with {r['options']['pipeline']['digits_per_frame']} digits, one thread",
            f"{frame_ms:.1f} ms median to find, normalise and classify them all (fastest "
            f"{frames['process_ms_min']:.1f} ms); target <= 5 ms: {'met' if frame_ms <= 5 else 'not met'}",
        ],
        *finder_and_styles_rows(r),
        [
            "edge program start-up to first result",
            f"{slowest_start['wall_ms_median'] / 1e3:.2f} s (median of {slowest_start['runs']} launches, "
            f"slowest image), {max(x['peak_rss_mb'] for x in r['startup']):.0f} MB peak memory",
        ],
    ]
    machine = r["machine"]
    intro = (
        f"Measured on {machine['cores']['logical']}-core {machine['arch']} ({machine['date_utc'][:10]}); "
        "from `benchmarks/reports/report.json`, `models/manifest.json` and `runs/`."
    )
    return "\n" + intro + "\n\n" + table(["", "figure"], lines) + "\n"


def augmentation_label(options: dict) -> str:
    """The run's writing-style and elastic shares when it used them, e.g. ' (styles 0.15, elastic 0.5)'."""
    if not options.get("augment", True):
        return ""
    parts = [f"{name} {options[name]:g}" for name in ("styles", "elastic") if options.get(name)]
    return f" ({', '.join(parts)})" if parts else ""


def augmentation(a: Artefacts) -> str:
    """The training section's sentence on what augmentation buys."""
    last = a.plain_history["epochs"][-1]
    return (
        f"Without augmentation the LSTM overfits ({fmt_pct(last['accuracy'])} train, "
        f"{fmt_pct(a.plain_metrics['test_accuracy'])} test, `runs/lstm_plain`); with it, it reaches "
        f"{fmt_pct(a.metrics['test_accuracy'])}."
    )


def classify_cost(a: Artefacts) -> str:
    """What classifying a frame's digits with the default model costs (in batches)."""
    frames = a.default_pipeline("frames")
    n = a.report["options"]["pipeline"]["digits_per_frame"]
    return f"A frame's {n} digits take {frames['stage_ms']['classify']:.1f} ms to classify with the default model (median)"


def fused_sizes(a: Artefacts) -> str:
    sizes = [e["size_bytes"] for e in a.manifest["models"] if e["graph"] == "fused"]
    return f"{min(sizes) / 1024:.0f}-{max(sizes) / 1024:.0f} KB"


def kb(size: int) -> str:
    return f"{size / 1024:.0f} KB"


PASSAGES: dict[str, Callable[[Artefacts], str]] = {
    "results": results,
    "augmentation": augmentation,
    "classify-cost": classify_cost,
    "fused-sizes": fused_sizes,
}


# ---------------------------------------------------------------- README.md


def _pattern(name: str) -> re.Pattern:
    return re.compile(
        rf"(<!-- begin generated: {re.escape(name)} -->)(.*?)(<!-- end generated: {re.escape(name)} -->)",
        re.S,
    )


def passages_in(text: str) -> dict[str, str]:
    """Generated passages as README.md has them now; a missing marker pair is a ValueError."""
    out = {}
    for name in PASSAGES:
        found = _pattern(name).search(text)
        if found is None:
            raise ValueError(f"README.md has no '<!-- begin generated: {name} -->' ... end marker pair")
        out[name] = found.group(2)
    return out


def rewrite(text: str, artefacts: Artefacts) -> str:
    """``text`` with every generated passage rebuilt from ``artefacts``."""
    passages_in(text)  # every marker pair is there
    for name, make in PASSAGES.items():
        body = make(artefacts)
        text = _pattern(name).sub(lambda found, body=body: found.group(1) + body + found.group(3), text)
    return text


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.readme", description=__doc__.splitlines()[0])
    p.add_argument("--check", action="store_true", help="exit 1 if README.md is out of date; change nothing")
    a = p.parse_args(argv)
    try:
        text = README.read_text()
        new = rewrite(text, Artefacts.load())
    except (OSError, ValueError, KeyError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if a.check:
        if new != text:
            print(
                "README.md's generated figures are out of date: run python -m benchmarks.readme",
                file=sys.stderr,
            )
            return 1
        return 0
    README.write_text(new)
    return 0


if __name__ == "__main__":
    sys.exit(main())
