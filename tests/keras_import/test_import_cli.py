"""`rnncli import` end to end: a compiled full-model file becomes a run that predicts, evaluates (to the loss
computed here independently), exports, resumes training with the imported optimizer state; a stateful import keeps
and resets states; `rnncli train` runs a bare Keras 1 document with --set."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from rnncli.cli.main import main

RNG = np.random.default_rng(7)
D, U, OUT, T, N = 2, 3, 2, 4, 8
W, Uw, b = (RNG.normal(size=s).astype(np.float32) * 0.5 for s in ((D, U), (U, U), (U,)))
Wd, bd = RNG.normal(size=(U, OUT)).astype(np.float32), RNG.normal(size=(OUT,)).astype(np.float32)
X = RNG.normal(size=(N, T, D)).astype(np.float32)
Y = RNG.normal(size=(N, OUT)).astype(np.float32)


def numpy_forward(x: np.ndarray) -> np.ndarray:
    """SimpleRNN(3, tanh) -> Dense(2), Keras 1 math in float64."""
    h = np.zeros((len(x), U))
    for t in range(x.shape[1]):
        h = np.tanh(x[:, t] @ W + h @ Uw + b)
    return h @ Wd + bd


def model_config() -> dict:
    return {"class_name": "Sequential", "config": [
        {"class_name": "SimpleRNN", "config": {"name": "simplernn_1", "output_dim": U, "batch_input_shape": [None, T, D],
                                               "input_dtype": "float32", "activation": "tanh", "consume_less": "cpu",
                                               "W_regularizer": None, "U_regularizer": None, "b_regularizer": None,
                                               "dropout_W": 0.0, "dropout_U": 0.0, "init": "glorot_uniform",
                                               "inner_init": "orthogonal", "return_sequences": False,
                                               "go_backwards": False, "stateful": False, "unroll": False,
                                               "input_dim": D, "input_length": None, "trainable": True}},
        {"class_name": "Dense", "config": {"name": "dense_1", "output_dim": OUT, "activation": "linear",
                                           "W_constraint": None, "b_constraint": None, "activity_regularizer": None,
                                           "W_regularizer": None, "b_regularizer": None, "bias": True,
                                           "init": "glorot_uniform", "input_dim": U, "trainable": True}}]}


TRAINING_CONFIG = {"loss": "mse", "metrics": ["mae"], "sample_weight_mode": None, "loss_weights": None,
                   "optimizer_config": {"class_name": "Adam", "config": {
                       "lr": 0.0010000000474974513, "beta_1": 0.8999999761581421, "beta_2": 0.9990000128746033,
                       "epsilon": 1e-08, "decay": 0.0}}}
SLOTS_M = [RNG.normal(size=a.shape).astype(np.float32) for a in (W, Uw, b, Wd, bd)]
SLOTS_V = [np.abs(RNG.normal(size=a.shape)).astype(np.float32) for a in (W, Uw, b, Wd, bd)]


def _write_model(tmp: Path, kit) -> Path:
    layers = [("simplernn_1", [("simplernn_1_W", W), ("simplernn_1_U", Uw), ("simplernn_1_b", b)]),
              ("dense_1", [("dense_1_W", Wd), ("dense_1_b", bd)])]
    iterations = np.array(5, np.int64)
    return kit.write_full_model(tmp / "model.h5", model_config(), layers, TRAINING_CONFIG,
                                [iterations] + SLOTS_M + SLOTS_V)


def test_full_model_import_predict_evaluate_export_resume(tmp_path: Path, k1) -> None:
    source = _write_model(tmp_path, k1)
    np.savez(tmp_path / "data.npz", x=X, y=Y)
    np.save(tmp_path / "x.npy", X)
    run = tmp_path / "run"
    runner = CliRunner()
    result = runner.invoke(main, ["import", str(source), "-o", str(run), "--set", f"data.train={tmp_path / 'data.npz'}",
                                  "--set", "training.nb_epoch=1", "--set", "training.batch_size=4",
                                  "--set", "training.jit_compile=false"])  # XLA is tested elsewhere; saves time
    assert result.exit_code == 0, result.output
    assert "optimizer state (optimizer_weights) imported" in result.output
    info = json.loads((run / "run.json").read_text())
    assert info["imported_from"]["keras_version"] == "1.2.2" and info["status"] == "imported"
    assert info["imported_from"]["optimizer_state"] == "imported"
    resolved = (run / "config.resolved.yaml").read_text()
    assert "name: adam" in resolved and "lr: 0.001\n" in resolved

    predicted = runner.invoke(main, ["predict", str(run), "--input", str(tmp_path / "x.npy"), "--output",
                                     str(tmp_path / "y.npy")])
    assert predicted.exit_code == 0, predicted.output
    np.testing.assert_allclose(np.load(tmp_path / "y.npy"), numpy_forward(X), atol=1e-5)

    evaluated = runner.invoke(main, ["evaluate", str(run), "--data", str(tmp_path / "data.npz"), "--json"])
    assert evaluated.exit_code == 0, evaluated.output
    scores = json.loads(evaluated.stdout.strip().splitlines()[-1])
    expected = numpy_forward(X) - Y
    assert scores["loss"] == pytest.approx(np.mean(expected ** 2), abs=1e-5)
    assert scores["mean_absolute_error"] == pytest.approx(np.mean(np.abs(expected)), abs=1e-5)

    summary = runner.invoke(main, ["summary", str(run)])
    assert summary.exit_code == 0 and "simplernn_1" in summary.output

    exported = runner.invoke(main, ["export", str(run), "-o", str(tmp_path / "exported")])
    assert exported.exit_code == 0, exported.output

    # the optimizer slots hold the file's Adam state; one more epoch resumes from it
    from rnncli.commands.source import load_source

    loaded = load_source(run)
    optimizer = loaded.engine.optimizer
    assert int(optimizer.iterations.numpy()) == 5
    np.testing.assert_array_equal(optimizer.slots["m"]["simplernn_1__kernel"].numpy(), SLOTS_M[0])
    np.testing.assert_array_equal(optimizer.slots["v"]["dense_1__bias"].numpy(), SLOTS_V[4])
    trained = runner.invoke(main, ["train", str(run / "config.yaml"), "-o", str(run), "--resume", "--no-progress"])
    assert trained.exit_code == 0, trained.output
    assert "resumed from" in trained.output
    after = load_source(run).engine.optimizer
    assert int(after.iterations.numpy()) == 5 + N // 4


def test_architecture_plus_weights_and_stateful_states(tmp_path: Path, k1) -> None:
    doc = model_config()
    doc["config"][0]["config"].update(stateful=True, batch_input_shape=[2, T, D])
    arch = tmp_path / "model.json"
    arch.write_text(json.dumps(doc))
    weights = k1.write_weights_file(tmp_path / "w.h5", [
        ("simplernn_1", [("simplernn_1_W:0", W), ("simplernn_1_U:0", Uw), ("simplernn_1_b:0", b)]),
        ("dense_1", [("dense_1_W:0", Wd), ("dense_1_b:0", bd)])])
    run = tmp_path / "run"
    runner = CliRunner()
    result = runner.invoke(main, ["import", str(arch), "--weights", str(weights), "-o", str(run)])
    assert result.exit_code == 0, result.output
    assert "no training section" in result.output
    np.save(tmp_path / "x.npy", X[:2])
    outputs = []
    for _ in range(2):
        predicted = runner.invoke(main, ["predict", str(run), "--input", str(tmp_path / "x.npy"), "-o",
                                         str(tmp_path / "y.npy")])
        assert predicted.exit_code == 0, predicted.output
        outputs.append(np.load(tmp_path / "y.npy"))
    np.testing.assert_allclose(outputs[0], numpy_forward(X[:2]), atol=1e-5)
    np.testing.assert_allclose(outputs[1], numpy_forward(np.concatenate([X[:2], X[:2]], axis=1)), atol=1e-5)
    states = runner.invoke(main, ["states", str(run)])
    assert states.exit_code == 0 and "simplernn_1" in states.output
    reset = runner.invoke(main, ["reset-states", str(run)])
    assert reset.exit_code == 0 and "reset simplernn_1" in reset.output
    predicted = runner.invoke(main, ["predict", str(run), "--input", str(tmp_path / "x.npy"), "-o",
                                     str(tmp_path / "y.npy")])
    np.testing.assert_allclose(np.load(tmp_path / "y.npy"), numpy_forward(X[:2]), atol=1e-5)


def test_architecture_alone_gets_a_notice(tmp_path: Path) -> None:
    arch = tmp_path / "model.json"
    arch.write_text(json.dumps(model_config()))
    result = CliRunner().invoke(main, ["import", str(arch), "-o", str(tmp_path / "run"), "--set", "training.loss=mse"])
    assert result.exit_code == 0, result.output
    assert "no weights given" in result.output


def test_train_a_bare_keras1_document_with_set(tmp_path: Path) -> None:
    """Keras 1.0.x wrote loss and optimizer at the top level; --set adds the data beside the document."""
    doc = dict(model_config(), loss="mse", sample_weight_mode=None,
               optimizer={"name": "RMSprop", "lr": 0.0010000000474974513, "rho": 0.8999999761581421,
                          "epsilon": 1e-08})
    arch = tmp_path / "model.json"
    arch.write_text(json.dumps(doc))
    np.savez(tmp_path / "data.npz", x=X, y=Y)
    runner = CliRunner()
    result = runner.invoke(main, ["train", str(arch), "-o", str(tmp_path / "run"), "--epochs", "1", "--no-progress",
                                  "--set", f"data.train={tmp_path / 'data.npz'}"])
    assert result.exit_code == 0, result.output
    resolved = (tmp_path / "run" / "config.resolved.yaml").read_text()
    assert "name: rmsprop" in resolved and "loss: mse" in resolved
    bare = tmp_path / "bare.json"
    bare.write_text(json.dumps(model_config()))
    result = runner.invoke(main, ["train", str(bare), "-o", str(tmp_path / "run2"), "--epochs", "1", "--no-progress",
                                  "--set", f"data.train={tmp_path / 'data.npz'}", "--set", "training.loss=mae"])
    assert result.exit_code == 0, result.output
    assert "loss: mae" in (tmp_path / "run2" / "config.resolved.yaml").read_text()


def test_optimizer_weights_that_do_not_map_exactly_are_dropped_with_a_notice(tmp_path: Path, k1) -> None:
    """Keras 1.1 Adam saved `ms + vs` without the iteration count: Adam's bias correction needs it, so the state is
    not exact and is dropped, and the import says so (the weights are still imported)."""
    from rnncli.commands.keras_import import import_keras1
    from rnncli.commands.source import load_source

    layers = [("simplernn_1", [("simplernn_1_W", W), ("simplernn_1_U", Uw), ("simplernn_1_b", b)]),
              ("dense_1", [("dense_1_W", Wd), ("dense_1_b", bd)])]
    source = k1.write_full_model(tmp_path / "model.h5", model_config(), layers, TRAINING_CONFIG, SLOTS_M + SLOTS_V,
                                 keras_version="1.1.0")
    result = import_keras1(source, tmp_path / "run")
    assert any("optimizer_weights dropped (the file holds 10 optimizer arrays" in n for n in result.notes)
    engine = load_source(tmp_path / "run").engine
    assert int(engine.optimizer.iterations.numpy()) == 0
    assert not engine.optimizer.slots["m"]["simplernn_1__kernel"].numpy().any()
    np.testing.assert_array_equal(engine.model.layers[0].kernel.numpy(), W)


def test_keras2_full_model_with_keras1_math_imports(tmp_path: Path, k1) -> None:
    """A Keras 2 model.save() file (nested weight names `lstm_1/kernel:0`, fused layout, `learning_rate`): read as
    the Keras 1 model it computes; its optimizer state (another layout) is dropped with a notice."""
    from rnncli.commands.keras_import import build_imported_model, import_keras1
    from rnncli.commands.source import load_source

    rng = np.random.default_rng(11)
    kernel, recurrent, bias = (rng.normal(size=s).astype(np.float32) * 0.4 for s in ((3, 16), (4, 16), (16,)))
    dense_w, dense_b = rng.normal(size=(4, 2)).astype(np.float32), np.zeros(2, np.float32)
    doc = {"class_name": "Sequential", "config": {"name": "sequential_1", "layers": [
        {"class_name": "LSTM", "config": {"name": "lstm_1", "units": 4, "batch_input_shape": [None, 5, 3],
                                          "recurrent_activation": "sigmoid", "implementation": 1,
                                          "kernel_initializer": {"class_name": "VarianceScaling", "config": {
                                              "scale": 1.0, "mode": "fan_avg", "distribution": "uniform"}},
                                          "recurrent_initializer": {"class_name": "Orthogonal", "config": {}}}},
        {"class_name": "Dense", "config": {"name": "dense_1", "units": 2, "use_bias": True}}]}}
    training = {"loss": "mean_squared_error", "metrics": ["accuracy"], "loss_weights": None,
                "sample_weight_mode": None, "optimizer_config": {"class_name": "Adam", "config": {
                    "name": "Adam", "learning_rate": 0.0010000000474974513, "beta_1": 0.9, "beta_2": 0.999,
                    "decay": 0.0, "epsilon": 1e-07, "amsgrad": False}}}
    source = k1.write_full_model(tmp_path / "keras2.h5", doc, [
        ("lstm_1", [("lstm_1/kernel:0", kernel), ("lstm_1/recurrent_kernel:0", recurrent), ("lstm_1/bias:0", bias)]),
        ("dense_1", [("dense_1/kernel:0", dense_w), ("dense_1/bias:0", dense_b)])], training,
        [np.array(3, np.int64)] + [np.zeros_like(a) for a in (kernel, recurrent, bias, dense_w, dense_b)] * 2,
        keras_version="2.2.4")
    result = import_keras1(source, tmp_path / "run")
    assert any("converted from Keras 2.2.4" in n for n in result.notes)
    assert any("optimizer_weights dropped (Keras 2" in n for n in result.notes)
    assert result.training["optimizer"]["lr"] == 0.001 and result.training["loss"] == "mean_squared_error"
    engine = load_source(tmp_path / "run").engine
    np.testing.assert_array_equal(engine.model.layers[0].kernel.numpy(), kernel)
    keras1_doc = k1.sequential(
        {"class_name": "LSTM", "config": {"name": "lstm_1", "output_dim": 4, "batch_input_shape": [None, 5, 3],
                                          "inner_activation": "sigmoid", "consume_less": "gpu"}},
        {"class_name": "Dense", "config": {"name": "dense_1", "output_dim": 2}})
    keras1_file = k1.write_full_model(tmp_path / "keras1.h5", keras1_doc, [
        ("lstm_1", [("lstm_1_W:0", kernel), ("lstm_1_U:0", recurrent), ("lstm_1_b:0", bias)]),
        ("dense_1", [("dense_1_W:0", dense_w), ("dense_1_b:0", dense_b)])])
    x = rng.normal(size=(2, 5, 3)).astype(np.float32)
    np.testing.assert_allclose(engine.model(x)[0].numpy(), build_imported_model(keras1_file)[1](x)[0].numpy(),
                               atol=1e-6)
