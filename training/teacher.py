"""The teacher for knowledge distillation: a small convolutional network, never shipped.

A row-by-row LSTM of 64 units has to hold the whole digit in its state; a CNN sees
strokes in 2-D and reads elastically distorted and restyled digits better. Trained on
the same augmented digits, it gives the LSTM soft targets (Hinton, Vinyals and Dean,
2015, "Distilling the knowledge in a neural network"): how much a distorted 4 also
looks like a 9, which a one-hot label cannot say. The student sees exactly the images
the teacher is asked about, in the same compiled step (Beyer et al., 2022: a teacher
is best "patient and consistent").

    python -m training --recipe teacher                      # runs/cnn
    python -m training --teacher runs/cnn --out runs/lstm_distilled
    python -m training --teacher runs/cnn,runs/lstm_labels   # an ensemble of two teachers

The teacher reads the same (batch, 28, 28) input as the recurrent models and returns
logits; it is trained by the same code (``--arch cnn``) but export never converts it.
"""

from __future__ import annotations

from training.architectures import TEACHER_ARCH
from training.tfkeras import keras


def build_teacher() -> keras.Model:
    """Conv 32 - conv 64 - pool - conv 64 - pool - dense 128 (dropout 0.3 twice), 262k
    parameters; logits, shape (batch, 10)."""
    inputs = keras.Input(shape=(28, 28), name="rows", dtype="float32")
    x = keras.layers.Reshape((28, 28, 1))(inputs)
    x = keras.layers.Conv2D(32, 3, activation="relu")(x)
    x = keras.layers.Conv2D(64, 3, activation="relu")(x)
    x = keras.layers.MaxPooling2D()(x)
    x = keras.layers.Conv2D(64, 3, activation="relu")(x)
    x = keras.layers.MaxPooling2D()(x)
    x = keras.layers.Flatten()(x)
    x = keras.layers.Dropout(0.3)(x)
    x = keras.layers.Dense(128, activation="relu")(x)
    x = keras.layers.Dropout(0.3)(x)
    logits = keras.layers.Dense(10, name="logits")(x)
    return keras.Model(inputs, logits, name=TEACHER_ARCH)
