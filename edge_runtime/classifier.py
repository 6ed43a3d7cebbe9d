"""Run a digit TFLite model with LiteRT: (n, 28, 28) floats in [0, 1] -> (n, 10) logits.

The interpreter comes from ``ai_edge_litert`` (or the older ``tflite_runtime``);
never from TensorFlow. Input and output dtypes and quantization are read from the
model, so float, float16, dynamic-range and full-integer int8 files all take the
same float input. The fused LSTM op keeps its state across ``invoke()`` calls, so
the state is reset before every digit. Graphs exported with a free batch dimension (the
unrolled ones, see ``export/convert.py``) read a frame's digits in as few calls as they can
(``MAX_BATCH``).

    python -m edge_runtime.classifier models/lstm_int8.tflite   # print the model's I/O
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np


def load_interpreter_class():
    """LiteRT's Interpreter, else tflite_runtime's; a clear ImportError if neither is installed."""
    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError:
        try:
            from tflite_runtime.interpreter import Interpreter
        except ImportError as exc:
            raise ImportError(
                "no TFLite runtime: pip install ai-edge-litert (or tflite-runtime on old systems)"
            ) from exc
    return Interpreter


class ModelError(RuntimeError):
    """The model file is missing or is not a usable digit model."""


@dataclass(frozen=True)
class TensorSpec:
    dtype: np.dtype
    shape: tuple[int, ...]
    scale: float
    """Quantization scale; 0.0 for a float tensor."""
    zero_point: int

    @classmethod
    def from_details(cls, d: dict) -> TensorSpec:
        scale, zero_point = d.get("quantization", (0.0, 0))
        return cls(np.dtype(d["dtype"]), tuple(int(s) for s in d["shape"]), float(scale), int(zero_point))

    @property
    def quantized(self) -> bool:
        return self.scale != 0.0 and self.dtype in (np.int8, np.uint8, np.int16)


STATEFUL_OPS = (
    "UNIDIRECTIONAL_SEQUENCE_LSTM",
    "UNIDIRECTIONAL_SEQUENCE_RNN",
    "VAR_HANDLE",
    "ASSIGN_VARIABLE",
)


def _has_state(interpreter) -> bool:
    """Whether the graph keeps state across invoke() calls (the fused LSTM does).

    Op introspection is a private API: if it is missing, assume state and reset.
    """
    try:
        ops = interpreter._get_ops_details()  # LiteRT has no public op list
    except AttributeError:
        return True
    return any(op.get("op_name", "") in STATEFUL_OPS for op in ops)


MAX_BATCH, BATCH_STEP = 16, 4
"""A free-batch graph reads a frame's digits in as few calls as it can: up to ``MAX_BATCH`` at
once, the last call's batch rounded up to a multiple of ``BATCH_STEP`` (padding rows), a single
digit alone. Each batch size has its own interpreter (resizing one per frame cost 120-190 us),
made on first use or all at once by ``prepare_batches`` (a reader does that: making one costs
~5 ms, and the first frames of a camera or of a folder of photos each paid it; all four take
~16 ms and ~9 MB).

Why few calls: in a reader, the finder and the normaliser push the model's graph (about 450
unrolled nodes) out of the CPU's caches between frames, and every call then pays to bring it
back. Measured on x86 (XNNPACK, one thread, ``lstm_unrolled_dynamic``, caches flushed before each
frame's digits): 10 digits 863 us in one call of 12 against 1125 us in calls of 8 and 4, 13
digits 815 against 1228 us, 5 digits 408 against 495 us; with the graph still cached (a loop of
calls, as export's latency figure is taken) a call of 8 costs 4.3x one digit and the split mattered
less. Within 5e-7 of batch 1's logits."""


def _chunks(n: int) -> list[tuple[int, int]]:
    """n digits -> [(first digit, batch size)]: ``MAX_BATCH`` at a time, then the rest rounded up
    to a multiple of ``BATCH_STEP``, or 1 for a last single digit; a chunk may reach past n (its
    last rows are padding)."""
    out, i = [], 0
    while n - i > MAX_BATCH:
        out.append((i, MAX_BATCH))
        i += MAX_BATCH
    rest = n - i
    if rest == 1:
        out.append((i, 1))
    elif rest > 1:
        out.append((i, -(-rest // BATCH_STEP) * BATCH_STEP))
    return out


def softmax(logits: np.ndarray, temperature: float = 1.0) -> np.ndarray:
    """(..., 10) logits -> probabilities of softmax(logits / temperature) (the calibrated ones)."""
    z = np.asarray(logits) / temperature
    z = z - z.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)


class DigitClassifier:
    """One TFLite digit model, ready to classify normalized 28x28 digits."""

    def __init__(self, model_path: str | Path, num_threads: int = 1, temperature: float = 1.0):
        path = Path(model_path)
        if not temperature > 0:
            raise ModelError(f"temperature must be > 0, got {temperature}; check the model's manifest entry")
        self.temperature = float(temperature)
        """Softmax temperature from the manifest (export/calibrate.py); 1.0 = the raw softmax."""
        if not path.is_file():
            raise ModelError(f"model not found: {path}; run make export or pass --model")
        Interpreter = load_interpreter_class()
        try:
            self.interpreter = Interpreter(model_path=str(path), num_threads=num_threads)
            self.interpreter.allocate_tensors()
        except (ValueError, RuntimeError) as exc:
            raise ModelError(f"cannot load TFLite model {path}: {exc}") from exc
        inputs, outputs = self.interpreter.get_input_details(), self.interpreter.get_output_details()
        if len(inputs) != 1 or len(outputs) != 1:
            raise ModelError(
                f"{path}: expected one input and one output, got {len(inputs)} and {len(outputs)}"
            )
        self.path = path
        self.input = TensorSpec.from_details(inputs[0])
        self.output = TensorSpec.from_details(outputs[0])
        self._in_index, self._out_index = inputs[0]["index"], outputs[0]["index"]
        if self.input.shape != (1, 28, 28) or self.output.shape != (1, 10):
            raise ModelError(
                f"{path}: not a digit model (input {self.input.shape}, output {self.output.shape}); "
                "expected (1, 28, 28) -> (1, 10): one digit of 28 rows x 28 pixels per invoke, batch 1"
            )
        self.stateful = _has_state(self.interpreter)
        signature = inputs[0].get("shape_signature")
        self.free_batch = bool(
            signature is not None and len(signature) == 3 and signature[0] == -1 and not self.stateful
        )
        """Whether the graph takes any batch (then ``logits`` reads digits in batches)."""
        self._num_threads = num_threads
        self._batched: dict[int, object] = {}  # batch size -> a run() like ``step``'s, or None (failed)

    def quantize_input(self, x: np.ndarray) -> np.ndarray:
        """(n, 28, 28) floats in [0, 1] -> the model's input dtype."""
        x = np.asarray(x, dtype=np.float32)
        if self.input.quantized:
            info = np.iinfo(self.input.dtype)
            q = np.round(x / self.input.scale + self.input.zero_point)
            return np.clip(q, info.min, info.max).astype(self.input.dtype)
        return np.ascontiguousarray(x, dtype=self.input.dtype)  # (no copy when it already is)

    def dequantize_output(self, y: np.ndarray) -> np.ndarray:
        if self.output.quantized:
            return (y.astype(np.float32) - self.output.zero_point) * self.output.scale
        return y.astype(np.float32)

    def step(self):
        """A pre-bound call for one digit: (1, 28, 28) in the model's dtype -> raw (1, 10) output.

        Resets the state first when the graph keeps it (the fused LSTM). This is the whole
        per-digit cost of the runtime; export and the benchmarks time exactly this call.
        """
        return self._bind(self.interpreter, self.stateful)

    def _bind(self, it, reset: bool = False):
        """run(q) -> raw output on interpreter ``it``, its methods bound once (the per-digit
        cost is the point); ``reset``: clear the graph's state first (the fused LSTM)."""
        in_index, out_index = self._in_index, self._out_index
        set_tensor, invoke, get_tensor = it.set_tensor, it.invoke, it.get_tensor
        if reset:
            reset_all = it.reset_all_variables

            def run(q: np.ndarray) -> np.ndarray:
                reset_all()
                set_tensor(in_index, q)
                invoke()
                return get_tensor(out_index)
        else:

            def run(q: np.ndarray) -> np.ndarray:
                set_tensor(in_index, q)
                invoke()
                return get_tensor(out_index)

        return run

    def _batch_step(self, size: int):
        """A run() for ``size`` digits at once (an interpreter of its own, resized once), or
        None when the graph refuses that batch size."""
        if size not in self._batched:
            try:
                it = load_interpreter_class()(model_path=str(self.path), num_threads=self._num_threads)
                it.resize_tensor_input(self._in_index, [size, 28, 28], strict=True)
                it.allocate_tensors()
                self._batched[size] = self._bind(it)
            except (ValueError, RuntimeError):
                self._batched[size] = None
        return self._batched[size]

    def prepare_batches(self) -> list[int]:
        """Make the interpreter of every batch size ``logits`` can use now, not in the first frame
        that needs it (free-batch graphs; others read digit by digit and have none), and run each
        one, the single digit's too, once on a blank input: an interpreter's first call cost
        0.5-0.9 ms more than the next ones (measured on x86, ``lstm_unrolled_dynamic``), paid in
        the middle of the first frame with that many digits. Outputs are unchanged (the batch
        graphs keep no state; the single digit's call resets a stateful graph first).
        -> the batch sizes ready (a size the graph refuses is left out)."""
        self.step()(self.quantize_input(np.zeros((1, 28, 28), np.float32)))
        if not self.free_batch:
            return []
        ready = []
        for size in range(BATCH_STEP, MAX_BATCH + 1, BATCH_STEP):
            run = self._batch_step(size)
            if run is not None:
                run(self.quantize_input(np.zeros((size, 28, 28), np.float32)))
                ready.append(size)
        return ready

    def logits(self, x: np.ndarray) -> np.ndarray:
        """(n, 28, 28) floats in [0, 1], white digit on black -> (n, 10) float logits."""
        x = np.asarray(x)
        if x.ndim == 2:
            x = x[None]
        if x.shape[1:] != (28, 28):
            raise ValueError(f"expected digits of shape (n, 28, 28), got {x.shape}")
        q = self.quantize_input(x)
        n = len(q)
        out = np.empty((n, 10), dtype=np.float32)
        # Graphs with a batch-1 input (the fused LSTM, whose state tensors are sized for one
        # digit; files exported before the free batch) take one invoke per digit.
        chunks = _chunks(n) if self.free_batch else [(i, 1) for i in range(n)]
        step = self.step()
        for i, size in chunks:
            run = step if size == 1 else self._batch_step(size)
            if run is None:  # the graph refused the batch size: one digit per invoke
                for j in range(i, min(i + size, n)):
                    out[j] = self.dequantize_output(step(q[j : j + 1]))[0]
                continue
            part = q[i : i + size]
            if len(part) < size:  # the last rows of the last chunk are padding
                part = np.concatenate([part, np.zeros((size - len(part), 28, 28), q.dtype)])
            y = run(part)
            out[i : i + size] = self.dequantize_output(y[: n - i])
        if not np.isfinite(out).all():  # never let NaN/inf reach a confidence or --json
            raise ModelError(f"{self.path}: the model gave non-finite logits (NaN or inf); it is broken")
        return out

    def probabilities(self, x: np.ndarray) -> np.ndarray:
        """Calibrated probabilities: softmax(logits / temperature)."""
        return softmax(self.logits(x), self.temperature)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1:
        print("usage: python -m edge_runtime.classifier MODEL.tflite", file=sys.stderr)
        return 2
    try:
        clf = DigitClassifier(argv[0])
    except ModelError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"{clf.path}: input {clf.input}, output {clf.output}, stateful {clf.stateful}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
