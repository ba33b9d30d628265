"""Constraints inside the compiled step (plain graph and XLA) and activity penalties of an rnncli config: the
projection follows the update, and ``batch_mean: false`` (Keras 1.2) adds the plain sum over the batch's real
samples."""

from __future__ import annotations

import textwrap

import numpy as np
import pytest
import tensorflow as tf

from rnncli.layers.constraints import project
from rnncli.training.optimizers import make_optimizer


@pytest.mark.parametrize("jit", [False, True])
def test_the_optimizer_projects_after_the_update(jit):
    w = tf.Variable([[3.0, 0.5], [4.0, -0.5]])
    maxnorm = {"name": "maxnorm", "m": 2.0, "axis": 0}
    opt = make_optimizer({"name": "sgd", "lr": 0.1}, {"w": w},
                         constraints={"w": lambda value: project(value, maxnorm)})
    grad = tf.constant([[1.0, 1.0], [1.0, 1.0]])
    tf.function(lambda: opt.apply_gradients({"w": grad}), jit_compile=jit)()
    updated = np.array([[2.9, 0.4], [3.9, -0.6]])
    norms = np.sqrt((updated ** 2).sum(axis=0, keepdims=True))
    expected = updated * np.minimum(norms, 2.0) / (1e-7 + norms)
    np.testing.assert_allclose(w.numpy(), expected, rtol=1e-6)
    assert abs(np.linalg.norm(w.numpy()[:, 0]) - 2.0) < 1e-5 and np.abs(w.numpy()[:, 1] - updated[:, 1]).max() < 1e-6


def test_constraints_for_unknown_variables_are_refused():
    with pytest.raises(ValueError, match="constraints given for unknown variables: 'v'"):
        make_optimizer("sgd", {"w": tf.Variable([1.0])}, constraints={"v": tf.identity})


def engine_for(tmp_path, dense: str, jit: str = "false"):
    from rnncli.config.validate import load_config
    from rnncli.training.loop import Engine

    path = tmp_path / "c.yaml"
    path.write_text(textwrap.dedent(f"""\
        seed: 1
        model:
          layers:
            - {{type: LSTM, output_dim: 3, input_shape: [4, 2], W_constraint: {{name: unitnorm}}}}
            - {{type: Dense, output_dim: 1, {dense}}}
        training: {{loss: mse, optimizer: {{name: sgd, lr: 0.5}}, batch_size: 5, jit_compile: "{jit}"}}
        """))
    return Engine(load_config(path))


@pytest.mark.parametrize("jit", ["false", "true"])
def test_the_compiled_train_step_leaves_the_kernel_projected(tmp_path, jit):
    engine = engine_for(tmp_path, "W_constraint: nonneg", jit)
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(5, 4, 2)).astype(np.float32), rng.normal(size=(5, 1)).astype(np.float32)
    lstm, dense = engine.model.layers
    assert np.abs(np.linalg.norm(lstm.get_weights()[0], axis=0) - 1).max() > 0.05  # not unit before the step
    engine._train_step(tf.constant(x), tf.constant(y), tf.ones([5]))
    np.testing.assert_allclose(np.linalg.norm(lstm.get_weights()[0], axis=0), 1.0, rtol=1e-5)
    assert dense.get_weights()[0].min() >= 0.0


def test_activity_sum_and_batch_mean(tmp_path):
    """Keras 1.2 (``batch_mean: false``) adds l2 * sum(y^2) over the samples; Keras 3 divides it by their
    number. Padding rows (weight 0) count in neither."""
    rng = np.random.default_rng(1)
    x, y = rng.normal(size=(5, 4, 2)).astype(np.float32), rng.normal(size=(5, 1)).astype(np.float32)
    plain = engine_for(tmp_path, "W_constraint: null")
    y_pred = plain.predict(x, 5)
    base = float(plain._eval_step(tf.constant(x), tf.constant(y), tf.ones([5]))[0])
    penalty = 0.3 * float(np.square(y_pred.astype(np.float64)).sum())
    for batch_mean, expected in ((False, penalty), (True, penalty / 5)):
        engine = engine_for(tmp_path, f"activity_regularizer: {{l2: 0.3, batch_mean: {str(batch_mean).lower()}}}")
        loss = float(engine._eval_step(tf.constant(x), tf.constant(y), tf.ones([5]))[0])
        assert loss - base == pytest.approx(expected, rel=1e-4, abs=1e-6 * max(1.0, abs(base)))
        assert expected > 1e-4
        padded_x, padded_y = np.concatenate([x, 10 * x[:2]]), np.concatenate([y, y[:2]])
        rows = tf.constant([1.0] * 5 + [0.0] * 2)
        padded = float(engine._eval_step(tf.constant(padded_x), tf.constant(padded_y), rows)[0])
        assert padded == pytest.approx(loss, rel=1e-5)
