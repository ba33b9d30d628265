"""Keras 1 temporal convolution and pooling: Convolution1D, Max/AveragePooling1D, Global{Max,Average}Pooling1D.

Shapes: B batch, T timesteps, D input features, F filters, L filter length. None of these layers accepts a mask
(Keras 1 refused one; the validator refuses such stacks before anything is built).
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from rnncli.layers.activations import get_activation
from rnncli.layers.base import Layer
from rnncli.layers.initializers import initialize


class Convolution1D(Layer):
    """y = activation(conv1d(x, W) + b): [B, T, D] -> [B, T', F]; T' = ceil((T - L + 1) / s) (valid) or ceil(T / s)
    (same, TensorFlow's SAME padding as Keras 1's TensorFlow backend).

    W is stored [L, D, F]; ``set_weights`` also takes Keras 1.1+'s [L, 1, D, F] and Keras 1.0's [F, D, L, 1].
    The kernel is drawn as an (L*D, F) matrix (fan_in L*D, fan_out F), the fans Keras 1 meant for a conv kernel.
    """

    def __init__(self, config: dict, input_dim: int, rng: np.random.Generator):
        super().__init__(config)
        length, filters = config["filter_length"], config["nb_filter"]
        self.activation = get_activation(config["activation"])
        self.stride = int(config["subsample_length"])
        self.padding = "VALID" if config["border_mode"] == "valid" else "SAME"
        kernel = initialize(config["init"], (length * input_dim, filters), rng).reshape(length, input_dim, filters)
        with self.name_scope:
            self.kernel = self.make_variable("kernel", kernel, config["W_regularizer"], config.get("W_constraint"))
            self.bias = (self.make_variable("bias", np.zeros(filters, np.float32), config["b_regularizer"],
                                            config.get("b_constraint")) if config["bias"] else None)

    def named_weights(self):
        return {"kernel": self.kernel} | ({"bias": self.bias} if self.bias is not None else {})

    def keras1_kernel(self, kernel: np.ndarray) -> np.ndarray:
        """A Keras 1 kernel, [L, 1, D, F] (1.1+) or [F, D, L, 1] (1.0.x), as rnncli's [L, D, F] (others unchanged)."""
        kernel = np.asarray(kernel)
        length, features, filters = self.kernel.shape
        if kernel.shape == (length, 1, features, filters):
            return kernel[:, 0]
        if kernel.shape == (filters, features, length, 1):
            return np.transpose(kernel[..., 0], (2, 1, 0))
        return kernel

    def set_weights(self, arrays):
        arrays = list(arrays)
        if arrays:
            arrays[0] = self.keras1_kernel(arrays[0])
        super().set_weights(arrays)

    def call(self, x, mask, training, rng):
        y = tf.nn.conv1d(x, self.read(self.kernel), stride=self.stride, padding=self.padding)
        if self.bias is not None:
            y = y + self.read(self.bias)
        return self.activation(y), None


class _Pooling1D(Layer):
    """[B, T, F] -> [B, T', F] over windows of ``pool_length`` with ``stride`` (default: ``pool_length``).

    Written as ``window`` strided slices reduced together rather than ``tf.nn.max_pool1d``: TensorFlow has no
    deterministic XLA gradient for MaxPool, and rnncli trains with op determinism and XLA. ``same`` pads like
    TensorFlow's SAME (the extra step at the end); padded positions never win a max nor count in a mean.
    """

    reduce = "max"

    def call(self, x, mask, training, rng):
        window = int(self.config["pool_length"])
        stride = int(self.config["stride"] or window)
        x = tf.convert_to_tensor(x)
        steps = tf.shape(x)[1]
        valid = tf.ones_like(x[:, :, :1])
        if self.config["border_mode"] == "same":
            out = (steps + stride - 1) // stride
            total = tf.maximum((out - 1) * stride + window - steps, 0)
            padding = [[0, 0], [total // 2, total - total // 2], [0, 0]]
            fill = x.dtype.min if self.reduce == "max" else 0.0
            x = tf.pad(x, padding, constant_values=fill)
            valid = tf.pad(valid, padding)
        else:
            out = (steps - window) // stride + 1
        span = (out - 1) * stride + 1
        windows = tf.stack([x[:, k:k + span:stride] for k in range(window)], axis=2)  # [B, T', window, F]
        if self.reduce == "max":
            return tf.reduce_max(windows, axis=2), None
        counts = tf.add_n([valid[:, k:k + span:stride] for k in range(window)])
        return tf.reduce_sum(windows, axis=2) / counts, None


class MaxPooling1D(_Pooling1D):
    reduce = "max"


class AveragePooling1D(_Pooling1D):
    """Mean over each window; with ``same`` padding the padded positions are not counted (as TensorFlow's)."""

    reduce = "mean"


class GlobalMaxPooling1D(Layer):
    """[B, T, F] -> [B, F]: max over time."""

    def call(self, x, mask, training, rng):
        return tf.reduce_max(x, axis=1), None


class GlobalAveragePooling1D(Layer):
    """[B, T, F] -> [B, F]: mean over time."""

    def call(self, x, mask, training, rng):
        return tf.reduce_mean(x, axis=1), None
