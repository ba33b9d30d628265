"""The verbs on a graph run with several inputs and outputs: export to a SavedModel whose ``predict`` takes the
inputs by name (against ``rnncli predict``), and one clear line (exit 2) where a verb does not support graphs yet
(TFLite/ONNX export, --distribute, a broken graph with per-output training)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import yaml
from click.testing import CliRunner

from rnncli.cli.main import main

N, T, D, U = 24, 5, 3, 4


def _config(tmp_path: Path, **training) -> Path:
    rng = np.random.default_rng(3)
    history = rng.normal(size=(N, T, D)).astype(np.float32)
    static = rng.normal(size=(N, 2)).astype(np.float32)
    np.savez(tmp_path / "train.npz", history=history, static=static,
             score=rng.normal(size=(N, 2)).astype(np.float32), **{"enc:1": rng.normal(size=(N, U)).astype(np.float32)})
    np.savez(tmp_path / "x.npz", history=history[:7], static=static[:7])
    model = {"inputs": {"history": {"shape": [T, D]}, "static": {"shape": [2]}},
             "layers": [{"type": "LSTM", "name": "enc", "output_dim": U, "return_state": True, "input": "history"},
                        {"type": "Dense", "name": "feat", "output_dim": 3, "activation": "tanh", "input": "static"},
                        {"type": "Concatenate", "name": "both", "inputs": ["enc", "feat"]},
                        {"type": "Dense", "name": "score", "output_dim": 2}],
             "outputs": ["score", "enc:1"]}
    path = tmp_path / "graph.yaml"
    path.write_text(yaml.safe_dump({"seed": 4, "model": model, "data": {"train": "train.npz"},
                                    "training": {"loss": "mse", "nb_epoch": 1, "batch_size": 8, **training}},
                                   sort_keys=False))
    return path


@pytest.fixture(scope="module")
def graph_run(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("graph")
    result = CliRunner().invoke(main, ["train", str(_config(folder)), "-o", str(folder / "run"), "--no-progress"])
    assert result.exit_code == 0, result.output
    return folder / "run"


def test_savedmodel_predict_takes_the_inputs_by_name(graph_run, tmp_path):
    import tensorflow as tf

    runner = CliRunner()
    x = graph_run.parent / "x.npz"
    result = runner.invoke(main, ["predict", str(graph_run), "-i", str(x), "-o", str(tmp_path / "y.npz")])
    assert result.exit_code == 0, result.output
    result = runner.invoke(main, ["export", str(graph_run), "--format", "savedmodel", "-o", str(tmp_path / "sm")])
    assert result.exit_code == 0, result.output
    assert "predict(history=[None, 5, 3] float32, static=[None, 2] float32) -> score [None, 2], enc_1 [None, 4]" \
        in result.output
    signature = tf.saved_model.load(str(tmp_path / "sm")).signatures["predict"]
    with np.load(x) as inputs:
        answer = signature(history=tf.constant(inputs["history"]), static=tf.constant(inputs["static"]))
    with np.load(tmp_path / "y.npz") as expected:
        assert sorted(answer) == ["enc_1", "score"] and sorted(expected.files) == ["enc:1", "score"]
        np.testing.assert_allclose(answer["score"].numpy(), expected["score"], rtol=1e-6, atol=1e-6)
        np.testing.assert_allclose(answer["enc_1"].numpy(), expected["enc:1"], rtol=1e-6, atol=1e-6)
        assert np.abs(expected["score"]).max() > 0.01  # a real output, not zeros on both sides


@pytest.mark.parametrize("fmt, name", [("tflite", "m.tflite"), ("onnx", "m.onnx")])
def test_file_exports_of_a_graph_are_refused_in_one_line(graph_run, tmp_path, fmt, name):
    result = CliRunner().invoke(main, ["export", str(graph_run), "--format", fmt, "-o", str(tmp_path / name)])
    assert result.exit_code == 2, result.output
    assert result.output.strip() == (f"error: --format {fmt} does not export graphs with several inputs or outputs "
                                     f"yet; use --format savedmodel (a `predict` signature taking history, static "
                                     f"by name)")
    assert not (tmp_path / name).exists()


def test_serve_loads_a_graph_with_named_inputs_and_outputs(graph_run):
    from rnncli.serve.runner import load_runner

    runner = load_runner(graph_run, "latest", "cpu", 4)
    info = runner.info.as_dict()
    assert [i["name"] for i in info["inputs"]] == ["history", "static"]
    assert info["outputs"] == [{"name": "score", "shape": [2]}, {"name": "enc:1", "shape": [U]}]
    runner.compile()
    with np.load(graph_run.parent / "x.npz") as x:
        y, states = runner.run({"history": x["history"], "static": x["static"]}, runner.zero_states(7))
    assert states == [] and y["score"].shape == (7, 2) and y["enc:1"].shape == (7, U)


def test_distribute_is_a_config_error_for_a_graph(tmp_path):
    path = _config(tmp_path)
    result = CliRunner().invoke(main, ["train", str(path), "-o", str(tmp_path / "run"), "--distribute", "mirrored",
                                       "--no-progress"])
    assert result.exit_code == 2, result.output
    assert "--distribute mirrored: error: training.distribute: mirrored is not supported yet for graphs with " \
           "several inputs or outputs; use `distribute: none`" in result.output
    assert "internal error" not in result.output and not (tmp_path / "run" / "checkpoints").exists()


def test_a_broken_graph_with_per_output_training_reports_only_the_graph(tmp_path):
    path = _config(tmp_path, loss={"score": "mse", "enc:1": "mse"}, loss_weights={"score": 1.0, "enc:1": 0.5})
    config = yaml.safe_load(path.read_text())
    config["model"]["layers"][0]["stateful"] = True
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    result = CliRunner().invoke(main, ["validate", str(path)])
    assert result.exit_code == 2
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and "`enc` is stateful, so every model input needs the same fixed batch size" in lines[0], result.output
