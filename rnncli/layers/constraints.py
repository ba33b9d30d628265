"""Keras weight constraints as projections, and the activity penalties layers collect during a step.

``project(w, constraint)`` is Keras 3's ``keras.constraints`` math (``keras/src/constraints/constraints.py``, the
same in Keras 1 and 2) for a validated constraint mapping (``rnncli.config.constraints``); the optimizer applies it
to a variable after each update (``rnncli.training.optimizers``). ``epsilon`` is Keras's 1e-7.

Activity regularizers: a layer's ``__call__`` appends its per-sample penalty ``[B]`` to the list opened by
``collect_activity()`` (the train and evaluation steps open one around the forward pass); with no list open
(prediction, export, serving) nothing is computed.
"""

from __future__ import annotations

import contextlib
import functools
import threading
from typing import Any, Callable, Iterator

import tensorflow as tf

EPSILON = 1e-7


def project(w: tf.Tensor, constraint: dict) -> tf.Tensor:
    """``w`` projected by ``constraint`` (same shape and dtype)."""
    name = constraint["name"]
    if name == "nonneg":
        return w * tf.cast(w >= 0.0, w.dtype)
    norms = tf.sqrt(tf.reduce_sum(tf.square(w), axis=constraint["axis"], keepdims=True))
    if name == "unitnorm":
        return w / (EPSILON + norms)
    if name == "maxnorm":
        desired = tf.clip_by_value(norms, 0.0, constraint["m"])
    else:  # min_max_norm
        rate = constraint["rate"]
        desired = rate * tf.clip_by_value(norms, constraint["min_value"], constraint["max_value"]) + (1 - rate) * norms
    return w * (desired / (EPSILON + norms))


def projections(layers: list[Any], variables: dict[str, tf.Variable]) -> dict[str, Callable]:
    """``{key: projection}`` for the trained ``variables`` (keyed by path) whose layer declares a constraint."""
    declared = {variable.ref(): constraint for layer in layers for variable, constraint in layer.constrained_variables()}
    return {key: functools.partial(project, constraint=declared[variable.ref()])
            for key, variable in variables.items() if variable.ref() in declared}


_COLLECTING = threading.local()


@contextlib.contextmanager
def collect_activity() -> Iterator[list[tuple[tf.Tensor, bool]]]:
    """Within the block, layers with an activity regularizer append ``(penalty per sample [B], batch_mean)``."""
    previous = getattr(_COLLECTING, "penalties", None)
    _COLLECTING.penalties = collected = []
    try:
        yield collected
    finally:
        _COLLECTING.penalties = previous


def record_activity(y: tf.Tensor, regularizer: dict) -> None:
    """Note ``y``'s penalty when a step collects them: l1 sum|y| + l2 sum(y^2) per sample, in float32."""
    collected = getattr(_COLLECTING, "penalties", None)
    if collected is None:
        return
    y = tf.cast(y, tf.float32)
    axes = list(range(1, y.shape.rank))
    penalty = tf.zeros(tf.shape(y)[:1])
    if regularizer["l1"]:
        penalty += regularizer["l1"] * tf.reduce_sum(tf.abs(y), axis=axes)
    if regularizer["l2"]:
        penalty += regularizer["l2"] * tf.reduce_sum(tf.square(y), axis=axes)
    collected.append((penalty, bool(regularizer["batch_mean"])))


def activity_penalty(collected: list[tuple[tf.Tensor, bool]], rows: tf.Tensor, samples: tf.Tensor) -> tf.Tensor:
    """The collected penalties over the real rows (``rows`` [B], 1 real / 0 padding): summed, or divided by
    ``samples`` (the number of real samples in the global batch) where ``batch_mean``."""
    total = tf.constant(0.0)
    for penalty, batch_mean in collected:
        summed = tf.reduce_sum(penalty * rows)
        total += tf.math.divide_no_nan(summed, samples) if batch_mean else summed
    return total
