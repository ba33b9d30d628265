"""Keras 1 layers real recurrent models use around their RNNs: the advanced activations (LeakyReLU, ELU, PReLU),
SpatialDropout1D, and the Keras 1 dense variants Highway and MaxoutDense (Keras 1.2.2 formulas).

Shapes: B batch, T timesteps, F features. The activations and SpatialDropout1D keep the shape and pass a mask on
(Keras 1 did); Highway and MaxoutDense take [B, F] and no mask, as in Keras 1.
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from rnncli.layers.activations import get_activation
from rnncli.layers.base import Layer, dropout_mask
from rnncli.layers.initializers import initialize


class LeakyReLU(Layer):
    """y = x for x > 0, alpha * x otherwise (Keras 1 default alpha 0.3)."""

    def call(self, x, mask, training, rng):
        return tf.where(x > 0, x, float(self.config["alpha"]) * x), mask


class ELU(Layer):
    """y = x for x > 0, alpha * (exp(x) - 1) otherwise."""

    def call(self, x, mask, training, rng):
        return tf.where(x > 0, x, float(self.config["alpha"]) * (tf.exp(tf.minimum(x, 0.0)) - 1.0)), mask


class PReLU(Layer):
    """y = relu(x) + alphas * min(x, 0); ``alphas`` has the input's shape without the batch axis ([T, F] or [F]),
    with 1 on the ``shared_axes`` (1-based, counting the batch axis as 0, as Keras 2 does)."""

    def __init__(self, config: dict, alpha_shape: tuple[int, ...], rng: np.random.Generator):
        super().__init__(config)
        with self.name_scope:
            self.alphas = self.make_variable("alphas", initialize(config["init"], alpha_shape, rng))

    def named_weights(self):
        return {"alphas": self.alphas}

    def call(self, x, mask, training, rng):
        return tf.nn.relu(x) + self.read(self.alphas) * tf.minimum(x, 0.0), mask


class SpatialDropout1D(Layer):
    """Drops whole feature channels of a [B, T, F] input (one mask [B, 1, F] per batch), scaled by 1/(1-p), in
    training only."""

    def call(self, x, mask, training, rng):
        rate = float(self.config["p"])
        if not training or rng is None or rate <= 0.0:
            return x, mask
        shape = tf.shape(x)
        return x * dropout_mask(rng, tf.stack([shape[0], 1, shape[2]]), rate, x.dtype), mask


class Highway(Layer):
    """Keras 1 Highway on [B, F]: t = sigmoid(x W_carry + b_carry); y = activation(x W + b) * t + (1 - t) * x.
    Weights [W [F, F], W_carry [F, F], b [F], b_carry [F]] (b_carry starts at ``transform_bias``)."""

    def __init__(self, config: dict, features: int, rng: np.random.Generator):
        super().__init__(config)
        self.activation = get_activation(config["activation"])
        with self.name_scope:
            self.kernel = self.make_variable("kernel", initialize(config["init"], (features, features), rng),
                                             config["W_regularizer"])
            self.carry_kernel = self.make_variable("carry_kernel",
                                                   initialize(config["init"], (features, features), rng))
            self.bias = self.carry_bias = None
            if config["bias"]:
                self.bias = self.make_variable("bias", np.zeros(features, np.float32), config["b_regularizer"])
                self.carry_bias = self.make_variable(
                    "carry_bias", np.full(features, float(config["transform_bias"]), np.float32))

    def named_weights(self):
        weights = {"kernel": self.kernel, "carry_kernel": self.carry_kernel}
        if self.bias is not None:
            weights |= {"bias": self.bias, "carry_bias": self.carry_bias}
        return weights

    def call(self, x, mask, training, rng):
        carry = tf.matmul(x, self.read(self.carry_kernel))
        act = tf.matmul(x, self.read(self.kernel))
        if self.bias is not None:
            carry, act = carry + self.read(self.carry_bias), act + self.read(self.bias)
        transform = tf.sigmoid(carry)
        return self.activation(act) * transform + (1.0 - transform) * x, None


class MaxoutDense(Layer):
    """Keras 1 MaxoutDense on [B, F]: y = max_k (x W_k + b_k) over ``nb_feature`` linear pieces.
    Weights [W [K, F, out], b [K, out]]."""

    def __init__(self, config: dict, features: int, rng: np.random.Generator):
        super().__init__(config)
        pieces, units = config["nb_feature"], config["output_dim"]
        with self.name_scope:
            self.kernel = self.make_variable("kernel", initialize(config["init"], (pieces, features, units), rng),
                                             config["W_regularizer"])
            self.bias = (self.make_variable("bias", np.zeros((pieces, units), np.float32), config["b_regularizer"])
                         if config["bias"] else None)

    def named_weights(self):
        return {"kernel": self.kernel} | ({"bias": self.bias} if self.bias is not None else {})

    def call(self, x, mask, training, rng):
        y = tf.einsum("bf,kfo->bko", x, self.read(self.kernel))
        if self.bias is not None:
            y = y + self.read(self.bias)
        return tf.reduce_max(y, axis=1), None
