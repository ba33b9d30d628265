"""Dynamic loss scaling of --mixed-precision, checked on the CPU in float32 (the float16 rewrite needs a GPU)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import tensorflow as tf

from rnncli.config.validate import load_config
from rnncli.data.dataset import Dataset
from rnncli.training.hooks import HookList
from rnncli.training.loop import Engine


def engines(regression: Path) -> tuple[Engine, Engine, Dataset]:
    config = load_config(regression, require_training=True)
    data = np.load(regression.parent / "train.npz")
    return Engine(config), Engine(config, loss_scaling=True), Dataset(data["x"], data["y"], "train")


def test_scaled_training_equals_unscaled(regression: Path) -> None:
    """A power-of-two scale is exact in float32: same losses and weights as without scaling."""
    plain, scaled, data = engines(regression)
    a = plain.run_epoch(data, HookList(), 1, 1)
    b = scaled.run_epoch(data, HookList(), 1, 1)
    assert abs(a["loss"] - b["loss"]) <= 1e-6 * abs(a["loss"])
    for key, variable in plain.variables.items():
        np.testing.assert_allclose(variable.numpy(), scaled.variables[key].numpy(), rtol=1e-5, atol=1e-6)
    assert scaled.jit_compile is False


def test_overflow_skips_the_step_and_halves_the_scale(regression: Path) -> None:
    _, scaled, data = engines(regression)
    scaled.loop.loss_scale.assign(3e38)  # the scaled loss overflows to inf: gradients are not finite
    before = {k: v.numpy().copy() for k, v in scaled.variables.items()}
    x, y = tf.constant(data.x[:16]), tf.constant(data.y[:16] * 1e6)  # a loss of ~1e12 times 3e38 overflows
    scaled._train_step(x, y, tf.ones(16))
    assert float(scaled.loop.loss_scale.numpy()) == np.float32(3e38) / 2
    assert int(scaled.optimizer.iterations.numpy()) == 0
    for key, value in before.items():
        np.testing.assert_array_equal(scaled.variables[key].numpy(), value)
    scaled.loop.loss_scale.assign(1024.0)
    scaled._train_step(x, y, tf.ones(16))
    assert int(scaled.optimizer.iterations.numpy()) == 1 and int(scaled.loop.good_steps.numpy()) == 1
