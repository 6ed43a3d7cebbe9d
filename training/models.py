"""The lesson's recurrent digit classifiers.

Every model reads a 28x28 image as 28 time steps of 28 pixels (rows as steps),
runs one recurrent layer and feeds its output at the last step to a dense layer
of 10 logits (softmax is applied by whoever reads them).

    python -m training.models            # print each architecture's summary
"""

from __future__ import annotations

from pathlib import Path

from training.architectures import ARCHITECTURES, TEACHER_ARCH
from training.peephole import PeepholeLSTMCell  # also registers the cell, so load_keras can read it
from training.teacher import build_teacher
from training.tfkeras import keras

__all__ = ["ARCHITECTURES", "INPUT_SHAPE", "RECURRENT_LAYER", "build_model", "load_keras", "rebuild"]
INPUT_SHAPE = (28, 28)  # (time steps = rows, features = pixels per row)
RECURRENT_LAYER = "recurrent"  # name shared by every build, so weights move between graphs


def recurrent_layer(arch: str, units: int, unroll: bool) -> keras.layers.Layer:
    if arch == "lstm":
        return keras.layers.LSTM(units, unroll=unroll, name=RECURRENT_LAYER)
    if arch == "gru":
        return keras.layers.GRU(units, unroll=unroll, name=RECURRENT_LAYER)
    if arch == "rnn":
        return keras.layers.SimpleRNN(units, unroll=unroll, name=RECURRENT_LAYER)
    if arch == "peephole":
        return keras.layers.RNN(PeepholeLSTMCell(units), unroll=unroll, name=RECURRENT_LAYER)
    raise ValueError(f"unknown architecture {arch!r}; choose one of {', '.join(ARCHITECTURES)}")


def build_model(arch: str = "lstm", units: int = 64, unroll: bool = False) -> keras.Model:
    """Rows-as-steps classifier returning logits, shape (batch, 10).

    ``unroll=True`` builds the same network as a fixed graph of 28 steps (no loop),
    which every TFLite quantization mode can convert; weights are interchangeable
    between the two builds (see :func:`rebuild`).
    """
    if units < 1:
        raise ValueError(f"units must be >= 1, got {units}")
    if arch == TEACHER_ARCH:  # the distillation teacher: no recurrent layer, no units
        return build_teacher()
    inputs = keras.Input(shape=INPUT_SHAPE, name="rows", dtype="float32")
    x = recurrent_layer(arch, units, unroll)(inputs)
    logits = keras.layers.Dense(10, name="logits")(x)
    return keras.Model(inputs, logits, name=f"{arch}{units}")


def rebuild(model: keras.Model, arch: str, units: int, unroll: bool) -> keras.Model:
    """The same trained weights in a fresh graph (e.g. unrolled for int8 export)."""
    clone = build_model(arch, units, unroll=unroll)
    clone.set_weights(model.get_weights())
    return clone


def keras_file(path: str | Path) -> Path:
    """A run folder (holding model.keras) or a .keras file -> the .keras file; FileNotFoundError if absent."""
    p = Path(path)
    if p.is_dir():
        p = p / "model.keras"
    if not p.is_file():
        raise FileNotFoundError(
            f"no trained model at {p}; train one with python -m training --arch <arch> --out <run folder>"
        )
    return p


def load_keras(path: str | Path) -> keras.Model:
    """The trained tf_keras model (loop graph, uncompiled) from a run folder or a .keras file.

    The one loader of the project: training, export and the benchmarks all read models here.
    """
    return keras.models.load_model(keras_file(path), compile=False)


if __name__ == "__main__":
    for name in ARCHITECTURES:
        try:
            build_model(name).summary()
        except ImportError as exc:
            print(f"{name}: {exc}")
