"""Convert one trained Keras digit model to TFLite variants, in a child process.

The TFLite converter can crash the whole process (segfault) on some graphs, so the
export runs this module as a child (``python -m export.convert ...``): it loads the
Keras model once, optionally writes the Keras logits on the test set, then converts
the requested variants one after another, announcing each on stdout with a line
``@export {json}``. The parent side, ``run_children``, reads those lines; if the child dies,
the variant it had started is the one that crashed.

    python -m export.convert --keras /tmp/quick/lstm64.keras --arch lstm \\
        --variants lstm_fused_int8,lstm_unrolled_dynamic --work-dir /tmp/conv

Variant names are ``<arch>_<graph>_<quantization>``: graph ``fused`` (the LSTM's
single UNIDIRECTIONAL_SEQUENCE_LSTM op) or ``unrolled`` (28 fixed steps of plain
ops, the only graph int8 takes for GRU, SimpleRNN and the peephole LSTM);
quantization ``float32``, ``float16`` (float16 weights), ``dynamic`` (int8
weights, float activations) or ``int8`` (full integer, int8 input and output,
calibrated on training images). 16x8 quantization is left out (README: the fused
LSTM cannot take it and the unrolled graph drops to 11% accuracy).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edge_runtime.contract import GRAPHS, PROJECT_ROOT, QUANTIZATIONS
from training.data import load_mnist  # numpy only: the parent stays free of TensorFlow

PROTOCOL_PREFIX = "@export "
CRASH_HOOK_ENV = "DIGITS_EXPORT_CRASH_VARIANT"
"""Test hook: a child asked to convert this variant kills itself with SIGSEGV first."""

# Short quantization names used in file names -> the manifest's names (edge_runtime.contract).
SHORT_QUANTIZATIONS = dict(zip(("float32", "float16", "dynamic", "int8"), QUANTIZATIONS, strict=True))
FUSED_ARCHS = ("lstm",)  # only tf_keras' LSTM becomes the fused op; the others are WHILE loops
BATCH = 1  # the fused graph takes one digit per invoke(): shape (1, 28, 28)
FREE_BATCH = None
"""The unrolled float graphs' batch (float32, float16, dynamic range): free ((-1, 28, 28),
allocated as (1, 28, 28)), so that the runtime reads a frame's digits in batches
(``edge_runtime.classifier.MAX_BATCH``). The fused LSTM's state tensors are sized by the batch, and
XNNPACK fails to prepare the full-integer unrolled graph with a free batch (LiteRT 2.x: "failed
to create XNNPACK runtime"), so those stay at batch 1."""
CALIBRATION_SAMPLES = 6000
"""Training images that calibrate the integer variants (the export's default; fixed seed)."""


@dataclass(frozen=True)
class Variant:
    """One TFLite file to produce from one Keras model."""

    arch: str
    graph: str
    """"fused" (the LSTM's fused op) or "unrolled" (28 fixed steps)."""
    quant: str
    """Short quantization name: a key of SHORT_QUANTIZATIONS."""

    @property
    def name(self) -> str:
        return f"{self.arch}_{self.graph}_{self.quant}"

    @property
    def file(self) -> str:
        return f"{self.name}.tflite"

    @property
    def quantization(self) -> str:
        """The manifest's name for the quantization ("dynamic_int8", ...)."""
        return SHORT_QUANTIZATIONS[self.quant]

    @property
    def quantized(self) -> bool:
        return self.quant != "float32"

    @property
    def calibrated(self) -> bool:
        """Full-integer: needs calibration images."""
        return self.quant == "int8"


def default_variants(arch: str) -> list[Variant]:
    """What `make export` ships per architecture.

    LSTM: all four fused variants (the small files, fused op) plus the unrolled
    dynamic-range graph (the fast one on x86; see the benchmark report). Other
    architectures convert only as unrolled graphs (their loop graph crashes int8).

    The unrolled full-integer int8 graphs are not shipped: on arm64 (``make pi-check``) their
    integer kernels round differently from x86's, the error compounds over the 28 unrolled
    steps, and 1 to 8 of 1,000 test digits read differently than on x86, so the accuracy export
    measures here is not the one a Raspberry Pi gets. ``--variants lstm_unrolled_int8`` still
    builds one. (The fused int8 file stays: within one output step on both CPUs.)
    """
    if arch in FUSED_ARCHS:
        fused = [Variant(arch, "fused", q) for q in ("float32", "float16", "dynamic", "int8")]
        return fused + [Variant(arch, "unrolled", "dynamic")]
    return [Variant(arch, "unrolled", q) for q in ("float32", "float16", "dynamic")]


def parse_variant(text: str, arch: str | None = None) -> Variant:
    """ "lstm_fused_int8", or "fused_int8" with ``arch`` given -> Variant; ValueError names the bad part."""
    parts = text.strip().split("_")
    if len(parts) == 2 and arch:
        parts = [arch, *parts]
    if len(parts) != 3:
        raise ValueError(
            f"bad variant {text!r}: expected ARCH_GRAPH_QUANT like lstm_fused_int8 or GRAPH_QUANT like fused_int8"
        )
    a, graph, quant = parts
    if arch and a != arch:
        raise ValueError(f"variant {text!r} is for {a!r}, not {arch!r}")
    if graph not in GRAPHS:
        raise ValueError(f"bad variant {text!r}: graph {graph!r} is not one of {', '.join(GRAPHS)}")
    if quant not in SHORT_QUANTIZATIONS:
        raise ValueError(
            f"bad variant {text!r}: quantization {quant!r} is not one of {', '.join(SHORT_QUANTIZATIONS)}"
        )
    if graph == "fused" and a not in FUSED_ARCHS:
        raise ValueError(
            f"bad variant {text!r}: only {', '.join(FUSED_ARCHS)} has a fused graph; use {a}_unrolled_{quant}"
        )
    return Variant(a, graph, quant)


# ---------------------------------------------------------------- conversion (needs TF)


# The functions below run in the child only. TensorFlow is imported inside them on purpose:
# the parent (export.run) imports this module and must start without TensorFlow.


def recurrent_units(model) -> int:
    """Units of the model's recurrent layer (named "recurrent" by training.models)."""
    from training.models import RECURRENT_LAYER

    layer = model.get_layer(RECURRENT_LAYER)
    return int(getattr(layer, "units", None) or layer.cell.units)


def convert_variant(model, variant: Variant, calibration: np.ndarray) -> bytes:
    """Keras model (fused/loop graph) -> TFLite flatbuffer bytes for ``variant``.

    ``calibration``: (n, 28, 28) float32 training images in [0, 1], used only by the
    integer modes. The recipe (from_concrete_functions on a batch-1 tf.function) is
    the one that gives the fused LSTM op; from_keras_model with a None batch fails. The
    unrolled graphs are converted with a free batch (``FREE_BATCH``).
    """
    from training.models import rebuild
    from training.tfkeras import tf

    # Always rebuild: the saved graph may be either form (training may run unrolled).
    model = rebuild(model, variant.arch, recurrent_units(model), unroll=variant.graph == "unrolled")
    fn = tf.function(lambda x: model(x, training=False))
    batch = FREE_BATCH if variant.graph == "unrolled" and variant.quant != "int8" else BATCH
    concrete = fn.get_concrete_function(tf.TensorSpec([batch, 28, 28], tf.float32, name="rows"))
    conv = tf.lite.TFLiteConverter.from_concrete_functions([concrete], model)
    q = variant.quant

    def representative():
        for img in calibration:
            yield [img[None].astype(np.float32)]  # (1, 28, 28)

    if q == "float16":
        conv.optimizations = [tf.lite.Optimize.DEFAULT]
        conv.target_spec.supported_types = [tf.float16]
    elif q == "dynamic":
        conv.optimizations = [tf.lite.Optimize.DEFAULT]
    elif q == "int8":
        conv.optimizations = [tf.lite.Optimize.DEFAULT]
        conv.representative_dataset = representative
        conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        conv.inference_input_type = tf.int8
        conv.inference_output_type = tf.int8
    return conv.convert()


def calibration_images(mnist_path: str | None, samples: int, seed: int) -> np.ndarray:
    """(samples, 28, 28) float32 in [0, 1]: a fixed random subset of the TRAINING split."""
    data = load_mnist(mnist_path, download=False)
    idx = np.random.default_rng(seed).choice(
        len(data.x_train), size=min(samples, len(data.x_train)), replace=False
    )
    return data.x_train[np.sort(idx)].astype(np.float32) / 255.0


def keras_test_logits(model, mnist_path: str | None) -> tuple[np.ndarray, float]:
    """Keras logits (10000, 10) on the test set with the runtime's preprocessing (x/255)."""
    data = load_mnist(mnist_path, download=False)
    logits = model.predict(data.x_test.astype(np.float32) / 255.0, batch_size=1000, verbose=0)
    acc = float(np.mean(np.argmax(logits, axis=1) == data.y_test))
    return logits.astype(np.float32), acc


# ---------------------------------------------------------------- parent side: run children


def child_command(
    keras_path: Path,
    arch: str,
    names: list[str],
    work: Path,
    mnist: str | None,
    calibration_samples: int,
    seed: int,
    logits: bool,
) -> list[str]:
    cmd = [
        sys.executable,
        "-m",
        "export.convert",
        "--keras",
        str(Path(keras_path).resolve()),
        "--arch",
        arch,
        "--variants",
        ",".join(names),
        "--work-dir",
        str(work),
        "--calibration-samples",
        str(calibration_samples),
        "--seed",
        str(seed),
    ]
    if mnist:
        cmd += ["--mnist", str(Path(mnist).resolve())]
    return cmd + (["--keras-logits"] if logits else [])


def child_env() -> dict:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(PROJECT_ROOT), env.get("PYTHONPATH")) if p)
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    return env


def last_error_line(log_path: Path) -> str:
    try:
        lines = [ln.strip() for ln in log_path.read_text(errors="replace").splitlines() if ln.strip()]
    except OSError:
        return ""
    for ln in reversed(lines):
        if re.match(r"^[\w.]+(Error|Exception)\b", ln):
            return ln[:300]
    return lines[-1][:300] if lines else ""


@dataclass
class _ChildRun:
    """What one converter child announced before it ended."""

    started: Variant | None = None
    """The variant it was converting when it stopped (None: between variants)."""
    loaded: bool = False
    """It loaded the Keras model."""
    logits: bool = False
    """It wrote the Keras test logits."""


def _follow_child(
    proc: subprocess.Popen,
    remaining: list[Variant],
    on_keras: Callable[[dict], None],
    on_done: Callable[[Variant, dict], None],
    on_fail: Callable[[Variant, str], None],
) -> _ChildRun:
    """Read the child's ``@export`` lines as they come, hand each event to its callback and
    take finished variants off ``remaining``."""
    by_name = {v.name: v for v in remaining}
    run = _ChildRun()
    for line in proc.stdout:
        if not line.startswith(PROTOCOL_PREFIX):
            continue
        msg = json.loads(line[len(PROTOCOL_PREFIX) :])
        ev = msg["event"]
        if ev == "loaded":
            run.loaded = True
        elif ev == "keras":
            run.logits = True
            on_keras(msg)
        elif ev == "start":
            run.started = by_name[msg["variant"]]
        elif ev in ("done", "error"):
            v = by_name[msg["variant"]]
            remaining.remove(v)
            run.started = None
            if ev == "done":
                on_done(v, msg)
            else:
                on_fail(v, f"converter error: {msg['error']}")
    return run


def _exit_reason(rc: int, log_path: Path) -> str:
    if rc < 0:
        name = f", {signal.Signals(-rc).name}" if -rc in signal.valid_signals() else ""
        return f"converter crashed (signal {-rc}{name})"
    return f"converter exited with code {rc}: {last_error_line(log_path)}"


def run_children(
    keras_path: Path,
    arch: str,
    todo: list[Variant],
    work: Path,
    *,
    mnist: str | None,
    calibration_samples: int,
    seed: int,
    on_keras: Callable[[dict], None],
    on_done: Callable[[Variant, dict], None],
    on_fail: Callable[[Variant, str], None],
) -> None:
    """Convert ``todo`` in child processes (this module's main), writing WORK/<name>.tflite.

    A crash fails the variant being converted and a new child takes the rest. Each event
    is handed to a callback as it arrives: ``on_keras({"accuracy", "file"})`` once with the
    Keras test logits, ``on_done(variant, {"file", "size_bytes", "seconds"})``,
    ``on_fail(variant, reason)``.
    """
    remaining = list(todo)
    want_logits = True
    attempt = 0
    while remaining:
        attempt += 1
        log_path = work / f"{arch}-convert-{attempt}.log"
        names = [v.name for v in remaining]
        cmd = child_command(keras_path, arch, names, work, mnist, calibration_samples, seed, want_logits)
        with open(log_path, "w") as err:
            proc = subprocess.Popen(
                cmd, stdout=subprocess.PIPE, stderr=err, text=True, env=child_env(), cwd=PROJECT_ROOT
            )
            try:
                run = _follow_child(proc, remaining, on_keras, on_done, on_fail)
                rc = proc.wait()
            except BaseException:
                proc.kill()
                proc.wait()
                raise
        want_logits = want_logits and not run.logits
        if rc == 0 and not remaining:
            return
        why = _exit_reason(rc, log_path)
        if not run.loaded or want_logits:
            # The model did not even load (or the Keras reference failed): no variant can work.
            for v in list(remaining):
                on_fail(v, f"cannot load Keras model {keras_path}: {last_error_line(log_path) or why}")
            return
        started = run.started if run.started is not None else remaining[0]
        remaining.remove(started)
        on_fail(started, why)


# ---------------------------------------------------------------- child process


def _say(event: str, **fields) -> None:
    print(PROTOCOL_PREFIX + json.dumps({"event": event, **fields}), flush=True)


def run_child(
    keras_path: str,
    arch: str,
    variants: list[str],
    work_dir: str,
    mnist_path: str | None,
    calibration_samples: int,
    seed: int,
    keras_logits: bool,
) -> int:
    """Body of the child: convert each variant to WORK_DIR/<name>.tflite, reporting as it goes."""
    from training.models import load_keras  # TensorFlow: the child only

    work = Path(work_dir)
    t0 = time.perf_counter()
    model = load_keras(keras_path)
    _say("loaded", seconds=round(time.perf_counter() - t0, 2), units=recurrent_units(model))
    if keras_logits:
        logits, acc = keras_test_logits(model, mnist_path)
        np.save(work / "keras_logits.npy", logits)
        _say("keras", accuracy=acc, file=str(work / "keras_logits.npy"))
    chosen = [parse_variant(v, arch) for v in variants]
    calib = None
    if any(v.calibrated for v in chosen):
        calib = calibration_images(mnist_path, calibration_samples, seed)
    for v in chosen:
        _say("start", variant=v.name)
        if os.environ.get(CRASH_HOOK_ENV) == v.name:
            os.kill(os.getpid(), signal.SIGSEGV)
        t = time.perf_counter()
        try:
            data = convert_variant(
                model, v, calib if calib is not None else np.zeros((0, 28, 28), np.float32)
            )
        except Exception as exc:  # one bad variant never stops the others
            msg = str(exc).strip().splitlines()
            _say("error", variant=v.name, error=f"{type(exc).__name__}: {msg[0] if msg else ''}"[:300])
            continue
        out = work / v.file
        out.write_bytes(data)
        _say(
            "done",
            variant=v.name,
            file=str(out),
            size_bytes=len(data),
            seconds=round(time.perf_counter() - t, 2),
        )
    return 0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        description="Convert a Keras digit model to TFLite variants (child of export)."
    )
    p.add_argument("--keras", required=True, help="trained model file (model.keras)")
    p.add_argument("--arch", required=True, help="its architecture: lstm, gru, rnn or peephole")
    p.add_argument(
        "--variants", required=True, help="comma-separated, e.g. lstm_fused_int8,lstm_unrolled_dynamic"
    )
    p.add_argument("--work-dir", required=True, help="folder for the .tflite files (created)")
    p.add_argument("--mnist", default=None, help="mnist.npz (default: $MNIST_PATH)")
    p.add_argument(
        "--calibration-samples",
        type=int,
        default=CALIBRATION_SAMPLES,
        help=f"training images for int8 calibration (default: {CALIBRATION_SAMPLES})",
    )
    p.add_argument("--seed", type=int, default=0, help="picks the calibration images (default: 0)")
    p.add_argument("--keras-logits", action="store_true", help="also write the Keras test-set logits")
    a = p.parse_args(argv)
    Path(a.work_dir).mkdir(parents=True, exist_ok=True)
    return run_child(
        a.keras,
        a.arch,
        [v for v in a.variants.split(",") if v],
        a.work_dir,
        a.mnist,
        a.calibration_samples,
        a.seed,
        a.keras_logits,
    )


if __name__ == "__main__":
    sys.exit(main())
