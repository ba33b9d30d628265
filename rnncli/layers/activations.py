"""Keras 1 activation functions by name (``hard_sigmoid`` is Keras 1's clip(0.2x + 0.5, 0, 1))."""

from __future__ import annotations

from typing import Callable

import tensorflow as tf


def hard_sigmoid(x: tf.Tensor) -> tf.Tensor:
    """Keras 1 hard sigmoid: 0 below -2.5, 1 above 2.5, 0.2x + 0.5 in between (gradient 0.2 inside)."""
    return tf.clip_by_value(0.2 * x + 0.5, 0.0, 1.0)


def softmax(x: tf.Tensor) -> tf.Tensor:
    """Softmax over the last axis."""
    return tf.nn.softmax(x, axis=-1)


def linear(x: tf.Tensor) -> tf.Tensor:
    return x


ACTIVATIONS: dict[str, Callable[[tf.Tensor], tf.Tensor]] = {
    "tanh": tf.tanh,
    "sigmoid": tf.sigmoid,
    "hard_sigmoid": hard_sigmoid,
    "relu": tf.nn.relu,
    "linear": linear,
    "softmax": softmax,
    "softplus": tf.nn.softplus,
    "softsign": tf.nn.softsign,
    "elu": tf.nn.elu,
}


def get_activation(name: str | None) -> Callable[[tf.Tensor], tf.Tensor]:
    """The activation called ``name`` (None means linear, as in Keras 1)."""
    return ACTIVATIONS[name or "linear"]
