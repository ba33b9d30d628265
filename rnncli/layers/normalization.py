"""BatchNormalization over the last axis (Keras 1 ``mode: 0``, Keras 2 and 3): [B, F] or [B, T, F] -> same shape.

Inference: ``y = gamma * (x - moving_mean) / sqrt(moving_variance + epsilon) + beta``. Training: the batch's mean
and (biased) variance over every axis but the last normalise the input, and the moving statistics follow
``moving = momentum * moving + (1 - momentum) * batch`` (Keras 1's ``moving_average_update``, Keras 2/3 alike).
Weights in Keras order: ``gamma`` [F] (when ``scale``), ``beta`` [F] (when ``center``), ``moving_mean`` [F],
``moving_variance`` [F] (Keras 1 calls it ``running_std``, but stores the variance); the moving statistics are not
trainable. No mask is accepted (Keras 1 refused one; the validator refuses such stacks).
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from rnncli.layers.base import Layer
from rnncli.layers.initializers import initialize


class BatchNormalization(Layer):
    """See the module docstring. ``features``: F, the size of the last input axis."""

    def __init__(self, config: dict, features: int, rng: np.random.Generator):
        super().__init__(config)
        self.epsilon = float(config["epsilon"])
        self.momentum = float(config["momentum"])
        with self.name_scope:
            self.gamma = (self.make_variable("gamma", initialize(config["gamma_init"], (features,), rng),
                                             config["gamma_regularizer"], config.get("gamma_constraint"))
                          if config["scale"] else None)
            self.beta = (self.make_variable("beta", initialize(config["beta_init"], (features,), rng),
                                            config["beta_regularizer"], config.get("beta_constraint"))
                         if config["center"] else None)
            self.moving_mean = tf.Variable(np.zeros(features, np.float32), trainable=False, name="moving_mean")
            self.moving_variance = tf.Variable(np.ones(features, np.float32), trainable=False,
                                               name="moving_variance")

    def named_weights(self):
        own = {"gamma": self.gamma, "beta": self.beta}
        return {k: v for k, v in own.items() if v is not None} | {"moving_mean": self.moving_mean,
                                                                  "moving_variance": self.moving_variance}

    def call(self, x, mask, training, rng):
        compute = x.dtype
        x = tf.cast(x, tf.float32)  # statistics in float32 under mixed_bfloat16 too (as Keras' mixed policies)
        if training:
            axes = list(range(x.shape.rank - 1))
            mean, variance = tf.nn.moments(x, axes)
            self.moving_mean.assign(self.moving_mean * self.momentum + mean * (1.0 - self.momentum))
            self.moving_variance.assign(self.moving_variance * self.momentum + variance * (1.0 - self.momentum))
        else:
            mean, variance = tf.convert_to_tensor(self.moving_mean), tf.convert_to_tensor(self.moving_variance)
        y = (x - mean) * tf.math.rsqrt(variance + self.epsilon)
        if self.gamma is not None:
            y = y * self.gamma
        if self.beta is not None:
            y = y + self.beta
        return tf.cast(y, compute), None
