"""LSTM cell with peephole connections (Gers & Schmidhuber, 2000), for tf_keras.

A plain LSTM's gates see only the input x_t and the previous output h_{t-1}. Here
the input and forget gates also look at the previous cell state c_{t-1}, and the
output gate at the new cell state c_t, each through a diagonal (element-wise)
weight vector:

    i_t = sigmoid(x_t W_i + h_{t-1} U_i + b_i + p_i * c_{t-1})
    f_t = sigmoid(x_t W_f + h_{t-1} U_f + b_f + p_f * c_{t-1})
    g_t = tanh   (x_t W_c + h_{t-1} U_c + b_c)
    c_t = f_t * c_{t-1} + i_t * g_t
    o_t = sigmoid(x_t W_o + h_{t-1} U_o + b_o + p_o * c_t)
    h_t = o_t * tanh(c_t)

Kernels are stored in Keras' LSTM layout (gate order i, f, c, o along the last
axis), so ``kernel``/``recurrent_kernel``/``bias`` read like a keras LSTM's. Use it
through ``keras.layers.RNN(PeepholeLSTMCell(64))`` (see training/models.py).

    python -m training.models     # prints the peephole model's summary among others
"""

from __future__ import annotations

from training.tfkeras import keras, tf


@keras.saving.register_keras_serializable(package="digits")
class PeepholeLSTMCell(keras.layers.Layer):
    """One step of a peephole LSTM; state is [h, c], each (batch, units)."""

    def __init__(
        self,
        units: int,
        kernel_initializer="glorot_uniform",
        recurrent_initializer="orthogonal",
        bias_initializer="zeros",
        peephole_initializer="zeros",
        unit_forget_bias: bool = True,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if units < 1:
            raise ValueError(f"units must be >= 1, got {units}")
        self.units = int(units)
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.recurrent_initializer = keras.initializers.get(recurrent_initializer)
        self.bias_initializer = keras.initializers.get(bias_initializer)
        # Zero peepholes start the cell as a plain LSTM; training grows them as useful.
        self.peephole_initializer = keras.initializers.get(peephole_initializer)
        self.unit_forget_bias = bool(unit_forget_bias)
        self.state_size = [self.units, self.units]
        self.output_size = self.units

    def build(self, input_shape):
        input_dim = int(input_shape[-1])
        n = self.units
        self.kernel = self.add_weight(
            shape=(input_dim, 4 * n), name="kernel", initializer=self.kernel_initializer
        )
        self.recurrent_kernel = self.add_weight(
            shape=(n, 4 * n), name="recurrent_kernel", initializer=self.recurrent_initializer
        )
        if self.unit_forget_bias:
            base = self.bias_initializer

            def bias_init(shape, dtype=None, **kwargs):
                # Forget-gate bias 1: remember by default early in training (as keras LSTM).
                return tf.concat(
                    [base((n,), dtype=dtype), tf.ones((n,), dtype=dtype), base((2 * n,), dtype=dtype)], axis=0
                )
        else:
            bias_init = self.bias_initializer
        self.bias = self.add_weight(shape=(4 * n,), name="bias", initializer=bias_init)
        # Diagonal peepholes: one weight per unit and gate, shape (units,).
        self.peephole_i = self.add_weight(
            shape=(n,), name="peephole_i", initializer=self.peephole_initializer
        )
        self.peephole_f = self.add_weight(
            shape=(n,), name="peephole_f", initializer=self.peephole_initializer
        )
        self.peephole_o = self.add_weight(
            shape=(n,), name="peephole_o", initializer=self.peephole_initializer
        )
        super().build(input_shape)

    def call(self, inputs, states, training=None):
        h_prev, c_prev = states[0], states[1]  # (batch, units) each
        z = tf.matmul(inputs, self.kernel) + tf.matmul(h_prev, self.recurrent_kernel) + self.bias
        z_i, z_f, z_c, z_o = tf.split(z, 4, axis=-1)
        i = tf.sigmoid(z_i + self.peephole_i * c_prev)
        f = tf.sigmoid(z_f + self.peephole_f * c_prev)
        c = f * c_prev + i * tf.tanh(z_c)
        o = tf.sigmoid(z_o + self.peephole_o * c)  # output gate peeks at the NEW cell state
        h = o * tf.tanh(c)
        return h, [h, c]

    def get_config(self):
        config = super().get_config()
        config.update(
            units=self.units,
            kernel_initializer=keras.initializers.serialize(self.kernel_initializer),
            recurrent_initializer=keras.initializers.serialize(self.recurrent_initializer),
            bias_initializer=keras.initializers.serialize(self.bias_initializer),
            peephole_initializer=keras.initializers.serialize(self.peephole_initializer),
            unit_forget_bias=self.unit_forget_bias,
        )
        return config
