"""Speed ratios measured side by side: the default TFLite model, Keras' tf.function and ONNX Runtime.

Each runtime in the models table is timed in its own process, at its own moment. On a
shared or virtual machine the speed of the whole machine drifts between those moments
(here, runs of the same model in fresh processes differ by up to 40%), and a ratio of
two medians taken at different times inherits that drift. This pass times the three
contenders in one process, one thread each, in alternating rounds, so every round
sees the same machine state; a ratio is the median over rounds of the per-round
ratio of medians. It runs inside the Keras child (benchmarks.keras_bench), which has
TensorFlow and the ONNX file at hand.

    python -m benchmarks      # the report's summary quotes these next to the table's ratios
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from benchmarks.harness import ChildSpec, time_calls
from benchmarks.onnx_bench import onnx_step, session
from edge_runtime.classifier import DigitClassifier


@dataclass(frozen=True)
class PairedOptions:
    rounds: int = 12
    """Alternating rounds; each round times every contender once."""
    tflite_reps: int = 400
    """Timed TFLite calls per round (~50 us each)."""
    onnx_reps: int = 400
    """Timed ONNX Runtime calls per round (~60 us each)."""
    keras_reps: int = 40
    """Timed tf.function calls per round (~1.4 ms each)."""
    warmup: int = 20
    """Untimed calls before each contender's timed calls in a round."""


QUICK_PAIRED = PairedOptions(rounds=3, tflite_reps=50, onnx_reps=50, keras_reps=10, warmup=5)


def measure_paired(contenders: dict[str, tuple], options: PairedOptions, base: str = "tflite") -> dict:
    """``contenders``: name -> (step, inputs, reps); one of them is ``base``.

    Returns per contender the median of its round medians (us), and per other contender
    ``ratio_vs_<base>``: median over rounds of (its round median / base's round median).
    """
    medians: dict[str, list[float]] = {name: [] for name in contenders}
    for _ in range(options.rounds):
        for name, (step, inputs, reps) in contenders.items():
            ns = time_calls(step, inputs, reps, options.warmup)
            medians[name].append(float(np.median(ns)) / 1e3)
    out = {
        "rounds": options.rounds,
        "base": base,
        "p50_us": {name: float(np.median(v)) for name, v in medians.items()},
        "round_p50_us": medians,
    }
    b = np.asarray(medians[base])
    out[f"ratio_vs_{base}"] = {
        name: float(np.median(np.asarray(v) / b)) for name, v in medians.items() if name != base
    }
    return out


def side_by_side_in_keras_child(
    spec: ChildSpec, compiled_fn, tensor_inputs: list, numpy_inputs: list, onnx: dict | None
) -> dict:
    """The default TFLite model, tf.function and ONNX Runtime timed in alternating rounds, in
    the Keras child (``compiled_fn``: the Keras model's concrete function; ``onnx``: the ONNX
    export's record, its "error" set if the conversion failed)."""
    options = QUICK_PAIRED if spec.get("quick") else PairedOptions()
    clf = DigitClassifier(spec["paired_tflite"], num_threads=1)
    contenders = {
        "tflite": (clf.step(), [clf.quantize_input(a) for a in numpy_inputs], options.tflite_reps),
        "keras_function": (lambda t: compiled_fn(t).numpy(), tensor_inputs, options.keras_reps),
    }
    if onnx and "error" not in onnx and spec.get("onnx_out"):
        sess = session(spec["onnx_out"], 1)
        name = sess.get_inputs()[0].name
        contenders["onnx"] = (onnx_step(sess), [{name: a} for a in numpy_inputs], options.onnx_reps)
    out = measure_paired(contenders, options)
    out["tflite_model"] = spec["paired_tflite"]
    return out
