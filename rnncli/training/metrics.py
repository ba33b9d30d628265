"""Keras 1 (1.2.2) metrics: accuracy in its three forms, and every objective as a metric.

A metric maps ``(y_true, y_pred, mask)`` to a scalar: the per-sample (per-timestep) value, averaged over the entries
the mask keeps. ``accuracy``/``acc`` picks its form from the loss and the output width as Keras 1 ``compile`` does:
binary accuracy when the loss is ``binary_crossentropy`` or the output has one unit, sparse categorical accuracy for
``sparse_categorical_crossentropy``, categorical (argmax) accuracy otherwise.

Keras 1.2.2 itself ignored output masks in metrics (it averaged over all steps); here masked steps are left out, so
that ``acc`` of a masked sequence output agrees with its loss.

>>> acc = get_metric("accuracy", "categorical_crossentropy")
>>> float(acc(tf.constant([[0.0, 1.0], [1.0, 0.0]]), tf.constant([[0.2, 0.8], [0.3, 0.7]])))
0.5
"""

from __future__ import annotations

from typing import Callable

import tensorflow as tf

from rnncli.training.losses import get_objective, masked_mean, sparse_labels
from rnncli.config.training_specs import resolve_loss, resolve_metric

__all__ = ["Metric", "get_metric", "binary_accuracy", "categorical_accuracy", "sparse_categorical_accuracy"]

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


_ACCURACIES = {fn.__name__: fn for fn in (binary_accuracy, categorical_accuracy, sparse_categorical_accuracy)}


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
    if canonical == "accuracy":
        per_sample = _accuracy_for(loss)
    else:
        resolve_loss(loss)
        per_sample = _ACCURACIES.get(canonical) or get_objective(canonical)

    def metric(y_true: tf.Tensor, y_pred: tf.Tensor, mask: tf.Tensor | None = None) -> tf.Tensor:
        return masked_mean(per_sample(y_true, y_pred), mask)

    metric.__name__ = canonical
    return metric
