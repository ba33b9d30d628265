"""Files written here by today's Keras 3 (``.keras`` archives and legacy ``.h5``) and by tf-keras 2.21 (Keras 2,
``.h5``), imported by rnncli: the predictions reproduce to 1e-5, and an imported Adam model's next training step
has the loss of the original framework's next ``train_on_batch``.

Models: Embedding(mask_zero) + LSTM + GRU(reset_after=False) + Dense; Masking + Bidirectional(GRU, reset_after) +
TimeDistributed(Dense); SimpleRNN + LSTM + Dense; Conv1D + BatchNormalization + MaxPooling1D + Conv1D +
LSTM + Dense. Each is trained three Adam steps first, so optimizer state exists.
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
MODELS = ("embedding_lstm_gru", "masked_bidirectional_reset_after", "simple_rnn_lstm", "conv_pool_lstm")
FORMATS = ("keras3.keras", "keras3.h5", "tf_keras.h5")


def build(lib, which: str):
    layers = lib.layers
    if which == "embedding_lstm_gru":
        first = [layers.Embedding(9, 4, mask_zero=True, input_length=T)] if lib is tf_keras else [
            keras.Input((T,)), layers.Embedding(9, 4, mask_zero=True)]
        body = [layers.LSTM(5, return_sequences=True), layers.GRU(4, reset_after=False), layers.Dense(2)]
    elif which == "masked_bidirectional_reset_after":
        first = [layers.Masking(input_shape=(T, D))] if lib is tf_keras else [keras.Input((T, D)), layers.Masking()]
        body = [layers.Bidirectional(layers.GRU(3, return_sequences=True, reset_after=True)),
                layers.TimeDistributed(layers.Dense(2))]
    elif which == "conv_pool_lstm":
        first = [layers.Conv1D(4, 3, padding="same", activation="relu", input_shape=(T + 1, D))] \
            if lib is tf_keras else [keras.Input((T + 1, D)), layers.Conv1D(4, 3, padding="same", activation="relu")]
        body = [layers.BatchNormalization(momentum=0.5), layers.MaxPooling1D(2), layers.Conv1D(3, 2, strides=1),
                layers.LSTM(3),
                layers.Dense(1)]
    else:
        first = [layers.SimpleRNN(4, return_sequences=True, input_shape=(T, D))] if lib is tf_keras else [
            keras.Input((T, D)), layers.SimpleRNN(4, return_sequences=True)]
        body = [layers.LSTM(3), layers.Dense(1, activation="tanh")]
    return lib.Sequential(first + body)


def data(which: str):
    rng = np.random.default_rng(MODELS.index(which))
    if which == "embedding_lstm_gru":
        x = rng.integers(1, 9, size=(N, T)).astype(np.int32)
        x[0, :2] = 0  # padding
        return x, rng.normal(size=(N, 2)).astype(np.float32)
    if which == "conv_pool_lstm":
        return rng.normal(size=(N, T + 1, D)).astype(np.float32), rng.normal(size=(N, 1)).astype(np.float32)
    x = rng.normal(size=(N, T, D)).astype(np.float32)
    if which == "masked_bidirectional_reset_after":
        x[1, -2:] = 0.0  # masked steps
        return x, rng.normal(size=(N, T, 2)).astype(np.float32)
    return x, rng.normal(size=(N, 1)).astype(np.float32)


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    """``{(model, format): (path, x, y, keras prediction, next two train_on_batch losses)}``, each model trained
    3 steps."""
    directory = tmp_path_factory.mktemp("keras_files")
    out = {}
    for which in MODELS:
        x, y = data(which)
        for lib, formats in ((keras, ("keras3.keras", "keras3.h5")), (tf_keras, ("tf_keras.h5",))):
            lib.utils.set_random_seed(0)
            model = build(lib, which)
            compile_args = {"jit_compile": False} if lib is keras else {}  # no XLA: it compiles for seconds
            model.compile(optimizer=lib.optimizers.Adam(0.01), loss="mse", run_eagerly=True, **compile_args)
            for _ in range(3):
                model.train_on_batch(x, y)
            prediction = np.asarray(model(x, training=False))
            paths = {}
            for fmt in formats:
                path = directory / f"{which}.{fmt}"
                model.save(str(path))
                paths[fmt] = path
            # the losses of the next two steps: before the 4th update (the saved weights), and after it (which
            # depends on the optimizer state carried over)
            next_loss = [float(np.asarray(model.train_on_batch(x, y))) for _ in range(2)]
            for fmt, path in paths.items():
                out[(which, fmt)] = (path, x, y, prediction, next_loss)
    return out


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("which", MODELS)
def test_predictions_reproduce(saved, which, fmt):
    from rnncli.commands.keras_import import build_imported_model

    path, x, _, expected, _ = saved[(which, fmt)]
    _, model = build_imported_model(path)
    y, _ = model(x)
    np.testing.assert_allclose(y.numpy(), expected, rtol=1e-5, atol=1e-5)
    assert np.abs(expected).max() > 1e-2


@pytest.mark.parametrize("fmt", FORMATS)
def test_resumed_adam_step_has_the_next_train_on_batch_loss(saved, tmp_path: Path, fmt):
    from click.testing import CliRunner

    from rnncli.cli.main import main
    from rnncli.commands.source import load_source

    which = "simple_rnn_lstm"
    path, x, y, _, next_loss = saved[(which, fmt)]
    np.savez(tmp_path / "data.npz", x=x, y=y)
    run = tmp_path / "run"
    runner = CliRunner()
    result = runner.invoke(main, ["import", str(path), "-o", str(run), "--set", f"data.train={tmp_path / 'data.npz'}",
                                  "--set", "training.nb_epoch=2", "--set", f"training.batch_size={N}",
                                  "--set", "training.shuffle=false", "--set", "training.jit_compile=false"])
    assert result.exit_code == 0, result.output
    assert "optimizer state (optimizer_weights) imported" in result.output, result.output
    engine = load_source(run).engine
    assert int(engine.optimizer.iterations.numpy()) == 3
    assert engine.optimizer.epsilon == pytest.approx(1e-7)
    trained = runner.invoke(main, ["train", str(run / "config.yaml"), "-o", str(run), "--resume", "--no-progress"])
    assert trained.exit_code == 0, trained.output
    import csv

    rows = list(csv.DictReader((run / "history.csv").open()))
    assert [float(row["loss"]) for row in rows] == pytest.approx(next_loss, rel=1e-5, abs=1e-6)


def test_fresh_slots_would_give_another_loss(saved, tmp_path: Path):
    """The comparison above can fail: the same import without its optimizer state trains to another loss."""
    from rnncli.commands.keras_import import build_imported_model

    import tensorflow as tf

    path, x, y, _, next_loss = saved[("simple_rnn_lstm", "keras3.keras")]
    _, model = build_imported_model(path)
    # one fresh-Adam step from the imported weights: its first update is lr * sign(g), far from the Keras step
    with tf.GradientTape() as tape:
        loss = tf.reduce_mean(tf.square(model(x)[0] - y))
    grads = tape.gradient(loss, model.trainable_variables)
    for variable, grad in zip(model.trainable_variables, grads):
        variable.assign_sub(0.01 * tf.sign(grad))
    after = float(tf.reduce_mean(tf.square(model(x)[0] - y)))
    assert abs(after - next_loss[1]) > 1e-4
