"""Keras 1 (1.2.2) objectives and the masked, weighted reduction Keras 1 applies to them.

Every objective maps ``(y_true, y_pred)`` of shape ``[B, ..., D]`` to a loss of shape ``[B, ...]`` (the last axis
reduced, as in Keras 1 ``keras/objectives.py``), with Keras 1's clipping by ``K.epsilon() = 1e-7``.
``weighted_loss`` reduces that to the scalar Keras 1 trains on (``weighted_objective`` in ``engine/training.py``).

>>> y_true = tf.constant([[0.0, 1.0], [1.0, 0.0]])
>>> y_pred = tf.constant([[0.2, 0.8], [0.6, 0.4]])
>>> get_objective("mse")(y_true, y_pred).shape
TensorShape([2])
>>> round(float(weighted_loss("categorical_crossentropy", y_true, y_pred)), 4)
0.367
"""

from __future__ import annotations

from typing import Callable

import tensorflow as tf

from rnncli.config.training_specs import EPSILON, resolve_loss

__all__ = ["Objective", "broadcast_weights", "get_objective", "masked_mean", "nonzero_weight_sums", "sparse_labels",
           "weighted_loss"]

Objective = Callable[[tf.Tensor, tf.Tensor], tf.Tensor]


def _as_pred_dtype(y_true: tf.Tensor, y_pred: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
    y_pred = tf.convert_to_tensor(y_pred)
    return tf.cast(y_true, y_pred.dtype), y_pred


def mean_squared_error(y_true: tf.Tensor, y_pred: tf.Tensor) -> tf.Tensor:
    y_true, y_pred = _as_pred_dtype(y_true, y_pred)
    return tf.reduce_mean(tf.square(y_pred - y_true), axis=-1)


def mean_absolute_error(y_true: tf.Tensor, y_pred: tf.Tensor) -> tf.Tensor:
    y_true, y_pred = _as_pred_dtype(y_true, y_pred)
    return tf.reduce_mean(tf.abs(y_pred - y_true), axis=-1)


def mean_absolute_percentage_error(y_true: tf.Tensor, y_pred: tf.Tensor) -> tf.Tensor:
    y_true, y_pred = _as_pred_dtype(y_true, y_pred)
    diff = tf.abs((y_true - y_pred) / tf.maximum(tf.abs(y_true), EPSILON))
    return 100.0 * tf.reduce_mean(diff, axis=-1)


def mean_squared_logarithmic_error(y_true: tf.Tensor, y_pred: tf.Tensor) -> tf.Tensor:
    y_true, y_pred = _as_pred_dtype(y_true, y_pred)
    first_log = tf.math.log(tf.maximum(y_pred, EPSILON) + 1.0)
    second_log = tf.math.log(tf.maximum(y_true, EPSILON) + 1.0)
    return tf.reduce_mean(tf.square(first_log - second_log), axis=-1)


def squared_hinge(y_true: tf.Tensor, y_pred: tf.Tensor) -> tf.Tensor:
    y_true, y_pred = _as_pred_dtype(y_true, y_pred)
    return tf.reduce_mean(tf.square(tf.maximum(1.0 - y_true * y_pred, 0.0)), axis=-1)


def hinge(y_true: tf.Tensor, y_pred: tf.Tensor) -> tf.Tensor:
    y_true, y_pred = _as_pred_dtype(y_true, y_pred)
    return tf.reduce_mean(tf.maximum(1.0 - y_true * y_pred, 0.0), axis=-1)


def _clip_probabilities(p: tf.Tensor) -> tf.Tensor:
    # Keras 1 builds the bounds in the tensor's dtype: [eps, 1 - eps] with eps = 1e-7 rounded to that dtype.
    eps = tf.constant(EPSILON, p.dtype)
    return tf.clip_by_value(p, eps, 1.0 - eps)


def binary_crossentropy(y_true: tf.Tensor, y_pred: tf.Tensor) -> tf.Tensor:
    y_true, y_pred = _as_pred_dtype(y_true, y_pred)
    p = _clip_probabilities(y_pred)
    # Keras 1's TF backend goes back to logits and uses the stable sigmoid crossentropy.
    logits = tf.math.log(p / (1.0 - p))
    return tf.reduce_mean(tf.nn.sigmoid_cross_entropy_with_logits(labels=y_true, logits=logits), axis=-1)


def categorical_crossentropy(y_true: tf.Tensor, y_pred: tf.Tensor) -> tf.Tensor:
    y_true, y_pred = _as_pred_dtype(y_true, y_pred)
    p = _clip_probabilities(y_pred / tf.reduce_sum(y_pred, axis=-1, keepdims=True))
    return -tf.reduce_sum(y_true * tf.math.log(p), axis=-1)


def sparse_categorical_crossentropy(y_true: tf.Tensor, y_pred: tf.Tensor) -> tf.Tensor:
    """``y_true``: integer class ids of shape ``[B, ..., 1]`` (Keras 1) or ``[B, ...]``; ``y_pred``: ``[B, ..., C]``.

    As Keras 1: the clipped probabilities go through ``log`` and a softmax crossentropy, so they are renormalised
    after clipping (``-log(clip(p_k) / sum(clip(p)))``).
    """
    y_pred = tf.convert_to_tensor(y_pred)
    labels = sparse_labels(y_true, y_pred)
    logits = tf.math.log(_clip_probabilities(y_pred))
    return tf.nn.sparse_softmax_cross_entropy_with_logits(labels=labels, logits=logits)


def sparse_labels(y_true: tf.Tensor, y_pred: tf.Tensor) -> tf.Tensor:
    """Integer labels of shape ``y_pred.shape[:-1]`` from targets of shape ``[B, ..., 1]`` or ``[B, ...]``."""
    y_true = tf.convert_to_tensor(y_true)
    if y_true.shape.rank == y_pred.shape.rank:
        if y_true.shape[-1] not in (1, None):
            raise ValueError(
                f"sparse targets must have a last axis of size 1 or no class axis, got shape {y_true.shape} "
                f"for predictions of shape {y_pred.shape}"
            )
        y_true = tf.squeeze(y_true, axis=-1)
    elif y_true.shape.rank != y_pred.shape.rank - 1:
        raise ValueError(f"sparse targets of shape {y_true.shape} do not fit predictions of shape {y_pred.shape}")
    return tf.cast(y_true, tf.int64)


def kullback_leibler_divergence(y_true: tf.Tensor, y_pred: tf.Tensor) -> tf.Tensor:
    y_true, y_pred = _as_pred_dtype(y_true, y_pred)
    y_true = tf.clip_by_value(y_true, EPSILON, 1.0)
    y_pred = tf.clip_by_value(y_pred, EPSILON, 1.0)
    return tf.reduce_sum(y_true * tf.math.log(y_true / y_pred), axis=-1)


def poisson(y_true: tf.Tensor, y_pred: tf.Tensor) -> tf.Tensor:
    y_true, y_pred = _as_pred_dtype(y_true, y_pred)
    return tf.reduce_mean(y_pred - y_true * tf.math.log(y_pred + EPSILON), axis=-1)


def cosine_proximity(y_true: tf.Tensor, y_pred: tf.Tensor) -> tf.Tensor:
    """Keras 1 takes the *mean* (Keras 2 the sum) of the normalised product, so it lies in [-1/D, 1/D]."""
    y_true, y_pred = _as_pred_dtype(y_true, y_pred)
    y_true = tf.math.l2_normalize(y_true, axis=-1)
    y_pred = tf.math.l2_normalize(y_pred, axis=-1)
    return -tf.reduce_mean(y_true * y_pred, axis=-1)


_OBJECTIVES: dict[str, Objective] = {
    fn.__name__: fn
    for fn in (
        mean_squared_error,
        mean_absolute_error,
        mean_absolute_percentage_error,
        mean_squared_logarithmic_error,
        squared_hinge,
        hinge,
        binary_crossentropy,
        categorical_crossentropy,
        sparse_categorical_crossentropy,
        kullback_leibler_divergence,
        poisson,
        cosine_proximity,
    )
}


def get_objective(name: str) -> Objective:
    """The Keras 1 objective called ``name`` (canonical or alias, e.g. ``mse``).

    The returned function maps ``(y_true [B, ..., D], y_pred [B, ..., D])`` to the loss ``[B, ...]``.
    Raises ValueError for an unknown name.
    """
    return _OBJECTIVES[resolve_loss(name)]


def _align_mask(mask: tf.Tensor, values: tf.Tensor) -> tf.Tensor:
    mask = tf.cast(mask, values.dtype)
    extra = values.shape.rank - mask.shape.rank
    if extra < 0:
        raise ValueError(f"mask of shape {mask.shape} has more axes than the per-sample values {values.shape}")
    for _ in range(extra):
        mask = mask[..., tf.newaxis]
    return mask


def masked_mean(values: tf.Tensor, mask: tf.Tensor | None = None) -> tf.Tensor:
    """Mean of ``values`` (``[B]`` or ``[B, T]``) over the entries where ``mask`` (``[B]`` or ``[B, T]``, bool or
    0/1) is set, computed as Keras 1 does: ``mean(values * mask / mean(mask))``. A mask of lower rank applies to
    the leading axes. An all-zero mask gives 0 (Keras 1 gives NaN)."""
    if mask is None:
        return tf.reduce_mean(values)
    mask = _align_mask(mask, values)
    return tf.math.divide_no_nan(tf.reduce_mean(values * mask), tf.reduce_mean(mask))


def weighted_loss(
    name: str,
    y_true: tf.Tensor,
    y_pred: tf.Tensor,
    mask: tf.Tensor | None = None,
    *,
    sample_weight: tf.Tensor | None = None,
) -> tf.Tensor:
    """The scalar training loss of Keras 1 ``weighted_objective``.

    Args:
      name: objective name or alias.
      y_true: targets ``[B, D]`` or ``[B, T, D]`` (sparse targets ``[B, 1]``/``[B]`` or ``[B, T, 1]``/``[B, T]``).
      y_pred: predictions ``[B, D]`` or ``[B, T, D]``.
      mask: optional output mask ``[B]`` or ``[B, T]``: ``loss *= mask; loss /= mean(mask)`` before averaging.
      sample_weight: optional ``[B]`` (or ``[B, T]`` for temporal weights): the loss is averaged down to the
        weight's rank, multiplied by it and divided by the fraction of non-zero weights, as in Keras 1.

    Returns the mean over everything left, a scalar. An all-zero mask gives 0 instead of Keras 1's NaN.
    """
    score = get_objective(name)(y_true, y_pred)
    if mask is not None:
        mask = _align_mask(mask, score)
        score = tf.math.divide_no_nan(score * mask, tf.reduce_mean(mask))
    if sample_weight is not None:
        weights = tf.cast(sample_weight, score.dtype)
        axes = list(range(weights.shape.rank, score.shape.rank))
        if axes:
            score = tf.reduce_mean(score, axis=axes)
        score = score * weights
        score = tf.math.divide_no_nan(score, tf.reduce_mean(tf.cast(tf.not_equal(weights, 0.0), score.dtype)))
    return tf.reduce_mean(score)


def broadcast_weights(sample_weight: tf.Tensor, values: tf.Tensor) -> tf.Tensor:
    """Sample weights ``[B]`` (or ``[B, T]``) broadcast over the per-entry losses ``values`` (``[B]`` or ``[B, T]``)."""
    weights = tf.cast(sample_weight, values.dtype)
    for _ in range(values.shape.rank - weights.shape.rank):
        weights = weights[..., tf.newaxis]
    return tf.broadcast_to(weights, tf.shape(values))


def nonzero_weight_sums(sample_weight: tf.Tensor, rows: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
    """(number of non-zero weights, number of weights) over the real rows of a padded batch.

    Keras 1 ``weighted_objective`` divides the weighted loss by ``mean(weights != 0)``; over a batch padded with
    rows whose ``rows`` entry is 0 that mean is ``nonzero / entries``. Both are sums, so replicas can add them up.
    ``sample_weight``: ``[B]`` or ``[B, T]`` (0 on padding rows); ``rows``: ``[B]`` of 1 (real) / 0 (padding).
    """
    weights = tf.cast(sample_weight, tf.float32)
    real = broadcast_weights(rows, weights)
    nonzero = tf.reduce_sum(tf.cast(tf.not_equal(weights * real, 0.0), tf.float32))
    return nonzero, tf.reduce_sum(real)
