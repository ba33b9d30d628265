"""Analytic gradients of each recurrent layer against central finite differences.

The layers compute in float32, so the check uses a large step (eps = 1e-2), smooth activations (tanh, sigmoid)
and a loose tolerance; it catches wrong or missing gradient paths (a gradient of the wrong sign or size, a
``stop_gradient`` in the wrong place), which is what it is for. Exact agreement is the oracle tests' job.
"""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

EPS = 1e-2
ENTRIES = 6  # random entries checked per tensor


@pytest.mark.parametrize("kind,mode", [("SimpleRNN", "mem"), ("GRU", "cpu"), ("LSTM", "gpu")])
def test_gradients_match_central_differences(kit, kind, mode):
    args = dict(activation="tanh", consume_less=mode, return_sequences=True)
    if kind != "SimpleRNN":
        args["inner_activation"] = "sigmoid"
    _, layer = kit.single(kind, input_shape=(4, 3), output_dim=3, **args)
    layer.set_weights(kit.random_weights(kind, input_dim=3, units=3, seed=5, scale=0.8))
    rng = np.random.default_rng(11)
    x = tf.Variable(rng.normal(size=(2, 4, 3)).astype(np.float32))
    mask = tf.constant([[True, False, True, True], [False, True, True, False]])
    cotangent = rng.normal(size=(2, 4, 3))

    def loss() -> float:
        y, _ = layer(tf.convert_to_tensor(x), mask)
        return float(np.sum(y.numpy().astype(np.float64) * cotangent))

    with tf.GradientTape() as tape:
        y, _ = layer(tf.convert_to_tensor(x), mask)
        analytic_loss = tf.reduce_sum(y * tf.constant(cotangent, tf.float32))
    variables = [x] + layer.weight_variables()
    analytic = [g.numpy() for g in tape.gradient(analytic_loss, variables)]

    for name, variable, grad in zip(("x", "kernel", "recurrent_kernel", "bias"), variables, analytic):
        original = variable.numpy()
        flat_indices = rng.choice(original.size, size=min(ENTRIES, original.size), replace=False)
        for flat in flat_indices:
            index = np.unravel_index(flat, original.shape)
            numeric = []
            for sign in (1.0, -1.0):
                shifted = original.copy()
                shifted[index] += sign * EPS
                variable.assign(shifted)
                numeric.append(loss())
            variable.assign(original)
            estimate = (numeric[0] - numeric[1]) / (2 * EPS)
            assert abs(estimate - grad[index]) <= 2e-3 + 2e-2 * abs(grad[index]), (name, index, estimate,
                                                                                   grad[index])
