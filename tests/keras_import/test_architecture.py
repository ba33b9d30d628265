"""Architecture documents in the wild: JSON/YAML forms, Python 2 tags, functional chains, and one-line refusals."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest
from click.testing import CliRunner

from rnncli.cli.main import main
from rnncli.config.validate import load_config
from rnncli.errors import ConfigError

LSTM = {"class_name": "LSTM", "config": {"name": "lstm_1", "output_dim": 4, "batch_input_shape": [None, 5, 3]}}


def errors(path: Path) -> list[str]:
    with pytest.raises(ConfigError) as info:
        load_config(path)
    return [str(d) for d in info.value.diagnostics]


def write(tmp_path: Path, doc, name: str = "model.json") -> Path:
    path = tmp_path / name
    path.write_text(doc if isinstance(doc, str) else json.dumps(doc))
    return path


def functional(*layers, inputs=("input_1",), outputs=None) -> dict:
    outputs = outputs or (layers[-1]["name"],)
    return {"class_name": "Model", "keras_version": "1.2.2", "config": {
        "name": "model_1", "layers": list(layers), "input_layers": [[n, 0, 0] for n in inputs],
        "output_layers": [[n, 0, 0] for n in outputs]}}


def node(kind: str, name: str, inbound: list, **config) -> dict:
    return {"class_name": kind, "name": name, "config": {"name": name, **config},
            "inbound_nodes": [[[n, 0, 0] for n in inbound]] if inbound else []}


INPUT = node("InputLayer", "input_1", [], batch_input_shape=[None, 5, 3], input_dtype="float32", sparse=False)


def test_python2_yaml_tags_and_config_as_name_layers(tmp_path: Path) -> None:
    path = write(tmp_path, textwrap.dedent("""\
        class_name: Sequential
        config:
          name: !!python/unicode 'sequential_1'
          layers:
          - class_name: !!python/unicode 'LSTM'
            config:
              name: !!python/str lstm_1
              output_dim: 4
              batch_input_shape: !!python/tuple [null, 5, 3]
              activation: !!python/unicode 'tanh'
              return_sequences: true
          - class_name: TimeDistributedDense
            config: {name: tdd_1, output_dim: 2, input_dim: null, W_constraint: null, activity_regularizer: null}
        keras_version: !!python/unicode '1.0.4'
        """), "model.yaml")
    config = load_config(path)
    assert [layer.type for layer in config.model.layers] == ["LSTM", "TimeDistributed"]
    assert config.model.output_shape == (None, 5, 2)


def test_single_chain_functional_model_becomes_sequential(tmp_path: Path) -> None:
    doc = functional(INPUT, node("LSTM", "lstm_1", ["input_1"], output_dim=4, return_sequences=True),
                     node("Dense", "dense_1", ["lstm_1"], output_dim=2))
    config = load_config(write(tmp_path, doc))
    assert [layer.name for layer in config.model.layers] == ["lstm_1", "dense_1"]
    assert config.model.input_shape == (None, 5, 3)


@pytest.mark.parametrize("doc, message", [
    (functional(INPUT, node("Lambda", "lambda_1", ["input_1"], function="..."), node("LSTM", "lstm_1", ["lambda_1"],
                                                                                     output_dim=4)),
     "layer `lambda_1` (Lambda) holds Python code"),
    # graphs (Merge, several inputs, branches, nested models) are read since issue 27: see
    # tests/graphs/test_graph_import.py::test_graph_documents_that_were_refused_as_chains
])
def test_refusals_are_one_message_naming_the_layer(tmp_path: Path, doc: dict, message: str) -> None:
    found = errors(write(tmp_path, doc))
    assert len(found) == 1 and message in found[0], found


KERAS2_LSTM = {"class_name": "LSTM", "config": {
    "name": "lstm_1", "units": 4, "batch_input_shape": [None, 5, 3], "activation": "tanh",
    "recurrent_activation": "hard_sigmoid", "use_bias": True, "return_sequences": True, "implementation": 2,
    "kernel_initializer": {"class_name": "VarianceScaling",
                           "config": {"scale": 1.0, "mode": "fan_avg", "distribution": "uniform", "seed": None}},
    "recurrent_initializer": {"class_name": "Orthogonal", "config": {"gain": 1.0, "seed": None}},
    "bias_initializer": {"class_name": "Zeros", "config": {}}, "unit_forget_bias": True,
    "kernel_regularizer": {"class_name": "L1L2", "config": {"l1": 0.0, "l2": 0.01}}, "recurrent_regularizer": None,
    "bias_regularizer": None, "activity_regularizer": None, "kernel_constraint": None, "recurrent_constraint": None,
    "bias_constraint": None, "dropout": 0.1, "recurrent_dropout": 0.0}}
KERAS2_DENSE = {"class_name": "Dense", "config": {"name": "dense_1", "units": 2, "activation": "softmax",
                                                  "use_bias": True, "kernel_initializer": "glorot_uniform"}}


@pytest.mark.parametrize("doc, message", [
    ({"name": "Sequential", "layers": [{"name": "LSTM", "output_dim": 4, "input_dim": 3}], "loss": "mse"},
     "this is a Keras 0.3 document"),
])
def test_other_keras_versions_are_recognised_up_front(tmp_path: Path, doc: dict, message: str) -> None:
    path = write(tmp_path, doc)
    found = errors(path)
    assert len(found) == 1 and message in found[0] and "rnncli reads Keras 1" in found[0], found
    result = CliRunner().invoke(main, ["validate", str(path)])
    assert result.exit_code == 2 and result.output.count("error:") == 1


@pytest.mark.parametrize("doc", [
    {"module": "keras", "class_name": "Sequential", "registered_name": None, "config": {"name": "s", "layers": [
        {"module": "keras.layers", "class_name": "InputLayer", "config": {"batch_shape": [None, 5, 3]}},
        {"module": "keras.layers", "class_name": "LSTM", "config": {"name": "lstm_1", "units": 4}}]}},
    {"class_name": "Sequential", "keras_version": "3.3.3", "config": {"name": "s", "layers": [KERAS2_LSTM]}},
], ids=["module-wrappers", "keras_version-3.3.3"])
def test_keras3_documents_are_read(tmp_path: Path, doc: dict) -> None:
    """Issue 28: Keras 3 documents (formerly refused) are read like Keras 2 ones."""
    config = load_config(write(tmp_path, doc))
    lstm = config.model.layers[-1]
    assert lstm.type == "LSTM" and lstm.config["output_dim"] == 4 and lstm.input_shape == (None, 5, 3)
    assert "converted from Keras 3" in config.notes[0]


def test_keras2_recurrent_models_are_read_as_keras1(tmp_path: Path) -> None:
    doc = {"class_name": "Sequential", "keras_version": "2.1.6", "backend": "tensorflow",
           "config": [KERAS2_LSTM, KERAS2_DENSE]}
    config = load_config(write(tmp_path, doc))
    lstm, dense = (layer.config for layer in config.model.layers)
    assert (lstm["output_dim"], lstm["consume_less"], lstm["dropout_W"], lstm["forget_bias_init"]) == (4, "gpu", 0.1,
                                                                                                      "one")
    assert lstm["inner_init"] == {"name": "orthogonal", "scale": 1.0} and lstm["W_regularizer"]["l2"] == 0.01
    assert dense["output_dim"] == 2 and dense["activation"] == "softmax"
    assert "converted from Keras 2.1.6" in config.notes[0]


@pytest.mark.parametrize("change, message", [
    ({"class_name": "GRU", "use_bias": False}, "layer `lstm_1` (GRU) has `use_bias: false`"),
    ({"return_state": True}, "layer `lstm_1` (LSTM) has `return_state: true`; a chain passes on the output only"),
    ({"time_major": True}, "has `time_major: true`"),
    ({"class_name": "BatchNormalization"}, "(BatchNormalization) has no Keras 1 counterpart"),
    ({"kernel_constraint": {"class_name": "RadialConstraint", "config": {}}},
     "uses constraint 'RadialConstraint', which rnncli does not have"),
    ({"class_name": "Dense", "units": 2, "kernel_constraint": {"class_name": "MaxNorm", "config": {}},
      "activity_regularizer": {"class_name": "L1L2", "config": {"l1": 0.1}}, "recurrent_constraint": {}},
     "(Dense) has `recurrent_constraint`, which rnncli does not support on this layer"),
])
def test_keras2_layers_without_keras1_math_are_refused(tmp_path: Path, change: dict, message: str) -> None:
    layer = {"class_name": change.pop("class_name", "LSTM"), "config": dict(KERAS2_LSTM["config"], **change)}
    found = errors(write(tmp_path, {"class_name": "Sequential", "keras_version": "2.2.4", "config": [layer]}))
    assert len(found) == 1 and message in found[0], found


def test_keras2_reset_after_gru_is_read_as_rnncli_reset_after(tmp_path: Path) -> None:
    """Issue 28: a Keras 2.1.3+ GRU with `reset_after: true` is no longer refused; it keeps its math."""
    layer = {"class_name": "GRU", "config": dict(KERAS2_LSTM["config"], reset_after=True)}
    config = load_config(write(tmp_path, {"class_name": "Sequential", "keras_version": "2.2.4", "config": [layer]}))
    gru = config.model.layers[0]
    assert gru.config["reset_after"] is True and gru.type == "GRU"
    features, units = gru.input_shape[-1], gru.config["output_dim"]
    assert gru.params == 3 * (features * units + units * units + 2 * units)


def test_keras10x_top_level_compile_arguments_become_training(tmp_path: Path) -> None:
    doc = {"class_name": "Sequential", "config": [LSTM], "loss": "categorical_crossentropy",
           "optimizer": {"name": "SGD", "lr": 0.009999999776482582, "momentum": 0.0, "decay": 0.0, "nesterov": False},
           "sample_weight_mode": None}
    config = load_config(write(tmp_path, doc))
    assert config.training["loss"] == "categorical_crossentropy"
    assert config.training["optimizer"]["name"] == "sgd" and config.training["optimizer"]["lr"] == 0.01
    doc["sample_weight_mode"] = "temporal"
    assert "temporal" in load_config(write(tmp_path, doc)).notes[0]


def test_an_rnncli_config_without_model_is_not_taken_for_keras03(tmp_path: Path) -> None:
    found = errors(write(tmp_path, "layers:\n  - {type: LSTM, output_dim: 4, input_shape: [5, 3]}\n", "c.yaml"))
    assert not any("Keras 0.3" in message for message in found) and any("model" in message for message in found)
