"""Tests for benchmarks/: the harness's arithmetic, and real --quick runs of the CLI.

The end-to-end runs use the committed models/ and runs/lstm and check that the
report is complete and consistent (never timings): every model has a row,
accuracies are in [0, 1] and equal an independent re-measure, and --edge-only
runs with TensorFlow made unimportable.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from benchmarks.figures import add_ratios, headline, quantization_costs
from benchmarks.harness import summarize_ns, time_calls
from benchmarks.models_bench import confusion
from benchmarks.options import QUICK
from benchmarks.paired_bench import PairedOptions, measure_paired
from benchmarks.pipeline_bench import score
from benchmarks.rows import BenchRow
from benchmarks.sections import EXTRA_SECTIONS, Section, render_markdown
from edge_runtime.classifier import DigitClassifier
from edge_runtime.contract import PROJECT_ROOT as PROJECT

MODELS = PROJECT / "models"
KERAS_RUN = PROJECT / "runs" / "lstm"
QUICK_IMAGES = QUICK["test_images"]


# ---------------------------------------------------------------- arithmetic


def test_time_calls_times_every_call_and_cycles_inputs():
    seen = []
    ns = time_calls(seen.append, ["a", "b", "c"], reps=7, warmup=2)
    assert ns.shape == (7,) and ns.dtype == np.int64 and (ns >= 0).all()
    assert seen == ["a", "b"] + ["a", "b", "c", "a", "b", "c", "a"]


def test_summarize_ns_gives_microsecond_percentiles():
    s = summarize_ns(np.arange(1, 101) * 1000)  # 1..100 us
    assert s["p50_us"] == pytest.approx(50.5)
    assert s["p90_us"] == pytest.approx(90.1)
    assert s["p99_us"] == pytest.approx(99.01)
    assert s["n"] == 100


def test_confusion_counts_true_rows_and_predicted_columns():
    m = confusion(np.array([3, 3, 7, 1]), np.array([3, 8, 7, 1]))
    assert m.sum() == 4 and m[3, 3] == 1 and m[3, 8] == 1 and m[7, 7] == 1 and m[8, 3] == 0


def test_score_uses_edit_distance_floored_per_image():
    # "1234" read as "124": one deletion -> 3 of 4; "56" read as "9999": floored at 0; "7" exact.
    s = score(["124", "9999", "7"], ["1234", "56", "7"])
    assert s["digits_total"] == 7
    assert s["digit_accuracy"] == pytest.approx(4 / 7)
    assert s["image_accuracy"] == pytest.approx(1 / 3)


def _row(name, kind, p50_us, quant="float32", graph="fused", size=100_000, default=False):
    return BenchRow(
        name=name,
        kind=kind,
        format=kind,
        quantization=quant,
        shipped=kind == "tflite",
        graph=graph,
        arch="lstm",
        size_bytes=size,
        default=default,
        latency={"1": {"p50_us": p50_us}},
    )


def test_headline_compares_default_with_keras_and_onnx_bars():
    rows = [
        _row("keras function", "keras", 600.0, size=320_000),
        _row("keras predict", "keras", 28_000.0, size=320_000),
        _row("onnx-runtime", "onnx", 29.0),
        _row("lstm_dyn", "tflite", 25.0, quant="dynamic_int8", default=True),
    ]
    rows[0].latency["2"] = {"p50_us": 500.0}  # the Keras path at its best thread count counts
    add_ratios(rows)
    h = headline(rows, "2")
    assert h["default"] == "lstm_dyn"
    assert h["speedup_vs_keras_function"]["ratio"] == pytest.approx(20.0)
    assert h["speedup_vs_keras_function"]["met"]
    assert h["speedup_vs_keras_predict"]["ratio"] == pytest.approx(1120.0)
    assert h["vs_onnx_1_threads"]["met"]
    assert rows[3].size_ratio_vs_keras == pytest.approx(100_000 / 320_000)


def test_side_by_side_ratios_decide_the_bars_when_present():
    rows = [
        _row("keras function", "keras", 1000.0),
        _row("onnx-runtime", "onnx", 50.0),
        _row("lstm_dyn", "tflite", 55.0, default=True),
    ]
    add_ratios(rows)
    # Separate processes: 18x and slower than ONNX; side by side: 22x and 1.1x faster than ONNX.
    h = headline(rows, "1", {"ratio_vs_tflite": {"keras_function": 22.0, "onnx": 1.1}})
    assert h["speedup_vs_keras_function"]["ratio"] == pytest.approx(1000 / 55)
    assert h["speedup_vs_keras_function"]["side_by_side"] == 22.0 and h["speedup_vs_keras_function"]["met"]
    assert h["vs_onnx_1_threads"]["side_by_side"] == 1.1 and h["vs_onnx_1_threads"]["met"]
    h = headline(rows, "1", {"ratio_vs_tflite": {"keras_function": 19.0, "onnx": 0.9}})
    assert not h["speedup_vs_keras_function"]["met"] and not h["vs_onnx_1_threads"]["met"]


def test_measure_paired_alternates_rounds_and_takes_ratio_of_round_medians():
    order = []

    def fast(x):
        order.append("fast")

    def slow(x):
        order.append("slow")
        time.sleep(0.002)

    out = measure_paired(
        {"tflite": (fast, [0], 5), "keras_function": (slow, [0], 3)}, PairedOptions(rounds=2, warmup=1)
    )
    # Each round runs every contender (warm-up + timed calls) before the next round starts.
    assert order == (["fast"] * 6 + ["slow"] * 4) * 2
    assert len(out["round_p50_us"]["tflite"]) == 2
    assert out["p50_us"]["keras_function"] >= 2000
    assert out["ratio_vs_tflite"]["keras_function"] > 10


def test_quantization_cost_is_stated_when_int8_is_slower():
    rows = [_row("f32", "tflite", 45.0), _row("i8", "tflite", 475.0, quant="int8")]
    lines = quantization_costs(rows)
    assert len(lines) == 1 and "i8" in lines[0] and "10.6x" in lines[0] and "slower" in lines[0]


def test_report_sections_render_the_committed_report_and_take_an_extra_section(monkeypatch):
    report = json.loads((PROJECT / "benchmarks" / "reports" / "report.json").read_text())
    md = render_markdown(report, "python -m benchmarks")
    for title in ("## Summary", "## Models", "## Pipeline on frames", "## Plots", "## Machine and settings"):
        assert title in md
    assert all(BenchRow.from_json(r).name in md for r in report["models"])
    # One line registers a section; it renders its own key's dict, before the plots.
    monkeypatch.setitem(EXTRA_SECTIONS, "demo", Section(lambda d: f"## Demo\n\n{d['answer']} found\n"))
    md = render_markdown(dict(report, demo={"answer": 42}), "python -m benchmarks")
    assert "42 found" in md and md.index("## Demo") < md.index("## Plots")
    assert "## Demo" not in render_markdown(report, "python -m benchmarks")  # not measured: left out


def test_a_row_with_an_unknown_key_is_refused():
    with pytest.raises(ValueError, match="unknown keys"):
        BenchRow.from_json(
            {
                "name": "x",
                "kind": "tflite",
                "format": "f",
                "quantization": "q",
                "shipped": True,
                "keras_file": "?",
            }
        )


def _strings(obj):
    if isinstance(obj, dict):
        for v in obj.values():
            yield from _strings(v)
    elif isinstance(obj, list):
        for v in obj:
            yield from _strings(v)
    elif isinstance(obj, str):
        yield obj


# ---------------------------------------------------------------- real runs


def _need(var: str) -> str:
    value = os.environ.get(var)
    if not value:
        pytest.skip(f"{var} is not set (CI sets it; see .ci/run)")
    return value


def _small_model_set(dest: Path) -> dict:
    """In a copy of models/: the default, another quantization of its architecture, one other architecture."""
    if not (MODELS / "manifest.json").is_file():
        pytest.skip("no models/manifest.json; run make export")
    manifest = json.loads((MODELS / "manifest.json").read_text())
    default = next(e for e in manifest["models"] if e["name"] == manifest["default"])
    same = next(
        (
            e
            for e in manifest["models"]
            if e["arch"] == default["arch"] and e["quantization"] != default["quantization"]
        ),
        None,
    )
    other = next((e for e in manifest["models"] if e["arch"] != default["arch"]), None)
    chosen = [default] + [e for e in (same, other) if e]
    dest.mkdir()
    for e in chosen:
        shutil.copy(MODELS / e["file"], dest / e["file"])
    small = dict(manifest, models=chosen)
    (dest / "manifest.json").write_text(json.dumps(small))
    return small


def _bench(args: list[str], env: dict | None = None) -> subprocess.CompletedProcess:
    env = dict(os.environ if env is None else env)
    env["PYTHONPATH"] = str(PROJECT) + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    proc = subprocess.run(
        [sys.executable, "-m", "benchmarks", *args],
        cwd=PROJECT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc


def _independent_accuracy(model_file: Path, n: int) -> float:
    """Top-1 on the first n MNIST test images, measured here without the benchmark's code."""
    with np.load(os.environ["MNIST_PATH"]) as d:
        x, y = d["x_test"][:n].astype(np.float32) / 255.0, d["y_test"][:n]
    return float((DigitClassifier(model_file).logits(x).argmax(axis=1) == y).mean())


def _check_common(report: dict, out: Path, manifest: dict, models_dir: Path) -> None:
    md = (out / "report.md").read_text()
    rows = {r["name"]: r for r in report["models"]}
    for e in manifest["models"]:
        assert e["name"] in rows, f"no row for shipped model {e['name']}"
        assert e["name"] in md
        row = rows[e["name"]]
        assert 0.0 <= row["accuracy"] <= 1.0
        assert row["accuracy"] == pytest.approx(
            _independent_accuracy(models_dir / e["file"], QUICK_IMAGES), abs=1e-9
        )
        assert row["latency"]["1"]["n"] > 0 and row["latency"]["1"]["p50_us"] > 0
        assert row["size_bytes"] == (models_dir / e["file"]).stat().st_size
        assert row["tensorflow_imported"] is False  # TFLite rows never load TensorFlow
    assert rows[manifest["default"]]["default"] is True
    assert sum(r.get("default", False) for r in rows.values()) == 1
    assert np.asarray(report["confusion_default"]["matrix"]).sum() == QUICK_IMAGES
    for name in (e["name"] for e in manifest["models"]):
        frames = report["pipeline"]["models"][name]["frames"]
        assert frames["images"] == 3 and 0.0 <= frames["digit_accuracy"] <= 1.0
        assert set(frames["stage_ms"]) == {"decode", "find", "normalize", "classify"}
        assert frames["process_ms"] > 0
    assert report["startup"], "the edge program's start-up was not measured"
    for launch in report["startup"]:  # the real edge program, launched as a user would
        assert launch["wall_ms_median"] > 0 and launch["peak_rss_mb"] > 0
        assert launch["text"] and set(launch["text"]) <= set("0123456789?")
    for key, png in report["plots"].items():
        assert (out / png).stat().st_size > 1000 and png in md, key
    assert report["machine"]["cpu"] and report["machine"]["versions"]["numpy"]
    absolute = [s for s in _strings(report) if s.startswith(("/", str(Path.home())))]
    assert not absolute, f"report.json holds absolute paths: {absolute[:3]}"


@pytest.mark.slow
def test_quick_report_covers_keras_onnx_and_every_model(tmp_path):
    _need("MNIST_PATH")
    if not (KERAS_RUN / "model.keras").is_file():
        pytest.skip("no runs/lstm/model.keras; run make train")
    manifest = _small_model_set(tmp_path / "models")
    out = tmp_path / "report"
    _bench(["--quick", "--models", str(tmp_path / "models"), "--keras", str(KERAS_RUN), "--out", str(out)])
    report = json.loads((out / "report.json").read_text())
    _check_common(report, out, manifest, tmp_path / "models")
    rows = {r["name"]: r for r in report["models"]}
    for path in ("predict", "call", "function", "predict_batch"):
        assert 0.0 <= rows[f"keras {path}"]["accuracy"] <= 1.0
    assert rows["onnx-runtime"]["accuracy"] == pytest.approx(rows["keras function"]["accuracy"], abs=0.01)
    default_arch = rows[manifest["default"]]["arch"]
    for e in manifest["models"]:
        if e["arch"] == default_arch:  # measured against the Keras rows' network
            assert 0.0 <= rows[e["name"]]["agreement"] <= 1.0
            assert rows[e["name"]]["speedup_vs_keras_function"] > 0
        else:  # another network: the export-time figure against its own Keras model, no ratios
            assert "agreement" not in rows[e["name"]] and "speedup_vs_keras_function" not in rows[e["name"]]
    assert {"latency", "accuracy_size", "confusion", "pipeline"} <= set(report["plots"])
    assert "speedup_vs_keras_function" in report["summary"]
    assert {"tflite", "keras_function", "onnx"} <= set(report["paired"]["p50_us"])
    assert "side_by_side" in report["summary"]["speedup_vs_keras_function"]


@pytest.mark.slow
def test_edge_only_runs_without_tensorflow(tmp_path):
    _need("MNIST_PATH")
    manifest = _small_model_set(tmp_path / "models")
    # A tensorflow (and tf_keras) that fails loudly on import, first on the path.
    for name in ("tensorflow", "tf_keras"):
        (tmp_path / "fake" / name).mkdir(parents=True)
        (tmp_path / "fake" / name / "__init__.py").write_text(
            f"raise RuntimeError('{name} was imported in --edge-only mode')\n"
        )
    env = dict(os.environ, PYTHONPATH=str(tmp_path / "fake"))
    env.pop("DIGITS_PHOTOS_DIR", None)  # also proves the photo part is skipped with a note
    out = tmp_path / "report"
    _bench(["--edge-only", "--quick", "--models", str(tmp_path / "models"), "--out", str(out)], env=env)
    report = json.loads((out / "report.json").read_text())
    _check_common(report, out, manifest, tmp_path / "models")
    assert {r["kind"] for r in report["models"]} == {"tflite"}
    assert any("DIGITS_PHOTOS_DIR" in n for n in report["notes"])
