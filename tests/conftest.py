"""Shared fixtures: MNIST test digits, a real TFLite digit model, rendered scenes.

The model is the shipped default (models/manifest.json) when it exists, else
$DIGITS_MODEL, else a small LSTM trained for one epoch and converted here (tests may
use TensorFlow; the runtime may not).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np
import pytest

from edge_runtime.contract import PROJECT_ROOT

ROOT = PROJECT_ROOT
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


@pytest.fixture(scope="session")
def dev_photos() -> Path:
    """The labelled dev photos' folder from $DIGITS_PHOTOS_DIR (with labels.json)."""
    folder = os.environ.get("DIGITS_PHOTOS_DIR")
    if not folder or not (Path(folder) / "labels.json").is_file():
        pytest.skip("DIGITS_PHOTOS_DIR is not set (folder with labels.json)")
    return Path(folder)


@pytest.fixture(scope="session")
def shipped_model() -> Path:
    """The shipped default model (models/manifest.json); no stand-in."""
    from edge_runtime.classifier import ModelError
    from edge_runtime.manifest import default_model_path

    try:
        return default_model_path()
    except ModelError as exc:
        pytest.skip(f"no shipped model: {exc}")


@pytest.fixture(scope="session")
def mnist_test():
    """(x_test uint8 (10000, 28, 28), y_test uint8 (10000,)) from $MNIST_PATH."""
    path = os.environ.get("MNIST_PATH")
    if not path or not Path(path).is_file():
        pytest.skip("MNIST_PATH is not set (point it at mnist.npz)")
    with np.load(path) as data:
        return data["x_test"], data["y_test"]


def _train_tiny_model(out: Path, mnist_path: str) -> Path:
    """Three epochs of LSTM-64 on the 60k training digits (~98% test accuracy, ~15 s), converted
    to a fused float32 TFLite file the way export does it (batch-1 concrete function)."""
    from training.models import build_model
    from training.tfkeras import tf

    with np.load(mnist_path) as data:
        x, y = data["x_train"].astype("float32") / 255.0, data["y_train"]
    tf.keras.utils.set_random_seed(0)
    model = build_model("lstm", units=64)
    model.compile("adam", tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    model.fit(x, y, batch_size=128, epochs=3, verbose=0)
    fn = tf.function(lambda t: model(t)).get_concrete_function(tf.TensorSpec([1, 28, 28], tf.float32))
    tflite = tf.lite.TFLiteConverter.from_concrete_functions([fn], model).convert()
    out.write_bytes(tflite)
    return out


@pytest.fixture(scope="session")
def model_path(tmp_path_factory) -> Path:
    from edge_runtime.classifier import ModelError
    from edge_runtime.manifest import default_model_path

    try:
        path = default_model_path()
        if path.is_file():
            return path
    except ModelError:
        pass
    env = os.environ.get("DIGITS_MODEL")
    if env and Path(env).is_file():
        return Path(env)
    mnist = os.environ.get("MNIST_PATH")
    if not mnist:
        pytest.skip("no model in models/ and MNIST_PATH unset: cannot make a test model")
    return _train_tiny_model(tmp_path_factory.mktemp("model") / "tiny_lstm.tflite", mnist)


@pytest.fixture(scope="session")
def classifier(model_path):
    from edge_runtime.classifier import DigitClassifier

    return DigitClassifier(model_path)


@pytest.fixture(scope="session")
def reader(classifier):
    from edge_runtime.pipeline import DigitReader

    return DigitReader(classifier, min_confidence=0.0)


@pytest.fixture(scope="session")
def clean_digits(mnist_test):
    """The first 400 MNIST test digits and labels (all classes), for rendering scenes."""
    x, y = mnist_test
    return x[:400], y[:400]
