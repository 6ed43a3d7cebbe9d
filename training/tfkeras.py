"""Import TensorFlow with the legacy Keras 2 (``tf_keras``), quietly.

Keras 3 turns an LSTM into a TFLite WHILE loop whose int8 conversion crashes the
converter; tf_keras gives the single fused UNIDIRECTIONAL_SEQUENCE_LSTM op. Every
module that needs Keras imports it from here so the choice is made once:

    from training.tfkeras import tf, keras
"""

import os

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # hide the CUDA/CPU-feature banners

import tensorflow as tf
import tf_keras as keras

__all__ = ["tf", "keras"]
