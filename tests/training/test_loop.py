"""The training engine's loss and the epoch loop."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from rnncli.config.validate import load_config
from rnncli.training.loop import Engine


def test_engine_loss_is_keras1_masked_objective(regression: Path) -> None:
    """The engine's sum/count form equals Keras 1 `weighted_objective` (loss *= mask / mean(mask)), and padding
    rows (weight 0) leave the value of the real rows unchanged."""
    import tensorflow as tf

    from rnncli.training.losses import weighted_loss

    engine = Engine(load_config(regression, require_training=True))
    rng = np.random.default_rng(0)
    y, y_pred = (tf.constant(rng.normal(size=(4, 6, 3)), tf.float32) for _ in range(2))
    mask = tf.constant(rng.random((4, 6)) > 0.3)
    loss_sum, count, _ = engine._sums(y, y_pred, mask, tf.ones(4))
    expected = weighted_loss("mse", y, y_pred, mask).numpy()
    assert float(loss_sum / count) == pytest.approx(float(expected), rel=1e-6)
    padded = [tf.concat([t, tf.zeros_like(t[:2])], 0) for t in (y, y_pred)]
    padded_mask = tf.concat([mask, tf.ones_like(mask[:2])], 0)
    loss_sum, count, _ = engine._sums(*padded, padded_mask, tf.constant([1.0, 1, 1, 1, 0, 0]))
    assert float(loss_sum / count) == pytest.approx(float(expected), rel=1e-6)
