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
        return self._merge(y_forward, y_backward), out_mask

    def call_with_states(self, x, mask, training, rng, initial_states=None):
        """Both directions from explicit states (forward's then backward's, as ``state_variables`` lists them);
        returns ``(y, mask, final_states)`` in the same order. See ``Recurrent.call_with_states``."""
        split = self.forward.num_states
        forward_states = None if initial_states is None else list(initial_states[:split])
        backward_states = None if initial_states is None else list(initial_states[split:])
        y_forward, out_mask, final_forward = self.forward.call_with_states(x, mask, training, rng, forward_states)
        y_backward, _, final_backward = self.backward.call_with_states(x, mask, training, rng, backward_states)
        return self._merge(y_forward, y_backward), out_mask, final_forward + final_backward

    def _merge(self, y_forward, y_backward):
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
        return y
