"""rnncli/layers/core.py, the layers around the recurrent ones (spec §7, §12): Embedding, Masking, Dense, Dropout,
Flatten, RepeatVector."""

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
