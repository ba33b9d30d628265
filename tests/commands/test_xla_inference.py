"""Evaluation and prediction compiled with XLA give what the uncompiled graph gives.

``Engine`` compiles its predict and eval steps under the same rule as the training step (``training.jit_compile``).
Two engines built from one config (same seed, so the same weights), one compiled and one not, must agree on a masked
sequence model with a padded last batch and on a stateful model, including the states that prediction carries and
evaluation restores.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import yaml

from rnncli.config.validate import load_config
from rnncli.data.dataset import Dataset
from rnncli.training.loop import Engine

T, D = 6, 3


def _engines(tmp_path: Path, layers: list[dict], loss: str, batch_size: int) -> tuple[Engine, Engine]:
    path = tmp_path / "model.yaml"
    path.write_text(yaml.safe_dump({
        "seed": 3, "model": {"layers": layers},
        "training": {"loss": loss, "optimizer": "rmsprop", "batch_size": batch_size, "shuffle": False,
                     "metrics": ["accuracy"] if loss == "categorical_crossentropy" else []},
    }))
    config = load_config(path)
    assert config.training is not None and config.training["batch_size"] == batch_size
    compiled, plain = Engine(config, jit_compile=True), Engine(config, jit_compile=False)
    assert compiled.predict_jit_compile is True and plain.predict_jit_compile is False
    assert compiled._predict_step._jit_compile and compiled._eval_step._jit_compile  # really compiled
    assert not plain._predict_step._jit_compile
    for key, variable in compiled.variables.items():
        np.testing.assert_array_equal(variable.numpy(), plain.variables[key].numpy())
    return compiled, plain


def test_masked_sequence_model_with_a_padded_last_batch(tmp_path):
    compiled, plain = _engines(tmp_path, [
        {"type": "Masking", "mask_value": 0.0, "input_shape": [T, D]},
        {"type": "LSTM", "output_dim": 5, "return_sequences": True, "consume_less": "cpu"},
        {"type": "GRU", "output_dim": 4, "go_backwards": True, "consume_less": "gpu"},
        {"type": "Dense", "output_dim": 3, "activation": "softmax"},
    ], "categorical_crossentropy", batch_size=3)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(7, T, D)).astype(np.float32)  # 7 = 3 + 3 + 1: the last batch is padded
    x[0, :2] = 0.0
    x[4, -3:] = 0.0
    y = np.eye(3, dtype=np.float32)[rng.integers(0, 3, 7)]
    np.testing.assert_allclose(compiled.predict(x, 3), plain.predict(x, 3), rtol=1e-5, atol=1e-6)
    assert compiled.predict(x, 3).shape == (7, 3)
    a, b = compiled.evaluate(Dataset(x, y, "v")), plain.evaluate(Dataset(x, y, "v"))
    assert a.keys() == b.keys() == {"loss", "acc"}
    assert a["loss"] == pytest.approx(b["loss"], rel=1e-5)
    assert a["acc"] == b["acc"]


def test_stateful_model_carries_and_restores_the_same_states(tmp_path):
    compiled, plain = _engines(tmp_path, [
        {"type": "GRU", "output_dim": 4, "batch_input_shape": [2, T, D], "stateful": True, "return_sequences": True},
        {"type": "LSTM", "output_dim": 3, "stateful": True},
    ], "mse", batch_size=2)
    rng = np.random.default_rng(1)
    first, second = (rng.normal(size=(4, T, D)).astype(np.float32) for _ in range(2))
    for chunk in (first, second):  # the second call starts from the states the first left behind
        np.testing.assert_allclose(compiled.predict(chunk, 2), plain.predict(chunk, 2), rtol=1e-5, atol=1e-6)
        for a, b in zip(compiled.model.state_variables, plain.model.state_variables):
            assert np.abs(a.numpy()).sum() > 0
            np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-5, atol=1e-6)
    before = [v.numpy() for v in compiled.model.state_variables]
    y = rng.normal(size=(4, 3)).astype(np.float32)
    a, b = compiled.evaluate(Dataset(first, y, "v")), plain.evaluate(Dataset(first, y, "v"))
    assert a["loss"] == pytest.approx(b["loss"], rel=1e-5)
    for saved, variable in zip(before, compiled.model.state_variables):
        np.testing.assert_array_equal(saved, variable.numpy())
