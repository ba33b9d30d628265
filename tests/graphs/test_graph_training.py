"""Training graphs with several inputs and outputs: Keras 1 ``compile`` semantics (per-output losses and metrics,
``loss_weights``) against numpy and a Keras 3 gradient, Keras 1 history names, and the commands (train, resume,
predict to a named .npz, evaluate) on named .npz data."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf
import yaml
from click.testing import CliRunner

from rnncli.cli.main import main
from rnncli.config.validate import load_config
from rnncli.data.graph_sets import GraphDataset
from rnncli.errors import ConfigError
from rnncli.training.graph_loop import GraphEngine, make_engine
from rnncli.training.hooks import HookList

N, T, D = 12, 5, 3
EPS = 1e-7  # Keras 1 epsilon (binary_crossentropy clips predictions to [eps, 1 - eps])


def _model() -> dict:
    return {
        "inputs": {"history": {"shape": [T, D]}, "static": {"shape": [2]}},
        "layers": [
            {"type": "GRU", "name": "enc", "output_dim": 4, "input": "history", "inner_activation": "sigmoid"},
            {"type": "Dense", "name": "feat", "output_dim": 3, "activation": "tanh", "input": "static"},
            {"type": "Concatenate", "name": "both", "inputs": ["enc", "feat"]},
            {"type": "Dense", "name": "out", "output_dim": 2},
            {"type": "Dense", "name": "flag", "output_dim": 1, "activation": "sigmoid", "input": "both"},
        ],
        "outputs": ["out", "flag"]}


def _arrays(seed: int = 0) -> dict:
    rng = np.random.default_rng(seed)
    history = rng.normal(size=(N, T, D)).astype(np.float32)
    static = rng.normal(size=(N, 2)).astype(np.float32)
    return {"history": history, "static": static,
            "out": np.stack([history.sum((1, 2)) * 0.1, static[:, 0]], 1).astype(np.float32),
            "flag": (static[:, 1:] > 0).astype(np.float32)}


def _write(tmp_path: Path, training: dict, data: dict | None = None) -> Path:
    np.savez(tmp_path / "train.npz", **_arrays())
    path = tmp_path / "graph.yaml"
    path.write_text(yaml.safe_dump({"seed": 2, "model": _model(), "data": data or {"train": "train.npz"},
                                    "training": training}, sort_keys=False))
    return path


def _numpy_losses(pred: dict, arrays: dict) -> tuple[float, float]:
    mse = float(np.mean((pred["out"] - arrays["out"]) ** 2))
    p = np.clip(pred["flag"], EPS, 1 - EPS)
    y = arrays["flag"]
    bce = float(np.mean(-(y * np.log(p) + (1 - y) * np.log(1 - p))))
    return mse, bce


def test_weighted_loss_and_one_sgd_step_follow_keras1_compile(tmp_path, keras_oracle):
    path = _write(tmp_path, {"loss": {"out": "mse", "flag": "binary_crossentropy"}, "metrics": {"flag": ["acc"]},
                             "loss_weights": {"out": 0.3, "flag": 2.0}, "batch_size": N, "shuffle": False,
                             "optimizer": {"name": "sgd", "lr": 0.1}, "nb_epoch": 1})
    config = load_config(path)
    engine = make_engine(config, jit_compile=False)
    assert isinstance(engine, GraphEngine)
    arrays = _arrays()
    data = GraphDataset({k: arrays[k] for k in ("history", "static")}, {k: arrays[k] for k in ("out", "flag")}, "t")
    before = engine.predict(data.x, N)
    mse, bce = _numpy_losses(before, arrays)
    expected = 0.3 * mse + 2.0 * bce
    evaluated = engine.evaluate(data)
    assert list(evaluated) == ["loss", "out_loss", "flag_loss", "flag_acc"]
    np.testing.assert_allclose([evaluated["loss"], evaluated["out_loss"], evaluated["flag_loss"]],
                               [expected, mse, bce], rtol=1e-5)
    accuracy = float(np.mean((before["flag"] > 0.5) == (arrays["flag"] > 0.5)))
    assert evaluated["flag_acc"] == pytest.approx(accuracy)

    # the gradient of the same weighted loss, from a Keras 3 rebuild with the same weights
    keras_model, layers = keras_oracle(config.model, engine.model)
    weights = [w.value for layer in engine.model.layers if layer.weight_variables()
               for w in layers[layer.layer_name].trainable_weights]
    with tf.GradientTape() as tape:
        out, flag = keras_model([arrays["history"], arrays["static"]])
        p = tf.clip_by_value(flag, EPS, 1 - EPS)
        keras_bce = tf.reduce_mean(-(arrays["flag"] * tf.math.log(p) + (1 - arrays["flag"]) * tf.math.log(1 - p)))
        total = 0.3 * tf.reduce_mean(tf.square(out - arrays["out"])) + 2.0 * keras_bce
    grads = tape.gradient(total, weights)
    old = [v.numpy() for layer in engine.model.layers for v in layer.weight_variables()]
    logs = engine.run_epoch(data, HookList([]), 1, 1)
    assert logs["loss"] == pytest.approx(expected, rel=1e-5)  # the step reports the loss before its update
    new = [v.numpy() for layer in engine.model.layers for v in layer.weight_variables()]
    for o, n, g in zip(old, new, grads):
        np.testing.assert_allclose(n, o - 0.1 * g.numpy(), rtol=1e-4, atol=1e-6)


def test_training_section_checks_per_output_keys(tmp_path):
    path = _write(tmp_path, {"loss": {"out": "mse", "flga": "binary_crossentropy"}, "loss_weights": [1.0]})
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    messages = [d.message for d in caught.value.diagnostics]
    assert "training.loss: no output named `flga` (did you mean `flag`?); the outputs are out, flag" in messages
    assert "training.loss: no loss for output flag" in messages
    assert "training.loss_weights has 1 entries for 2 outputs (out, flag)" in messages
    path = _write(tmp_path, {"loss": {"out": "mse", "flag": "binary_crossentropie"}})
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert any("unknown loss 'binary_crossentropie' for output `flag` (did you mean `binary_crossentropy`?)"
               in d.message for d in caught.value.diagnostics)


def test_train_resume_predict_and_evaluate_by_name(tmp_path):
    path = _write(tmp_path, {"loss": "mse", "metrics": {"flag": ["binary_accuracy"]}, "batch_size": 5,
                             "nb_epoch": 2}, {"train": "train.npz", "validation_split": 0.25})
    run = tmp_path / "run"
    runner = CliRunner()
    result = runner.invoke(main, ["train", str(path), "-o", str(run), "--no-progress"])
    assert result.exit_code == 0, result.output
    with open(run / "history.csv") as handle:
        header = next(csv.reader(handle))
    assert header[:4] == ["epoch", "loss", "out_loss", "flag_loss"]
    assert {"flag_binary_accuracy", "val_loss", "val_out_loss", "val_flag_loss", "val_flag_binary_accuracy"} \
        <= set(header)
    result = runner.invoke(main, ["train", str(path), "-o", str(run), "--resume", "--epochs", "3", "--no-progress"])
    assert result.exit_code == 0, result.output
    assert len((run / "history.csv").read_text().splitlines()) == 4
    arrays = _arrays()
    np.savez(tmp_path / "x.npz", history=arrays["history"][:4], static=arrays["static"][:4])
    result = runner.invoke(main, ["predict", str(run), "-i", str(tmp_path / "x.npz"), "-o", str(tmp_path / "y.npz")])
    assert result.exit_code == 0, result.output
    with np.load(tmp_path / "y.npz") as saved:
        assert {k: saved[k].shape for k in saved.files} == {"out": (4, 2), "flag": (4, 1)}
    np.savez(tmp_path / "bad.npz", history=arrays["history"][:4])
    result = runner.invoke(main, ["predict", str(run), "-i", str(tmp_path / "bad.npz")])
    assert result.exit_code == 2
    assert "no array named `static`" in result.output
    result = runner.invoke(main, ["evaluate", str(run), "--data", str(tmp_path / "train.npz"), "--json"])
    assert result.exit_code == 0, result.output
    assert '"out_loss"' in result.output and '"flag_binary_accuracy"' in result.output


def test_monitors_and_the_tune_metric_take_the_per_output_names(tmp_path):
    training = {"loss": {"out": "mse", "flag": "binary_crossentropy"}, "metrics": {"flag": ["acc"]},
                "checkpoint": {"monitor": "val_flag_loss"},
                "callbacks": {"early_stopping": {"monitor": "val_flag_acc", "patience": 2}}}
    path = _write(tmp_path, training, {"train": "train.npz", "validation_split": 0.25})
    raw = yaml.safe_load(path.read_text())
    raw["tune"] = {"metric": "val_out_loss", "space": {"training.batch_size": {"choice": [4, 8]}}}
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    config = load_config(path)
    assert config.training["checkpoint"]["monitor"] == "val_flag_loss" and config.tune["metric"] == "val_out_loss"
    raw["training"]["checkpoint"]["monitor"] = "val_flag_los"
    raw["tune"]["metric"] = "val_flag_accuracy"
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    messages = [d.message for d in caught.value.diagnostics]
    reports = "loss, out_loss, flag_loss, flag_acc, val_loss, val_out_loss, val_flag_loss, val_flag_acc"
    assert messages == [
        f"training.checkpoint.monitor: training does not report `val_flag_los` (did you mean `val_flag_loss`?); it "
        f"reports {reports}",
        f"tune.metric: training does not report `val_flag_accuracy` (did you mean `val_flag_acc`?); it reports "
        f"{reports}"]
