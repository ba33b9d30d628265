"""Learning-rate schedules: the factors against Keras 3's schedules, the optimizer step, and located config errors."""

from __future__ import annotations

import textwrap
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf

from rnncli.config.validate import load_config
from rnncli.errors import ConfigError
from rnncli.training.optimizers import make_optimizer
from rnncli.training.schedules import schedule_factor

schedules = tf.keras.optimizers.schedules

CASES = [
    ({"name": "step", "every": 3, "drop": 0.5},
     schedules.ExponentialDecay(1.0, decay_steps=3, decay_rate=0.5, staircase=True)),
    ({"name": "exponential", "rate": 0.9, "every": 2, "staircase": False},
     schedules.ExponentialDecay(1.0, decay_steps=2, decay_rate=0.9)),
    ({"name": "exponential", "rate": 0.7, "every": 3, "staircase": True},
     schedules.ExponentialDecay(1.0, decay_steps=3, decay_rate=0.7, staircase=True)),
    ({"name": "cosine", "decay": 7, "alpha": 0.1, "warmup": 0, "warmup_from": 0.0},
     schedules.CosineDecay(1.0, decay_steps=7, alpha=0.1)),
    ({"name": "cosine", "decay": 6, "alpha": 0.0, "warmup": 4, "warmup_from": 0.25},
     schedules.CosineDecay(0.25, decay_steps=6, alpha=0.0, warmup_target=1.0, warmup_steps=4)),
    ({"name": "piecewise", "boundaries": [2, 5], "factors": [1.0, 0.5, 0.1]},
     schedules.PiecewiseConstantDecay([2, 5], [1.0, 0.5, 0.1])),
]


@pytest.mark.parametrize("settings,keras", CASES, ids=[c[0]["name"] for c in CASES])
def test_factors_match_keras3_schedules(settings: dict, keras) -> None:
    for position in range(16):
        ours = float(schedule_factor(settings, tf.constant(float(position), tf.float64)))
        assert ours == pytest.approx(float(keras(position)), rel=1e-6, abs=1e-7), position


@pytest.mark.parametrize("unit", ["step", "epoch"])
def test_sgd_step_uses_the_scheduled_rate_then_keras1_decay(unit: str) -> None:
    """w -= lr * factor(position) / (1 + decay * iterations) * g, with the position in steps or completed epochs."""
    settings = {"name": "step", "every": 2, "drop": 0.5, "unit": unit}
    w = tf.Variable([1.0], dtype=tf.float64)
    epochs = tf.Variable(0, dtype=tf.int64)
    opt = make_optimizer({"name": "sgd", "lr": 0.5, "decay": 0.01}, {"w": w}, settings, epochs)
    expected = 1.0
    for step in range(6):
        epochs.assign(step // 3)  # 3 steps per epoch
        position = step if unit == "step" else step // 3
        lr = 0.5 * 0.5 ** (position // 2) / (1 + 0.01 * step)
        assert opt.current_lr() == pytest.approx(lr, rel=1e-12)
        opt.apply_gradients({"w": tf.constant([1.0], tf.float64)})
        expected -= lr
        assert float(w.numpy()[0]) == pytest.approx(expected, rel=1e-12)


def write(tmp_path: Path, schedule: str) -> Path:
    path = tmp_path / "c.yaml"
    path.write_text(textwrap.dedent("""\
        model:
          layers:
            - {type: LSTM, output_dim: 2, input_shape: [3, 1]}
        training:
          loss: mse
          lr_schedule: %s
        """) % schedule)
    return path


@pytest.mark.parametrize("schedule,message,column", [
    ("{name: cosin, decay: 3}", "unknown schedule 'cosin' (did you mean `cosine`?)", 23),
    ("{name: cosine}", "missing required key `decay` for `cosine`", 23),
    ("{name: step, every: 0}", "training.lr_schedule.every must be", 36),
    ("{name: step, every: 2, dorp: 0.5}", "unknown key `dorp` for schedule `step` (did you mean `drop`?)", 39),
    ("{name: piecewise, boundaries: [3, 2], factors: [1, 0.5, 0.1]}", "boundaries must increase: 2 follows 3", 50),
    ("{name: piecewise, boundaries: [3], factors: [1, 0.5, 0.1]}", "factors needs 2 values", 60),
    ("cosine", "training.lr_schedule must be a mapping", 16),
])
def test_schedule_errors_are_located(tmp_path: Path, schedule: str, message: str, column: int) -> None:
    path = write(tmp_path, schedule)
    with pytest.raises(ConfigError) as info:
        load_config(path)
    texts = [str(d) for d in info.value.diagnostics]
    assert any(message in t and t.startswith(f"{path}:6:{column}:") for t in texts), texts


def test_schedule_defaults_are_resolved(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, "{name: cosine, decay: 10, warmup: 2}"))
    assert config.training["lr_schedule"] == {"name": "cosine", "decay": 10, "alpha": 0.0, "warmup": 2,
                                              "warmup_from": 0.0, "unit": "epoch"}
    assert config.training["restore_best_weights"] is False and config.training["log_every_n_batches"] == 0
    assert np.isclose(config.training["optimizer"]["lr"], 0.001)


@pytest.mark.parametrize("settings", [dict(c[0], unit=u) for c in CASES for u in ("step", "epoch")][::3] +
                         [dict(CASES[4][0], unit="step")], ids=lambda s: f"{s['name']}-{s['unit']}")
def test_compiled_steps_equal_eager_steps(settings: dict) -> None:
    """The schedule runs inside the XLA-compiled train step as it does eagerly (same float64 maths)."""
    results = []
    for compiled in (False, True):
        w = tf.Variable([1.0, -2.0])
        epochs = tf.Variable(0, dtype=tf.int64)
        opt = make_optimizer({"name": "adam", "lr": 0.1}, {"w": w}, settings, epochs)
        step = tf.function(opt.apply_gradients, jit_compile=True) if compiled else opt.apply_gradients
        for i in range(8):
            epochs.assign(i // 2)
            step({"w": tf.constant([0.5, 0.25])})
        results.append(w.numpy())
    np.testing.assert_allclose(results[0], results[1], rtol=1e-6)
