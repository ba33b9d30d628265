"""Wrappers: TimeDistributed (a layer per timestep) and Bidirectional (a recurrent layer both ways)."""

from __future__ import annotations

import tensorflow as tf

from rnncli.layers.base import Layer


class TimeDistributed(Layer):
    """Applies ``inner`` to each timestep: [B, T, F] -> [B, T, out], by folding time into the batch."""

    def __init__(self, config: dict, inner: Layer):
        super().__init__(config)
        self.inner = inner

    def children(self):
        return {"inner": self.inner}

    def regularization_loss(self):
        return self.inner.regularization_loss()

    def call(self, x, mask, training, rng):
        shape = tf.shape(x)
        folded = tf.reshape(x, tf.concat([[-1], shape[2:]], axis=0))
        y, _ = self.inner(folded, None, training, rng)
        y = tf.reshape(y, tf.concat([shape[:2], tf.shape(y)[1:]], axis=0))
        return y, mask


class Bidirectional(Layer):
    """Runs ``forward`` and a copy with ``go_backwards`` flipped, re-reverses the backward sequence and merges.

    Output: merge of [B, (T,) u] pairs; ``concat`` gives 2u features. Keras 1 weight list = forward + backward.
    """

    def __init__(self, config: dict, forward: Layer, backward: Layer):
        super().__init__(config)
        self.forward = forward
        self.backward = backward
        self.merge_mode = config["merge_mode"]

    def children(self):
        return {"forward": self.forward, "backward": self.backward}

    def regularization_loss(self):
        return self.forward.regularization_loss() + self.backward.regularization_loss()

    @property
    def state_variables(self):
        return self.forward.state_variables + self.backward.state_variables

    def reset_states(self):
        self.forward.reset_states()
        self.backward.reset_states()

    def call(self, x, mask, training, rng):
        y_forward, out_mask = self.forward(x, mask, training, rng)
        y_backward, _ = self.backward(x, mask, training, rng)
        if self.forward.return_sequences:
            y_backward = tf.reverse(y_backward, axis=[1])
        if self.merge_mode == "concat":
            y = tf.concat([y_forward, y_backward], axis=-1)
        elif self.merge_mode == "sum":
            y = y_forward + y_backward
        elif self.merge_mode == "mul":
            y = y_forward * y_backward
        else:
            y = (y_forward + y_backward) / 2.0
        return y, out_mask
