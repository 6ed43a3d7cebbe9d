"""PeepholeLSTMCell against a plain NumPy transcription of the peephole equations."""

from __future__ import annotations

import numpy as np
import pytest

from training.models import build_model
from training.peephole import PeepholeLSTMCell
from training.tfkeras import keras

UNITS = 5
TOL = 1e-5  # float32 vs float64 over 28 steps


def sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def numpy_peephole(x, kernel, recurrent, bias, p_i, p_f, p_o, h=None, c=None):
    """Reference: x (batch, steps, features) -> h at every step (batch, steps, units)."""
    n = recurrent.shape[0]
    batch = x.shape[0]
    h = np.zeros((batch, n)) if h is None else h
    c = np.zeros((batch, n)) if c is None else c
    outputs = []
    for t in range(x.shape[1]):
        z = x[:, t] @ kernel + h @ recurrent + bias
        z_i, z_f, z_c, z_o = z[:, :n], z[:, n : 2 * n], z[:, 2 * n : 3 * n], z[:, 3 * n :]
        i = sigmoid(z_i + p_i * c)
        f = sigmoid(z_f + p_f * c)
        c = f * c + i * np.tanh(z_c)
        o = sigmoid(z_o + p_o * c)
        h = o * np.tanh(c)
        outputs.append(h)
    return np.stack(outputs, axis=1)


def random_weights(rng, features, units):
    return [
        rng.normal(0, 0.4, (features, 4 * units)),
        rng.normal(0, 0.4, (units, 4 * units)),
        rng.normal(0, 0.4, (4 * units,)),
        rng.normal(0, 1.0, (units,)),  # large peepholes so a wrong wiring shows
        rng.normal(0, 1.0, (units,)),
        rng.normal(0, 1.0, (units,)),
    ]


def test_one_step_with_state_matches_numpy():
    rng = np.random.default_rng(1)
    cell = PeepholeLSTMCell(UNITS)
    cell.build((None, 3))
    weights = random_weights(rng, 3, UNITS)
    cell.set_weights([w.astype("float32") for w in weights])
    x = rng.normal(size=(4, 3))
    h0, c0 = rng.normal(size=(4, UNITS)), rng.normal(size=(4, UNITS))  # non-zero c exercises p_i, p_f
    h, (h_state, c_state) = cell(x.astype("float32"), [h0.astype("float32"), c0.astype("float32")])
    expected = numpy_peephole(x[:, None, :], *weights, h=h0, c=c0)[:, 0]
    np.testing.assert_allclose(h.numpy(), expected, atol=TOL)
    np.testing.assert_allclose(h_state.numpy(), expected, atol=TOL)


def test_each_peephole_changes_the_output():
    """Guards against a peephole weight that is created but never used."""
    rng = np.random.default_rng(2)
    cell = PeepholeLSTMCell(UNITS)
    cell.build((None, 3))
    weights = [w.astype("float32") for w in random_weights(rng, 3, UNITS)]
    x = rng.normal(size=(2, 3)).astype("float32")
    states = [rng.normal(size=(2, UNITS)).astype("float32") for _ in range(2)]
    cell.set_weights(weights)
    base = cell(x, states)[0].numpy()
    for k in (3, 4, 5):  # p_i, p_f, p_o
        changed = list(weights)
        changed[k] = np.zeros_like(weights[k])
        cell.set_weights(changed)
        assert np.abs(cell(x, states)[0].numpy() - base).max() > 1e-3, f"peephole {k} has no effect"


@pytest.mark.parametrize("unroll", [False, True])
def test_whole_model_matches_numpy(unroll):
    rng = np.random.default_rng(3)
    model = build_model("peephole", units=UNITS, unroll=unroll)
    rec = random_weights(rng, 28, UNITS)
    dense_w, dense_b = rng.normal(0, 0.5, (UNITS, 10)), rng.normal(0, 0.5, (10,))
    model.set_weights([w.astype("float32") for w in rec + [dense_w, dense_b]])
    x = rng.uniform(0, 1, (3, 28, 28))
    h_last = numpy_peephole(x, *rec)[:, -1]
    expected = h_last @ dense_w + dense_b
    np.testing.assert_allclose(model(x.astype("float32")).numpy(), expected, atol=1e-4)


def test_saved_model_reloads_with_same_outputs(tmp_path):
    model = build_model("peephole", units=UNITS)
    rng = np.random.default_rng(4)
    model.set_weights([rng.normal(0, 0.5, w.shape).astype("float32") for w in model.get_weights()])
    path = tmp_path / "peephole.keras"
    model.save(path)
    loaded = keras.models.load_model(path, compile=False)
    assert isinstance(loaded.get_layer("recurrent").cell, PeepholeLSTMCell)
    x = rng.uniform(0, 1, (2, 28, 28)).astype("float32")
    np.testing.assert_allclose(loaded(x).numpy(), model(x).numpy(), atol=1e-6)
