"""export/calibrate.py and the runtime's use of it: temperature scaling on real model outputs."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from edge_runtime.classifier import DigitClassifier, ModelError
from edge_runtime.manifest import temperature_for
from export.calibrate import calibrate_model, ece, fit_temperature, nll, softmax


def sampled(temperature: float, n: int = 20000, seed: int = 0):
    """Logits and labels drawn from softmax(logits / temperature): the true T is known."""
    rng = np.random.default_rng(seed)
    logits = rng.normal(0, 4, (n, 10))
    p = softmax(logits, temperature)
    labels = np.array([rng.choice(10, p=row) for row in p])
    return logits, labels


@pytest.mark.parametrize("true_t", [0.5, 1.0, 2.5])
def test_fit_recovers_a_known_temperature(true_t):
    logits, labels = sampled(true_t)
    t = fit_temperature(logits, labels)
    assert t == pytest.approx(true_t, rel=0.08)
    assert nll(logits, labels, t) <= nll(logits, labels, 1.0) + 1e-9
    assert ece(softmax(logits, t), labels) < 0.02
    if true_t != 1.0:  # the raw softmax is over- or under-confident
        assert ece(softmax(logits), labels) > 2 * ece(softmax(logits, t), labels)


def test_ece_is_zero_for_honest_and_large_for_overconfident_predictions():
    labels = np.zeros(1000, int)
    honest = np.tile(np.eye(10)[0], (1000, 1))  # sure and right
    assert ece(honest, labels) == pytest.approx(0.0)
    wrong = np.tile(np.eye(10)[1], (1000, 1))  # sure and wrong
    assert ece(wrong, labels) == pytest.approx(1.0)


def test_classifier_applies_the_temperature_without_changing_the_reading(model_path, mnist_test):
    x = mnist_test[0][:50] / 255.0
    raw = DigitClassifier(model_path)
    warm = DigitClassifier(model_path, temperature=2.0)
    logits = raw.logits(x)
    np.testing.assert_allclose(warm.probabilities(x), softmax(logits, 2.0), atol=1e-5)
    np.testing.assert_array_equal(warm.probabilities(x).argmax(1), raw.probabilities(x).argmax(1))
    assert warm.probabilities(x).max(1).mean() < raw.probabilities(x).max(1).mean()
    with pytest.raises(ModelError, match="temperature"):
        DigitClassifier(model_path, temperature=0.0)


def test_temperature_is_read_from_the_manifest_beside_the_model(model_path, tmp_path):
    model = tmp_path / "m.tflite"
    shutil.copy(model_path, model)
    assert temperature_for(model) == 1.0  # no manifest
    manifest = tmp_path / "manifest.json"
    shipped = json.loads((model_path.parent / "manifest.json").read_text())
    base = next(e for e in shipped["models"] if e["file"] == model_path.name)
    base = {k: v for k, v in base.items() if k not in ("temperature", "calibration")}
    for entry, expected in [
        ({"file": "m.tflite", "temperature": 1.7}, 1.7),
        ({"file": "m.tflite"}, 1.0),  # a manifest from before calibration
        ({"file": "m.tflite", "temperature": -1}, 1.0),
        ({"file": "m.tflite", "temperature": "hot"}, 1.0),  # not a manifest the runtime accepts
        ({"file": "other.tflite", "temperature": 3.0}, 1.0),
    ]:
        full = {**base, **entry}
        manifest.write_text(json.dumps({"default": full["name"], "models": [full]}))
        assert temperature_for(model) == expected, entry
    manifest.write_text("{not json")
    assert temperature_for(model) == 1.0


@pytest.mark.slow
def test_calibrate_model_fits_on_the_validation_split(model_path, mnist_test):
    fit = calibrate_model(model_path, {"options": {"val_size": 5000}})
    c = fit["calibration"]
    assert 0.3 < fit["temperature"] < 3.0 and c["split"] == "val" and c["images"] == 5000
    assert c["nll_after"] <= c["nll_before"] + 1e-6
