"""``unroll`` computes the same function with a Python loop and with ``tf.while_loop``.

Short static sequences (at most ``SHORT_SEQUENCE`` steps, e.g. the stateful streaming step) are always unrolled;
these tests pin that choice and check it against the while loop on outputs, final states and gradients, with masks
and go_backwards.
"""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from rnncli.layers import unroll as unroll_module
from rnncli.layers.unroll import unroll

B, D, U = 3, 4, 5


def _setup(steps: int):
    rng = np.random.default_rng(7)
    x = tf.constant(rng.standard_normal((steps, B, D)).astype(np.float32))
    W = tf.Variable(rng.standard_normal((D, U)).astype(np.float32) * 0.5)
    R = tf.Variable(rng.standard_normal((U, U)).astype(np.float32) * 0.5)
    mask = tf.constant(rng.random((steps, B)) > 0.3)
    return x, W, R, mask


def _run(x, W, R, mask, backwards):
    def step(x_t, states):
        h = tf.tanh(tf.matmul(x_t, W) + tf.matmul(states[0], R))
        return h, [h, states[1] + h]

    initial = [tf.zeros([B, U]), tf.ones([B, U])]
    with tf.GradientTape() as tape:
        last, outputs, final = unroll(step, x, initial, mask, go_backwards=backwards)
        loss = tf.reduce_sum(outputs ** 2) + tf.reduce_sum(final[1] * 0.3)
    grads = tape.gradient(loss, [W, R])
    return [last, outputs, *final, *grads]


@pytest.mark.parametrize("backwards", [False, True])
@pytest.mark.parametrize("masked", [False, True])
def test_short_sequences_unroll_and_match_the_while_loop(monkeypatch, backwards, masked):
    steps = unroll_module.SHORT_SEQUENCE
    x, W, R, mask = _setup(steps)
    mask = mask if masked else None
    short = tf.function(lambda: _run(x, W, R, mask, backwards))
    graph_ops = {op.type for op in short.get_concrete_function().graph.get_operations()}
    assert not graph_ops & {"While", "StatelessWhile"}, "a short static sequence should be unrolled"
    unrolled = short()

    monkeypatch.setattr(unroll_module, "SHORT_SEQUENCE", 0)
    looped_fn = tf.function(lambda: _run(x, W, R, mask, backwards))
    graph_ops = {op.type for op in looped_fn.get_concrete_function().graph.get_operations()}
    assert graph_ops & {"While", "StatelessWhile"}
    looped = looped_fn()
    assert len(unrolled) == len(looped) == 6
    for a, b in zip(unrolled, looped):
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-5, atol=1e-6)


def test_longer_sequences_keep_the_while_loop():
    x, W, R, mask = _setup(unroll_module.SHORT_SEQUENCE + 1)
    fn = tf.function(lambda: _run(x, W, R, mask, False))
    graph_ops = {op.type for op in fn.get_concrete_function().graph.get_operations()}
    assert graph_ops & {"While", "StatelessWhile"}
