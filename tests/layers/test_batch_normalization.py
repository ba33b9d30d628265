"""BatchNormalization against Keras 3 ``BatchNormalization`` with the same weights: inference (moving statistics),
training (batch statistics, moving-statistics update, gradients), 2-D and 3-D inputs, center/scale off."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from rnncli.errors import ConfigError

keras = pytest.importorskip("keras")
F = 4


def weights(seed: int = 0, center: bool = True, scale: bool = True) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    gamma, beta = rng.uniform(0.5, 1.5, F), rng.normal(size=F)
    mean, variance = rng.normal(size=F), rng.uniform(0.5, 2.0, F)
    return [a.astype(np.float32) for a in ([gamma] if scale else []) + ([beta] if center else []) + [mean, variance]]


def pair(kit, shape, center=True, scale=True, momentum=0.9, epsilon=1e-3):
    model, layer = kit.single("BatchNormalization", input_shape=shape[1:], momentum=momentum, epsilon=epsilon,
                              center=center, scale=scale)
    w = weights(center=center, scale=scale)
    layer.set_weights(w)
    reference = keras.layers.BatchNormalization(momentum=momentum, epsilon=epsilon, center=center, scale=scale)
    reference.build(shape)
    reference.set_weights(w)
    return model, layer, reference


@pytest.mark.parametrize("shape", [(6, F), (3, 5, F)], ids=["2d", "3d"])
@pytest.mark.parametrize("center,scale", [(True, True), (False, True), (True, False)])
def test_inference_and_training_match_keras3(kit, shape, center, scale):
    model, layer, reference = pair(kit, shape, center, scale)
    x = tf.constant(np.random.default_rng(1).normal(2.0, 3.0, size=shape).astype(np.float32))
    np.testing.assert_allclose(model(x)[0].numpy(), reference(x, training=False).numpy(), rtol=1e-5, atol=1e-5)
    cotangent = tf.constant(np.random.default_rng(2).normal(size=shape).astype(np.float32))
    with tf.GradientTape() as tape:
        tape.watch(x)
        ours = model(x, True)[0]
        loss = tf.reduce_sum(ours * cotangent)
    mine = tape.gradient(loss, [x] + list(layer.weight_variables()[:center + scale]))
    with tf.GradientTape() as tape:
        tape.watch(x)
        theirs = reference(x, training=True)
        loss = tf.reduce_sum(theirs * cotangent)
    expected = tape.gradient(loss, [x] + [v.value for v in reference.trainable_variables])
    np.testing.assert_allclose(ours.numpy(), theirs.numpy(), rtol=1e-5, atol=1e-5)
    for a, b in zip(mine, expected):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-4, atol=1e-4)
    # moving statistics moved the same way (and away from where they started)
    np.testing.assert_allclose(layer.moving_mean.numpy(), reference.moving_mean.numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(layer.moving_variance.numpy(), reference.moving_variance.numpy(), rtol=1e-5,
                               atol=1e-6)
    assert np.abs(layer.moving_mean.numpy() - weights()[-2]).max() > 1e-2
    assert [v.trainable for v in layer.weight_variables()] == [True] * (center + scale) + [False, False]


def test_plan_params_and_refusals(kit):
    model, _ = kit.single("BatchNormalization", input_shape=(5, F))
    assert model.plan.params == 4 * F  # as Keras counts them: gamma, beta and the two moving statistics
    assert model.plan.trainable_params == 2 * F
    with pytest.raises(ConfigError, match="normalises the last axis only"):
        kit.single("BatchNormalization", input_shape=(5, F), axis=1)
    with pytest.raises(ConfigError, match="mask"):
        kit.model([{"type": "Masking", "input_shape": [5, F]}, {"type": "BatchNormalization"}])
