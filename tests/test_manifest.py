"""export/manifest.py: the default-model rule and the manifest-vs-files check (no TensorFlow)."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys

import pytest

from edge_runtime.contract import PROJECT_ROOT as ROOT
from edge_runtime.manifest import ManifestError, parse_manifest, read_manifest, resolve_model
from export.manifest import ENTRY_KEYS, build_manifest, check_manifest, choose_default, write_manifest


def entry(name, acc, latency, size, arch="lstm"):
    return {"name": name, "arch": arch, "test_accuracy": acc, "latency_us_p50": latency, "size_bytes": size}


def test_default_is_fastest_accurate_lstm_with_ties_going_to_the_smaller_file():
    models = [
        entry("lstm_fused_int8", 0.9910, 480.0, 30_000),  # accurate but slow
        entry("lstm_unrolled_int8", 0.9905, 24.0, 150_000),  # fast, big
        entry("lstm_unrolled_dynamic", 0.9911, 25.0, 100_000),  # within 10% of 24 us, smaller: wins
        entry("lstm_tiny", 0.9850, 10.0, 5_000),  # fastest but 0.6 pp worse: out
        entry("gru_unrolled_dynamic", 0.9930, 5.0, 50_000, arch="gru"),  # not the product arch
    ]
    name, reason = choose_default(models, tolerance_pp=0.2)
    assert name == "lstm_unrolled_dynamic"
    assert "lstm_unrolled_dynamic" in reason and "0.2 pp" in reason


def test_default_falls_back_to_any_arch_without_lstm():
    name, _ = choose_default(
        [entry("gru_a", 0.99, 30.0, 10, arch="gru"), entry("rnn_b", 0.99, 20.0, 10, arch="rnn")], 0.2
    )
    assert name == "rnn_b"


def full_entry(tmp_path, name, payload):
    (tmp_path / f"{name}.tflite").write_bytes(payload)
    e = {k: None for k in ENTRY_KEYS}
    spec = {"dtype": "float32", "shape": [1, 28, 28], "scale": 0.0, "zero_point": 0}
    e.update(
        entry(name, 0.99, 20.0, len(payload)),
        file=f"{name}.tflite",
        graph="fused",
        quantization="float32",
        input=spec,
        output=dict(spec, shape=[1, 10]),
        sha256=hashlib.sha256(payload).hexdigest(),
    )
    return e


def test_check_manifest_accepts_matching_files_and_flags_a_changed_one(tmp_path):
    m = build_manifest([full_entry(tmp_path, "lstm_fused_float32", b"model bytes")], tolerance_pp=0.2)
    write_manifest(tmp_path, m)
    assert json.loads((tmp_path / "manifest.json").read_text())["default"] == "lstm_fused_float32"
    assert check_manifest(tmp_path) == []
    (tmp_path / "lstm_fused_float32.tflite").write_bytes(b"model byteZ")  # same size, other content
    problems = check_manifest(tmp_path)
    assert len(problems) == 1 and "does not match its recorded size/sha256" in problems[0]
    assert not list(tmp_path.glob(".*")), "temporary file left behind"


# ---------------------------------------------------------------- the runtime's reader (issue 10)


def good_manifest(tmp_path) -> dict:
    m = build_manifest([full_entry(tmp_path, "lstm_fused_float32", b"model bytes")], tolerance_pp=0.2)
    write_manifest(tmp_path, m)
    return m


def test_the_tolerance_the_rule_used_is_recorded_and_read_back(tmp_path):
    m = build_manifest([full_entry(tmp_path, "lstm_fused_float32", b"model bytes")], tolerance_pp=0.35)
    assert m["default_tolerance_pp"] == 0.35 and "within 0.35 pp" in m["default_reason"]
    write_manifest(tmp_path, m)
    parsed = read_manifest(tmp_path)
    assert parsed.default_tolerance_pp == 0.35 and parsed.to_json() == m
    # A manifest written before the key existed still reads, without it.
    old = {k: v for k, v in m.items() if k != "default_tolerance_pp"}
    assert parse_manifest(old).default_tolerance_pp is None and parse_manifest(old).to_json() == old


@pytest.mark.parametrize(
    "change,message",
    [
        (lambda m: 5, "top level is int"),
        (lambda m: {**m, "models": 5}, "'models' is 5, not a list"),
        (lambda m: {**m, "models": None}, "'models' is null"),
        (lambda m: {**m, "models": [7]}, "models[0] is int"),
        (
            lambda m: {**m, "models": [{k: v for k, v in m["models"][0].items() if k != "file"}]},
            "has no 'file'",
        ),
        (lambda m: {**m, "models": [{**m["models"][0], "file": None}]}, "'file' is null, not str"),
        (lambda m: {**m, "models": [{**m["models"][0], "file": "../../etc/passwd"}]}, "must be a file name"),
        (lambda m: {**m, "models": [{**m["models"][0], "size_bytes": "12"}]}, "'size_bytes' is \"12\""),
        (lambda m: {**m, "models": [{**m["models"][0], "sha256": "abc"}]}, "not 64 hex digits"),
        (lambda m: {**m, "models": [{**m["models"][0], "input": {}}]}, "'input' lacks dtype"),
        (lambda m: {**m, "default": "nope"}, 'default model "nope" is not in'),
        (lambda m: {**m, "models": m["models"] * 2}, "model names repeat"),
        (lambda m: {**m, "default_tolerance_pp": "0.2"}, "'default_tolerance_pp' is \"0.2\""),
        (lambda m: {**m, "default_tolerance_pp": -1}, "not percentage points"),
    ],
)
def test_wrong_shapes_are_one_line_manifest_errors(tmp_path, change, message):
    bad = change(good_manifest(tmp_path))
    import re

    with pytest.raises(ManifestError, match=re.escape(message)) as info:
        parse_manifest(bad)
    assert "\n" not in str(info.value)
    (tmp_path / "manifest.json").write_text(json.dumps(bad))
    with pytest.raises(ManifestError, match="run make export again"):
        read_manifest(tmp_path)
    assert check_manifest(tmp_path)  # the export's checker says no too


def test_runtime_checks_the_sha256_of_the_model_it_loads(tmp_path, monkeypatch):
    from edge_runtime.manifest import default_model_path

    good_manifest(tmp_path)
    assert default_model_path(tmp_path) == tmp_path / "lstm_fused_float32.tflite"
    (tmp_path / "lstm_fused_float32.tflite").write_bytes(b"model byteZ")  # swapped or damaged
    with pytest.raises(ManifestError, match="does not match the sha256"):
        default_model_path(tmp_path)
    # --model naming a file the folder's manifest lists is checked the same way...
    with pytest.raises(ManifestError, match="does not match the sha256"):
        resolve_model(tmp_path / "lstm_fused_float32.tflite")
    # ...and a model outside any manifest has no recorded hash: it is taken as given.
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "elsewhere" / "mine.tflite").write_bytes(b"x")
    assert resolve_model(tmp_path / "elsewhere" / "mine.tflite") == tmp_path / "elsewhere" / "mine.tflite"
    monkeypatch.setenv("DIGITS_MODEL", str(tmp_path / "lstm_fused_float32.tflite"))
    with pytest.raises(ManifestError, match="does not match the sha256"):
        resolve_model()


def test_cli_with_a_swapped_model_file_is_one_clear_error(tmp_path, model_path):
    import shutil

    folder = tmp_path / "models"
    folder.mkdir()
    shutil.copy(model_path, folder / "lstm_fused_float32.tflite")
    payload = (folder / "lstm_fused_float32.tflite").read_bytes()
    m = build_manifest([full_entry(folder, "lstm_fused_float32", payload)], tolerance_pp=0.2)
    write_manifest(folder, m)
    seed = tmp_path / "x.png"
    seed.write_bytes(b"")
    env = {k: v for k, v in os.environ.items() if k != "DIGITS_MODEL"} | {"PYTHONPATH": str(ROOT)}
    args = [
        sys.executable,
        "-m",
        "edge_runtime",
        "image",
        str(seed),
        "--model",
        str(folder / "lstm_fused_float32.tflite"),
    ]
    ok = subprocess.run(args, capture_output=True, text=True, env=env, cwd=ROOT, timeout=60)
    assert ok.returncode == 1 and "empty file" in ok.stdout, ok.stderr  # the model loaded; the image is bad
    damaged = bytearray(payload)
    damaged[len(damaged) // 2] ^= 0xFF
    (folder / "lstm_fused_float32.tflite").write_bytes(bytes(damaged))
    bad = subprocess.run(args, capture_output=True, text=True, env=env, cwd=ROOT, timeout=60)
    err = bad.stderr.strip().splitlines()
    assert bad.returncode == 2 and len(err) == 1 and "does not match the sha256" in err[0], bad.stderr
