"""The LSTM's prediction after every row: an extra TFLite file for the serve page's row-by-row view.

The shipped LSTM reads a digit as 28 time steps (rows) and answers once, after the last row.
This module converts the same trained weights into a graph that answers after every row:
the LSTM layer with ``return_sequences=True`` and the dense layer applied to each step's
hidden state, so (1, 28, 28) rows -> (1, 28, 10) logits. Its last step is the shipped
model's answer; ``verify`` proves it on the MNIST test set with the LiteRT interpreter
(argmax agreement 100% and largest logit difference within ``LOGIT_TOLERANCE`` against
the shipped float32 fused LSTM). The manifest entry carries ``"role": "stepwise"`` so the
default-model rule, ``image`` and ``camera`` never pick it.

    python -m export.stepwise                    # runs/lstm/model.keras -> models/lstm_stepwise.tflite + manifest
    python -m export.stepwise --runs runs --out models --mnist /data/mnist.npz

``make export`` calls ``export_stepwise`` once per run; with an unchanged LSTM it does nothing.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from export.manifest import (
    INPUT_CONTRACT,
    read_manifest,
    sha256_file,
    sha256_json,
    write_atomic,
    write_manifest,
)

NAME = "lstm_stepwise"
FILE = f"{NAME}.tflite"
ROLE = "stepwise"
REFERENCE = "lstm_fused_float32"
"""The shipped model whose output the last step must reproduce (same weights, float32)."""
LOGIT_TOLERANCE = 1e-3
"""Largest allowed |logit difference| between the last step and the reference, over the test set."""
MIN_AGREEMENT = 1.0
"""Argmax agreement with the reference required on the test set (every image)."""
RECIPE_VERSION = 1
"""Bump to re-export the stepwise file when the recipe below changes."""
RECIPE = (
    "LSTM(return_sequences=True) + Dense per step, same weights; "
    "TFLiteConverter.from_concrete_functions(tf.function(model), TensorSpec([1, 28, 28], float32)); float32"
)
CONTRACT = {
    **INPUT_CONTRACT,
    "output": "(1, 28, 10) logits after each row (time step); the last row's are the model's answer; "
    "softmax is the caller's",
}


class StepwiseError(RuntimeError):
    """The stepwise file could not be made or does not agree with the shipped model."""


# ---------------------------------------------------------------- conversion (needs TF)


def build_stepwise(model):
    """Trained tf_keras LSTM classifier -> the same weights answering after every row."""
    from training.models import RECURRENT_LAYER
    from training.tfkeras import keras

    units = int(model.get_layer(RECURRENT_LAYER).units)
    rows = keras.Input(shape=(28, 28), name="rows", dtype="float32")
    seq = keras.layers.LSTM(units, return_sequences=True, name=RECURRENT_LAYER)(rows)  # (b, 28, units)
    logits = keras.layers.Dense(10, name="logits")(seq)  # Dense on the last axis: per step, (b, 28, 10)
    clone = keras.Model(rows, logits, name=f"lstm{units}_stepwise")
    clone.set_weights(model.get_weights())
    return clone


def convert(keras_path: Path) -> bytes:
    """model.keras -> float32 TFLite bytes of the stepwise graph."""
    from training.models import load_keras
    from training.tfkeras import tf

    model = build_stepwise(load_keras(keras_path))
    fn = tf.function(lambda x: model(x, training=False))
    concrete = fn.get_concrete_function(tf.TensorSpec([1, 28, 28], tf.float32, name="rows"))
    return tf.lite.TFLiteConverter.from_concrete_functions([concrete], model).convert()


# ---------------------------------------------------------------- verification (LiteRT only)


@dataclass(frozen=True)
class Verification:
    test_accuracy: float
    """Accuracy of the last step's argmax on the test images."""
    agreement: float
    """Fraction of test images whose last-step argmax equals the reference model's."""
    max_logit_diff: float
    """Largest |last-step logit - reference logit| over the test images."""
    latency_us_p50: float
    """Median time of one 28-step call (reset, set, invoke, get), microseconds, 1 thread."""
    repeatable: bool
    images: int


def stepwise_logits(path: Path, x: np.ndarray) -> np.ndarray:
    """(n, 28, 28) floats in [0, 1] -> (n, 28, 10) per-row logits with LiteRT, state reset per digit."""
    from edge_runtime.classifier import load_interpreter_class

    it = load_interpreter_class()(model_path=str(path), num_threads=1)
    it.allocate_tensors()
    i, o = it.get_input_details()[0]["index"], it.get_output_details()[0]["index"]
    out = np.empty((len(x), 28, 10), np.float32)
    for k in range(len(x)):
        it.reset_all_variables()
        it.set_tensor(i, x[k : k + 1].astype(np.float32))
        it.invoke()
        out[k] = it.get_tensor(o)[0]
    return out


def verify(path: Path, reference: Path, x: np.ndarray, y: np.ndarray) -> Verification:
    """Run the stepwise file and the reference on the test images; StepwiseError if they disagree."""
    from edge_runtime.classifier import DigitClassifier

    steps = stepwise_logits(path, x)
    ref = DigitClassifier(reference).logits(x)
    last = steps[:, -1, :]
    agreement = float(np.mean(last.argmax(1) == ref.argmax(1)))
    diff = float(np.abs(last - ref).max())
    again = stepwise_logits(path, x[:50])
    repeatable = bool(np.array_equal(again, steps[:50]))
    if agreement < MIN_AGREEMENT or diff > LOGIT_TOLERANCE or not repeatable:
        raise StepwiseError(
            f"{path.name}: last step disagrees with {reference.name}: agreement {agreement:.4%} "
            f"(need {MIN_AGREEMENT:.0%}), max |dlogit| {diff:.2e} (tolerance {LOGIT_TOLERANCE:g}), "
            f"repeatable {repeatable}"
        )
    from edge_runtime.classifier import load_interpreter_class

    it = load_interpreter_class()(model_path=str(path), num_threads=1)
    it.allocate_tensors()
    i, o = it.get_input_details()[0]["index"], it.get_output_details()[0]["index"]
    times = []
    for k in range(300):  # the first 50 are warm-up
        t0 = time.perf_counter()
        it.reset_all_variables()
        it.set_tensor(i, x[k % len(x) : k % len(x) + 1].astype(np.float32))
        it.invoke()
        it.get_tensor(o)
        times.append(time.perf_counter() - t0)
    return Verification(
        test_accuracy=float(np.mean(last.argmax(1) == y)),
        agreement=agreement,
        max_logit_diff=diff,
        latency_us_p50=round(float(np.median(times[50:])) * 1e6, 2),
        repeatable=repeatable,
        images=len(x),
    )


def tensor_spec(details: dict) -> dict:
    scale, zero_point = details.get("quantization", (0.0, 0))
    return {
        "dtype": np.dtype(details["dtype"]).name,
        "shape": [int(s) for s in details["shape"]],
        "scale": float(scale),
        "zero_point": int(zero_point),
    }


# ---------------------------------------------------------------- the entry and the manifest


def cache_key(keras_sha256: str) -> str:
    from export.common import versions

    return sha256_json({"keras": keras_sha256, "recipe": RECIPE_VERSION, "converter": versions()})


def up_to_date(out_dir: Path, keras_sha256: str) -> bool:
    m = read_manifest(out_dir) or {"models": []}
    old = next((e for e in m["models"] if e.get("name") == NAME), None)
    f = out_dir / str((old or {}).get("file") or FILE)  # export gives it a content-addressed name
    return bool(
        old
        and old.get("cache_key") == cache_key(keras_sha256)
        and f.is_file()
        and sha256_file(f) == old.get("sha256")
    )


def make_entry(
    run_dir: Path, models_dir: Path, work_file: Path, mnist: str | None, test_images: int | None = None
) -> dict:
    """Convert ``run_dir/model.keras`` into ``work_file`` (in this process), verify it against
    ``models_dir``'s reference model, and return its manifest entry."""
    from edge_runtime.contract import relative_to_project as rel
    from export.common import read_config, versions
    from training.data import load_mnist

    keras_path = run_dir / "model.keras"
    # The reference may have been converted in this same export (still in the work folder).
    # In models_dir it has the content-addressed name its manifest entry gives.
    shipped = [
        e["file"]
        for e in (read_manifest(models_dir) or {"models": []})["models"]
        if e.get("name") == REFERENCE
    ]
    candidates = [work_file.parent / f"{REFERENCE}.tflite", *(models_dir / f for f in shipped)]
    candidates.append(models_dir / f"{REFERENCE}.tflite")
    reference = next((p for p in candidates if p.is_file()), None)
    if reference is None:
        raise StepwiseError(f"reference model {candidates[-1]} is missing; export {REFERENCE} first")
    data = load_mnist(mnist, download=False)
    n = test_images or len(data.x_test)
    x, y = data.x_test[:n].astype(np.float32) / 255.0, data.y_test[:n]
    flat = convert(keras_path)
    write_atomic(work_file, flat)
    ver = verify(work_file, reference, x, y)
    from edge_runtime.classifier import load_interpreter_class

    it = load_interpreter_class()(model_path=str(work_file))
    ops = sorted({op["op_name"] for op in it._get_ops_details()})  # LiteRT has no public op list
    config = read_config(run_dir)
    keras_sha = sha256_file(keras_path)
    keras_acc = json.loads((run_dir / "metrics.json").read_text()).get("test_accuracy")
    return {
        "name": NAME,
        "role": ROLE,
        "reference": REFERENCE,
        "file": FILE,
        "sha256": sha256_file(work_file),
        "size_bytes": work_file.stat().st_size,
        "arch": "lstm",
        "graph": "fused",
        "quantization": "float32",
        "input": tensor_spec(it.get_input_details()[0]),
        "output": tensor_spec(it.get_output_details()[0]),
        "input_contract": CONTRACT,
        "ops": ops,
        "test_accuracy": ver.test_accuracy,
        "keras_test_accuracy": keras_acc,
        "agreement": ver.agreement,
        "max_logit_diff": round(ver.max_logit_diff, 8),
        "logit_tolerance": LOGIT_TOLERANCE,
        "latency_us_p50": ver.latency_us_p50,
        "tolerance_pp": 0.0,
        "test_images": ver.images,
        "repeatable": ver.repeatable,
        "training": config,
        "data_sha256": config.get("data_sha256") or data.sha256,
        "keras": {"file": rel(keras_path), "sha256": keras_sha},
        "converter": {**versions(), "recipe": RECIPE, "calibration": None},
        "cache_key": cache_key(keras_sha),
    }


def add_to_manifest(out_dir: Path, entry: dict, work_file: Path) -> None:
    """Move ``work_file`` into ``out_dir`` and put ``entry`` into its manifest (default unchanged)."""
    m = read_manifest(out_dir)
    if m is None:
        raise StepwiseError(f"no manifest in {out_dir}; run make export first")
    models = [e for e in m["models"] if e.get("name") != NAME] + [entry]
    m["models"] = sorted(models, key=lambda e: e["name"])
    work_file.replace(out_dir / FILE)
    write_manifest(out_dir, m)


def export_stepwise(out_dir: Path, work: Path, sources, options, log) -> tuple[dict, str]:
    """Hook for export.run: ({NAME: entry} of a new stepwise file in ``work``, "") when the LSTM
    run changed, ({}, "") when it is up to date or there is no LSTM run, ({}, why) when it
    failed. Runs the conversion in a child process (a converter crash must not take the export
    down); export.run counts a failure like a failed variant. Only the full default export makes
    it: an export of chosen ``--variants`` leaves it as it is."""
    src = next((s for s in sources if s.arch == "lstm"), None)
    if src is None or options.variants or options.keras is not None:
        return {}, ""
    keras_sha = src.keras_sha256 or sha256_file(src.keras_path)
    if up_to_date(out_dir, keras_sha):
        return {}, ""
    work.mkdir(exist_ok=True)
    cmd = [sys.executable, "-m", "export.stepwise", "--runs", str(src.keras_path.parent.parent)]
    cmd += ["--out", str(out_dir), "--work-file", str(work / FILE), "--entry-only"]
    cmd += ["--mnist", str(options.mnist)] if options.mnist else []
    cmd += ["--test-images", str(options.test_images)] if options.test_images else []
    from export.convert import child_env

    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, env=child_env())
    if proc.returncode != 0:
        last = (proc.stderr.strip().splitlines() or ["(no output)"])[-1]
        log(f"{NAME:<26} failed  {last}")
        return {}, last
    entry = json.loads(proc.stdout.strip().splitlines()[-1])
    log(
        f"{NAME:<26} ok      {entry['size_bytes'] / 1024:7.1f} KB  acc {entry['test_accuracy']:.2%}  "
        f"agree {entry['agreement']:.2%}  max|dlogit| {entry['max_logit_diff']:.2e}  "
        f"{time.perf_counter() - t0:5.1f} s"
    )
    return {NAME: entry}, ""


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m export.stepwise", description=__doc__.splitlines()[0])
    p.add_argument("--runs", type=Path, default=Path("runs"), help="trained runs (default: runs)")
    p.add_argument("--out", type=Path, default=Path("models"), help="shipped models (default: models)")
    p.add_argument("--mnist", default=None, help="mnist.npz (default: $MNIST_PATH, else the Keras cache)")
    p.add_argument("--work-file", type=Path, default=None, help=argparse.SUPPRESS)
    p.add_argument("--entry-only", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--test-images", type=int, default=None, help="verify on the first N (default: all)")
    args = p.parse_args(argv)
    run_dir = args.runs / "lstm"
    if not (run_dir / "model.keras").is_file():
        print(f"error: no trained LSTM at {run_dir / 'model.keras'}; run make train", file=sys.stderr)
        return 2
    try:
        with tempfile.TemporaryDirectory(dir=args.out, prefix=".stepwise-") as tmp:
            work_file = args.work_file or Path(tmp) / FILE
            entry = make_entry(run_dir, args.out, work_file, args.mnist, args.test_images)
            if args.entry_only:
                print(json.dumps(entry))
                return 0
            add_to_manifest(args.out, entry, work_file)
    except (StepwiseError, OSError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(
        f"{args.out / FILE}: {entry['size_bytes']} bytes, last step acc {entry['test_accuracy']:.2%}, "
        f"agreement with {REFERENCE} {entry['agreement']:.2%}, max |dlogit| {entry['max_logit_diff']:.2e} "
        f"(tolerance {LOGIT_TOLERANCE:g}), {entry['latency_us_p50']:.1f} us per 28-step call"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
