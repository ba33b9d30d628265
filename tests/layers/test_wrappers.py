"""rnncli/layers/wrappers.py (spec §7): TimeDistributed and Bidirectional."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

B, T, D, U = 3, 5, 4, 5


def test_time_distributed_dense_equals_dense_on_3d_and_passes_the_mask(kit):
    dense = kit.model([{"type": "Dense", "output_dim": 3, "activation": "sigmoid", "input_shape": [T, D]}])
    wrapped = kit.model([{"type": "Masking", "input_shape": [T, D]},
                         {"type": "TimeDistributed", "layer": {"type": "Dense", "output_dim": 3,
                                                               "activation": "sigmoid"}}])
    wrapped.layers[1].set_weights(dense.layers[0].get_weights())
    x = kit.inputs()
    x[1, 2] = 0.0
    y, mask = wrapped(tf.constant(x))
    np.testing.assert_allclose(y.numpy(), dense(tf.constant(x * (np.abs(x).sum(-1, keepdims=True) > 0)))[0].numpy(),
                               rtol=1e-6, atol=1e-6)
    np.testing.assert_array_equal(mask.numpy(), np.abs(x).sum(-1) > 0)

# ---------------------------------------------------------------------------------------------------------------
# Bidirectional
# ---------------------------------------------------------------------------------------------------------------

MERGES = {"concat": lambda a, b: np.concatenate([a, b], -1), "sum": np.add, "mul": np.multiply,
          "ave": lambda a, b: (a + b) / 2}


@pytest.mark.parametrize("sequences", [True, False])
@pytest.mark.parametrize("merge_mode", list(MERGES))
def test_bidirectional_is_forward_plus_rereversed_backward(kit, merge_mode, sequences):
    inner = {"type": "GRU", "output_dim": U, "return_sequences": sequences, "consume_less": "mem"}
    model = kit.model([{"type": "Bidirectional", "merge_mode": merge_mode, "input_shape": [T, D], "layer": inner}])
    layer = model.layers[0]
    weights = layer.get_weights()
    assert len(weights) == 6 and not np.array_equal(weights[0], weights[3])
    forward, _ = kit.single("GRU", **{k: v for k, v in inner.items() if k != "type"})
    backward, _ = kit.single("GRU", go_backwards=True, **{k: v for k, v in inner.items() if k != "type"})
    forward.layers[0].set_weights(weights[:3])
    backward.layers[0].set_weights(weights[3:])
    x, mask = tf.constant(kit.inputs()), kit.mask("holes")
    y, out_mask = model(x, mask=mask)
    a, b = forward(x, mask=mask)[0].numpy(), backward(x, mask=mask)[0].numpy()
    if sequences:
        b = b[:, ::-1]
        np.testing.assert_array_equal(out_mask.numpy(), mask.numpy())  # not reversed: outputs are in time order
    else:
        assert out_mask is None
    np.testing.assert_allclose(y.numpy(), MERGES[merge_mode](a, b), rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("merge_mode", list(MERGES))
def test_bidirectional_matches_keras3(kit, merge_mode):
    keras = pytest.importorskip("keras")
    model = kit.model([{"type": "Bidirectional", "merge_mode": merge_mode, "input_shape": [T, D],
                        "layer": {"type": "LSTM", "output_dim": U, "return_sequences": True, "consume_less": "gpu"}}])
    from_keras = keras.layers.Bidirectional(
        keras.layers.LSTM(U, return_sequences=True, use_cudnn=False, recurrent_activation=kit.keras_hard_sigmoid()),
        merge_mode=merge_mode)
    from_keras.build((B, T, D))
    from_keras.set_weights(model.layers[0].get_weights())
    x, mask = kit.inputs(), kit.mask("holes")
    valid = mask.numpy()  # Keras 3's Bidirectional zeroes masked steps (zero_output_for_mask); Keras 1 repeats
    np.testing.assert_allclose(model(tf.constant(x), mask=mask)[0].numpy()[valid],
                               np.asarray(from_keras(x, mask=mask))[valid], rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(model(tf.constant(x))[0].numpy(), np.asarray(from_keras(x)), rtol=1e-5, atol=1e-5)


def test_bidirectional_stateful_reset_resets_both_directions(kit):
    model = kit.model([{"type": "Bidirectional", "batch_input_shape": [B, None, D],
                        "layer": {"type": "SimpleRNN", "output_dim": U, "stateful": True}}])
    layer = model.layers[0]
    assert len(layer.state_variables) == 2
    model(tf.constant(kit.inputs()))
    assert all(np.abs(v.numpy()).sum() > 0 for v in layer.state_variables)
    assert model.reset_states() == [layer.layer_name]
    assert all(not v.numpy().any() for v in layer.state_variables)
