"""Keras 1 initializers (spec §2.2, §4.3, §5.3, §15.2): ranges and variances, and how built layers use them."""

from __future__ import annotations

import math

import numpy as np
import pytest

from rnncli.layers.initializers import initialize

SHAPE = (300, 500)  # 150 000 draws: sample std within ~0.5% of the true one


def draw(spec, shape=SHAPE, seed=0):
    return initialize(spec, shape, np.random.default_rng(seed))


def assert_uniform(values: np.ndarray, limit: float) -> None:
    """U(-limit, limit), to within 5 standard errors of the sample statistics."""
    n = values.size
    assert values.dtype == np.float32
    assert np.abs(values).max() <= limit * (1 + 1e-6)
    assert np.abs(values).max() > limit * (1 - min(0.02, 10 / n))
    assert abs(values.mean()) < 5 * limit / math.sqrt(3 * n)
    np.testing.assert_allclose(values.std(), limit / math.sqrt(3), rtol=5 * 0.45 / math.sqrt(n))


def assert_normal(values: np.ndarray, std: float) -> None:
    """N(0, std^2), to within 5 standard errors of the sample statistics."""
    n = values.size
    assert values.dtype == np.float32
    assert abs(values.mean()) < 5 * std / math.sqrt(n)
    np.testing.assert_allclose(values.std(), std, rtol=5 / math.sqrt(2 * n))
    if n >= 10_000:  # a normal, not a uniform: about 4.55% of the draws lie beyond 2 std
        np.testing.assert_allclose((np.abs(values) > 2 * std).mean(), 0.0455, atol=0.005)


@pytest.mark.parametrize("spec,limit", [
    ("uniform", 0.05),
    ({"name": "uniform", "scale": 0.2}, 0.2),
    ("glorot_uniform", math.sqrt(6 / (SHAPE[0] + SHAPE[1]))),
    ("lecun_uniform", math.sqrt(3 / SHAPE[0])),
    ("he_uniform", math.sqrt(6 / SHAPE[0])),
])
def test_uniform_initializers(spec, limit):
    assert_uniform(draw(spec), limit)


@pytest.mark.parametrize("spec,std", [
    ("normal", 0.05),
    ({"name": "normal", "scale": 0.001}, 0.001),  # examples/mnist_irnn.py
    ("glorot_normal", math.sqrt(2 / (SHAPE[0] + SHAPE[1]))),
    ("he_normal", math.sqrt(2 / SHAPE[0])),
])
def test_normal_initializers(spec, std):
    assert_normal(draw(spec), std)


def test_fans_of_a_vector_are_the_sqrt_of_its_size():
    """Keras 1 get_fans: a non-2-D shape has fan_in = fan_out = sqrt(prod(shape))."""
    size = 40_000
    assert_uniform(draw("glorot_uniform", (size,)), math.sqrt(6 / (2 * math.sqrt(size))))
    assert_uniform(draw("he_uniform", (size,)), math.sqrt(6 / math.sqrt(size)))


@pytest.mark.parametrize("shape", [(7, 28), (28, 7), (9, 9)])
def test_orthogonal_has_gain_1_1(shape):
    q = draw("orthogonal", shape).astype(np.float64)
    if shape[0] <= shape[1]:
        np.testing.assert_allclose(q @ q.T, 1.21 * np.eye(shape[0]), atol=1e-5)  # orthonormal rows x 1.1
    if shape[0] >= shape[1]:
        np.testing.assert_allclose(q.T @ q, 1.21 * np.eye(shape[1]), atol=1e-5)  # orthonormal columns x 1.1


def test_orthogonal_scale_is_configurable():
    q = draw({"name": "orthogonal", "scale": 1.0}, (6, 6)).astype(np.float64)
    np.testing.assert_allclose(q @ q.T, np.eye(6), atol=1e-6)


def test_identity_zero_one():
    np.testing.assert_array_equal(draw("identity", (4, 4)), np.eye(4))
    np.testing.assert_array_equal(draw({"name": "identity", "scale": 0.5}, (3, 3)), 0.5 * np.eye(3))
    np.testing.assert_array_equal(draw("zero", (2, 3)), np.zeros((2, 3)))
    np.testing.assert_array_equal(draw("one", (5,)), np.ones(5))
    with pytest.raises(ValueError, match="square"):
        draw("identity", (3, 4))


def test_draws_depend_only_on_the_seed():
    np.testing.assert_array_equal(draw("glorot_uniform", (5, 6), seed=3), draw("glorot_uniform", (5, 6), seed=3))
    assert not np.array_equal(draw("glorot_uniform", (5, 6), seed=3), draw("glorot_uniform", (5, 6), seed=4))


# ---------------------------------------------------------------------------------------------------------------
# Built layers: per-gate draws in cpu/mem mode, one fused draw in gpu mode (spec §2.2 "Consequence")
# ---------------------------------------------------------------------------------------------------------------

GATES = {"SimpleRNN": 1, "GRU": 3, "LSTM": 4}
DIM, UNITS = 20, 30


def _blocks(matrix: np.ndarray, gates: int) -> list[np.ndarray]:
    return np.split(matrix, gates, axis=-1)


@pytest.mark.parametrize("mode", ["cpu", "mem", "gpu"])
@pytest.mark.parametrize("kind", ["SimpleRNN", "GRU", "LSTM"])
def test_default_kernels_per_gate_or_fused(kit, kind, mode):
    _, layer = kit.single(kind, input_shape=(None, DIM), output_dim=UNITS, consume_less=mode)
    W, U, b = layer.get_weights()
    g = GATES[kind]
    per_gate_limit = math.sqrt(6 / (DIM + UNITS))
    fused_limit = math.sqrt(6 / (DIM + g * UNITS))
    if mode == "gpu":
        assert_uniform(W, fused_limit)
        np.testing.assert_allclose(U.astype(np.float64) @ U.T, 1.21 * np.eye(UNITS), atol=1e-5)
    else:
        for block in _blocks(W, g):
            assert_uniform(block, per_gate_limit)
        for block in _blocks(U, g):
            np.testing.assert_allclose(block.T.astype(np.float64) @ block, 1.21 * np.eye(UNITS), atol=1e-5)
    if g > 1:  # the two layouts are distinguishable
        square_blocks = [np.allclose(block.T.astype(np.float64) @ block, 1.21 * np.eye(UNITS), atol=1e-4)
                         for block in _blocks(U, g)]
        assert all(square_blocks) == (mode != "gpu")
        assert (np.abs(W).max() > fused_limit * 1.05) == (mode != "gpu")
    expected_bias = np.zeros(g * UNITS)
    if kind == "LSTM":
        expected_bias[UNITS:2 * UNITS] = 1.0  # forget_bias_init: one (blocks i, f, c, o)
    np.testing.assert_array_equal(b, expected_bias)


@pytest.mark.parametrize("mode", ["cpu", "gpu"])
def test_lstm_forget_bias_init(kit, mode):
    u = 4
    _, zero = kit.single("LSTM", output_dim=u, consume_less=mode, forget_bias_init="zero")
    np.testing.assert_array_equal(zero.get_weights()[2], np.zeros(4 * u))
    _, uniform = kit.single("LSTM", output_dim=u, consume_less=mode,
                            forget_bias_init={"name": "uniform", "scale": 0.1})
    bias = uniform.get_weights()[2]
    np.testing.assert_array_equal(np.delete(bias, np.s_[u:2 * u]), np.zeros(3 * u))
    assert np.all(np.abs(bias[u:2 * u]) <= 0.1) and np.any(bias[u:2 * u] != 0)


@pytest.mark.parametrize("mode", ["cpu", "gpu"])
def test_identity_inner_init_is_per_gate(kit, mode):
    """mnist_irnn: SimpleRNN(init=normal(0.001), inner_init=identity, relu); identity is per gate even in gpu."""
    _, rnn = kit.single("SimpleRNN", input_shape=(None, 1), output_dim=100, activation="relu", consume_less=mode,
                        init={"name": "normal", "scale": 0.001}, inner_init="identity")
    W, U, _ = rnn.get_weights()
    np.testing.assert_array_equal(U, np.eye(100))
    np.testing.assert_allclose(W.std(), 0.001, rtol=0.3)
    _, gru = kit.single("GRU", output_dim=3, consume_less=mode, inner_init={"name": "identity", "scale": 0.5})
    np.testing.assert_array_equal(gru.get_weights()[1], np.tile(0.5 * np.eye(3), (1, 3)))


def test_layers_draw_from_the_config_seed(kit):
    layers = [kit.layer_config("LSTM", output_dim=3, return_sequences=True), {"type": "LSTM", "output_dim": 3}]
    a, b = kit.model(layers, seed=5), kit.model(layers, seed=5)
    for la, lb in zip(a.layers, b.layers):
        for wa, wb in zip(la.get_weights(), lb.get_weights()):
            np.testing.assert_array_equal(wa, wb)
    c = kit.model(layers, seed=6)
    assert not np.array_equal(a.layers[0].get_weights()[0], c.layers[0].get_weights()[0])
    # two identical layers of one model do not get identical draws
    assert not np.array_equal(a.layers[0].get_weights()[1], a.layers[1].get_weights()[1])


def test_core_layer_initializers(kit):
    model = kit.model([{"type": "Embedding", "input_dim": 400, "output_dim": 300, "input_length": 5},
                       {"type": "TimeDistributed", "layer": {"type": "Dense", "output_dim": 200}}])
    embedding, dense = model.layers[0].get_weights()[0], model.layers[1].get_weights()
    assert_uniform(embedding, 0.05)  # Keras 1 Embedding default: uniform(0.05)
    assert_uniform(dense[0], math.sqrt(6 / (300 + 200)))
    np.testing.assert_array_equal(dense[1], np.zeros(200))
