"""The layer protocol shared by every rnncli layer, and the small helpers they reuse.

Every layer is a ``tf.Module`` whose variables are created in ``__init__`` from the shapes the config plan inferred
(so optimizers and checkpoints see every variable before the first step), and whose ``call`` maps
``(x, mask, training, rng) -> (y, mask)``: masks are ``(B, T)`` bool tensors or None. A layer names its own weights
(``named_weights``) and the layers it wraps (``children``), so the model walks layers without knowing wrappers.

Precision: variables are always float32. A layer computes in ``compute_dtype`` (float32, or bfloat16 under
``training.precision: mixed_bfloat16``): ``__call__`` casts a floating input to it, and ``read`` casts a variable to
it where the layer uses it (the gradient flows back to the float32 variable through the cast).

Constraints and activity regularizers (``rnncli.layers.constraints``): ``make_variable`` records a variable's
constraint (``constrained_variables``, applied by the optimizer after each update); ``__call__`` records the
output's activity penalty while a step collects them.
"""

from __future__ import annotations

import re
from typing import Any, ClassVar

import numpy as np
import tensorflow as tf

from rnncli.layers.constraints import record_activity


def module_name(name: str) -> str:
    """A valid ``tf.Module`` name for a user's layer name."""
    cleaned = re.sub(r"\W", "_", name)
    return cleaned if cleaned and not cleaned[0].isdigit() else f"layer_{cleaned}"


class Layer(tf.Module):
    """Base class: variables, regularizers, Keras 1 weight lists."""

    casts_input: ClassVar[bool] = True  # False: the input keeps its dtype (Embedding's ids, Masking's comparison)

    def __init__(self, config: dict):
        super().__init__(name=module_name(config["name"]))
        self.config = config
        self.layer_name: str = config["name"]
        self.trainable: bool = bool(config.get("trainable", True))
        self._regularized: list[tuple[tf.Variable, dict]] = []
        self._constrained: list[tuple[tf.Variable, dict]] = []
        self.activity_regularizer: dict | None = config.get("activity_regularizer")
        self.compute_dtype: tf.DType = tf.float32

    def call(self, x: tf.Tensor, mask: tf.Tensor | None, training: bool, rng: tf.random.Generator | None
             ) -> tuple[tf.Tensor, tf.Tensor | None]:
        raise NotImplementedError

    def __call__(self, x: tf.Tensor, mask: tf.Tensor | None = None, training: bool = False,
                 rng: tf.random.Generator | None = None) -> tuple[tf.Tensor, tf.Tensor | None]:
        y, mask = self.call(self.cast_input(x) if self.casts_input else x, mask, training, rng)
        if self.activity_regularizer:
            record_activity(y, self.activity_regularizer)
        return y, mask

    def set_compute_dtype(self, dtype: tf.DType) -> None:
        """Compute in ``dtype`` (float32 or bfloat16), this layer and every layer it wraps; variables stay float32."""
        for layer in self.walk():
            layer.compute_dtype = dtype

    def cast_input(self, x: tf.Tensor) -> tf.Tensor:
        """A floating ``x`` in the compute dtype (integer inputs unchanged)."""
        x = tf.convert_to_tensor(x)
        return tf.cast(x, self.compute_dtype) if x.dtype.is_floating and x.dtype != self.compute_dtype else x

    def read(self, variable: tf.Variable) -> tf.Tensor:
        """The value of one of this layer's float32 variables in the compute dtype (same shape)."""
        value = tf.convert_to_tensor(variable)
        return value if value.dtype == self.compute_dtype else tf.cast(value, self.compute_dtype)

    def make_variable(self, name: str, value: np.ndarray, regularizer: dict | None = None,
                      constraint: dict | None = None) -> tf.Variable:
        variable = tf.Variable(value.astype(np.float32), name=name, trainable=self.trainable)
        if regularizer and (regularizer.get("l1") or regularizer.get("l2")):
            self._regularized.append((variable, regularizer))
        if constraint:
            self._constrained.append((variable, constraint))
        return variable

    def constrained_variables(self) -> list[tuple[tf.Variable, dict]]:
        """(variable, constraint) of this layer and every layer it wraps."""
        return [pair for layer in self.walk() for pair in layer._constrained]

    def regularization_loss(self) -> tf.Tensor:
        """Sum of l1*sum|w| + l2*sum(w^2) over the regularized variables (a scalar)."""
        total = tf.constant(0.0)
        for variable, reg in self._regularized:
            if reg.get("l1"):
                total += reg["l1"] * tf.reduce_sum(tf.abs(variable))
            if reg.get("l2"):
                total += reg["l2"] * tf.reduce_sum(tf.square(variable))
        return total

    def named_weights(self) -> dict[str, tf.Variable]:
        """This layer's own weights by role (``kernel``, ``recurrent_kernel``, ``bias``, ``embeddings``), in Keras 1
        weight-list order. The names key optimizer slots in checkpoints, so they never change."""
        return {}

    def children(self) -> dict[str, "Layer"]:
        """The layers this one wraps, by role (``inner``; ``forward`` and ``backward``); empty for plain layers."""
        return {}

    def walk(self) -> list["Layer"]:
        """This layer, then every layer it wraps (depth first, in ``children`` order)."""
        return [self] + [layer for child in self.children().values() for layer in child.walk()]

    def weight_variables(self) -> list[tf.Variable]:
        """The variables in Keras 1 weight-list order (fused layout for recurrent layers): this layer's own, then
        those of the layers it wraps (a Bidirectional's list is forward + backward)."""
        return list(self.named_weights().values()) + [
            variable for child in self.children().values() for variable in child.weight_variables()]

    def get_weights(self) -> list[np.ndarray]:
        return [v.numpy() for v in self.weight_variables()]

    def set_weights(self, arrays: list[Any]) -> None:
        variables = self.weight_variables()
        if len(arrays) != len(variables):
            raise ValueError(f"layer `{self.layer_name}` expects {len(variables)} arrays, got {len(arrays)}")
        for index, (variable, array) in enumerate(zip(variables, arrays)):
            if tuple(variable.shape) != tuple(np.shape(array)):
                raise ValueError(f"layer `{self.layer_name}`: array {index} has shape {tuple(np.shape(array))}, "
                                 f"expected {tuple(variable.shape)}")
            variable.assign(np.asarray(array, dtype=np.float32))

    @property
    def state_variables(self) -> list[tf.Variable]:
        return []

    def reset_states(self) -> None:
        for variable in self.state_variables:
            variable.assign(tf.zeros_like(variable))


def dropout_mask(rng: tf.random.Generator, shape: Any, rate: float, dtype: tf.DType = tf.float32) -> tf.Tensor:
    """Inverted-dropout multiplier of ``shape`` in ``dtype``: 0 with probability ``rate``, else 1/(1-rate). The
    draw is float32 whatever ``dtype``, so both precisions drop the same units."""
    keep = tf.cast(rng.uniform(shape) >= rate, tf.float32)
    return tf.cast(keep / (1.0 - rate), dtype)


def as_float32(y: tf.Tensor) -> tf.Tensor:
    """A model's output in float32 (a bfloat16 computation's output widened; float32 unchanged)."""
    return tf.cast(y, tf.float32) if y.dtype == tf.bfloat16 else y
