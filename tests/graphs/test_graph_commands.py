"""The verbs on a graph run with several inputs and outputs: export to a SavedModel whose ``predict`` takes the
inputs by name, and to TFLite and ONNX files that take them and answer the outputs by name, stateful graphs with their
states as inputs and outputs (all against ``rnncli predict``), and one clear line (exit 2) where a verb does not
support graphs yet (--distribute, a broken graph with per-output training)."""

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


def test_predict_classes_gives_each_outputs_classes_by_name(graph_run, tmp_path):
    from rnncli.data.outputs import predicted_classes

    runner = CliRunner()
    x = graph_run.parent / "x.npz"
    result = runner.invoke(main, ["predict", str(graph_run), "-i", str(x), "-o", str(tmp_path / "y.npz")])
    assert result.exit_code == 0, result.output
    result = runner.invoke(main, ["predict", str(graph_run), "-i", str(x), "-o", str(tmp_path / "c.npz"),
                                  "--classes"])
    assert result.exit_code == 0, result.output
    with np.load(tmp_path / "y.npz") as scores, np.load(tmp_path / "c.npz") as classes:
        assert sorted(classes.files) == ["enc:1", "score"]
        for name in classes.files:
            assert classes[name].dtype == np.int32 and classes[name].shape == (7,)
            np.testing.assert_array_equal(classes[name], scores[name].argmax(axis=-1))
            np.testing.assert_array_equal(classes[name], predicted_classes(scores[name]))
    result = runner.invoke(main, ["predict", str(graph_run), "-i", str(x), "--classes"])
    assert result.exit_code == 0, result.output
    lines = result.stdout.strip().splitlines()
    assert lines[0] == "# score" and lines[8] == "# enc:1" and all(line.isdigit() for line in lines[1:8])


def _run_file(fmt: str, path: Path, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The exported file run by its own runtime on ``inputs`` (by name); the outputs by name."""
    if fmt == "tflite":
        import tensorflow as tf

        runner = tf.lite.Interpreter(model_path=str(path)).get_signature_runner("serving_default")
        return {name: np.asarray(value) for name, value in runner(**inputs).items()}
    import onnxruntime

    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    names = [output.name for output in session.get_outputs()]
    assert sorted(i.name for i in session.get_inputs()) == sorted(inputs)
    return dict(zip(names, session.run(None, inputs)))


@pytest.mark.parametrize("fmt, name", [("tflite", "m.tflite"), ("onnx", "m.onnx")])
def test_file_exports_take_the_inputs_and_answer_the_outputs_by_name(graph_run, tmp_path, fmt, name):
    runner = CliRunner()
    x = graph_run.parent / "x.npz"
    result = runner.invoke(main, ["predict", str(graph_run), "-i", str(x), "-o", str(tmp_path / "y.npz")])
    assert result.exit_code == 0, result.output
    result = runner.invoke(main, ["export", str(graph_run), "--format", fmt, "-o", str(tmp_path / name)])
    assert result.exit_code == 0, result.output
    assert "input history [None, 5, 3], input static [None, 2]" in result.output
    assert "outputs score, enc_1" in result.output and "verified with" in result.output
    with np.load(x) as inputs:
        answer = _run_file(fmt, tmp_path / name, {k: inputs[k] for k in inputs.files})
    with np.load(tmp_path / "y.npz") as expected:
        assert sorted(answer) == ["enc_1", "score"]
        np.testing.assert_allclose(answer["score"], expected["score"], rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(answer["enc_1"], expected["enc:1"], rtol=1e-5, atol=1e-5)
        assert np.abs(expected["score"]).max() > 0.01


def _stateful_config(folder: Path) -> Path:
    """Two inputs with a fixed batch of 4 (an Embedding over int ids and a static vector), a stateful LSTM."""
    rng = np.random.default_rng(5)
    n, steps = 8, 4
    np.savez(folder / "train.npz", tokens=rng.integers(0, 6, size=(n, steps)).astype(np.int32),
             static=rng.normal(size=(n, 2)).astype(np.float32), score=rng.normal(size=(n, 2)).astype(np.float32),
             last=rng.normal(size=(n, U)).astype(np.float32))
    for chunk in ("chunk1", "chunk2"):
        np.savez(folder / f"{chunk}.npz", tokens=rng.integers(0, 6, size=(4, steps)).astype(np.int32),
                 static=rng.normal(size=(4, 2)).astype(np.float32))
    model = {"inputs": {"tokens": {"batch_shape": [4, steps], "dtype": "int32"}, "static": {"batch_shape": [4, 2]}},
             "layers": [{"type": "Embedding", "name": "embed", "input_dim": 6, "output_dim": 3, "input": "tokens"},
                        {"type": "LSTM", "name": "enc", "output_dim": U, "stateful": True},
                        {"type": "Dense", "name": "feat", "output_dim": 3, "input": "static"},
                        {"type": "Concatenate", "name": "both", "inputs": ["enc", "feat"]},
                        {"type": "Dense", "name": "score", "output_dim": 2},
                        {"type": "Dense", "name": "last", "output_dim": U, "input": "enc"}],
             "outputs": ["score", "last"]}
    path = folder / "stateful.yaml"
    path.write_text(yaml.safe_dump({"seed": 6, "model": model, "data": {"train": "train.npz"},
                                    "training": {"loss": "mse", "nb_epoch": 1, "batch_size": 4, "shuffle": False}},
                                   sort_keys=False))
    return path


@pytest.mark.parametrize("fmt, name", [("tflite", "s.tflite"), ("onnx", "s.onnx")])
def test_a_stateful_graph_exports_its_states_as_inputs_and_outputs(tmp_path, fmt, name):
    runner = CliRunner()
    result = runner.invoke(main, ["train", str(_stateful_config(tmp_path)), "-o", str(tmp_path / "run"),
                                  "--no-progress"])
    assert result.exit_code == 0, result.output
    # a first chunk moves the run's states away from zero (training ends with them reset)
    result = runner.invoke(main, ["predict", str(tmp_path / "run"), "-i", str(tmp_path / "chunk1.npz"),
                                  "-o", str(tmp_path / "y1.npz")])
    assert result.exit_code == 0, result.output
    result = runner.invoke(main, ["export", str(tmp_path / "run"), "--format", fmt, "-o", str(tmp_path / name)])
    assert result.exit_code == 0, result.output
    assert ("input tokens [4, 4], input static [4, 2], state enc_h [4, 4], state enc_c [4, 4]" in result.output
            and "outputs score, last, enc_h_next, enc_c_next" in result.output)
    # rnncli predict continues from the run's saved states, which the export wrote beside the file
    result = runner.invoke(main, ["predict", str(tmp_path / "run"), "-i", str(tmp_path / "chunk2.npz"),
                                  "-o", str(tmp_path / "y.npz"), "--no-save-states"])
    assert result.exit_code == 0, result.output
    with np.load(tmp_path / "chunk2.npz") as chunk, np.load(tmp_path / (Path(name).stem + ".states.npz")) as states:
        assert sorted(states.files) == ["enc_c", "enc_h"] and np.abs(states["enc_h"]).max() > 0.0
        answer = _run_file(fmt, tmp_path / name, {**{k: chunk[k] for k in chunk.files},
                                                  **{k: states[k] for k in states.files}})
    with np.load(tmp_path / "y.npz") as expected:
        np.testing.assert_allclose(answer["score"], expected["score"], rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(answer["last"], expected["last"], rtol=1e-5, atol=1e-5)
    assert answer["enc_h_next"].shape == (4, U) and not np.allclose(answer["enc_h_next"], 0.0)


def test_an_output_named_as_an_input_is_refused_for_export(tmp_path):
    from rnncli.commands.export import _check_graph
    from rnncli.config.validate import load_config
    from rnncli.errors import UserInputError

    config = yaml.safe_load(_config(tmp_path).read_text())
    config["model"]["inputs"] = {"enc_1": config["model"]["inputs"]["history"],
                                 "static": config["model"]["inputs"]["static"]}
    config["model"]["layers"][0]["input"] = "enc_1"
    with np.load(tmp_path / "train.npz") as data:
        arrays = {("enc_1" if key == "history" else key): data[key] for key in data.files}
    np.savez(tmp_path / "train.npz", **arrays)
    (tmp_path / "clash.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    with pytest.raises(UserInputError, match="output 'enc_1' has the name of an input"):
        _check_graph(load_config(tmp_path / "clash.yaml"), "onnx")


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
