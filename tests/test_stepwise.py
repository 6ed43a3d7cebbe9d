"""export/stepwise.py: the shipped per-row LSTM file agrees with the shipped LSTM, and the default
rule never picks it (LiteRT on the committed files; no TensorFlow needed)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

from edge_runtime.classifier import DigitClassifier
from export.manifest import check_manifest, choose_default, shipped_name
from export.stepwise import FILE, LOGIT_TOLERANCE, NAME, REFERENCE, ROLE, stepwise_logits

MODELS = Path(__file__).resolve().parents[1] / "models"
MNIST = os.environ.get("MNIST_PATH")


def manifest() -> dict:
    return json.loads((MODELS / "manifest.json").read_text())


def shipped(name: str) -> Path:
    """The committed file of a manifest entry (export gives it a content-addressed name)."""
    return MODELS / next(e["file"] for e in manifest()["models"] if e["name"] == name)


def test_manifest_lists_stepwise_file_with_its_role_and_checker_accepts_it():
    entry = next(e for e in manifest()["models"] if e["name"] == NAME)
    assert (
        entry["role"] == ROLE
        and entry["file"] in (FILE, shipped_name(NAME, entry["sha256"]))
        and entry["reference"] == REFERENCE
    )
    assert entry["output"]["shape"] == [1, 28, 10]
    assert entry["agreement"] == 1.0 and entry["max_logit_diff"] <= LOGIT_TOLERANCE
    assert check_manifest(MODELS) == []


def test_default_rule_never_picks_the_stepwise_file():
    m = manifest()
    assert m["default"] != NAME
    # Even if it were the fastest and most accurate, the rule skips it.
    fake = [dict(e, latency_us_p50=0.001, test_accuracy=1.0) if e["name"] == NAME else e for e in m["models"]]
    assert choose_default(fake, 0.2)[0] != NAME


@pytest.mark.skipif(not MNIST, reason="MNIST_PATH is not set (point it at mnist.npz)")
def test_last_step_agrees_with_the_shipped_lstm_on_mnist():
    from training.data import load_mnist

    x = load_mnist(MNIST, download=False).x_test[:1000].astype(np.float32) / 255.0
    steps = stepwise_logits(shipped(NAME), x)  # (n, 28, 10)
    ref = DigitClassifier(shipped(REFERENCE)).logits(x)
    assert steps.shape == (1000, 28, 10)
    assert np.array_equal(steps[:, -1].argmax(1), ref.argmax(1))
    assert np.abs(steps[:, -1] - ref).max() <= LOGIT_TOLERANCE
    # The early rows have seen too little to decide: the answer changes along the way.
    assert np.mean(steps[:, 5].argmax(1) == ref.argmax(1)) < 0.9


def test_serve_scales_the_per_row_probabilities_by_the_served_models_temperature(clean_digits):
    pytest.importorskip("starlette", reason="the [serve] extra is not installed")
    from edge_runtime.serve.engine import StepwiseModel

    x = clean_digits[0][0].astype(np.float32) / 255.0
    raw = StepwiseModel(shipped(NAME)).probabilities(x)
    hot = StepwiseModel(shipped(NAME), temperature=2.0).probabilities(x)
    expect = np.exp(np.log(raw) / 2.0)  # softmax(z / 2) from softmax(z): the same up to a row's sum
    np.testing.assert_allclose(hot, expect / expect.sum(axis=1, keepdims=True), rtol=1e-4, atol=1e-6)
    assert not np.allclose(hot, raw)
