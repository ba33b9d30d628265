"""rnncli/layers/activations.py through the Activation layer (spec §12): Keras 1 hard_sigmoid and the others."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

B, T, D, U = 3, 5, 4, 5


def test_hard_sigmoid_is_keras_1s(kit):
    model = kit.model([{"type": "Activation", "activation": "hard_sigmoid", "input_shape": [7]}])
    x = tf.constant([[-3.0, -2.5, -1.0, 0.0, 1.0, 2.5, 3.0]])
    with tf.GradientTape() as tape:
        tape.watch(x)
        y, _ = model(x)
    np.testing.assert_allclose(y.numpy(), [[0.0, 0.0, 0.3, 0.5, 0.7, 1.0, 1.0]], atol=1e-7)
    inside = tf.constant([[-2.0, 0.0, 2.0]])
    with tf.GradientTape() as tape:
        tape.watch(inside)
        y = model.layers[0](tf.pad(inside, [[0, 0], [2, 2]]))[0]
    np.testing.assert_allclose(tape.gradient(y, inside).numpy(), [[0.2, 0.2, 0.2]], atol=1e-7)
    with tf.GradientTape() as tape:
        outside = tf.constant([[-3.0, -2.6, 2.6, 3.0, 0.0, 0.0, 0.0]])
        tape.watch(outside)
        y = model(outside)[0]
    np.testing.assert_allclose(tape.gradient(y, outside).numpy()[0, :4], 0.0)


@pytest.mark.parametrize("name,reference", [
    ("tanh", np.tanh),
    ("sigmoid", lambda v: 1 / (1 + np.exp(-v))),
    ("relu", lambda v: np.maximum(v, 0)),
    ("linear", lambda v: v),
    ("softplus", lambda v: np.log1p(np.exp(v))),
    ("softsign", lambda v: v / (1 + np.abs(v))),
    ("elu", lambda v: np.where(v > 0, v, np.exp(v) - 1)),
    ("softmax", lambda v: np.exp(v) / np.exp(v).sum(-1, keepdims=True)),
])
def test_activations(kit, name, reference):
    model = kit.model([{"type": "Masking", "input_shape": [T, D]}, {"type": "Activation", "activation": name}])
    x = kit.inputs()
    x[0, 2] = 0.0
    y, mask = model(tf.constant(x))
    np.testing.assert_allclose(y.numpy(), reference((x * mask.numpy()[..., None]).astype(np.float64)), rtol=1e-5,
                               atol=1e-6)
    assert not mask.numpy()[0, 2]  # Activation passes the mask on
