"""Stateful layers in a graph (Keras 1 semantics: every input declares the batch size, the states carry over from
batch to batch): trained, then streamed by ``rnncli predict`` chunk after chunk against a Keras 3 functional model
with ``stateful=True`` and the same weights; ``states``/``reset-states`` on the run; one-line refusals."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import yaml
from click.testing import CliRunner

from rnncli.cli.main import main

B, T, D, U, N = 2, 4, 3, 5, 8


def _model(stateful: bool = True, **change) -> dict:
    layers = [{"type": "LSTM", "name": "enc", "output_dim": U, "stateful": stateful, "inner_activation": "sigmoid",
               "input": "history"},
              {"type": "Dense", "name": "feat", "output_dim": 3, "activation": "tanh", "input": "static"},
              {"type": "Concatenate", "name": "both", "inputs": ["enc", "feat"]},
              {"type": "Dense", "name": "score", "output_dim": 2}]
    layers[0].update(change)
    return {"inputs": {"history": {"batch_shape": [B, T, D]}, "static": {"batch_shape": [B, 2]}},
            "layers": layers, "outputs": ["score"]}


def _write(tmp_path: Path, model: dict) -> Path:
    rng = np.random.default_rng(5)
    np.savez(tmp_path / "train.npz", history=rng.normal(size=(N, T, D)).astype(np.float32),
             static=rng.normal(size=(N, 2)).astype(np.float32), score=rng.normal(size=(N, 2)).astype(np.float32))
    path = tmp_path / "graph.yaml"
    path.write_text(yaml.safe_dump({"seed": 2, "model": model, "data": {"train": "train.npz"},
                                    "training": {"loss": "mse", "nb_epoch": 1, "batch_size": B, "shuffle": False,
                                                 "reset_states": "never"}}, sort_keys=False))
    return path


def _chunk(seed: int, n: int = 4) -> dict:
    rng = np.random.default_rng(seed)
    return {"history": rng.normal(size=(n, T, D)).astype(np.float32),
            "static": rng.normal(size=(n, 2)).astype(np.float32)}


def _predict(tmp_path: Path, run: Path, x: dict, name: str) -> np.ndarray:
    np.savez(tmp_path / f"{name}.npz", **x)
    result = CliRunner().invoke(main, ["predict", str(run), "-i", str(tmp_path / f"{name}.npz"),
                                       "-o", str(tmp_path / f"{name}_y.npz")])
    assert result.exit_code == 0, result.output
    assert "saved the final states of enc" in result.output
    return np.load(tmp_path / f"{name}_y.npz")["score"]


def _keras_stateful(run: Path):
    """A Keras 3 functional model with a stateful LSTM and the run's latest weights."""
    import keras

    from rnncli.commands.source import load_source

    loaded = load_source(run, "latest", "cpu")
    try:
        weights = {layer.layer_name: [np.asarray(w) for w in layer.get_weights()]
                   for layer in loaded.engine.model.layers}
    finally:
        loaded.release()
    history = keras.Input(batch_shape=(B, T, D), name="history")
    static = keras.Input(batch_shape=(B, 2), name="static")
    enc = keras.layers.LSTM(U, stateful=True, recurrent_activation="sigmoid", use_cudnn=False, name="enc")
    feat = keras.layers.Dense(3, activation="tanh", name="feat")
    score = keras.layers.Dense(2, name="score")
    model = keras.Model([history, static], score(keras.layers.Concatenate()([enc(history), feat(static)])))
    for layer in (enc, feat, score):
        layer.set_weights(weights[layer.name])
    return model, enc


def test_a_stateful_graph_streams_as_keras_stateful_does(tmp_path):
    run = tmp_path / "run"
    result = CliRunner().invoke(main, ["train", str(_write(tmp_path, _model())), "-o", str(run), "--no-progress"])
    assert result.exit_code == 0, result.output
    result = CliRunner().invoke(main, ["reset-states", str(run)])   # training left states behind: start from zeros
    assert result.exit_code == 0, result.output
    keras_model, keras_enc = _keras_stateful(run)
    first, second = _chunk(1), _chunk(2)
    got = [_predict(tmp_path, run, first, "a"), _predict(tmp_path, run, second, "b")]
    want = [keras_model.predict([c["history"], c["static"]], batch_size=B, verbose=0) for c in (first, second)]
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, rtol=0, atol=1e-5 * max(1.0, float(np.abs(w).max())))
    result = CliRunner().invoke(main, ["states", str(run)])
    assert result.exit_code == 0 and "enc" in result.output, result.output
    np.savez(tmp_path / "odd.npz", **{k: v[:N - 1] for k, v in np.load(tmp_path / "train.npz").items()})
    result = CliRunner().invoke(main, ["evaluate", str(run), "--data", str(tmp_path / "odd.npz")])
    assert result.exit_code == 2 and "divisible by the batch size 2" in result.output, result.output
    result = CliRunner().invoke(main, ["evaluate", str(run), "--data", str(tmp_path / "train.npz")])
    assert result.exit_code == 0 and "loss" in result.output, result.output
    h_keras = np.asarray(keras_enc.states[0])
    result = CliRunner().invoke(main, ["reset-states", str(run)])
    assert result.exit_code == 0, result.output
    again = _predict(tmp_path, run, second, "d")   # from zeros, as Keras' second chunk was not
    keras_enc.reset_states()
    np.testing.assert_allclose(again, keras_model.predict([second["history"], second["static"]], batch_size=B,
                                                          verbose=0), rtol=0, atol=1e-5)
    assert np.abs(again - got[1]).max() > 1e-4 and np.abs(h_keras).max() > 0


@pytest.mark.parametrize("model, message", [
    (dict(_model(), inputs={"history": {"shape": [T, D]}, "static": {"batch_shape": [B, 2]}}),
     "layer `enc` is stateful, so every model input needs the same fixed batch size: give each `batch_shape: "
     "[B, ...]` (batch sizes now: history None, static 2)"),
    (_model(return_state=True), "a stateful layer keeps its states across batches itself; it takes no "
                                "`initial_state` and has no `return_state`"),
])
def test_stateful_graphs_that_cannot_work_are_refused_in_one_line(tmp_path, model, message):
    result = CliRunner().invoke(main, ["validate", str(_write(tmp_path, model))])
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], lines
