"""The layers around the recurrent ones (spec §7, §12): Embedding, Masking, Dense, TimeDistributed, Dropout,
Flatten, RepeatVector, Activation, Bidirectional, and masks flowing through a stack."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

B, T, D, U = 3, 5, 4, 5


def test_embedding_gathers_rows_and_masks_zero(kit):
    table = np.arange(30, dtype=np.float32).reshape(10, 3)
    ids = np.array([[0, 3, 9, 0], [1, 1, 0, 2]])
    for mask_zero in (True, False):
        model = kit.model([{"type": "Embedding", "input_dim": 10, "output_dim": 3, "input_length": 4,
                            "mask_zero": mask_zero, "weights": kit.save_weights([table])}])
        y, mask = model(tf.constant(ids))
        np.testing.assert_array_equal(y.numpy(), table[ids])  # index 0 is still looked up
        if mask_zero:
            np.testing.assert_array_equal(mask.numpy(), ids != 0)
        else:
            assert mask is None


def test_embedding_dropout_drops_whole_rows(kit):
    p, vocab = 0.3, 3000
    model = kit.model([{"type": "Embedding", "input_dim": vocab, "output_dim": 4, "input_length": 40,
                        "init": "one", "dropout": p}])
    ids = np.random.default_rng(0).integers(1, vocab, size=(100, 40))
    y = model(tf.constant(ids), training=True, rng=tf.random.Generator.from_seed(3))[0].numpy()
    assert np.all(y == y[..., :1]), "an embedding row was only partly dropped"
    value = y[..., 0]
    assert set(np.unique(value)) <= {0.0, np.float32(1 / (1 - p))}
    kept_by_id = {}
    for i, v in zip(ids.ravel(), value.ravel()):
        assert kept_by_id.setdefault(i, v) == v, f"word {i} kept in one place and dropped in another"
    keep_rate = np.mean([v > 0 for v in kept_by_id.values()])
    assert abs(keep_rate - (1 - p)) < 0.05, keep_rate
    np.testing.assert_array_equal(model(tf.constant(ids))[0].numpy(), np.ones((100, 40, 4)))


@pytest.mark.parametrize("mask_value", [0.0, -1.0])
def test_masking_emits_mask_and_zeroes_masked_steps(kit, mask_value):
    x = kit.inputs()
    x[0, 1] = mask_value
    x[2, [0, 4]] = mask_value
    x[1, 3, :2] = mask_value  # only some features: not masked
    model = kit.model([{"type": "Masking", "mask_value": mask_value, "input_shape": [T, D]}])
    y, mask = model(tf.constant(x))
    expected_mask = np.ones((B, T), bool)
    expected_mask[0, 1] = expected_mask[2, 0] = expected_mask[2, 4] = False
    np.testing.assert_array_equal(mask.numpy(), expected_mask)
    np.testing.assert_array_equal(y.numpy(), x * expected_mask[..., None])


@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("rank", [2, 3])
def test_dense(kit, rank, bias):
    shape = (B, D) if rank == 2 else (B, T, D)
    model = kit.model([{"type": "Dense", "output_dim": 3, "activation": "tanh", "bias": bias,
                        "input_shape": list(shape[1:])}])
    layer = model.layers[0]
    weights = [np.random.default_rng(1).normal(size=(D, 3)).astype(np.float32)]
    if bias:
        weights.append(np.array([0.5, -1.0, 2.0], np.float32))
    layer.set_weights(weights)
    x = np.random.default_rng(2).normal(size=shape).astype(np.float32)
    y, mask = model(tf.constant(x))
    np.testing.assert_allclose(y.numpy(), np.tanh(x @ weights[0] + (weights[1] if bias else 0)), rtol=1e-5,
                               atol=1e-6)
    assert mask is None


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


def test_dropout_layer(kit):
    p = 0.25
    model = kit.model([{"type": "Masking", "input_shape": [50, 40]}, {"type": "Dropout", "p": p}])
    x = np.random.default_rng(0).uniform(1, 2, size=(20, 50, 40)).astype(np.float32)
    y, mask = model(tf.constant(x), training=True, rng=tf.random.Generator.from_seed(0))
    y = y.numpy()
    kept = y != 0
    np.testing.assert_allclose(y[kept], x[kept] / (1 - p), rtol=1e-6)
    assert abs(kept.mean() - (1 - p)) < 0.01
    # a fresh draw per element, not per feature vector or per timestep
    assert (kept.any(axis=-1) & ~kept.all(axis=-1)).mean() > 0.99
    assert 0.5 < (kept[:, 0] == kept[:, 1]).mean() < 0.7  # two timesteps agree like independent draws (0.625)
    assert mask.numpy().all()
    np.testing.assert_array_equal(model(tf.constant(x))[0].numpy(), x)


def test_flatten_and_repeat_vector(kit):
    x = kit.inputs()
    flat = kit.model([{"type": "Flatten", "input_shape": [T, D]}])
    np.testing.assert_array_equal(flat(tf.constant(x))[0].numpy(), x.reshape(B, T * D))
    repeat = kit.model([{"type": "RepeatVector", "n": 3, "input_shape": [D]}])
    y, mask = repeat(tf.constant(x[:, 0]))
    assert y.shape == (B, 3, D) and mask is None
    for t in range(3):
        np.testing.assert_array_equal(y.numpy()[:, t], x[:, 0])


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


# ---------------------------------------------------------------------------------------------------------------
# Masks flowing through a stack
# ---------------------------------------------------------------------------------------------------------------


def test_mask_flows_embedding_lstm_time_distributed_like_keras3(kit):
    keras = pytest.importorskip("keras")
    vocab, embed = 12, 4
    model = kit.model([
        {"type": "Embedding", "input_dim": vocab, "output_dim": embed, "mask_zero": True, "input_length": T},
        {"type": "LSTM", "output_dim": U, "return_sequences": True, "consume_less": "cpu"},
        {"type": "TimeDistributed", "layer": {"type": "Dense", "output_dim": 3}},
        {"type": "Activation", "activation": "softmax"},
    ])
    ids = np.array([[0, 0, 3, 4, 5], [1, 2, 0, 7, 0], [6, 7, 8, 9, 11]])
    y, mask = model(tf.constant(ids))
    np.testing.assert_array_equal(mask.numpy(), ids != 0)

    reference = keras.Sequential([
        keras.Input((T,), dtype="int32"),
        keras.layers.Embedding(vocab, embed, mask_zero=True),
        keras.layers.LSTM(U, return_sequences=True, use_cudnn=False, recurrent_activation=kit.keras_hard_sigmoid()),
        keras.layers.TimeDistributed(keras.layers.Dense(3)),
        keras.layers.Activation("softmax"),
    ])
    for ours, theirs in zip(model.layers[:3], reference.layers[:3]):
        theirs.set_weights(ours.get_weights())
    np.testing.assert_allclose(y.numpy(), np.asarray(reference(ids)), rtol=1e-5, atol=1e-6)
    # carry-forward: a masked step repeats the previous output, zeros before the first valid step
    hidden, _ = model.layers[1](*model.layers[0](tf.constant(ids)))
    np.testing.assert_array_equal(hidden.numpy()[0, :2], 0.0)
    np.testing.assert_array_equal(hidden.numpy()[1, 2], hidden.numpy()[1, 1])
