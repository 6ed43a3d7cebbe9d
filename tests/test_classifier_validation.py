"""DigitClassifier refuses models of the wrong shape and never returns NaN/inf (issue 10).

Real .tflite files, converted here with TensorFlow (tests may use it; the runtime may not)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from edge_runtime.classifier import DigitClassifier, ModelError
from edge_runtime.contract import PROJECT_ROOT

ROOT = PROJECT_ROOT


def _convert(path: Path, fn, in_shape) -> Path:
    from training.tfkeras import tf

    concrete = tf.function(fn).get_concrete_function(tf.TensorSpec(in_shape, tf.float32))
    path.write_bytes(tf.lite.TFLiteConverter.from_concrete_functions([concrete]).convert())
    return path


@pytest.fixture(scope="module")
def odd_models(tmp_path_factory):
    from training.tfkeras import tf

    d = tmp_path_factory.mktemp("odd")
    w = tf.constant(np.random.default_rng(0).normal(size=(784, 10)).astype(np.float32))
    return {
        "batch2": _convert(d / "batch2.tflite", lambda x: tf.reshape(x, [2, 784]) @ w, [2, 28, 28]),
        "five": _convert(d / "five.tflite", lambda x: tf.reshape(x, [1, 784]) @ w[:, :5], [1, 28, 28]),
        "nan": _convert(
            d / "nan.tflite",
            lambda x: tf.math.log(-1.0 - tf.reduce_sum(x)) * tf.ones([1, 10]),  # log of a negative
            [1, 28, 28],
        ),
    }


@pytest.mark.slow
@pytest.mark.parametrize("name", ["batch2", "five"])
def test_wrong_batch_or_shape_is_a_model_error(odd_models, name):
    with pytest.raises(ModelError, match=r"not a digit model .*expected \(1, 28, 28\) -> \(1, 10\)"):
        DigitClassifier(odd_models[name])


@pytest.mark.slow
def test_nan_output_is_a_model_error_not_a_number(odd_models):
    clf = DigitClassifier(odd_models["nan"])
    with pytest.raises(ModelError, match="non-finite logits"):
        clf.logits(np.zeros((2, 28, 28), np.float32))


@pytest.mark.slow
def test_nan_model_keeps_json_valid_with_an_error_per_image(odd_models, tmp_path):
    img = np.full((120, 100), 255, np.uint8)
    cv2.putText(img, "3", (20, 100), cv2.FONT_HERSHEY_SIMPLEX, 3, 0, 10)
    cv2.imwrite(str(tmp_path / "three.png"), img)
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    out = subprocess.run(
        [sys.executable, "-m", "edge_runtime", "image", str(tmp_path / "three.png"), "--json"]
        + ["--model", str(odd_models["nan"])],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=60,
    )
    assert out.returncode == 1
    record = json.loads(out.stdout)  # strict JSON: a bare NaN would not parse with parse_constant
    json.loads(out.stdout, parse_constant=lambda c: pytest.fail(f"non-JSON constant {c}"))
    assert "non-finite logits" in record["error"]
    bad = subprocess.run(
        [
            sys.executable,
            "-m",
            "edge_runtime",
            "image",
            str(tmp_path / "three.png"),
            "--model",
            str(odd_models["five"]),
        ],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=60,
    )
    errors = [line for line in bad.stderr.splitlines() if "error" in line.lower()]  # LiteRT logs an INFO line
    assert bad.returncode == 2 and len(errors) == 1 and "not a digit model" in errors[0], bad.stderr
