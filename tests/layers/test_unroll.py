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


def test_last_output_only_and_empty_sequences(monkeypatch):
    x, W, R, mask = _setup(2)

    def step(x_t, states):
        h = tf.tanh(tf.matmul(x_t, W) + tf.matmul(states[0], R))
        return h, [h]

    last, outputs, final = unroll(step, x, [tf.zeros([B, U])], mask, return_sequences=False)
    assert outputs is None
    monkeypatch.setattr(unroll_module, "SHORT_SEQUENCE", 0)
    looped_last, _, looped_final = unroll(step, x, [tf.zeros([B, U])], mask, return_sequences=False)
    np.testing.assert_allclose(last.numpy(), looped_last.numpy(), rtol=1e-6)
    np.testing.assert_allclose(final[0].numpy(), looped_final[0].numpy(), rtol=1e-6)
    monkeypatch.undo()
    # a static length of 0 keeps the while loop, which returns an empty [0, B, u] sequence
    last, outputs, _ = unroll(step, x[:0], [tf.zeros([B, U])], None)
    assert outputs.shape == (0, B, U) and np.all(last.numpy() == 0.0)


@pytest.mark.parametrize("kind", ["LSTM", "GRU"])
def test_recurrent_layers_on_short_sequences_match_the_while_loop(kit, monkeypatch, kind):
    """Real layers at T = 3 (unrolled) against the same layers forced onto the while loop: masked, backwards,
    cpu-mode dropout masks (drawn before the loop from the same seed), outputs and weight gradients."""
    steps = 3
    x = tf.constant(kit.inputs(shape=(B, steps, D)))
    mask = tf.constant(np.array([[1, 1, 0], [0, 1, 1], [1, 0, 1]], dtype=bool))

    def run():
        model, layer = kit.single(kind, input_shape=(steps, D), return_sequences=True, go_backwards=True,
                                  consume_less="cpu", dropout_W=0.3, dropout_U=0.2, seed=5)
        with tf.GradientTape() as tape:
            y, _ = layer(x, mask, training=True, rng=tf.random.Generator.from_seed(11))
            loss = tf.reduce_sum(y ** 2)
        grads = tape.gradient(loss, layer.weight_variables())
        return [y.numpy()] + [g.numpy() for g in grads]

    unrolled = run()
    monkeypatch.setattr(unroll_module, "SHORT_SEQUENCE", 0)
    looped = run()
    assert np.abs(unrolled[0]).sum() > 0
    for a, b in zip(unrolled, looped):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("backwards", [False, True])
@pytest.mark.parametrize("masked", [False, True])
@pytest.mark.parametrize("steps,wanted,expected_per_iteration", [(12, 5, 4), (12, 1, 1), (7, 5, 1), (10, 5, 5)])
def test_several_steps_per_iteration_match_one(backwards, masked, steps, wanted, expected_per_iteration):
    """The inference loop runs the largest divisor of T (up to ``iteration_steps``) per while-loop iteration: the
    same outputs, final states and gradients as one step per iteration, with masks and go_backwards."""
    assert unroll_module.steps_per_iteration(steps, wanted) == expected_per_iteration
    x, W, R, mask = _setup(steps)
    mask = mask if masked else None

    def run(per_iteration):
        def step(x_t, states):
            h = tf.tanh(tf.matmul(x_t, W) + tf.matmul(states[0], R))
            return h, [h, states[1] + h]

        with tf.GradientTape() as tape:
            last, outputs, final = unroll(step, x, [tf.zeros([B, U]), tf.ones([B, U])], mask,
                                          go_backwards=backwards, iteration_steps=per_iteration)
            loss = tf.reduce_sum(outputs ** 2) + tf.reduce_sum(final[1] * 0.3)
        return [last, outputs, *final, *tape.gradient(loss, [W, R])]

    several = tf.function(lambda: run(wanted))
    while_ops = [op for op in several.get_concrete_function().graph.get_operations()
                 if op.type in ("While", "StatelessWhile")]
    assert while_ops
    for a, b in zip(several(), tf.function(lambda: run(1))()):
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-5, atol=1e-6)


def test_an_unknown_length_keeps_one_step_per_iteration():
    assert unroll_module.steps_per_iteration(None, 5) == 1
    x, W, R, _ = _setup(6)

    @tf.function(input_signature=[tf.TensorSpec([None, B, D])])
    def run(x):
        def step(x_t, states):
            h = tf.tanh(tf.matmul(x_t, W) + tf.matmul(states[0], R))
            return h, [h]

        return unroll(step, x, [tf.zeros([B, U])], iteration_steps=5)[1]

    assert run(x).shape == (6, B, U) and run(x[:4]).shape == (4, B, U)
