"""benchmarks/arm64/compare.py: a real run on the shipped models, and what its diff lets through."""

import json
import shutil

import numpy as np
import pytest

from benchmarks.arm64.compare import FLOAT_LOGIT_TOL, SECTION, RunOptions, diff, load_run, markdown, run


@pytest.fixture(scope="module")
def real_run(tmp_path_factory, mnist_test):
    """Every shipped model on 20 MNIST test digits, and the seed image (no photos: quicker)."""
    mp = pytest.MonkeyPatch()
    mp.delenv("DIGITS_PHOTOS_DIR", raising=False)
    out = tmp_path_factory.mktemp("x86")
    result = run(RunOptions(out, digits=20, start=100))
    mp.undo()
    return out, result


def perturbed(src, dst, change):
    """A copy of run ``src`` whose outputs and texts went through ``change(meta, outputs)``."""
    shutil.copytree(src, dst)
    meta, outputs = load_run(dst)
    change(meta, outputs)
    np.savez_compressed(dst / "outputs.npz", **outputs)
    (dst / "run.json").write_text(json.dumps(meta))
    return dst


def pick(meta, integer, quantization=None):
    return next(
        n
        for n, m in meta["models"].items()
        if bool(m.get("output_quantized")) == integer
        and (quantization is None or m["quantization"] == quantization)
        and (quantization == "dynamic_int8" or m["quantization"] != "dynamic_int8")
    )


def test_a_run_agrees_with_itself(real_run):
    out, result = real_run
    assert result["digits"] == {"start": 100, "count": 20}
    assert all("sha256" in m for m in result["models"].values()), result["models"]
    report = diff(out, out, "seed_9.jpg" if "seed_9.jpg" in result["images"] else None)
    assert report["ok"], report["problems"]
    assert len(report["models"]) == len(result["models"]) > 0
    text = markdown(report)
    assert text.startswith(f"## {SECTION}") and "**Result: pass**" in text


def test_one_quantization_step_passes_two_fail(real_run, tmp_path):
    out, result = real_run
    name = pick(result, integer=True)

    def bump(by):
        def change(meta, outputs):
            y = outputs[name].astype(np.int32)
            y[3, np.argmin(y[3])] += by  # the smallest logit: the argmax stays
            outputs[name] = y.astype(outputs[name].dtype)

        return change

    assert diff(out, perturbed(out, tmp_path / "one", bump(1)))["ok"]
    report = diff(out, perturbed(out, tmp_path / "two", bump(2)))
    assert not report["ok"] and any(name in p and "tolerance" in p for p in report["problems"])


def test_float_tolerance_and_argmax(real_run, tmp_path):
    out, result = real_run
    name = pick(result, integer=False)

    def nudge(meta, outputs):
        outputs[name][0, 0] += 2 * FLOAT_LOGIT_TOL

    assert not diff(out, perturbed(out, tmp_path / "float", nudge))["ok"]

    def swap(meta, outputs):  # the same values, but another digit wins on digit 5
        y = outputs[name]
        top, low = np.argmax(y[5]), np.argmin(y[5])
        y[5, [top, low]] = y[5, [low, top]]

    report = diff(out, perturbed(out, tmp_path / "argmax", swap))
    assert any("1 of 20 digits read differently" in p for p in report["problems"])


def test_texts_missing_models_and_other_files_fail(real_run, tmp_path):
    out, result = real_run
    some = next(iter(result["models"]))

    def other_text(meta, outputs):
        meta["images"]["seed_9.jpg"] = "4"

    def drop(meta, outputs):
        del meta["models"][some]
        del outputs[some]

    def other_file(meta, outputs):
        meta["models"][some]["sha256"] = "0" * 64

    assert not diff(out, perturbed(out, tmp_path / "text", other_text), "seed_9.jpg")["ok"]
    report = diff(out, perturbed(out, tmp_path / "drop", drop))
    assert not report["ok"] and any(p.startswith(some) for p in report["problems"])
    report = diff(out, perturbed(out, tmp_path / "file", other_file))
    assert any("different model files" in p for p in report["problems"])
    assert "FAIL" in markdown(report)


def test_dynamic_range_models_may_differ_within_their_exported_error(real_run, tmp_path):
    out, result = real_run
    name = pick(result, integer=False, quantization="dynamic_int8")
    error = result["models"][name]["export_max_logit_diff"]
    assert error > FLOAT_LOGIT_TOL  # export measured this file's quantization error against Keras

    def nudge(by):
        def change(meta, outputs):
            y = outputs[name]
            y[0, np.argmin(y[0])] -= by  # the smallest logit: the argmax stays

        return change

    assert diff(out, perturbed(out, tmp_path / "inside", nudge(0.5 * error)))["ok"]
    report = diff(out, perturbed(out, tmp_path / "outside", nudge(2 * error)))
    assert not report["ok"] and any(name in p and "tolerance" in p for p in report["problems"])
