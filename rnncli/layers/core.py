"""The non-recurrent layers around RNNs, with Keras 1 arguments and mask behaviour.

Shapes: B batch, T timesteps, F features. Layers that support masking pass the incoming [B, T] mask on; the
others never receive one (the validator refuses such stacks before anything is built).
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from rnncli.layers.activations import get_activation
from rnncli.layers.base import Layer, dropout_mask
from rnncli.layers.initializers import initialize


class Dense(Layer):
    """y = activation(x W + b) on the last axis: [B, F] -> [B, out] or [B, T, F] -> [B, T, out]."""

    def __init__(self, config: dict, input_dim: int, rng: np.random.Generator):
        super().__init__(config)
        units = config["output_dim"]
        self.activation = get_activation(config["activation"])
        with self.name_scope:
            self.kernel = self.make_variable("kernel", initialize(config["init"], (input_dim, units), rng),
                                             config["W_regularizer"], config.get("W_constraint"))
            self.bias = (self.make_variable("bias", np.zeros(units, np.float32), config["b_regularizer"],
                                            config.get("b_constraint")) if config["bias"] else None)

    def named_weights(self):
        return {"kernel": self.kernel} | ({"bias": self.bias} if self.bias is not None else {})

    def call(self, x, mask, training, rng):
        kernel = self.read(self.kernel)
        y = tf.matmul(x, kernel) if x.shape.rank == 2 else tf.einsum("...f,fo->...o", x, kernel)
        if self.bias is not None:
            y = y + self.read(self.bias)
        return self.activation(y), None


class Embedding(Layer):
    """Integer indices [B, T] -> vectors [B, T, output_dim]; ``mask_zero`` emits mask = (index != 0).

    ``dropout`` drops whole rows of the matrix (word types) once per batch, scaled by 1/(1-p), in training only.
    """

    casts_input = False  # ids, not values

    def __init__(self, config: dict, rng: np.random.Generator):
        super().__init__(config)
        self.mask_zero = bool(config["mask_zero"])
        self.rate = float(config["dropout"])
        shape = (config["input_dim"], config["output_dim"])
        with self.name_scope:
            self.embeddings = self.make_variable("embeddings", initialize(config["init"], shape, rng),
                                                 config["W_regularizer"], config.get("W_constraint"))

    def named_weights(self):
        return {"embeddings": self.embeddings}

    def call(self, x, mask, training, rng):
        ids = tf.cast(x, tf.int32)
        table = self.read(self.embeddings)
        if training and rng is not None and self.rate > 0:
            table = table * dropout_mask(rng, [table.shape[0], 1], self.rate, table.dtype)
        y = tf.gather(table, ids)
        return y, (tf.not_equal(ids, 0) if self.mask_zero else mask)


class Masking(Layer):
    """mask = any feature != mask_value per timestep; masked timesteps become exact zeros. [B, T, F] -> same.

    The input keeps its dtype, so the comparison is exact whatever the precision."""

    casts_input = False

    def call(self, x, mask, training, rng):
        keep = tf.reduce_any(tf.not_equal(x, self.config["mask_value"]), axis=-1)
        return x * tf.cast(tf.expand_dims(keep, -1), x.dtype), keep


class Dropout(Layer):
    """Inverted dropout with a fresh mask per element per batch; identity at inference."""

    def call(self, x, mask, training, rng):
        rate = float(self.config["p"])
        if not training or rng is None or rate <= 0:
            return x, mask
        return x * dropout_mask(rng, tf.shape(x), rate, x.dtype), mask


class Activation(Layer):
    def call(self, x, mask, training, rng):
        return get_activation(self.config["activation"])(x), mask


class Flatten(Layer):
    """[B, d1, d2, ...] -> [B, d1*d2*...]."""

    def call(self, x, mask, training, rng):
        size = int(np.prod(x.shape[1:]))
        return tf.reshape(x, [-1, size]), None


class RepeatVector(Layer):
    """[B, F] -> [B, n, F]."""

    def call(self, x, mask, training, rng):
        return tf.tile(tf.expand_dims(x, 1), [1, self.config["n"], 1]), None


class InputLayer(Layer):
    """Declares the model input; identity (the mask, if any, passes through)."""

    def call(self, x, mask, training, rng):
        return x, mask


class Reshape(Layer):
    """[B, ...] -> [B, *target_shape] (a -1 entry is inferred); Keras 1 drops the mask."""

    def call(self, x, mask, training, rng):
        target: list = [int(d) for d in self.config["target_shape"]]
        if -1 in target:  # the validator made sure the sample size is divisible; traced shapes may be relaxed
            known = int(np.prod([d for d in target if d != -1]))
            target[target.index(-1)] = tf.reduce_prod(tf.shape(x)[1:]) // known
        return tf.reshape(x, tf.stack([tf.shape(x)[0]] + target)), None


class Permute(Layer):
    """Permutes the non-batch axes by the 1-based ``dims``: [B, T, F] with dims [2, 1] -> [B, F, T]."""

    def call(self, x, mask, training, rng):
        return tf.transpose(x, [0] + [int(d) for d in self.config["dims"]]), None
