"""training/models.py: shapes for every architecture; unrolled and loop graphs agree."""

from __future__ import annotations

import numpy as np
import pytest

from training.models import ARCHITECTURES, build_model, rebuild


# LSTM has 4 gate blocks, GRU 3 (tf_keras reset_after=True doubles its bias), SimpleRNN 1,
# peephole = LSTM + 3 diagonal vectors; each block: 28*u input + u*u recurrent + u bias.
def expected_params(arch, u):
    block = 28 * u + u * u + u
    recurrent = {"lstm": 4 * block, "gru": 3 * block + 3 * u, "rnn": block, "peephole": 4 * block + 3 * u}[
        arch
    ]
    return recurrent + u * 10 + 10


@pytest.mark.parametrize("arch", ARCHITECTURES)
def test_shapes_and_params(arch):
    model = build_model(arch, units=16)
    assert model.input_shape == (None, 28, 28)
    x = np.random.default_rng(0).uniform(0, 1, (3, 28, 28)).astype("float32")
    assert model(x).shape == (3, 10)
    assert model.count_params() == expected_params(arch, 16)
    assert build_model(arch).count_params() == expected_params(arch, 64)  # the lesson's 64 units


@pytest.mark.parametrize("arch", ARCHITECTURES)
def test_unrolled_graph_gives_same_outputs(arch):
    rng = np.random.default_rng(1)
    loop = build_model(arch, units=8, unroll=False)
    loop.set_weights([rng.normal(0, 0.5, w.shape).astype("float32") for w in loop.get_weights()])
    unrolled = rebuild(loop, arch, units=8, unroll=True)
    assert unrolled.get_layer("recurrent").unroll and not loop.get_layer("recurrent").unroll
    x = rng.uniform(0, 1, (4, 28, 28)).astype("float32")
    a, b = loop(x).numpy(), unrolled(x).numpy()
    assert np.abs(a).max() > 0.1  # non-trivial outputs, so agreement means something
    np.testing.assert_allclose(a, b, atol=1e-5)


def test_last_time_step_matters():
    """Rows are read as time steps: changing only the last row changes the logits."""
    model = build_model("lstm", units=8)
    x = np.zeros((1, 28, 28), "float32")
    y = x.copy()
    y[0, 27] = 1.0
    assert np.abs(model(x).numpy() - model(y).numpy()).max() > 1e-4


def test_unknown_arch_is_named():
    with pytest.raises(ValueError, match="'transformer'"):
        build_model("transformer")
