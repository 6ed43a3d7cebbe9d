"""Names every stage agrees on: where the project is, how shipped models are named.

One home for each: training, export, the benchmarks and the runtime import these
instead of spelling them again. Standard library only (the runtime stays small).
"""

from __future__ import annotations

from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
"""The project folder (the one holding edge_runtime/, models/ and runs/)."""
MODELS_DIR = PROJECT_ROOT / "models"
"""Where make export writes the .tflite files and manifest.json."""

GRAPHS = ("fused", "unrolled")
"""TFLite graph forms: "fused" (one UNIDIRECTIONAL_SEQUENCE_LSTM op), "unrolled" (28 fixed steps)."""
QUANTIZATIONS = ("float32", "float16", "dynamic_int8", "int8")
"""Quantization names as the manifest writes them (dynamic_int8: int8 weights, float activations;
int8: full integer, int8 input and output)."""
FUSED_LSTM_OP = "UNIDIRECTIONAL_SEQUENCE_LSTM"
"""The TFLite op tf_keras' LSTM becomes; a fused graph must contain it (and keeps state in it)."""

PRODUCT_ARCH = "lstm"
"""The architecture the product ships: the default model (export) and a device's tuned default
(digits-edge tune) are chosen among models of it (among all, if none is shipped)."""
QUANT_TOLERANCE_PP = 0.2
"""A quantized file ships when its MNIST test accuracy is within this many percentage points of
the Keras model's; the default is chosen among files within it of the most accurate one."""
TIE_BAND = 0.10
"""Latencies within 10% of the fastest count as a tie (timings are noisy), broken by the smaller file."""


def relative_to_project(path: str | Path) -> str:
    """``path`` relative to the project folder when it is inside it, else unchanged (as text)."""
    try:
        return str(Path(path).resolve().relative_to(PROJECT_ROOT))
    except ValueError:
        return str(path)


MIN_CONFIDENCE = 0.7
"""Default --min-confidence of image, camera and serve: a digit whose calibrated confidence is
below it shows as '?'. Chosen by benchmarks/styles_bench.py's rule for the shipped default
model: the highest threshold that hides at most 1% of right readings on the MNIST test set
plus the style suite (the photos are never used to choose); see the report's styles section."""
