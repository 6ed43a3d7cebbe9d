"""Calibrated confidence: one softmax temperature per exported model, fitted on the validation split.

Temperature scaling (Guo et al., 2017, "On Calibration of Modern Neural Networks"):
the runtime's probabilities are ``softmax(logits / T)`` with one scalar ``T`` chosen to
minimise the negative log-likelihood on held-out digits. It never changes which digit
is read, only how sure the reading claims to be, so a ``--min-confidence`` threshold
means the same thing for every model. The held-out digits are the validation split
training carved out of the 60k training images (``--val-size``, fixed permutation),
never the test set; each .tflite file is run by the edge runtime's own classifier, so
the fit includes what quantization did to the logits. Export stores ``temperature``
and ``calibration`` (the fit's figures) in the model's manifest entry;
``edge_runtime.classifier.DigitClassifier`` applies it.

    python -m export.calibrate models/lstm_unrolled_dynamic.tflite    # fit and print, changes nothing
"""

from __future__ import annotations

import math
import sys
from functools import lru_cache

import numpy as np

from edge_runtime.classifier import softmax

ECE_BINS = 15
"""Equal-width confidence bins for the expected calibration error (the usual choice)."""
LOG_T_RANGE = (-3.0, 3.0)
"""Search interval for log(T): T from 0.05 to 20."""


def nll(logits: np.ndarray, labels: np.ndarray, temperature: float = 1.0) -> float:
    """Mean negative log-likelihood of the true labels under softmax(logits / temperature)."""
    z = np.asarray(logits, np.float64) / temperature
    z -= z.max(axis=1, keepdims=True)
    log_p = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
    return float(-log_p[np.arange(len(labels)), labels].mean())


def fit_temperature(logits: np.ndarray, labels: np.ndarray, iterations: int = 60) -> float:
    """The T > 0 that minimises the NLL of ``labels`` under softmax(logits / T).

    A golden-section search on log T (the NLL is smooth and has one minimum in T); written
    out because it is a dozen lines and SciPy is not otherwise a dependency.
    """
    lo, hi = LOG_T_RANGE
    g = (math.sqrt(5) - 1) / 2
    a, b = hi - g * (hi - lo), lo + g * (hi - lo)
    fa, fb = nll(logits, labels, math.exp(a)), nll(logits, labels, math.exp(b))
    for _ in range(iterations):
        if fa < fb:
            hi, b, fb = b, a, fa
            a = hi - g * (hi - lo)
            fa = nll(logits, labels, math.exp(a))
        else:
            lo, a, fa = a, b, fb
            b = lo + g * (hi - lo)
            fb = nll(logits, labels, math.exp(b))
    return float(math.exp((lo + hi) / 2))


def ece(probabilities: np.ndarray, labels: np.ndarray, bins: int = ECE_BINS) -> float:
    """Expected calibration error: the share-weighted mean |accuracy - confidence| over
    equal-width bins of the top probability (0 = every confidence is honest)."""
    p = np.asarray(probabilities)
    return calibration_error(p.max(axis=1), p.argmax(axis=1) == np.asarray(labels), bins)


def calibration_error(conf: np.ndarray, right: np.ndarray, bins: int = ECE_BINS) -> float:
    """ECE from each digit's confidence and whether it was read right."""
    which = np.minimum((conf * bins).astype(int), bins - 1)
    total = 0.0
    for k in range(bins):
        m = which == k
        if m.any():
            total += m.mean() * abs(right[m].mean() - conf[m].mean())
    return float(total)


@lru_cache(maxsize=2)
def validation_split(mnist: str | None, val_size: int) -> tuple[np.ndarray, np.ndarray]:
    """Training's validation split: ((n, 28, 28) floats in [0, 1], (n,) labels)."""
    from training.data import load_mnist  # numpy only; no TensorFlow

    d = load_mnist(mnist, val_size=val_size, seed=0, download=False)  # seed 0: training's fixed split
    return d.x_val.astype(np.float32) / 255.0, d.y_val.astype(np.int64)


def calibrate_model(model_file, training_config: dict | None = None, mnist: str | None = None) -> dict:
    """Fit the temperature of one .tflite file on its training run's validation split.

    Returns the manifest fields: {"temperature": T, "calibration": {...the fit's figures...}}.
    """
    from edge_runtime.classifier import DigitClassifier

    val_size = int(((training_config or {}).get("options") or {}).get("val_size") or 5000)
    x, y = validation_split(mnist, val_size)
    logits = DigitClassifier(model_file).logits(x)
    t = fit_temperature(logits, y)
    return {
        "temperature": round(t, 4),
        "calibration": {
            "method": "temperature scaling, NLL on the validation split",
            "split": "val",
            "images": len(y),
            "nll_before": round(nll(logits, y), 5),
            "nll_after": round(nll(logits, y, t), 5),
            "ece_before": round(ece(softmax(logits), y), 5),
            "ece_after": round(ece(softmax(logits, t), y), 5),
        },
    }


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1:
        print("usage: python -m export.calibrate MODEL.tflite", file=sys.stderr)
        return 2
    from edge_runtime.classifier import ModelError
    from training.data import MnistError

    try:
        fit = calibrate_model(argv[0])
    except (ModelError, MnistError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    c = fit["calibration"]
    print(
        f"{argv[0]}: temperature {fit['temperature']:.3f}; on {c['images']} validation digits "
        f"NLL {c['nll_before']:.4f} -> {c['nll_after']:.4f}, ECE {c['ece_before']:.2%} -> {c['ece_after']:.2%}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
