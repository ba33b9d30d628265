"""Keras 1 ``Merge`` (and the Keras 2 merge layers mapped onto it): a weightless layer over several tensors."""

from __future__ import annotations

import tensorflow as tf

from rnncli.layers.base import Layer

EPSILON = 1e-7  # Keras 1 K.epsilon()


def batch_dot(x: tf.Tensor, y: tf.Tensor, axes: tuple[int, int]) -> tf.Tensor:
    """Keras ``batch_dot`` of two 2-D or two 3-D tensors, contracting ``x``'s axis ``axes[0]`` with ``y``'s
    ``axes[1]`` (non-negative, not 0): [B, n] . [B, n] -> [B, 1]; [B, m, k] . [B, k, q] -> [B, m, q]."""
    if len(x.shape) == 2:
        return tf.reduce_sum(x * y, axis=1, keepdims=True)
    a, b = axes
    x = x if a == 2 else tf.transpose(x, [0, 2, 1])  # contracted axis last
    y = y if b == 1 else tf.transpose(y, [0, 2, 1])  # contracted axis first after the batch
    return tf.matmul(x, y)


class Merge(Layer):
    """``call_many([x1, x2, ...])`` -> merged tensor; modes sum, mul, ave, max (equal shapes), concat (along
    ``concat_axis``), dot (``batch_dot`` over ``dot_axes``), cos (cosine similarity of two [B, n] -> [B, 1])."""

    def __init__(self, config: dict, input_ranks: list[int]):
        super().__init__(config)
        self.mode = config["mode"]
        rank = input_ranks[0]
        self.concat_axis = config["concat_axis"] % rank
        axes = config["dot_axes"]
        axes = [axes, axes] if isinstance(axes, int) else list(axes)
        self.dot_axes = (axes[0] % rank, axes[1] % input_ranks[-1])

    def call_many(self, xs: list[tf.Tensor]) -> tf.Tensor:
        xs = [self.cast_input(x) for x in xs]  # a graph input (float32) may meet a bfloat16 branch
        mode = self.mode
        if mode == "sum":
            return tf.add_n(xs)
        if mode == "ave":
            return tf.add_n(xs) / float(len(xs))
        if mode == "mul":
            out = xs[0]
            for x in xs[1:]:
                out = out * x
            return out
        if mode == "max":
            out = xs[0]
            for x in xs[1:]:
                out = tf.maximum(out, x)
            return out
        if mode == "concat":
            return tf.concat(xs, axis=self.concat_axis)
        x, y = xs
        if mode == "dot":
            return batch_dot(x, y, self.dot_axes)
        # cos (Keras 1): batch_dot(x, y) / max(sqrt(batch_dot(x, x) * batch_dot(y, y)), epsilon)
        denominator = tf.sqrt(batch_dot(x, x, self.dot_axes) * batch_dot(y, y, self.dot_axes))
        return batch_dot(x, y, self.dot_axes) / tf.maximum(denominator, EPSILON)

    def call(self, x, mask, training, rng):
        raise TypeError(f"merge layer `{self.layer_name}` takes a list of tensors: use call_many")
