"""Check an exported TFLite digit model with the edge runtime's own classifier.

Everything here runs through ``edge_runtime.classifier.DigitClassifier`` (LiteRT,
no TensorFlow) with the runtime's preprocessing (uint8 test images / 255), so the
numbers are the ones the edge program will see:

- accuracy on the 10k MNIST test images and top-1 agreement with the Keras model;
- the largest absolute logit difference from the Keras logits;
- repeatability: the same image gives the same logits twice in a row and after
  other images (the fused LSTM's state is reset);
- the op list (the fused LSTM must show UNIDIRECTIONAL_SEQUENCE_LSTM), I/O dtypes
  and quantization;
- a quick per-digit latency: median of single-digit calls (reset + set + invoke +
  get), one thread, after a warm-up; ``compare_latencies`` interleaves several files
  so background load hits them alike. Orientation only; the benchmarks measure properly.

    python -m export.verify models/lstm_fused_int8.tflite   # needs MNIST_PATH
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from edge_runtime.classifier import DigitClassifier, TensorSpec, load_interpreter_class
from edge_runtime.contract import FUSED_LSTM_OP
from edge_runtime.timing import time_calls
from training.data import MnistError, load_mnist

__all__ = ["FUSED_LSTM_OP", "VerifyOptions", "Verification", "compare_latencies", "verify_model"]


@dataclass(frozen=True)
class VerifyOptions:
    num_threads: int = 1
    """Interpreter threads for accuracy and latency (default 1: the Pi-like setting)."""
    latency_runs: int = 900
    """Timed single-digit calls per file, split over the rounds of compare_latencies (default 900)."""
    repeat_images: int = 20
    """Test images classified again to check that state is reset (default 20)."""


@dataclass(frozen=True)
class Verification:
    """What one model file measured; ``checks`` is empty when nothing is wrong."""

    test_accuracy: float
    """Fraction of test images classified correctly, in [0, 1]."""
    agreement: float
    """Fraction of test images whose top-1 class equals the Keras model's."""
    max_logit_diff: float
    """Largest |logit - Keras logit| over all test images and classes."""
    repeatable: bool
    """Same logits for the same image twice in a row and after other images."""
    latency_us_p50: float | None
    """Median microseconds per digit, batch 1, one thread; None if not measured (latency_runs=0)."""
    ops: list[str]
    """Distinct TFLite op names in the graph, sorted."""
    input: dict
    output: dict
    images: int
    """How many test images were classified."""


def spec_dict(spec: TensorSpec) -> dict:
    return {
        "dtype": spec.dtype.name,
        "shape": list(spec.shape),
        "scale": spec.scale,
        "zero_point": spec.zero_point,
    }


def op_names(path: str | Path) -> list[str]:
    """Distinct op names of the file's graph, from the interpreter's (private) op introspection.

    Loaded without the default XNNPACK delegate, which would otherwise replace some ops
    with one "DELEGATE" node and hide them.
    """
    interpreter_class = load_interpreter_class()
    resolver = sys.modules[interpreter_class.__module__].OpResolverType  # the same runtime's enum
    it = interpreter_class(
        model_path=str(path), experimental_op_resolver_type=resolver.BUILTIN_WITHOUT_DEFAULT_DELEGATES
    )
    it.allocate_tensors()
    try:
        ops = it._get_ops_details()  # private: there is no public API for the op list
    except AttributeError:
        return []
    return sorted({op.get("op_name", "?") for op in ops})


def latency_us(clf: DigitClassifier, digit: np.ndarray, runs: int, warmup: int = 30) -> float:
    """Median microseconds for one digit: (reset) + set_tensor + invoke + get_tensor."""
    q = clf.quantize_input(digit[None])  # (1, 28, 28) in the model's dtype
    return float(np.median(time_calls(clf.step(), [q], runs, warmup)) / 1000.0)


def compare_latencies(
    paths: list[str | Path], digit: np.ndarray, options: VerifyOptions = VerifyOptions(), rounds: int = 9
) -> dict[str, float]:
    """{path: us per digit}: each file's fastest round median, the files measured in turn.

    Interleaving spreads background load evenly over the files, and taking each file's
    least-disturbed round (rather than the median of rounds) keeps a burst of other work
    on the machine from flipping which file is fastest, and so which one is the default.
    ``digit``: (28, 28) float32 in [0, 1].
    """
    classifiers = {str(p): DigitClassifier(p, num_threads=options.num_threads) for p in paths}
    runs = max(1, options.latency_runs // rounds)
    samples: dict[str, list[float]] = {p: [] for p in classifiers}
    for _ in range(rounds):
        for p, clf in classifiers.items():
            samples[p].append(latency_us(clf, digit, runs, warmup=10))
    return {p: round(float(min(v)), 2) for p, v in samples.items()}


def verify_model(
    path: str | Path,
    x_test: np.ndarray,
    y_test: np.ndarray,
    keras_logits: np.ndarray,
    options: VerifyOptions = VerifyOptions(),
) -> Verification:
    """Classify ``x_test`` ((n, 28, 28) float32 in [0, 1]) with the file and compare to Keras.

    ``keras_logits``: (n, 10) logits of the Keras model on the same images.
    Raises edge_runtime.classifier.ModelError if the file does not load.
    """
    clf = DigitClassifier(path, num_threads=options.num_threads)
    logits = clf.logits(x_test)  # (n, 10) float
    pred = logits.argmax(axis=1)
    k = min(options.repeat_images, len(x_test))
    again = clf.logits(x_test[:k])  # after 10k other digits
    twice = np.stack([clf.logits(x_test[i : i + 1])[0] for i in range(k) for _ in range(2)])
    repeatable = bool(
        np.array_equal(again, logits[:k])
        and np.array_equal(twice[0::2], twice[1::2])
        and np.array_equal(twice[0::2], logits[:k])
    )
    return Verification(
        test_accuracy=float(np.mean(pred == y_test)),
        agreement=float(np.mean(pred == keras_logits.argmax(axis=1))),
        max_logit_diff=float(np.max(np.abs(logits - keras_logits))),
        repeatable=repeatable,
        latency_us_p50=round(latency_us(clf, x_test[0], options.latency_runs), 2)
        if options.latency_runs
        else None,
        ops=op_names(path),
        input=spec_dict(clf.input),
        output=spec_dict(clf.output),
        images=len(x_test),
    )


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        description="Accuracy, op list and latency of a TFLite digit model (no Keras comparison)."
    )
    p.add_argument("model", help=".tflite file")
    p.add_argument("--mnist", default=None, help="mnist.npz (default: $MNIST_PATH)")
    a = p.parse_args(argv)
    try:
        data = load_mnist(a.mnist, download=False)
        x = data.x_test.astype(np.float32) / 255.0
        # Without Keras logits, compare against the labels' one-hot: agreement == accuracy.
        v = verify_model(a.model, x, data.y_test, np.eye(10, dtype=np.float32)[data.y_test])
    except (MnistError, RuntimeError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    d = asdict(v)
    d.pop("agreement"), d.pop("max_logit_diff")
    for key, val in d.items():
        print(f"{key:>15}: {val}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
