"""benchmarks/instructions.py: callgrind's count of one read is the same in every run, grows with
the work a frame takes, and each count lands on its own frame."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest

from benchmarks.finder_profile import plain_frame
from benchmarks.instructions import count_code, dump_totals, render_instructions

ROOT = Path(__file__).resolve().parent.parent


def _valgrind_or_skip() -> None:
    if shutil.which("valgrind") is None:
        if os.environ.get("DIGITS_REQUIRE_VALGRIND") == "1":
            pytest.fail("valgrind is required here (make setup-valgrind)")
        pytest.skip("valgrind not installed (make setup-valgrind)")


def _frames(folder: Path, digits: np.ndarray) -> None:
    """Two sets: one MNIST digit as it comes (28x28: one background level, no search), and a
    640x480 page of 10 (``finder_profile.plain_frame``: two passes, ten digits classified)."""
    rng = np.random.default_rng(0)
    cv2.imwrite(str(folder / "one.png"), digits[0])
    cv2.imwrite(str(folder / "plain.png"), plain_frame(digits, rng))
    sets = {"rendered": [{"file": "one.png", "label": ""}], "plain": [{"file": "plain.png", "label": ""}]}
    (folder / "sets.json").write_text(json.dumps(sets))


@pytest.mark.slow
def test_a_reads_count_is_the_same_every_run_and_grows_with_the_work(tmp_path, mnist_test, model_path):
    _valgrind_or_skip()
    folder = tmp_path / "frames"
    folder.mkdir()
    _frames(folder, mnist_test[0][:10])
    first = count_code(ROOT, folder, model_path, tmp_path / "a")
    again = count_code(ROOT, folder, model_path, tmp_path / "b")
    one = first["sets"]["rendered"]["instructions"][0]
    plain = first["sets"]["plain"]["instructions"][0]
    # Each count lands on its own frame (the first dump, the start-up and warm-up, on none): a
    # page searched twice, with ten digits normalised and classified, costs several times one
    # digit (measured: 24.8 M against 7.6 M instructions).
    assert first["sets"]["plain"]["frame_files"] == ["plain.png"]
    assert plain > 2 * one > 0
    # Deterministic: another process counts the same reads exactly (a timing would differ by
    # per cents from run to run here).
    assert again["sets"] == first["sets"]


def test_the_dumps_are_read_in_the_order_callgrind_wrote_them(tmp_path):
    # cg.out.10 comes after cg.out.9, not after cg.out.1; the last dump has no number.
    for k in range(1, 12):
        (tmp_path / f"cg.out.{k}").write_text(f"version: 1\ncmd: python\ntotals: {k * 100}\n")
    (tmp_path / "cg.out").write_text("totals: 5\n")
    assert dump_totals(tmp_path / "cg.out") == [k * 100 for k in range(1, 12)]


def test_a_dump_without_totals_is_an_error_not_a_zero(tmp_path):
    (tmp_path / "cg.out.1").write_text("version: 1\n")
    with pytest.raises(RuntimeError, match="no totals"):
        dump_totals(tmp_path / "cg.out")


def test_the_report_compares_the_medians_of_both_codes():
    def counts(values):
        return {
            "instructions": values,
            "millions": {"p50": values[1] / 1e6, "p95": 0.0, "max": values[-1] / 1e6},
        }

    data = {
        "valgrind": "valgrind-3.19.0",
        "baseline": {"ref": "abc1234", "commit": "abc1234" * 5},
        "new": {"sets": {"plain": counts([20e6, 25e6, 30e6])}},
        "old": {"sets": {"plain": counts([60e6, 75e6, 90e6])}},
    }
    md = render_instructions(data)
    row = next(line for line in md.splitlines() if line.startswith("| plain"))
    assert "25.0 / 0.0 / 30.0 M" in row and "75.0 / 0.0 / 90.0 M" in row and "3.00x fewer" in row
