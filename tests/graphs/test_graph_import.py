"""Keras 1 graph documents, written by hand in the Keras 1.2.2 ``to_json()`` format, imported with weights from
``.h5`` files written here in Keras 1's layout (per-gate LSTM arrays, loaded by layer position), against a Keras 3
rebuild of the same graph with the same weights.

``keras1_shared_trunk.json``: the reverse-complement DNA model: one LSTM applied to a sequence and to its reverse
complement (a shared layer, two inbound nodes), averaged by ``Merge(mode='ave')``, concatenated with a metadata
input by ``Merge(mode='concat')``, then a Dense. The Sequential case starts with a ``Merge`` of two Sequential
branches (a question LSTM and an image vector).
"""

from __future__ import annotations

import json
from pathlib import Path

import h5py
import numpy as np
import pytest
from click.testing import CliRunner

from rnncli.cli.main import main
from rnncli.commands.keras_import import build_imported_model
from rnncli.config.validate import load_config

HERE = Path(__file__).parent
B = 4


def _lstm_arrays(rng, name: str, features: int, units: int) -> list[tuple[str, np.ndarray]]:
    """Keras 1 LSTM weights in its per-gate order W_i U_i b_i W_c U_c b_c W_f U_f b_f W_o U_o b_o."""
    arrays = []
    for gate in "icfo":
        arrays += [(f"{name}_W_{gate}:0", rng.uniform(-0.6, 0.6, (features, units))),
                   (f"{name}_U_{gate}:0", rng.uniform(-0.6, 0.6, (units, units))),
                   (f"{name}_b_{gate}:0", rng.uniform(-0.3, 0.3, (units,)))]
    return [(n, a.astype(np.float32)) for n, a in arrays]


def _dense_arrays(rng, name: str, features: int, units: int) -> list[tuple[str, np.ndarray]]:
    return [(f"{name}_W:0", rng.uniform(-0.6, 0.6, (features, units)).astype(np.float32)),
            (f"{name}_b:0", rng.uniform(-0.3, 0.3, (units,)).astype(np.float32))]


def _write_h5(path: Path, layers: list[tuple[str, list]], model_config: dict | None = None) -> None:
    """Keras 1.2.2 layout: ``layer_names`` (every layer), one group per layer with ``weight_names``; a full-model
    file keeps them under ``model_weights`` with ``model_config`` on the root."""
    with h5py.File(path, "w") as handle:
        root = handle
        if model_config is not None:
            handle.attrs["keras_version"] = b"1.2.2"
            handle.attrs["model_config"] = json.dumps(model_config).encode()
            root = handle.create_group("model_weights")
        root.attrs["layer_names"] = np.array([name.encode() for name, _ in layers])
        for name, arrays in layers:
            group = root.create_group(name)
            group.attrs["weight_names"] = np.array([n.encode() for n, _ in arrays])
            for array_name, array in arrays:
                group.create_dataset(array_name, data=array)


def _keras3_lstm(keras, units: int, arrays: list, name: str):
    w = {n.split("_")[-1].split(":")[0] + "_" + n.split("_")[-2]: a for n, a in arrays}  # e.g. i_W
    kernel = np.concatenate([w[f"{g}_W"] for g in "ifco"], axis=1)
    recurrent = np.concatenate([w[f"{g}_U"] for g in "ifco"], axis=1)
    bias = np.concatenate([w[f"{g}_b"] for g in "ifco"])
    layer = keras.layers.LSTM(units, recurrent_activation="sigmoid", use_cudnn=False, name=name)
    return layer, [kernel, recurrent, bias]


def test_shared_trunk_with_merges_imports_and_matches_keras3(tmp_path):
    import keras

    doc = json.loads((HERE / "keras1_shared_trunk.json").read_text())
    rng = np.random.default_rng(7)
    trunk = _lstm_arrays(rng, "trunk", 4, 5)
    out = _dense_arrays(rng, "out", 8, 1)
    weights = tmp_path / "weights.h5"
    _write_h5(weights, [("forward", []), ("reverse", []), ("trunk", trunk), ("merge_1", []), ("meta", []),
                        ("merge_2", []), ("out", out)])
    config, model = build_imported_model(HERE / "keras1_shared_trunk.json", weights)
    assert config.model.input_names == ["forward", "reverse", "meta"]
    assert [n.name for n in config.model.nodes] == ["trunk", "trunk_node1", "merge_1", "merge_2", "out"]

    forward, reverse = keras.Input((6, 4)), keras.Input((6, 4))
    meta = keras.Input((3,))
    lstm, lstm_weights = _keras3_lstm(keras, 5, trunk, "trunk")
    dense = keras.layers.Dense(1, activation="sigmoid")
    merged = keras.layers.Concatenate()([keras.layers.Average()([lstm(forward), lstm(reverse)]), meta])
    oracle = keras.Model([forward, reverse, meta], dense(merged))
    lstm.set_weights(lstm_weights)
    dense.set_weights([a for _, a in out])

    x = {"forward": rng.normal(size=(B, 6, 4)).astype(np.float32),
         "reverse": rng.normal(size=(B, 6, 4)).astype(np.float32), "meta": rng.normal(size=(B, 3)).astype(np.float32)}
    mine, _ = model(x)
    expected = oracle([x["forward"], x["reverse"], x["meta"]]).numpy()
    np.testing.assert_allclose(mine["out"].numpy(), expected, rtol=1e-5, atol=1e-6)

    # the whole command: a run directory that predicts the same from a named .npz
    run = tmp_path / "run"
    result = CliRunner().invoke(main, ["import", str(HERE / "keras1_shared_trunk.json"), "--weights", str(weights),
                                       "-o", str(run)])
    assert result.exit_code == 0, result.output
    np.savez(tmp_path / "x.npz", **x)
    result = CliRunner().invoke(main, ["predict", str(run), "-i", str(tmp_path / "x.npz"),
                                       "-o", str(tmp_path / "y.npy")])
    assert result.exit_code == 0, result.output
    np.testing.assert_allclose(np.load(tmp_path / "y.npy"), expected, rtol=1e-5, atol=1e-6)


def _lstm_config(name: str, units: int, **extra) -> dict:
    return {"name": name, "trainable": True, "return_sequences": False, "go_backwards": False, "stateful": False,
            "unroll": False, "consume_less": "cpu", "output_dim": units, "init": "glorot_uniform",
            "inner_init": "orthogonal", "forget_bias_init": "one", "activation": "tanh",
            "inner_activation": "sigmoid", "W_regularizer": None, "U_regularizer": None, "b_regularizer": None,
            "dropout_W": 0.0, "dropout_U": 0.0, **extra}


def _dense_config(name: str, units: int, activation: str = "linear", **extra) -> dict:
    return {"name": name, "trainable": True, "output_dim": units, "init": "glorot_uniform",
            "activation": activation, "W_regularizer": None, "b_regularizer": None, "activity_regularizer": None,
            "W_constraint": None, "b_constraint": None, "bias": True, "input_dim": None, **extra}


def test_sequential_starting_with_a_merge_of_sequential_branches(tmp_path):
    import keras

    doc = {"class_name": "Sequential", "keras_version": "1.2.2", "config": [
        {"class_name": "Merge", "config": {
            "name": "merge_1", "mode": "concat", "concat_axis": -1, "dot_axes": -1, "output_shape": None,
            "output_shape_type": "raw", "output_mask": None, "output_mask_type": "raw", "mode_type": "raw",
            "arguments": {}, "node_indices": [0, 0], "tensor_indices": [0, 0],
            "layers": [
                {"class_name": "Sequential", "config": [
                    {"class_name": "LSTM", "config": _lstm_config("question", 6, batch_input_shape=[None, 5, 3],
                                                                  input_dtype="float32")}]},
                {"class_name": "Sequential", "config": [
                    {"class_name": "Dense", "config": _dense_config("image", 4, "tanh", batch_input_shape=[None, 7],
                                                                    input_dtype="float32", input_dim=7)}]}]}},
        {"class_name": "Dense", "config": _dense_config("answer", 3, "softmax")}]}
    path = tmp_path / "vqa.json"
    path.write_text(json.dumps(doc))
    rng = np.random.default_rng(3)
    question = _lstm_arrays(rng, "question", 3, 6)
    image = _dense_arrays(rng, "image", 7, 4)
    answer = _dense_arrays(rng, "answer", 10, 3)
    model_file = tmp_path / "vqa.h5"  # a full-model file: model_config on the root, weights under model_weights
    _write_h5(model_file, [("question", question), ("image", image), ("merge_1", []), ("answer", answer)], doc)
    config, model = build_imported_model(model_file)
    assert config.model.input_names == ["question_input", "image_input"]

    q, v = keras.Input((5, 3)), keras.Input((7,))
    lstm, lstm_weights = _keras3_lstm(keras, 6, question, "question")
    image_layer, answer_layer = keras.layers.Dense(4, activation="tanh"), keras.layers.Dense(3, activation="softmax")
    oracle = keras.Model([q, v], answer_layer(keras.layers.Concatenate()([lstm(q), image_layer(v)])))
    lstm.set_weights(lstm_weights)
    image_layer.set_weights([a for _, a in image])
    answer_layer.set_weights([a for _, a in answer])
    x = {"question_input": rng.normal(size=(B, 5, 3)).astype(np.float32),
         "image_input": rng.normal(size=(B, 7)).astype(np.float32)}
    mine, _ = model(x)
    np.testing.assert_allclose(mine["answer"].numpy(), oracle([x["question_input"], x["image_input"]]).numpy(),
                               rtol=1e-5, atol=1e-6)


def test_nested_model_is_inlined(tmp_path):
    inner = {"name": "encoder_model", "layers": [
        {"class_name": "InputLayer", "name": "enc_in", "inbound_nodes": [],
         "config": {"batch_input_shape": [None, 5, 3], "input_dtype": "float32", "sparse": False, "name": "enc_in"}},
        {"class_name": "LSTM", "name": "enc", "inbound_nodes": [[["enc_in", 0, 0]]], "config": _lstm_config("enc", 4)}],
        "input_layers": [["enc_in", 0, 0]], "output_layers": [["enc", 0, 0]]}
    doc = {"class_name": "Model", "keras_version": "1.2.2", "config": {"name": "outer", "layers": [
        {"class_name": "InputLayer", "name": "series", "inbound_nodes": [],
         "config": {"batch_input_shape": [None, 5, 3], "input_dtype": "float32", "sparse": False, "name": "series"}},
        {"class_name": "Model", "name": "encoder_model", "config": inner, "inbound_nodes": [[["series", 0, 0]]]},
        {"class_name": "Dense", "name": "head", "config": _dense_config("head", 2),
         "inbound_nodes": [[["encoder_model", 0, 0]]]}],
        "input_layers": [["series", 0, 0]], "output_layers": [["head", 0, 0]]}}
    path = tmp_path / "nested.json"
    path.write_text(json.dumps(doc))
    config = load_config(path)
    assert [(n.name, n.inbound) for n in config.model.nodes] == [("enc", ["series"]), ("head", ["enc"])]
    assert config.model.params == 4 * (3 * 4 + 16 + 4) + 4 * 2 + 2


def test_lambda_merges_and_unknown_references_are_refused_in_one_line(tmp_path):
    doc = json.loads((HERE / "keras1_shared_trunk.json").read_text())
    doc["config"]["layers"][3]["config"]["mode_type"] = "lambda"
    path = tmp_path / "lambda.json"
    path.write_text(json.dumps(doc))
    result = CliRunner().invoke(main, ["validate", str(path)])
    assert result.exit_code == 2
    assert "merges with a Python function (mode_type lambda), which rnncli never runs" in result.output
    doc = json.loads((HERE / "keras1_shared_trunk.json").read_text())
    doc["config"]["layers"][6]["inbound_nodes"] = [[["merge_3", 0, 0]]]
    path.write_text(json.dumps(doc))
    result = CliRunner().invoke(main, ["validate", str(path)])
    assert result.exit_code == 2
    assert "no input or layer named `merge_3` (did you mean `merge_2`?)" in result.output


def _functional(*layers, inputs=("input_1",), outputs=None) -> dict:
    outputs = outputs or (layers[-1]["name"],)
    return {"class_name": "Model", "keras_version": "1.2.2", "config": {
        "name": "model_1", "layers": list(layers), "input_layers": [[n, 0, 0] for n in inputs],
        "output_layers": [[n, 0, 0] for n in outputs]}}


def _node(kind: str, name: str, inbound: list, **config) -> dict:
    return {"class_name": kind, "name": name, "config": {"name": name, **config},
            "inbound_nodes": [[[n, 0, 0] for n in inbound]] if inbound else []}


_INPUT = _node("InputLayer", "input_1", [], batch_input_shape=[None, 5, 3], input_dtype="float32", sparse=False)


@pytest.mark.parametrize("doc, message", [
    (_functional(_INPUT, _node("LSTM", "a", ["input_1"], output_dim=4), _node("Dense", "b", ["input_1"], output_dim=4),
                 outputs=("a",)),
     "model.layers[1]: the output of `b` reaches no model output; list it under `outputs:` or remove the layer"),
    (_functional(_INPUT, _node("InputLayer", "input_2", []), _node("LSTM", "a", ["input_1"], output_dim=4),
                 inputs=("input_1", "input_2"), outputs=("a",)),
     "model.inputs.input_2.batch_shape must be a non-empty list"),
    (_functional(_INPUT, _node("Model", "inner", ["input_1"], layers=[])),
     "the nested model `inner` has 0 inputs, fed 1"),
    ({"class_name": "Sequential", "config": [
        {"class_name": "Merge", "config": {"name": "merge_1", "layers": []}},
        {"class_name": "LSTM", "config": {"name": "lstm_1", "output_dim": 4}}]},
     "layer `merge_1` (Merge) merges 0 Sequential branches; it needs at least two"),
])
def test_graph_documents_that_were_refused_as_chains(tmp_path, doc, message):
    path = tmp_path / "model.json"
    path.write_text(json.dumps(doc))
    result = CliRunner().invoke(main, ["validate", str(path)])
    assert result.exit_code == 2
    lines = [line for line in result.output.splitlines() if "error:" in line]
    assert len(lines) == 1 and message in lines[0], result.output


def test_two_branch_functional_merge_is_a_graph(tmp_path):
    doc = _functional(_INPUT, _node("LSTM", "a", ["input_1"], output_dim=4), _node("LSTM", "b", ["input_1"], output_dim=4),
                      _node("Merge", "merge_1", ["a", "b"], mode="concat"))
    path = tmp_path / "model.json"
    path.write_text(json.dumps(doc))
    config = load_config(path)
    assert config.model.output_shapes == {"merge_1": (None, 8)}
