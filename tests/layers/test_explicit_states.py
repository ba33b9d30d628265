"""``Sequential.call_with_states`` (what `rnncli serve` batches) against the stateful path that keeps its states in
variables: same outputs and final states chunk after chunk, for any batch size, touching no state variable."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

B, T, D = 3, 4, 2

STACKS = {
    "lstm+gru masked, sequences": [
        {"type": "Masking", "mask_value": 0.0, "batch_input_shape": [B, T, D]},
        {"type": "LSTM", "output_dim": 5, "return_sequences": True, "stateful": True},
        {"type": "GRU", "output_dim": 4, "return_sequences": True, "stateful": True, "consume_less": "gpu"},
        {"type": "TimeDistributed", "layer": {"type": "Dense", "output_dim": 2}},
    ],
    "simple_rnn backwards, last output": [
        {"type": "SimpleRNN", "output_dim": 3, "batch_input_shape": [B, T, D], "stateful": True,
         "go_backwards": True, "consume_less": "mem"},
        {"type": "Dense", "output_dim": 1},
    ],
    "bidirectional lstm then a stateless gru": [
        {"type": "Bidirectional", "batch_input_shape": [B, T, D], "merge_mode": "sum",
         "layer": {"type": "LSTM", "output_dim": 3, "return_sequences": True, "stateful": True}},
        {"type": "GRU", "output_dim": 2},
    ],
}


@pytest.mark.parametrize("stack", list(STACKS), ids=list(STACKS))
def test_explicit_states_follow_the_stateful_path(kit, stack):
    model = kit.model(STACKS[stack], seed=4)
    rng = np.random.default_rng(0)
    chunks = rng.normal(size=(3, B, T, D)).astype(np.float32)
    chunks[rng.random((3, B, T)) < 0.3] = 0.0  # masked steps for the Masking stack, plain zeros for the others
    layout = model.state_layout()
    assert len(layout) == len(model.state_variables) > 0
    states = [tf.zeros([B, units]) for _, _, units in layout]
    before = [v.numpy().copy() for v in model.state_variables]
    explicit = []
    for chunk in chunks:
        y, states = model.call_with_states(tf.constant(chunk), states)
        explicit.append(y.numpy())
    for variable, value in zip(model.state_variables, before):
        np.testing.assert_array_equal(variable.numpy(), value)  # untouched
    stateful = [model(tf.constant(chunk))[0].numpy() for chunk in chunks]
    np.testing.assert_allclose(np.stack(explicit), np.stack(stateful), rtol=1e-5, atol=1e-6)
    for variable, value in zip(model.state_variables, states):
        np.testing.assert_allclose(variable.numpy(), value.numpy(), rtol=1e-5, atol=1e-6)


def test_any_batch_size_and_rows_do_not_mix(kit):
    """One stream alone, or with other streams in a larger (padded) batch, gets the same outputs and states."""
    model = kit.model(STACKS["lstm+gru masked, sequences"], seed=4)
    layout = model.state_layout()
    rng = np.random.default_rng(1)
    x = rng.normal(size=(7, T, D)).astype(np.float32)
    states = [rng.normal(size=(7, units)).astype(np.float32) for _, _, units in layout]
    y_all, final_all = model.call_with_states(tf.constant(x), [tf.constant(s) for s in states])
    y_one, final_one = model.call_with_states(tf.constant(x[2:3]), [tf.constant(s[2:3]) for s in states])
    np.testing.assert_allclose(y_one.numpy()[0], y_all.numpy()[2], rtol=1e-6, atol=1e-6)
    for one, every in zip(final_one, final_all):
        np.testing.assert_allclose(one.numpy()[0], every.numpy()[2], rtol=1e-6, atol=1e-6)
