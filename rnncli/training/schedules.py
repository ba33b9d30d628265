"""Learning-rate schedules (``training.lr_schedule``) as factors of the optimizer's learning rate.

``schedule_factor(settings, position)`` is a pure function of the position (a float64 scalar counted from 0 in the
schedule's ``unit``: completed epochs or optimizer steps). The optimizer multiplies its ``lr`` variable by it on
every step (``rnncli.training.optimizers``), so the position lives in the checkpoint already (the loop's epoch
counter or the optimizer's ``iterations``) and a resumed run continues bit for bit. ``reduce_lr_on_plateau``
lowers the ``lr`` variable, so a plateau reduction and a schedule multiply.

The formulas are Keras 3's schedules with ``initial_learning_rate = 1``: ``step`` is
``ExponentialDecay(staircase=True)``, ``exponential`` is ``ExponentialDecay``, ``cosine`` is ``CosineDecay``
(warm-up from ``warmup_from`` to 1 over ``warmup``, then 1 to ``alpha`` over ``decay``), ``piecewise`` is
``PiecewiseConstantDecay`` (``factors[i]`` while ``boundaries[i-1] < position <= boundaries[i]``).

The warm-up of an epoch-based cosine schedule advances per step: ``within`` (the fraction of the current epoch's
steps done before the step) is added to the position during the warm-up, so no epoch is spent at ``warmup_from``
(0 by default: Keras' step formula at epoch granularity trained all of epoch 1 at lr 0); the decay still changes
between epochs.

>>> round(float(schedule_factor({"name": "step", "every": 2, "drop": 0.5}, tf.constant(5.0, tf.float64))), 4)
0.25
"""

from __future__ import annotations

import math

import tensorflow as tf


def schedule_factor(settings: dict, position: tf.Tensor, within: tf.Tensor | None = None) -> tf.Tensor:
    """The factor (float64 scalar) at ``position`` (float64 scalar, >= 0) of a resolved ``lr_schedule``;
    ``within`` (float64 in [0, 1)): the part of the current unit already done, used by a cosine warm-up only."""
    name = settings["name"]
    p = tf.cast(position, tf.float64)
    if name == "step":
        return tf.pow(tf.constant(settings["drop"], tf.float64), tf.floor(p / settings["every"]))
    if name == "exponential":
        exponent = p / settings["every"]
        if settings["staircase"]:
            exponent = tf.floor(exponent)
        return tf.pow(tf.constant(settings["rate"], tf.float64), exponent)
    if name == "cosine":
        return _cosine(settings, p, None if within is None else tf.cast(within, tf.float64))
    if name == "piecewise":
        boundaries = tf.constant(settings["boundaries"], tf.float64)
        factors = tf.constant(settings["factors"], tf.float64)
        index = tf.reduce_sum(tf.cast(p > boundaries, tf.int32))
        return tf.gather(factors, index)
    raise ValueError(f"unknown learning-rate schedule {name!r}")


def _cosine(settings: dict, p: tf.Tensor, within: tf.Tensor | None = None) -> tf.Tensor:
    decay, alpha, warmup = float(settings["decay"]), settings["alpha"], float(settings["warmup"])
    start = settings["warmup_from"]

    def cosine(steps: tf.Tensor) -> tf.Tensor:
        fraction = tf.minimum(steps, decay) / decay
        return (1.0 - alpha) * 0.5 * (1.0 + tf.cos(math.pi * fraction)) + alpha

    if warmup <= 0:
        return cosine(p)
    warm = start + (1.0 - start) * (p if within is None else p + within) / warmup
    return tf.where(p < warmup, warm, cosine(tf.maximum(p - warmup, 0.0)))


def warms_up_per_step(settings: dict | None) -> bool:
    """Whether the schedule needs the fraction of the epoch done (an epoch-based cosine with a warm-up)."""
    return bool(settings) and settings["name"] == "cosine" and settings["unit"] == "epoch" and settings["warmup"] > 0


def position_of(settings: dict, iterations: tf.Tensor, completed_epochs: tf.Tensor | None) -> tf.Tensor:
    """The schedule's position before a step: the optimizer's ``iterations`` (``unit: step``) or the completed
    epochs (``unit: epoch``; during epoch e, 1-based, that is e - 1)."""
    if settings["unit"] == "step":
        return tf.cast(iterations, tf.float64)
    if completed_epochs is None:
        raise ValueError("an epoch-based learning-rate schedule needs the loop's epoch counter")
    return tf.cast(completed_epochs, tf.float64)
