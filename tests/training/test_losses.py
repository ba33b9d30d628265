"""Keras 1 objectives and weighted_objective against float64 numpy references."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from rnncli.training.losses import get_objective, masked_mean, weighted_loss
from rnncli.config.training_specs import LOSS_ALIASES, LOSSES, resolve_loss

# Keras 1 clips with K.epsilon() = 1e-7 as a float32 tensor; upper bound 1 - eps is computed in float32 too.
EPS = float(np.float32(1e-7))
ONE_MINUS_EPS = float(np.float32(1.0) - np.float32(1e-7))
B, T, D = 3, 4, 5


def _softmax(x: np.ndarray) -> np.ndarray:
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def _data(rng: np.random.Generator, shape: tuple[int, ...]) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Per loss: (y_true, y_pred) in the loss's domain, float32, with edge values that hit Keras 1's clipping."""
    normal = lambda: rng.normal(size=shape).astype(np.float32)  # noqa: E731
    probs = _softmax(rng.normal(size=shape) * 3).astype(np.float32)
    probs.reshape(-1, shape[-1])[0] = 0.0
    probs.reshape(-1, shape[-1])[0, 0] = 1.0  # exact 0 and 1 predictions
    one_hot = np.eye(shape[-1], dtype=np.float32)[rng.integers(0, shape[-1], shape[:-1])]
    bits = rng.integers(0, 2, shape).astype(np.float32)
    sigmoid = (1 / (1 + np.exp(-3 * rng.normal(size=shape)))).astype(np.float32)
    sigmoid.reshape(-1)[:2] = [0.0, 1.0]
    signs = rng.choice([-1.0, 1.0], shape).astype(np.float32)
    mape_true = normal()
    mape_true.reshape(-1)[:2] = [0.0, 1e-9]  # below the clip
    positive = rng.uniform(0.1, 3.0, shape).astype(np.float32)
    cos_true = normal()
    cos_true.reshape(-1, shape[-1])[0] = 0.0  # a zero vector: l2_normalize's 1e-12 floor
    return {
        "mean_squared_error": (normal(), normal()),
        "mean_absolute_error": (normal(), normal()),
        "mean_absolute_percentage_error": (mape_true, normal()),
        "mean_squared_logarithmic_error": (normal(), normal()),  # negatives hit the clip
        "squared_hinge": (signs, normal()),
        "hinge": (signs, normal()),
        "binary_crossentropy": (bits, sigmoid),
        "categorical_crossentropy": (one_hot, probs),
        "kullback_leibler_divergence": (_softmax(rng.normal(size=shape)).astype(np.float32), probs),
        "poisson": (rng.poisson(1.5, shape).astype(np.float32), positive),
        "cosine_proximity": (cos_true, normal()),
    }


def keras1_reference(name: str, y_true: np.ndarray, y_pred: np.ndarray) -> np.ndarray:
    """Keras 1.2.2 keras/objectives.py and the TF backend's crossentropies, in float64."""
    t, p = y_true.astype(np.float64), y_pred.astype(np.float64)
    if name == "mean_squared_error":
        return np.mean((p - t) ** 2, axis=-1)
    if name == "mean_absolute_error":
        return np.mean(np.abs(p - t), axis=-1)
    if name == "mean_absolute_percentage_error":
        return 100.0 * np.mean(np.abs((t - p) / np.clip(np.abs(t), EPS, np.inf)), axis=-1)
    if name == "mean_squared_logarithmic_error":
        return np.mean((np.log(np.clip(p, EPS, np.inf) + 1) - np.log(np.clip(t, EPS, np.inf) + 1)) ** 2, axis=-1)
    if name == "squared_hinge":
        return np.mean(np.maximum(1.0 - t * p, 0.0) ** 2, axis=-1)
    if name == "hinge":
        return np.mean(np.maximum(1.0 - t * p, 0.0), axis=-1)
    if name == "binary_crossentropy":
        q = np.clip(p, EPS, ONE_MINUS_EPS)
        return np.mean(-(t * np.log(q) + (1 - t) * np.log(1 - q)), axis=-1)
    if name == "categorical_crossentropy":
        q = np.clip(p / p.sum(axis=-1, keepdims=True), EPS, ONE_MINUS_EPS)
        return -np.sum(t * np.log(q), axis=-1)
    if name == "sparse_categorical_crossentropy":
        q = np.clip(p, EPS, ONE_MINUS_EPS)
        q = q / q.sum(axis=-1, keepdims=True)  # softmax of log(clip(p))
        labels = t.reshape(p.shape[:-1]).astype(int)
        return -np.log(np.take_along_axis(q, labels[..., None], axis=-1)[..., 0])
    if name == "kullback_leibler_divergence":
        t, p = np.clip(t, EPS, 1), np.clip(p, EPS, 1)
        return np.sum(t * np.log(t / p), axis=-1)
    if name == "poisson":
        return np.mean(p - t * np.log(p + EPS), axis=-1)
    if name == "cosine_proximity":
        normalize = lambda x: x / np.sqrt(np.maximum(np.sum(x**2, axis=-1, keepdims=True), 1e-12))  # noqa: E731
        return -np.mean(normalize(t) * normalize(p), axis=-1)
    raise AssertionError(name)


DENSE_LOSSES = [name for name in LOSSES if name != "sparse_categorical_crossentropy"]


@pytest.mark.parametrize("shape", [(B, D), (B, T, D)], ids=["2d", "3d"])
@pytest.mark.parametrize("name", DENSE_LOSSES)
def test_objective_matches_keras1(name, shape):
    y_true, y_pred = _data(np.random.default_rng(0), shape)[name]
    got = get_objective(name)(tf.constant(y_true), tf.constant(y_pred))
    assert got.shape == shape[:-1]
    np.testing.assert_allclose(got.numpy(), keras1_reference(name, y_true, y_pred), rtol=2e-6, atol=1e-6)


@pytest.mark.parametrize(
    "label_shape", [(B, 1), (B,), (B, T, 1), (B, T)], ids=["2d-keras1", "2d-flat", "3d-keras1", "3d-flat"]
)
def test_sparse_categorical_crossentropy(label_shape):
    rng = np.random.default_rng(1)
    pred_shape = (*label_shape[:-1], D) if label_shape[-1] == 1 else (*label_shape, D)
    y_pred = _softmax(rng.normal(size=pred_shape) * 3).astype(np.float32)
    y_pred.reshape(-1, D)[0] = [1.0, 0.0, 0.0, 0.0, 0.0]
    labels = rng.integers(0, D, label_shape)
    labels.reshape(-1)[0] = 1  # the label of an exactly-0 prediction
    got = get_objective("sparse_categorical_crossentropy")(tf.constant(labels), tf.constant(y_pred))
    assert got.shape == pred_shape[:-1]
    expected = keras1_reference("sparse_categorical_crossentropy", labels.astype(np.float32), y_pred)
    np.testing.assert_allclose(got.numpy(), expected, rtol=2e-6, atol=1e-6)
    # Float targets (as Keras 1 data often are) give the same.
    as_float = get_objective("sparse_categorical_crossentropy")(tf.constant(labels, tf.float32), tf.constant(y_pred))
    np.testing.assert_array_equal(as_float.numpy(), got.numpy())


def test_sparse_targets_with_a_class_axis_are_rejected():
    with pytest.raises(ValueError, match="last axis of size 1"):
        get_objective("sparse_categorical_crossentropy")(tf.zeros([B, 2]), tf.fill([B, 2], 0.5))


@pytest.mark.parametrize("alias", list(LOSS_ALIASES))
def test_aliases_resolve_to_the_canonical_objective(alias):
    assert get_objective(alias) is get_objective(LOSS_ALIASES[alias])


def test_unknown_loss_suggests_a_name():
    with pytest.raises(ValueError, match="did you mean `mean_squared_error`"):
        get_objective("mean_squared_eror")
    with pytest.raises(ValueError, match="unknown loss"):
        resolve_loss("logcosh")  # Keras 2 only


def _masked_case(rng):
    y_true, y_pred = _data(rng, (B, T, D))["mean_squared_error"]
    mask = np.array([[1, 1, 1, 1], [0, 0, 1, 1], [0, 0, 0, 1]], dtype=bool)
    return y_true, y_pred, mask


def test_weighted_loss_without_mask_is_the_mean():
    y_true, y_pred, _ = _masked_case(np.random.default_rng(2))
    got = weighted_loss("mse", tf.constant(y_true), tf.constant(y_pred))
    np.testing.assert_allclose(got.numpy(), keras1_reference("mean_squared_error", y_true, y_pred).mean(), rtol=1e-6)


@pytest.mark.parametrize("mask_dtype", [bool, np.float32], ids=["bool", "float"])
def test_weighted_loss_with_timestep_mask(mask_dtype):
    """Keras 1: loss *= mask; loss /= mean(mask); mean -> the mean over unmasked steps only."""
    y_true, y_pred, mask = _masked_case(np.random.default_rng(3))
    got = weighted_loss("mse", tf.constant(y_true), tf.constant(y_pred), tf.constant(mask.astype(mask_dtype)))
    score = keras1_reference("mean_squared_error", y_true, y_pred)
    np.testing.assert_allclose(got.numpy(), np.mean(score * mask / mask.mean()), rtol=1e-6)
    np.testing.assert_allclose(got.numpy(), score[mask].mean(), rtol=1e-6)


def test_per_sample_mask_on_a_sequence_loss_masks_whole_samples():
    y_true, y_pred, _ = _masked_case(np.random.default_rng(4))
    got = weighted_loss("mae", tf.constant(y_true), tf.constant(y_pred), tf.constant([1.0, 0.0, 1.0]))
    score = keras1_reference("mean_absolute_error", y_true, y_pred)
    np.testing.assert_allclose(got.numpy(), score[[0, 2]].mean(), rtol=1e-6)


def test_sample_weights_follow_keras1():
    """Averaged to the weights' rank, weighted, divided by the fraction of non-zero weights, then averaged."""
    y_true, y_pred, mask = _masked_case(np.random.default_rng(5))
    weights = np.array([2.0, 0.0, 0.5], np.float32)
    got = weighted_loss("mse", tf.constant(y_true), tf.constant(y_pred), tf.constant(mask), sample_weight=weights)
    score = keras1_reference("mean_squared_error", y_true, y_pred) * mask / mask.mean()
    expected = np.mean(score.mean(axis=1) * weights / np.mean(weights != 0))
    np.testing.assert_allclose(got.numpy(), expected, rtol=1e-6)


def test_fully_masked_batch_gives_zero_not_nan():
    zeros = tf.zeros([B, T])
    assert float(weighted_loss("mse", tf.ones([B, T, D]), tf.zeros([B, T, D]), zeros)) == 0.0
    assert float(masked_mean(tf.ones([B, T]), zeros)) == 0.0


def test_mask_with_more_axes_than_the_loss_is_rejected():
    with pytest.raises(ValueError, match="more axes"):
        weighted_loss("mse", tf.zeros([B, D]), tf.zeros([B, D]), tf.ones([B, T]))


def test_all_objectives_compile_with_xla():
    """One XLA function computes every masked loss; it must agree with eager execution."""
    rng = np.random.default_rng(6)
    data = _data(rng, (B, T, D))
    mask = tf.constant(rng.integers(0, 2, (B, T)).astype(bool))
    labels = tf.constant(rng.integers(0, D, (B, T, 1)))
    probs = tf.constant(data["categorical_crossentropy"][1])
    cases = {name: (tf.constant(t), tf.constant(p)) for name, (t, p) in data.items()}
    cases["sparse_categorical_crossentropy"] = (labels, probs)

    def all_losses(cases, mask):
        return {name: weighted_loss(name, t, p, mask) for name, (t, p) in cases.items()}

    compiled = tf.function(all_losses, jit_compile=True)(cases, mask)
    eager = all_losses(cases, mask)
    for name in LOSSES:
        np.testing.assert_allclose(compiled[name].numpy(), eager[name].numpy(), rtol=1e-5, err_msg=name)
