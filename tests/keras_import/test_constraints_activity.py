"""Keras constraints and activity regularizers, imported from files written here by Keras 3 (``.keras``) and
tf-keras 2.21 (``.h5``): one rnncli SGD step from the file's weights ends at the weights Keras 3's own
``train_on_batch`` reaches (the constraint projected after the update), and the step's loss includes the activity
penalty exactly as Keras computes it (divided by the batch size). Each comparison is checked to be able to fail:
the same step without the constraint (or the penalty) ends elsewhere.
"""

from __future__ import annotations

import os
from pathlib import Path

os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import numpy as np  # noqa: E402
import pytest  # noqa: E402

keras = pytest.importorskip("keras")
tf_keras = pytest.importorskip("tf_keras")

N, T, D = 6, 5, 3
LR = 0.1
KINDS = ("maxnorm", "nonneg", "unitnorm", "min_max_norm")
MODELS = ("lstm_dense", "embedding_gru_reset_after", "conv_bn_simple_rnn")


def constraint(lib, kind: str | None):
    if kind is None:
        return None
    c = lib.constraints
    return {"maxnorm": lambda: c.MaxNorm(0.4), "nonneg": c.NonNeg, "unitnorm": c.UnitNorm,
            "min_max_norm": lambda: c.MinMaxNorm(0.3, 0.5, rate=0.7)}[kind]()


def build(lib, which: str, kind: str | None, activity: bool = False):
    """``which`` with every weight of every layer constrained by ``kind`` (None: unconstrained)."""
    layers = lib.layers

    def weights(*keys):
        return {f"{key}_constraint": constraint(lib, kind) for key in keys}

    def act(amount):
        return {"activity_regularizer": lib.regularizers.L1L2(l1=amount, l2=amount / 2)} if activity else {}

    recurrent = weights("kernel", "recurrent", "bias")
    if which == "lstm_dense":
        shape, body = (T, D), [layers.LSTM(4, return_sequences=True, **recurrent, **act(0.05)),
                               layers.LSTM(3, **recurrent, **act(0.1)),
                               layers.Dense(2, **weights("kernel", "bias"), **act(0.2))]
    elif which == "embedding_gru_reset_after":
        shape, body = (T,), [layers.Embedding(9, 4, **weights("embeddings"), **act(0.1)),
                             layers.GRU(3, reset_after=True, **recurrent, **act(0.1)), layers.Dense(1)]
    else:
        shape, body = (T + 1, D), [layers.Conv1D(4, 2, **weights("kernel", "bias"), **act(0.1)),
                                   layers.BatchNormalization(**weights("gamma", "beta")),
                                   layers.SimpleRNN(3, **recurrent), layers.Dense(1)]
    if lib is tf_keras:
        model = lib.Sequential([layers.InputLayer(input_shape=shape)] + body)
    else:
        model = lib.Sequential([keras.Input(shape)] + body)
    model.compile(optimizer=lib.optimizers.SGD(LR), loss="mse", run_eagerly=True,
                  **({"jit_compile": False} if lib is keras else {}))
    return model


def data(which: str):
    rng = np.random.default_rng(MODELS.index(which))
    if which == "embedding_gru_reset_after":
        x = rng.integers(0, 9, size=(N, T)).astype(np.int32)
    else:
        x = rng.normal(size=(N, T + (which == "conv_bn_simple_rnn"), D)).astype(np.float32)
    y = rng.normal(size=(N, 2 if which == "lstm_dense" else 1)).astype(np.float32)
    return x, y


def random_weights(model, seed: int = 0) -> list[np.ndarray]:
    """Weights of moderate size, biases included, so every constraint bites (variances positive)."""
    rng = np.random.default_rng(seed)
    return [rng.uniform(0.5, 1.5, v.shape).astype(np.float32) if "variance" in v.name
            else (0.6 * rng.normal(size=v.shape)).astype(np.float32) for v in model.weights]


def keras_step(lib, which: str, kind: str | None, start: list[np.ndarray], activity: bool = False):
    """(loss of the step, weights after one train_on_batch) of ``which`` from ``start``."""
    model = build(lib, which, kind, activity)
    model.set_weights(start)
    x, y = data(which)
    loss = float(np.asarray(model.train_on_batch(x, y)))
    return loss, model.get_weights()


def rnncli_step(path: Path, which: str, tmp_path: Path):
    """(loss, weights after one step, engine) of ``rnncli import`` of ``path`` and one training step."""
    import tensorflow as tf
    from click.testing import CliRunner

    from rnncli.cli.main import main
    from rnncli.commands.source import load_source

    x, y = data(which)
    np.savez(tmp_path / "data.npz", x=x, y=y)
    run = tmp_path / "run"
    result = CliRunner().invoke(main, ["import", str(path), "-o", str(run), "--set",
                                       f"data.train={tmp_path / 'data.npz'}", "--set", f"training.batch_size={N}",
                                       "--set", "training.shuffle=false", "--set", "training.jit_compile=false"])
    assert result.exit_code == 0, result.output
    engine = load_source(run).engine
    loss, _ = engine._train_step(tf.constant(x), tf.constant(y), tf.ones([N]))
    return float(loss), [w for layer in engine.model.layers for w in layer.get_weights()], engine


def saved_file(lib, which: str, kind: str | None, tmp_path: Path, activity: bool = False):
    model = build(lib, which, kind, activity)
    start = random_weights(model)
    model.set_weights(start)
    path = tmp_path / (f"{which}.keras" if lib is keras else f"{which}.h5")
    model.save(str(path))
    return path, start


def assert_same_weights(actual: list[np.ndarray], expected: list[np.ndarray]) -> None:
    assert [a.shape for a in actual] == [e.shape for e in expected]
    for a, e in zip(actual, expected):
        np.testing.assert_allclose(a, e, rtol=1e-5, atol=1e-6 * max(1.0, float(np.abs(e).max())))


def largest_difference(a: list[np.ndarray], b: list[np.ndarray]) -> float:
    return max(float(np.abs(x - y).max()) for x, y in zip(a, b))


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("which", MODELS)
def test_keras3_constrained_step(tmp_path, which, kind):
    path, start = saved_file(keras, which, kind, tmp_path)
    _, expected = keras_step(keras, which, kind, start)
    _, unconstrained = keras_step(keras, which, None, start)
    assert largest_difference(expected, unconstrained) > 1e-2  # the constraints change the step
    _, actual, engine = rnncli_step(path, which, tmp_path)
    assert engine.optimizer._refs.constraints  # carried by the import
    assert_same_weights(actual, expected)


@pytest.mark.parametrize("kind", KINDS)
def test_tf_keras_constrained_step(tmp_path, kind):
    which = "lstm_dense"
    path, start = saved_file(tf_keras, which, kind, tmp_path)
    _, expected = keras_step(keras, which, kind, start)  # Keras 3's step: the same math as tf-keras'
    _, tf_expected = keras_step(tf_keras, which, kind, start)
    assert_same_weights(tf_expected, expected)
    _, actual, _ = rnncli_step(path, which, tmp_path)
    assert_same_weights(actual, expected)


@pytest.mark.parametrize("lib", (keras, tf_keras), ids=("keras3", "tf_keras"))
@pytest.mark.parametrize("which", MODELS)
def test_activity_regularizer_loss_and_step(tmp_path, lib, which):
    path, start = saved_file(lib, which, None, tmp_path, activity=True)
    loss, expected = keras_step(lib, which, None, start, activity=True)
    plain_loss, plain = keras_step(lib, which, None, start)
    assert loss - plain_loss > 1e-2 and largest_difference(expected, plain) > 1e-3  # the penalty counts
    actual_loss, actual, _ = rnncli_step(path, which, tmp_path)
    assert actual_loss == pytest.approx(loss, rel=1e-5)
    assert_same_weights(actual, expected)


def test_cudnn_constraints_are_refused(tmp_path):
    """CuDNN weights are re-laid out at import (biases summed, kernel blocks reordered): a norm of the stored array
    is not one of rnncli's, so their constraints are refused in one line."""
    import json

    from rnncli.config.validate import load_config
    from rnncli.errors import ConfigError

    layer = {"class_name": "CuDNNLSTM", "config": {"name": "cu_dnnlstm_1", "units": 3, "batch_input_shape": [None, 5, 2],
                                                   "bias_constraint": {"class_name": "MaxNorm", "config": {}}}}
    path = tmp_path / "m.json"
    path.write_text(json.dumps({"class_name": "Sequential", "keras_version": "2.2.4", "config": [layer]}))
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert "(CuDNNLSTM) has `bias_constraint`, which rnncli does not support on this layer" in str(info.value)


def test_activity_penalty_ignores_padding_rows(tmp_path):
    """A short last batch is padded with zero-weight rows; their outputs add no penalty, and the batch mean counts
    the real samples only: the evaluation loss is the same with and without padding."""
    from rnncli.data.dataset import Dataset

    path, _ = saved_file(keras, "lstm_dense", None, tmp_path, activity=True)
    _, _, engine = rnncli_step(path, "lstm_dense", tmp_path)
    x, y = data("lstm_dense")
    exact = engine.evaluate(Dataset(x, y, "exact"))["loss"]
    engine.training["batch_size"] = N + 3
    padded = engine.evaluate(Dataset(x, y, "padded"))["loss"]
    assert padded == pytest.approx(exact, rel=1e-6)
