"""export/: the real converter and the real LiteRT interpreter on a small trained LSTM.

A 16-unit LSTM trained for one epoch on 6,000 images stands in for the shipped
model (the shapes, graphs and ops are the same; only accuracy differs), so the
whole file runs in about a minute and a half.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
from pathlib import Path

import numpy as np
import pytest

MNIST = os.environ.get("MNIST_PATH")
pytestmark = pytest.mark.skipif(not MNIST, reason="MNIST_PATH is not set (point it at mnist.npz)")

UNITS = 16
TEST_IMAGES = 2000  # verification subset: keeps each variant's check under a second
VARIANTS = ("fused_float32", "fused_int8", "unrolled_int8", "unrolled_dynamic")


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def options(tmp: Path, **kw):
    from export.run import ExportOptions

    base = dict(
        runs_dir=tmp / "runs",
        out_dir=tmp / "models",
        archs=("lstm",),
        variants=VARIANTS,
        mnist=MNIST,
        train=False,
        test_images=TEST_IMAGES,
        calibration_samples=200,
        quant_tolerance_pp=3.0,
    )  # a 1-epoch model is noisier under int8 than the real one
    base.update(kw)
    return ExportOptions(**base)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """runs/lstm/{model.keras, config.json} of a small LSTM, plus its Keras test logits."""
    from training.data import load_mnist
    from training.models import build_model
    from training.tfkeras import keras

    tmp = tmp_path_factory.mktemp("export")
    data = load_mnist(MNIST)
    keras.utils.set_random_seed(0)
    model = build_model("lstm", UNITS)
    model.compile(
        optimizer=keras.optimizers.Adam(3e-3),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    model.fit(data.x_train[:6000] / 255.0, data.y_train[:6000], epochs=1, batch_size=64, verbose=0)
    run = tmp / "runs" / "lstm"
    run.mkdir(parents=True)
    model.save(run / "model.keras")
    (run / "config.json").write_text(
        json.dumps({"arch": "lstm", "units": UNITS, "epochs": 1, "data_sha256": data.sha256})
    )
    (run / "metrics.json").write_text("{}")  # written last by training: marks the run complete
    x = data.x_test[:TEST_IMAGES].astype(np.float32) / 255.0
    return {"tmp": tmp, "x": x, "y": data.y_test[:TEST_IMAGES], "keras_logits": model.predict(x, verbose=0)}


@pytest.fixture(scope="module")
def exported(trained):
    from export.run import run_export

    lines: list[str] = []
    result = run_export(options(trained["tmp"]), log=lines.append)
    return {**trained, "result": result, "lines": lines, "out": trained["tmp"] / "models"}


def manifest(out: Path) -> dict:
    return json.loads((out / "manifest.json").read_text())


def model_file(out: Path, name: str) -> Path:
    """The file the manifest names for a variant (names carry a hash of the content)."""
    return out / next(e["file"] for e in manifest(out)["models"] if e["name"] == name)


@pytest.mark.slow
def test_every_variant_ships_with_one_log_line_each(exported):
    r = exported["result"]
    assert [v.status for v in r.variants] == ["shipped"] * 4, [(v.name, v.reason) for v in r.variants]
    for name in ("lstm_fused_float32", "lstm_fused_int8", "lstm_unrolled_int8", "lstm_unrolled_dynamic"):
        assert sum(line.startswith(name) for line in exported["lines"]) == 1
        assert model_file(exported["out"], name).is_file()
        assert model_file(exported["out"], name).name.startswith(name + "-")
    assert not list(exported["out"].glob(".*")), "temporary files left behind"


@pytest.mark.slow
def test_fused_int8_has_fused_op_int8_io_and_repeats(exported):
    from edge_runtime.classifier import DigitClassifier

    clf = DigitClassifier(model_file(exported["out"], "lstm_fused_int8"))
    ops = {op["op_name"] for op in clf.interpreter._get_ops_details()}
    assert "UNIDIRECTIONAL_SEQUENCE_LSTM" in ops
    assert clf.input.dtype == np.int8 and clf.output.dtype == np.int8
    x = exported["x"][:3]
    first = clf.logits(x)
    assert np.array_equal(first, clf.logits(x)), "same images gave different logits: state not reset"
    unrolled = DigitClassifier(model_file(exported["out"], "lstm_unrolled_int8"))
    assert "UNIDIRECTIONAL_SEQUENCE_LSTM" not in {
        op["op_name"] for op in unrolled.interpreter._get_ops_details()
    }


@pytest.mark.slow
def test_unrolled_float_graphs_take_a_free_batch_and_read_batches_like_single_digits(exported):
    """The unrolled dynamic-range graph's batch is free, so a frame's 13 digits go in one invoke
    of 16 (the last 3 rows are padding) and give each digit's own batch-1 logits; the
    fused graph (state tensors) and the full-integer unrolled one (XNNPACK) keep batch 1 and
    one invoke per digit."""
    from edge_runtime.classifier import DigitClassifier

    x = exported["x"][:13]
    for name in ("lstm_unrolled_dynamic", "lstm_unrolled_int8", "lstm_fused_float32"):
        clf = DigitClassifier(model_file(exported["out"], name))
        sig = list(clf.interpreter.get_input_details()[0]["shape_signature"])
        assert clf.free_batch == (name == "lstm_unrolled_dynamic"), name
        assert sig == ([-1, 28, 28] if clf.free_batch else [1, 28, 28]), name
        step = clf.step()
        q = clf.quantize_input(x)
        one_by_one = np.concatenate([clf.dequantize_output(step(q[i : i + 1])) for i in range(len(q))])
        assert np.allclose(clf.logits(x), one_by_one, rtol=0, atol=1e-5), name
        made = sorted(k for k, run in clf._batched.items() if run is not None)
        assert made == ([16] if clf.free_batch else []), name


@pytest.mark.slow
def test_shipped_files_agree_with_keras(exported):
    from edge_runtime.classifier import DigitClassifier

    x, ref = exported["x"][:500], exported["keras_logits"][:500]
    f32 = DigitClassifier(model_file(exported["out"], "lstm_fused_float32")).logits(x)
    assert np.max(np.abs(f32 - ref)) < 1e-4
    for name in ("lstm_fused_int8", "lstm_unrolled_int8"):
        q = DigitClassifier(model_file(exported["out"], name)).logits(x)
        # A weak 1-epoch model has many near ties, so int8 flips more of them than the real one.
        assert np.mean(q.argmax(1) == ref.argmax(1)) >= 0.95, name


@pytest.mark.slow
def test_manifest_schema_and_hashes_match_files(exported):
    from export.manifest import ENTRY_KEYS, OPTIONAL_KEYS, check_manifest

    out = exported["out"]
    m = manifest(out)
    assert check_manifest(out) == []
    assert m["default"] in {e["name"] for e in m["models"]} and m["default_reason"]
    for e in m["models"]:
        assert set(ENTRY_KEYS) - set(OPTIONAL_KEYS) <= set(e)
        assert e["sha256"] == sha256(out / e["file"]) and e["size_bytes"] == (out / e["file"]).stat().st_size
        assert e["graph"] == e["name"].split("_")[1]
        assert e["test_images"] == TEST_IMAGES and e["training"]["units"] == UNITS
        assert e["temperature"] > 0 and e["calibration"]["split"] == "val"  # export/calibrate.py
    acc = {e["name"]: e["test_accuracy"] for e in m["models"]}
    y = exported["y"]
    assert acc["lstm_fused_float32"] == pytest.approx(
        np.mean(exported["keras_logits"].argmax(1) == y), abs=1e-3
    )
    int8 = next(e for e in m["models"] if e["name"] == "lstm_fused_int8")
    assert int8["input"]["dtype"] == "int8" and int8["input"]["scale"] > 0


@pytest.mark.slow
def test_second_export_reuses_everything_quickly(exported):
    from export.run import run_export

    out = exported["out"]
    before = (out / "manifest.json").stat().st_mtime_ns
    t = time.perf_counter()
    r = run_export(options(exported["tmp"]))
    assert time.perf_counter() - t < 5
    assert [v.status for v in r.variants] == ["cached"] * 4
    assert (out / "manifest.json").stat().st_mtime_ns == before


@pytest.mark.slow
def test_an_up_to_date_export_with_another_tolerance_rewrites_only_the_manifest(exported, tmp_path):
    from export.run import run_export

    out = tmp_path / "models"
    shutil.copytree(exported["out"], out)
    files = {p.name: p.read_bytes() for p in out.glob("*.tflite")}
    before = json.loads((out / "manifest.json").read_text())
    r = run_export(options(exported["tmp"], out_dir=out, quant_tolerance_pp=2.5))
    assert [v.status for v in r.variants] == ["cached"] * 4
    after = json.loads((out / "manifest.json").read_text())
    assert before["default_tolerance_pp"] == 3.0 and after["default_tolerance_pp"] == 2.5
    assert "within 2.5 pp" in after["default_reason"]
    # The quantized entries record the rule they now pass under; nothing else in them changes.
    for b, a in zip(before["models"], after["models"]):
        quantized = b["quantization"] != "float32"
        assert a["tolerance_pp"] == (2.5 if quantized else b["tolerance_pp"])
        assert {**a, "tolerance_pp": b["tolerance_pp"]} == b
    assert {p.name: p.read_bytes() for p in out.glob("*.tflite")} == files


@pytest.mark.slow
def test_a_stricter_tolerance_drops_cached_files_that_no_longer_pass(exported, tmp_path):
    """The tolerance is not in the cache key (conversion does not depend on it), so the cached
    files' recorded figures are judged again: one that fails the stricter rule is dropped, as
    a freshly converted one would be, and the files that pass stay cached."""
    from export.run import run_export

    out = tmp_path / "models"
    shutil.copytree(exported["out"], out)
    # The small model loses nothing under int8, so one entry is made to record a 2 pp loss, as
    # a file shipped under a 3 pp rule may have.
    doc = manifest(out)
    lossy = next(e for e in doc["models"] if e["name"] == "lstm_unrolled_int8")
    lossy["test_accuracy"] = lossy["keras_test_accuracy"] - 0.02
    (out / "manifest.json").write_text(json.dumps(doc))
    r = run_export(options(exported["tmp"], out_dir=out, quant_tolerance_pp=1.0))
    status = {v.name: (v.status, v.reason) for v in r.variants}
    assert status["lstm_unrolled_int8"][0] == "failed"
    assert (
        "2.00 pp below Keras" in status["lstm_unrolled_int8"][1]
        and "tolerance 1.0 pp" in status["lstm_unrolled_int8"][1]
    )
    for name in ("lstm_fused_float32", "lstm_fused_int8", "lstm_unrolled_dynamic"):
        assert status[name] == ("cached", "")
    listed = {e["name"] for e in manifest(out)["models"]}
    assert "lstm_unrolled_int8" not in listed and manifest(out)["default_tolerance_pp"] == 1.0
    assert sorted(p.name for p in out.glob("*.tflite")) == sorted(e["file"] for e in manifest(out)["models"])


@pytest.mark.slow
def test_converter_crash_and_accuracy_loss_fail_only_their_variant(exported, monkeypatch, tmp_path):
    from export.convert import CRASH_HOOK_ENV
    from export.run import run_export

    out = tmp_path / "models"
    shutil.copytree(exported["out"], out)
    monkeypatch.setenv(CRASH_HOOK_ENV, "lstm_fused_float16")
    r = run_export(
        options(
            exported["tmp"],
            out_dir=out,
            force=True,
            float_tolerance_pp=-5.0,
            variants=("fused_float16", "fused_float32", "fused_dynamic"),
        )
    )
    status = {v.name: (v.status, v.reason) for v in r.variants}
    assert status["lstm_fused_float16"] == ("failed", "converter crashed (signal 11, SIGSEGV)")
    assert status["lstm_fused_float32"][0] == "failed" and "below Keras" in status["lstm_fused_float32"][1]
    assert status["lstm_fused_dynamic"][0] == "shipped"
    names = {e["name"] for e in manifest(out)["models"]}
    # The failed float32 (its model is the same) is dropped, not left stale; the dynamic one is new;
    # int8 files of the same model were not requested this time and stay listed.
    assert names == {"lstm_fused_dynamic", "lstm_fused_int8", "lstm_unrolled_int8", "lstm_unrolled_dynamic"}
    assert sorted(p.name for p in out.glob("*.tflite")) == sorted(e["file"] for e in manifest(out)["models"])


@pytest.mark.slow
def test_interrupted_export_leaves_previous_models_intact(exported, monkeypatch, tmp_path):
    import export.run
    from export.run import run_export

    out = tmp_path / "models"
    shutil.copytree(exported["out"], out)
    before = {p.name: p.read_bytes() for p in out.iterdir()}

    def interrupted(keras_path, arch, todo, work, **kwargs):  # Ctrl-C halfway through converting
        (work / todo[0].file).write_bytes(b"half a model")
        raise KeyboardInterrupt

    monkeypatch.setattr(export.run, "run_children", interrupted)
    with pytest.raises(KeyboardInterrupt):
        run_export(options(exported["tmp"], out_dir=out, force=True))
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before


@pytest.mark.slow
def test_failed_manifest_write_undoes_the_file_swap(exported, monkeypatch, tmp_path):
    import export.manifest
    from export.manifest import commit

    out, work = tmp_path / "models", tmp_path / "work"
    shutil.copytree(exported["out"], out)
    work.mkdir()
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    (work / "a").write_bytes(b"new int8 model")
    (work / "b").write_bytes(b"new float16 model")
    staged = {
        "lstm_fused_int8-0123456789ab.tflite": work / "a",
        "lstm_fused_float16-0123456789ab.tflite": work / "b",
    }

    def disk_full(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(export.manifest, "write_manifest", disk_full)
    with pytest.raises(OSError):
        commit(out, staged, {"models": []}, manifest(out))
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before


# ---------------------------------------------------------------- bad input via main()


def test_unwritable_output_folder_is_one_clear_error(tmp_path, capsys):
    from export.__main__ import main

    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    t = time.perf_counter()
    rc = main(["--runs", str(tmp_path / "runs"), "--out", str(blocker / "models")])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and time.perf_counter() - t < 5
    assert len(err) == 1 and err[0].startswith("error: output folder not writable:") and "a-file" in err[0]


def test_corrupt_keras_file_is_one_clear_error(tmp_path, capsys):
    from export.__main__ import main

    run = tmp_path / "runs" / "lstm"
    run.mkdir(parents=True)
    (run / "model.keras").write_bytes(b"PK\x03\x04 truncated")
    (run / "metrics.json").write_text("{}")
    rc = main(["--runs", str(tmp_path / "runs"), "--out", str(tmp_path / "models")])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1 and err[0].startswith("error: corrupt Keras model file:")
    assert not (tmp_path / "models" / "manifest.json").exists()


def test_no_trained_model_without_training_is_one_clear_error(tmp_path, capsys):
    from export.__main__ import main

    rc = main(["--runs", str(tmp_path / "runs"), "--out", str(tmp_path / "models"), "--no-train"])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1 and err[0].startswith("error: no trained model for lstm")


def test_missing_mnist_is_one_clear_error(trained, tmp_path, capsys):
    from export.__main__ import main

    rc = main(
        [
            "--runs",
            str(trained["tmp"] / "runs"),
            "--out",
            str(tmp_path / "models"),
            "--mnist",
            str(tmp_path / "nowhere.npz"),
        ]
    )
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1 and "MNIST file not found" in err[0] and "nowhere.npz" in err[0]


def test_unknown_variant_is_rejected_before_work(tmp_path, capsys):
    from export.__main__ import main

    rc = main(
        ["--runs", str(tmp_path / "runs"), "--out", str(tmp_path / "models"), "--variants", "fused_int4"]
    )
    err = capsys.readouterr().err
    assert rc == 2 and "quantization 'int4'" in err


# ---------------------------------------------------------------- hostile cases (issue 10)


@pytest.mark.slow
def test_corrupt_mnist_during_force_export_is_one_error_line(exported, tmp_path, capsys):
    from export.__main__ import main

    out = tmp_path / "models"
    shutil.copytree(exported["out"], out)
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    corrupt = tmp_path / "mnist.npz"
    data = Path(MNIST).read_bytes()
    corrupt.write_bytes(data[: len(data) // 3])  # truncated zip
    rc = main(
        ["--runs", str(exported["tmp"] / "runs"), "--out", str(out), "--archs", "lstm", "--force"]
        + ["--variants", "fused_float32", "--mnist", str(corrupt), "--test-images", "100"]
    )
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1 and err[0].startswith("error:") and "mnist.npz" in err[0], err
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before


@pytest.mark.slow
def test_two_exports_into_one_folder_take_turns_and_both_are_kept(exported, tmp_path):
    import threading

    from export.manifest import check_manifest
    from export.run import run_export

    out = tmp_path / "models"
    shutil.copytree(exported["out"], out)
    logs: dict[str, list[str]] = {"a": [], "b": []}
    errors = []

    def export(key, variant):
        try:
            run_export(options(exported["tmp"], out_dir=out, variants=(variant,)), log=logs[key].append)
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [
        threading.Thread(target=export, args=("a", "fused_dynamic")),
        threading.Thread(target=export, args=("b", "fused_float16")),
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert any("waiting for another export" in line for line in logs["a"] + logs["b"])
    names = {e["name"] for e in manifest(out)["models"]}
    assert {"lstm_fused_dynamic", "lstm_fused_float16"} <= names  # neither export lost the other's
    assert check_manifest(out) == []
    assert sorted(p.name for p in out.glob("*.tflite")) == sorted(e["file"] for e in manifest(out)["models"])
