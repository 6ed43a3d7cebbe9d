"""The recurrent architectures the project trains, exports and ships.

Kept apart from training/models.py (which imports TensorFlow) so export and the
benchmarks can name them without starting TensorFlow.
"""

ARCHITECTURES = ("lstm", "gru", "rnn", "peephole")
"""lstm, gru, rnn (SimpleRNN) and peephole (the peephole LSTM of training/peephole.py)."""

TEACHER_ARCH = "cnn"
"""The distillation teacher (training/teacher.py): trained by the same code, never exported."""

TRAINABLE = (*ARCHITECTURES, TEACHER_ARCH)
