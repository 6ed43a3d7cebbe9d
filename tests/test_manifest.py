"""export/manifest.py: the default-model rule and the manifest-vs-files check (no TensorFlow)."""

from __future__ import annotations

import hashlib
import json

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
