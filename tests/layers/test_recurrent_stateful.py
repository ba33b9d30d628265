"""Stateful layers (spec §9, §15.8, §15.9) and the mask passed on by go_backwards layers (§15.5)."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

B, D = 3, 4
MODES = ("cpu", "mem", "gpu")


def _stateful_pair(kit, kind, mode="cpu", **args):
    """Two stateful layers (batch B, any length) with the same weights."""
    first_model, first = kit.single(kind, input_shape=(None, D), batch_size=B, stateful=True, consume_less=mode,
                                    **args)
    second_model, second = kit.single(kind, input_shape=(None, D), batch_size=B, stateful=True, consume_less=mode,
                                      **args)
    second.set_weights(first.get_weights())
    return first_model, first, second_model, second


def _states(layer):
    return [v.numpy().copy() for v in layer.state_variables]


@pytest.mark.parametrize("masked", [False, True])
@pytest.mark.parametrize("kind,mode", [("SimpleRNN", "gpu"), ("GRU", "cpu"), ("LSTM", "mem"), ("LSTM", "gpu")])
def test_two_calls_equal_one_call_on_the_concatenation(kit, kind, mode, masked):
    chunked_model, chunked, whole_model, whole = _stateful_pair(kit, kind, mode, return_sequences=True)
    x = tf.constant(kit.inputs(shape=(B, 6, D)))
    rows = [[1, 0, 1, 1, 0, 1], [0, 0, 1, 0, 1, 1], [1, 1, 1, 1, 1, 0]]
    mask = tf.constant(np.array(rows, bool)) if masked else None
    first = chunked_model(x[:, :3], mask=None if mask is None else mask[:, :3])[0]
    second = chunked_model(x[:, 3:], mask=None if mask is None else mask[:, 3:])[0]
    y = whole_model(x, mask=mask)[0]
    if masked:  # a masked first step of a later chunk repeats zeros, not the previous chunk's output (§15.9)
        np.testing.assert_array_equal(second.numpy()[1, 0], 0.0)
        np.testing.assert_allclose(second.numpy()[[0, 2]], y.numpy()[[0, 2], 3:], rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(second.numpy()[1, 1:], y.numpy()[1, 4:], rtol=1e-5, atol=1e-6)
    else:
        np.testing.assert_allclose(tf.concat([first, second], 1).numpy(), y.numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(first.numpy(), y.numpy()[:, :3], rtol=1e-5, atol=1e-6)
    assert len(chunked.state_variables) == (2 if kind == "LSTM" else 1)
    for a, b in zip(_states(chunked), _states(whole)):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(_states(chunked)[0], y.numpy()[:, -1], rtol=1e-5, atol=1e-6)  # h = last output


@pytest.mark.parametrize("kind", ["SimpleRNN", "GRU", "LSTM"])
def test_reset_states_zeroes_and_restarts(kit, kind):
    model, layer = kit.single(kind, batch_size=B, stateful=True)
    x = tf.constant(kit.inputs())
    first = model(x)[0].numpy()
    second = model(x)[0].numpy()
    assert not np.allclose(first, second), "the state was not carried"
    assert all(np.abs(s).sum() > 0 for s in _states(layer))
    assert model.reset_states() == [layer.layer_name]
    assert all(not s.any() for s in _states(layer))
    np.testing.assert_array_equal(model(x)[0].numpy(), first)
    assert model.reset_states("no_such_layer") == []
    assert any(s.any() for s in _states(layer))


def test_non_stateful_layers_have_no_states(kit):
    model, layer = kit.single("LSTM")
    assert layer.state_variables == [] and model.state_variables == [] and model.stateful_layers() == []
    assert model.reset_states() == []
    x = tf.constant(kit.inputs())
    np.testing.assert_array_equal(model(x)[0].numpy(), model(x)[0].numpy())


@pytest.mark.parametrize("backwards", [False, True])
@pytest.mark.parametrize("kind,mode", [("SimpleRNN", "mem"), ("GRU", "gpu"), ("LSTM", "cpu")])
def test_masked_first_step_keeps_the_carried_state_and_outputs_zeros(kit, kind, mode, backwards):
    """§15.9: a stateful layer whose first processed step is masked starts from its carried state and
    repeats zeros until its first valid step."""
    model, layer, reference_model, reference = _stateful_pair(kit, kind, mode, return_sequences=True,
                                                              go_backwards=backwards)
    warm_up = tf.constant(kit.inputs(seed=1))
    model(warm_up)
    reference_model(warm_up)
    carried = _states(layer)
    x = kit.inputs(seed=2, shape=(B, 4, D))
    # sample 0: first processed step masked; sample 1: every step masked; sample 2: all valid
    mask = np.ones((B, 4), bool)
    mask[0, -1 if backwards else 0] = False
    mask[1] = False
    y = model(tf.constant(x), mask=tf.constant(mask))[0].numpy()
    np.testing.assert_array_equal(y[0, 0], 0.0)
    np.testing.assert_array_equal(y[1], 0.0)
    # sample 0 otherwise continues from its carried state as if the masked step were not there
    skipped = x[:, :-1] if backwards else x[:, 1:]
    expected = reference_model(tf.constant(skipped))[0].numpy()
    np.testing.assert_allclose(y[0, 1:], expected[0], rtol=1e-5, atol=1e-6)
    for after, before, ref in zip(_states(layer), carried, _states(reference)):
        np.testing.assert_allclose(after[0], ref[0], rtol=1e-5, atol=1e-6)
        np.testing.assert_array_equal(after[1], before[1])  # fully masked: state untouched


@pytest.mark.parametrize("kind", ["SimpleRNN", "GRU", "LSTM"])
def test_go_backwards_mask_lines_up_with_the_outputs(kit, kind):
    """§15.5: outputs come in processing order, and so does the mask passed downstream."""
    model = kit.model([
        {"type": "Embedding", "input_dim": 10, "output_dim": D, "mask_zero": True, "input_length": 6},
        {"type": kind, "output_dim": 5, "return_sequences": True, "go_backwards": True},
        {"type": "TimeDistributed", "layer": {"type": "Dense", "output_dim": 2}},
    ])
    ids = np.array([[0, 0, 1, 2, 3, 4], [5, 6, 7, 0, 0, 0], [1, 0, 2, 0, 3, 9]])
    y, mask = model(tf.constant(ids))
    np.testing.assert_array_equal(mask.numpy(), (ids != 0)[:, ::-1])
    hidden, hidden_mask = model.layers[1](*model.layers[0](tf.constant(ids)))
    np.testing.assert_array_equal(hidden_mask.numpy(), mask.numpy())
    hidden = hidden.numpy()
    for i in range(len(ids)):  # where the passed-on mask is False, the output repeats the previous one (or 0)
        for t in range(ids.shape[1]):
            if not mask.numpy()[i, t]:
                np.testing.assert_array_equal(hidden[i, t], hidden[i, t - 1] if t else 0.0)
            else:
                assert not np.array_equal(hidden[i, t], hidden[i, t - 1] if t else np.zeros(5))


@pytest.mark.parametrize("batch", [1, 2, 5])
def test_a_batch_of_another_size_is_refused_and_leaves_the_states_alone(kit, batch):
    """Spec §9: the batch size is fixed by the state variables; another size is an error, never a broadcast."""
    model, layer = kit.single("LSTM", batch_size=B, stateful=True)
    model(tf.constant(kit.inputs()))
    before = _states(layer)
    with pytest.raises((ValueError, tf.errors.InvalidArgumentError)):
        model(tf.constant(kit.inputs(shape=(batch, 5, D))))
    for after, expected in zip(_states(layer), before):
        np.testing.assert_array_equal(after, expected)
