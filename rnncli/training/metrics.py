"""Keras 1 (1.2.2) metrics: accuracy in its three forms, the batch-wise precision/recall/F scores, top-k accuracy,
and every objective as a metric.

A metric maps ``(y_true, y_pred, mask)`` to a scalar: the per-sample (per-timestep) value, averaged over the entries
the mask keeps. ``accuracy``/``acc`` picks its form from the loss and the output width as Keras 1 ``compile`` does:
binary accuracy when the loss is ``binary_crossentropy`` or the output has one unit, sparse categorical accuracy for
``sparse_categorical_crossentropy``, categorical (argmax) accuracy otherwise.

Keras 1.2.2 itself ignored output masks in metrics (it averaged over all steps); here masked steps are left out, so
that ``acc`` of a masked sequence output agrees with its loss. Like Keras 1, metrics ignore sample and class weights.

``precision``, ``recall``, ``fbeta_score`` and ``fmeasure`` are Keras 1.2's batch-wise formulas: counts summed over
the (unmasked) entries of one batch, so an epoch's value is the average of its batches' values, not the precision
of the whole epoch.

>>> acc = get_metric("accuracy", "categorical_crossentropy")
>>> float(acc(tf.constant([[0.0, 1.0], [1.0, 0.0]]), tf.constant([[0.2, 0.8], [0.3, 0.7]])))
0.5
"""

from __future__ import annotations

from typing import Callable

import tensorflow as tf

from rnncli.training.losses import get_objective, masked_mean, sparse_labels
from rnncli.config.training_specs import EPSILON, resolve_loss, resolve_metric

__all__ = ["Metric", "get_metric", "binary_accuracy", "categorical_accuracy", "sparse_categorical_accuracy",
           "top_k_categorical_accuracy", "sparse_top_k_categorical_accuracy", "precision", "recall", "fbeta_score",
           "fmeasure"]

Metric = Callable[..., tf.Tensor]


def binary_accuracy(y_true: tf.Tensor, y_pred: tf.Tensor) -> tf.Tensor:
    """``mean(y_true == round(y_pred))`` over the last axis: ``[B, ...]``. ``tf.round`` rounds half to even, as
    Keras 1 did."""
    y_pred = tf.convert_to_tensor(y_pred)
    hits = tf.equal(tf.cast(y_true, y_pred.dtype), tf.round(y_pred))
    return tf.reduce_mean(tf.cast(hits, y_pred.dtype), axis=-1)


def categorical_accuracy(y_true: tf.Tensor, y_pred: tf.Tensor) -> tf.Tensor:
    """``argmax(y_true) == argmax(y_pred)`` over the last axis: ``[B, ...]`` of 0/1."""
    y_pred = tf.convert_to_tensor(y_pred)
    hits = tf.equal(tf.argmax(y_true, axis=-1), tf.argmax(y_pred, axis=-1))
    return tf.cast(hits, y_pred.dtype)


def sparse_categorical_accuracy(y_true: tf.Tensor, y_pred: tf.Tensor) -> tf.Tensor:
    """Integer ``y_true`` (``[B, ..., 1]`` or ``[B, ...]``) ``== argmax(y_pred)``: ``[B, ...]`` of 0/1."""
    y_pred = tf.convert_to_tensor(y_pred)
    hits = tf.equal(sparse_labels(y_true, y_pred), tf.argmax(y_pred, axis=-1))
    return tf.cast(hits, y_pred.dtype)


TOP_K = 5  # Keras 1's default k


def _in_top_k(scores: tf.Tensor, labels: tf.Tensor, k: int) -> tf.Tensor:
    """``tf.nn.in_top_k`` over any leading axes: scores ``[..., C]``, labels ``[...]`` -> ``[...]`` of 0/1. A class
    tied with the k-th largest score counts as in the top k (TensorFlow's rule, which Keras 1 inherits)."""
    flat_scores = tf.reshape(scores, [-1, tf.shape(scores)[-1]])
    hits = tf.nn.in_top_k(tf.reshape(labels, [-1]), flat_scores, k)
    return tf.reshape(tf.cast(hits, scores.dtype), tf.shape(labels))


def top_k_categorical_accuracy(y_true: tf.Tensor, y_pred: tf.Tensor) -> tf.Tensor:
    """``argmax(y_true)`` among the ``TOP_K`` largest of ``y_pred``: ``[B, ...]`` of 0/1."""
    y_pred = tf.convert_to_tensor(y_pred)
    return _in_top_k(y_pred, tf.argmax(y_true, axis=-1, output_type=tf.int32), TOP_K)


def sparse_top_k_categorical_accuracy(y_true: tf.Tensor, y_pred: tf.Tensor) -> tf.Tensor:
    """Integer ``y_true`` (``[B, ..., 1]`` or ``[B, ...]``) among the ``TOP_K`` largest of ``y_pred``."""
    y_pred = tf.convert_to_tensor(y_pred)
    return _in_top_k(y_pred, tf.cast(sparse_labels(y_true, y_pred), tf.int32), TOP_K)


_ACCURACIES = {fn.__name__: fn for fn in (binary_accuracy, categorical_accuracy, sparse_categorical_accuracy,
                                          top_k_categorical_accuracy, sparse_top_k_categorical_accuracy)}


def _entry_weights(mask: tf.Tensor | None, values: tf.Tensor) -> tf.Tensor:
    """1 for every entry of ``values`` ``[B, ..., D]`` that the mask (``[B]`` or ``[B, T]``, or None) keeps, else 0."""
    if mask is None:
        return tf.ones_like(values)
    keep = tf.cast(tf.not_equal(tf.cast(mask, values.dtype), 0.0), values.dtype)
    for _ in range(values.shape.rank - keep.shape.rank):
        keep = keep[..., tf.newaxis]
    return tf.broadcast_to(keep, tf.shape(values))


def _positive_counts(y_true: tf.Tensor, y_pred: tf.Tensor, mask: tf.Tensor | None):
    """Keras 1.2's rounded counts over one batch: (true positives, predicted positives, possible positives)."""
    y_pred = tf.convert_to_tensor(y_pred)
    y_true = tf.cast(y_true, y_pred.dtype)
    keep = _entry_weights(mask, y_pred)

    def count(values: tf.Tensor) -> tf.Tensor:
        return tf.reduce_sum(tf.round(tf.clip_by_value(values, 0.0, 1.0)) * keep)

    return count(y_true * y_pred), count(y_pred), count(y_true)


def precision(y_true: tf.Tensor, y_pred: tf.Tensor, mask: tf.Tensor | None = None) -> tf.Tensor:
    true_positives, predicted, _ = _positive_counts(y_true, y_pred, mask)
    return true_positives / (predicted + EPSILON)


def recall(y_true: tf.Tensor, y_pred: tf.Tensor, mask: tf.Tensor | None = None) -> tf.Tensor:
    true_positives, _, possible = _positive_counts(y_true, y_pred, mask)
    return true_positives / (possible + EPSILON)


def fbeta_score(y_true: tf.Tensor, y_pred: tf.Tensor, mask: tf.Tensor | None = None, beta: float = 1.0
                ) -> tf.Tensor:
    """Keras 1.2's ``(1 + b^2) p r / (b^2 p + r + eps)``. Its "no true positives -> 0" shortcut compared a tensor
    with 0 in Python, which is never true, so it is left out; the formula gives 0 there anyway (r = 0)."""
    if beta < 0:
        raise ValueError("The lowest choosable beta is zero (only precision).")
    p = precision(y_true, y_pred, mask)
    r = recall(y_true, y_pred, mask)
    bb = beta ** 2
    return (1 + bb) * (p * r) / (bb * p + r + EPSILON)


def fmeasure(y_true: tf.Tensor, y_pred: tf.Tensor, mask: tf.Tensor | None = None) -> tf.Tensor:
    return fbeta_score(y_true, y_pred, mask, beta=1.0)


# metrics that see the whole batch (with its mask) instead of being averaged per sample
_BATCH_METRICS = {fn.__name__: fn for fn in (precision, recall, fbeta_score, fmeasure)}


def _accuracy_for(loss: str) -> Callable[[tf.Tensor, tf.Tensor], tf.Tensor]:
    canonical = resolve_loss(loss)

    def accuracy(y_true: tf.Tensor, y_pred: tf.Tensor) -> tf.Tensor:
        # Keras 1 decides on the static output width, so this is a trace-time choice.
        if canonical == "binary_crossentropy" or tf.convert_to_tensor(y_pred).shape[-1] == 1:
            return binary_accuracy(y_true, y_pred)
        if canonical == "sparse_categorical_crossentropy":
            return sparse_categorical_accuracy(y_true, y_pred)
        return categorical_accuracy(y_true, y_pred)

    return accuracy


def get_metric(name: str, loss: str) -> Metric:
    """The metric ``name`` for a model trained with objective ``loss``.

    Returns ``fn(y_true, y_pred, mask=None) -> scalar`` where ``y_true``/``y_pred`` are ``[B, D]`` or ``[B, T, D]``
    and ``mask`` is None, ``[B]`` or ``[B, T]``. Raises ValueError for an unknown metric or loss name.
    """
    canonical = resolve_metric(name)
    if canonical in _BATCH_METRICS:
        resolve_loss(loss)
        return _BATCH_METRICS[canonical]
    if canonical == "accuracy":
        per_sample = _accuracy_for(loss)
    else:
        resolve_loss(loss)
        per_sample = _ACCURACIES.get(canonical) or get_objective(canonical)

    def metric(y_true: tf.Tensor, y_pred: tf.Tensor, mask: tf.Tensor | None = None) -> tf.Tensor:
        return masked_mean(per_sample(y_true, y_pred), mask)

    metric.__name__ = canonical
    return metric
