"""benchmarks/styles_bench.py: alignment, risk-coverage, the min-confidence rule and the markdown."""

from __future__ import annotations

import numpy as np
import pytest

from benchmarks import styles_bench as sb


def test_align_pairs_substitutions_and_finds_extra_and_missed_digits():
    assert sb.align("1234", "1234") == ([(0, 0), (1, 1), (2, 2), (3, 3)], [], 0)
    pairs, extra, missed = sb.align("19674891", "19674899")
    assert pairs[-1] == (7, 7) and extra == [] and missed == 0  # a substitution stays paired
    assert sb.align("12534", "1234")[1] == [2]  # one extra digit
    assert sb.align("124", "1234")[2] == 1  # one missed digit


def test_risk_coverage_counts_caught_misreads_and_hidden_right_readings():
    conf = np.array([0.99, 0.98, 0.6, 0.3, 0.95])
    right = np.array([True, True, True, False, False])
    rows = {r["threshold"]: r for r in sb.risk_coverage(conf, right)}
    assert rows[0.0]["coverage"] == 1.0 and rows[0.0]["risk"] == pytest.approx(0.4)
    assert rows[0.5]["misreads_caught"] == 0.5 and rows[0.5]["right_cost"] == 0.0
    assert rows[0.7]["right_cost"] == pytest.approx(1 / 3) and rows[0.7]["risk"] == pytest.approx(1 / 3)


def fake_set(name, conf, right, **extra):
    conf, right = np.array(conf), np.array(right)
    return {
        "set": name,
        "digits": len(conf),
        "accuracy": float(right.mean()),
        "curve": sb.risk_coverage(conf, right),
        **extra,
    }


def test_min_confidence_rule_uses_mnist_and_styles_never_photos():
    sure = [0.99] * 200
    sets = [
        fake_set("mnist_test", sure + [0.62] * 5 + [0.3], [True] * 205 + [False]),
        fake_set("crossed_7", sure + [0.4], [True] * 200 + [False], style=True),
        fake_set("photos", [0.55] * 10, [True] * 10),  # would forbid anything above 0.5
    ]
    choice = sb.choose_min_confidence(sets)
    assert choice["value"] == 0.6  # 0.65 would hide 5 of the 405 right readings pooled (1.2% > 1%)
    assert choice["pooled_right_cost"] == 0.0
    assert choice["per_set"]["photos"]["right_cost"] == 1.0


def test_render_has_a_row_per_set_and_the_chosen_threshold():
    sets = [
        {
            **fake_set("mnist_test", [0.9, 0.2], [True, False]),
            "per_class": {"3": 0.5},
            "ece_raw": 0.1,
            "ece_calibrated": 0.05,
        },
    ]
    data = {
        "model": "models/m.tflite",
        "temperature": 1.2,
        "seed": 0,
        "sets": sets,
        "min_confidence": sb.choose_min_confidence(sets),
    }
    text = sb.render_styles(data)
    assert "| mnist_test | 2 | 50.00% |" in text and "min-confidence" in text


@pytest.mark.slow
def test_measure_on_the_shipped_model_meets_the_calibration_bar(model_path, mnist_test):
    data = sb.measure(str(model_path), photos="")
    sets = {s["set"]: s for s in data["sets"]}
    assert {"mnist_test", "crossed_7", "flag_foot_1", "long_tail_9", "open_top_4", "elastic"} <= set(sets)
    assert sets["mnist_test"]["digits"] == 10000 and sets["mnist_test"]["accuracy"] > 0.98
    assert sets["mnist_test"]["ece_calibrated"] <= 0.01  # the bar
    assert 0.0 <= data["min_confidence"]["value"] < 1.0
    curve = sets["mnist_test"]["curve"]
    assert curve[0]["coverage"] == 1.0 and all(
        a["coverage"] >= b["coverage"] for a, b in zip(curve, curve[1:])
    )
    assert "| mnist_test | 10000 |" in sb.render_styles(data)


def test_the_runtimes_default_min_confidence_is_the_committed_reports_choice():
    # The rule chooses the threshold for the shipped model (benchmarks/styles_bench.py); after a
    # retraining the report may choose another, and the runtime's default must follow it.
    import json
    from pathlib import Path

    from edge_runtime.contract import MIN_CONFIDENCE

    report = json.loads((Path(sb.__file__).parent / "reports" / "report.json").read_text())
    assert report["styles"]["min_confidence"]["value"] == pytest.approx(MIN_CONFIDENCE)
