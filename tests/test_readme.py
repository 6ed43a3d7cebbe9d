"""benchmarks/readme.py: the README's figures equal the committed artefacts'."""

from __future__ import annotations

import json

import pytest

from benchmarks.readme import PASSAGES, README, REPORT, Artefacts, passages_in, rewrite


def test_readme_figures_match_the_committed_report_manifest_and_runs():
    text = README.read_text()
    expected = passages_in(rewrite(text, Artefacts.load()))
    for name, body in passages_in(text).items():
        assert body == expected[name], f"README passage {name!r} is stale: run python -m benchmarks.readme"


def test_a_changed_report_changes_the_readme(tmp_path):
    report = json.loads(REPORT.read_text())
    report["summary"]["speedup_vs_keras_predict"]["ratio"] = 1234.0
    (tmp_path / "report.json").write_text(json.dumps(report))
    text = rewrite(README.read_text(), Artefacts.load(tmp_path / "report.json"))
    assert "1,234x faster than `model.predict`" in passages_in(text)["results"]


def test_missing_marker_is_a_clear_error():
    with pytest.raises(ValueError, match="begin generated: results"):
        passages_in("no markers here")
    assert set(PASSAGES) <= set(passages_in(README.read_text()))


def test_the_style_row_names_every_style_below_the_bar_and_the_warm_up_only_when_recorded():
    from benchmarks.readme import finder_and_styles_rows

    report = json.loads(REPORT.read_text())
    for s in report["styles"]["sets"]:
        if s["set"] in ("crossed_7", "flag_1"):
            s["accuracy"] = 0.9
        elif "per_class" in s and s["set"] != "mnist_test":
            s["accuracy"] = 0.99
    rows = dict(finder_and_styles_rows(report))
    style = next(v for k, v in rows.items() if k.startswith("style suite"))
    assert style.endswith("not met (`crossed_7` 90.00%, `flag_1` 90.00% below 98%)")
    profile = next(k for k in rows if k.startswith("finder profile"))
    assert "every frame read once before" in profile
    del report["finder_profile"]["warm_up"]  # a report made before the warm-up was recorded
    assert not any("read once before" in k for k in dict(finder_and_styles_rows(report)))


def test_the_finder_row_gives_the_previous_codes_figures_from_the_same_run():
    from benchmarks.readme import finder_and_styles_rows

    report = json.loads(REPORT.read_text())
    profile = report["finder_profile"]
    profile["baseline"] = {"ref": "abc1234", "commit": "abc1234" * 5}
    profile["old"] = json.loads(json.dumps(profile["new"]))
    profile["old"]["sets"]["plain"]["stage_ms"]["total"] = {"p50": 5.93, "p95": 6.03, "max": 6.07}
    row = next(v for k, v in finder_and_styles_rows(report) if k.startswith("finder profile"))
    assert "(the code at `abc1234`, same run: " in row and "plain 5.9 / 6.0 / 6.1 ms" in row
    del profile["old"]  # a report without a baseline: no such figures
    row = next(v for k, v in finder_and_styles_rows(report) if k.startswith("finder profile"))
    assert "same run" not in row


def test_the_finder_row_gives_a_typical_process_and_its_own_verdict():
    from benchmarks.readme import finder_and_styles_rows

    report = json.loads(REPORT.read_text())
    sets = report["finder_profile"]["new"]["sets"]
    for entry in sets.values():
        entry["stage_ms"]["total"] = {"p50": 2.0, "p95": 4.0, "max": 5.0}
        entry["typical_ms"] = {"p50": 2.5, "p95": 5.0, "max": 6.0}
        entry.pop("single_pass_ms", None)  # (added below)
    sets["plain"]["typical_ms"] = {"p50": 3.61, "p95": 4.0, "max": 4.2}  # over the median bar
    row = next(v for k, v in finder_and_styles_rows(report) if k.startswith("finder profile"))
    assert "ms on each: met" in row
    assert row.endswith(
        "a typical process (each frame's median over the rounds): "
        "rendered 2.5 / 5.0 / 6.0 ms, plain 3.6 / 4.0 / 4.2 ms, photos 2.5 / 5.0 / 6.0 ms, "
        "target not met"
    )
    sets["plain"]["typical_ms"] = {"p50": 2.9, "p95": 4.0, "max": 4.2}
    row = next(v for k, v in finder_and_styles_rows(report) if k.startswith("finder profile"))
    assert row.endswith("target met")
    # A single pass (each frame read once), when the report kept it, with its own verdict.
    for entry in sets.values():
        entry["single_pass_ms"] = {"p50": 2.6, "p95": 5.5, "max": 6.5}
    sets["photos"]["single_pass_ms"] = {"p50": 2.8, "p95": 6.4, "max": 7.9}  # over the p95 bar
    row = next(v for k, v in finder_and_styles_rows(report) if k.startswith("finder profile"))
    assert row.endswith(
        "target met; a single pass (each frame read once, the median over the rounds): "
        "rendered 2.6 / 5.5 / 6.5 ms, plain 2.6 / 5.5 / 6.5 ms, photos 2.8 / 6.4 / 7.9 ms, target not met"
    )
    for entry in sets.values():  # a report made before the typical figures were kept
        del entry["typical_ms"]
        del entry["single_pass_ms"]
    row = next(v for k, v in finder_and_styles_rows(report) if k.startswith("finder profile"))
    assert "typical" not in row
