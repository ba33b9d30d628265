"""LeakyReLU, ELU, PReLU and SpatialDropout1D against Keras 3; Keras 1's Highway and MaxoutDense (which Keras 3 does
not have) against NumPy written from the Keras 1.2.2 formulas; Keras 2/3 documents of them import."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

keras = pytest.importorskip("keras")
T, F = 5, 4


def x_in(shape, seed=0):
    return tf.constant(np.random.default_rng(seed).normal(size=shape).astype(np.float32))


@pytest.mark.parametrize("kind,args,reference", [
    ("LeakyReLU", {"alpha": 0.2}, lambda: keras.layers.LeakyReLU(negative_slope=0.2)),
    ("ELU", {"alpha": 0.7}, lambda: keras.layers.ELU(alpha=0.7)),
])
def test_activations_match_keras3_and_pass_masks(kit, kind, args, reference):
    model, _ = kit.model([{"type": "Masking", "input_shape": [T, F]}, {"type": kind, **args}]), None
    x = x_in((3, T, F))
    y, mask = model(x)
    np.testing.assert_allclose(y.numpy(), reference()(x).numpy(), rtol=1e-6, atol=1e-6)
    assert mask is not None


@pytest.mark.parametrize("shared_axes", [None, [1]])
def test_prelu_matches_keras3_values_and_gradients(kit, shared_axes):
    model, layer = kit.single("PReLU", input_shape=(T, F), shared_axes=shared_axes)
    alpha_shape = (1, F) if shared_axes else (T, F)
    alphas = np.random.default_rng(1).uniform(0.1, 0.9, alpha_shape).astype(np.float32)
    layer.set_weights([alphas])
    reference = keras.layers.PReLU(shared_axes=shared_axes)
    reference.build((3, T, F))
    reference.set_weights([alphas])
    x = x_in((3, T, F), 2)
    with tf.GradientTape() as tape:
        y = model(x)[0]
        loss = tf.reduce_sum(y * y)
    ours = tape.gradient(loss, layer.alphas)
    with tf.GradientTape() as tape:
        expected = reference(x)
        loss = tf.reduce_sum(expected * expected)
    theirs = tape.gradient(loss, reference.trainable_variables[0].value)
    np.testing.assert_allclose(y.numpy(), expected.numpy(), rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(ours.numpy(), theirs.numpy(), rtol=1e-5, atol=1e-5)
    assert model.plan.params == int(np.prod(alpha_shape))


def test_spatial_dropout_drops_whole_channels(kit):
    model, _ = kit.single("SpatialDropout1D", input_shape=(50, F), p=0.5)
    x = tf.ones((400, 50, F))
    y = model(x, True, tf.random.Generator.from_seed(3))[0].numpy()
    assert set(np.unique(y)) <= {0.0, 2.0}
    assert (y == y[:, :1, :]).all()  # one mask per sample and channel, the same at every timestep
    assert 0.45 < (y[:, 0] > 0).mean() < 0.55
    np.testing.assert_array_equal(model(x)[0].numpy(), x.numpy())  # inference: identity


def test_highway_matches_the_keras1_formula(kit):
    model, layer = kit.single("Highway", input_shape=(F,), activation="tanh")
    rng = np.random.default_rng(4)
    W, Wc = rng.normal(size=(F, F)).astype(np.float32), rng.normal(size=(F, F)).astype(np.float32)
    b, bc = rng.normal(size=F).astype(np.float32), rng.normal(size=F).astype(np.float32)
    layer.set_weights([W, Wc, b, bc])  # Keras 1.2.2 order: W, W_carry, b, b_carry
    x = x_in((6, F), 5).numpy()
    t = 1 / (1 + np.exp(-(x @ Wc + bc)))
    np.testing.assert_allclose(model(x)[0].numpy(), np.tanh(x @ W + b) * t + (1 - t) * x, rtol=1e-5, atol=1e-6)
    fresh, _ = kit.single("Highway", input_shape=(F,))
    np.testing.assert_array_equal(fresh.layers[0].carry_bias.numpy(), np.full(F, -2.0))  # transform_bias


def test_maxout_dense_matches_the_keras1_formula(kit):
    model, layer = kit.single("MaxoutDense", input_shape=(F,), output_dim=3, nb_feature=5)
    rng = np.random.default_rng(6)
    W, b = rng.normal(size=(5, F, 3)).astype(np.float32), rng.normal(size=(5, 3)).astype(np.float32)
    layer.set_weights([W, b])
    x = x_in((6, F), 7).numpy()
    expected = np.max(np.einsum("bf,kfo->bko", x, W) + b, axis=1)
    np.testing.assert_allclose(model(x)[0].numpy(), expected, rtol=1e-5, atol=1e-6)
    assert model.plan.params == 5 * F * 3 + 5 * 3


def test_keras3_documents_of_these_layers_import(tmp_path):
    import json

    from rnncli.config.validate import load_config

    layers = [{"class_name": "InputLayer", "config": {"batch_shape": [None, T, F]}},
              {"class_name": "LeakyReLU", "config": {"name": "leaky", "negative_slope": 0.1}},
              {"class_name": "SpatialDropout1D", "config": {"name": "sd", "rate": 0.2}},
              {"class_name": "PReLU", "config": {"name": "prelu", "alpha_initializer": {
                  "module": "keras.initializers", "class_name": "Zeros", "config": {}}, "shared_axes": [1],
                  "alpha_regularizer": None, "alpha_constraint": None}},
              {"class_name": "ELU", "config": {"name": "elu", "alpha": 1.0}}]
    path = tmp_path / "model.json"
    path.write_text(json.dumps({"module": "keras", "class_name": "Sequential", "config": {"name": "s",
                                                                                         "layers": layers}}))
    plan = load_config(path).model
    assert [(layer.type, layer.params) for layer in plan.layers] == [
        ("InputLayer", 0), ("LeakyReLU", 0), ("SpatialDropout1D", 0), ("PReLU", F), ("ELU", 0)]
    assert plan.layers[1].config["alpha"] == 0.1 and plan.layers[2].config["p"] == 0.2


def test_keras1_documents_of_these_layers_validate(tmp_path):
    """Keras 1.2.2 `to_json()` entries (their null constraints and activity regularizers included)."""
    import json

    from rnncli.config.validate import load_config

    null = {"W_constraint": None, "b_constraint": None, "activity_regularizer": None}
    layers = [
        {"class_name": "LSTM", "config": {"name": "lstm_1", "output_dim": 4, "batch_input_shape": [None, T, F]}},
        {"class_name": "BatchNormalization", "config": {"name": "bn_1", "epsilon": 0.001, "mode": 0, "axis": -1,
                                                        "momentum": 0.99, "gamma_regularizer": None,
                                                        "beta_regularizer": None}},
        {"class_name": "Highway", "config": {"name": "highway_1", "init": "glorot_uniform", "transform_bias": -2,
                                             "activation": "relu", "W_regularizer": None, "b_regularizer": None,
                                             "bias": True, "input_dim": 4, **null}},
        {"class_name": "MaxoutDense", "config": {"name": "maxout_1", "output_dim": 3, "init": "glorot_uniform",
                                                 "nb_feature": 4, "W_regularizer": None, "b_regularizer": None,
                                                 "bias": True, "input_dim": 4, **null}},
        {"class_name": "PReLU", "config": {"name": "prelu_1", "init": "zero"}},
    ]
    path = tmp_path / "model.json"
    path.write_text(json.dumps({"class_name": "Sequential", "config": layers, "keras_version": "1.2.2"}))
    plan = load_config(path).model
    assert [layer.params for layer in plan.layers] == [4 * (F * 4 + 16 + 4), 16, 2 * 16 + 8, 4 * 4 * 3 + 12, 3]
