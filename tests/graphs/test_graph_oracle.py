"""Graphs against Keras 3 functional models with the same weights: outputs and gradients (inputs and every weight).

Covered: two inputs (sequence + static features), a layer shared by two inputs, every Keras 1 Merge mode and the
Keras 2 merge layers, two outputs, an encoder-decoder passing LSTM states, and masks through a shared layer.
"""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf
import yaml


from rnncli.config.validate import load_config
from rnncli.model import build_model

B, T, D, U = 3, 5, 4, 6
RNN = {"inner_activation": "sigmoid"}


def _build(tmp_path, model: dict, seed: int = 3):
    path = tmp_path / "graph.yaml"
    path.write_text(yaml.safe_dump({"seed": seed, "model": model}, sort_keys=False))
    config = load_config(path)
    graph = build_model(config.model, config.seed)
    # larger weights than the initializers draw, so that gates leave their linear range
    rng = np.random.default_rng(seed)
    for layer in graph.layers:
        arrays = layer.get_weights()
        if arrays:
            layer.set_weights([rng.uniform(-0.7, 0.7, np.shape(a)).astype(np.float32) for a in arrays])
    return config.model, graph


def _inputs(plan, seed: int = 0) -> dict:
    rng = np.random.default_rng(seed)
    result = {}
    for graph_input in plan.inputs:
        shape = (B,) + tuple(graph_input.shape[1:])
        if graph_input.dtype == "int32":
            value = rng.integers(1, 7, size=shape).astype(np.int32)
            value[0, :2] = 0  # padding at the front of the first sample
        else:
            value = rng.normal(size=shape).astype(np.float32)
        result[graph_input.name] = value
    return result


def _close(mine, theirs, what: str, rtol: float = 1e-5) -> None:
    mine, theirs = np.asarray(tf.convert_to_tensor(mine)), np.asarray(tf.convert_to_tensor(theirs))
    assert mine.shape == theirs.shape, f"{what}: shape {mine.shape} != {theirs.shape}"
    scale = max(1.0, float(np.max(np.abs(theirs))) if theirs.size else 1.0)
    np.testing.assert_allclose(mine, theirs, rtol=rtol, atol=rtol * scale, err_msg=what)


def check_against_keras(plan, graph, keras_graph, seed: int = 0) -> None:
    """Outputs, and gradients of a random projection of every output w.r.t. the float inputs and all weights."""
    keras_model, keras_layers = keras_graph(plan, graph)
    feeds = _inputs(plan, seed)
    rng = np.random.default_rng(seed + 1)
    projections = {name: rng.normal(size=(B,) + tuple(plan.output_shapes[name][1:])).astype(np.float32)
                   for name in plan.outputs}
    float_inputs = [i.name for i in plan.inputs if i.dtype == "float32"]

    x_mine = {k: tf.constant(v) for k, v in feeds.items()}
    with tf.GradientTape() as tape:
        tape.watch([x_mine[k] for k in float_inputs])
        outputs, _ = graph(x_mine)
        objective = tf.add_n([tf.reduce_sum(outputs[n] * projections[n]) for n in plan.outputs])
    mine_weights = [v for layer in graph.layers for v in layer.weight_variables()]
    grads_mine = tape.gradient(objective, [x_mine[k] for k in float_inputs] + mine_weights)

    x_keras = {k: tf.constant(v) for k, v in feeds.items()}
    keras_weights = [w.value for layer in graph.layers if layer.weight_variables()
                     for w in keras_layers[layer.layer_name].trainable_weights]
    with tf.GradientTape() as tape:
        tape.watch([x_keras[k] for k in float_inputs])
        theirs = keras_model([x_keras[i.name] for i in plan.inputs], training=False)
        theirs = theirs if isinstance(theirs, (list, tuple)) else [theirs]
        objective_k = tf.add_n([tf.reduce_sum(t * projections[n]) for t, n in zip(theirs, plan.outputs)])
    grads_keras = tape.gradient(objective_k, [x_keras[k] for k in float_inputs] + keras_weights)

    for name, value in zip(plan.outputs, theirs):
        _close(outputs[name], value, f"output {name}")
    assert len(grads_mine) == len(grads_keras)
    labels = [f"d/d input {k}" for k in float_inputs] + [f"d/d {v.name}" for v in mine_weights]
    for label, g_mine, g_keras in zip(labels, grads_mine, grads_keras):
        _close(g_mine, g_keras, label, rtol=1e-4)


def test_two_inputs_history_plus_static_features(keras_oracle, tmp_path):
    plan, graph = _build(tmp_path, {
        "inputs": {"history": {"shape": [T, D]}, "static": {"shape": [3]}},
        "layers": [
            {"type": "LSTM", "name": "encoder", "output_dim": U, "input": "history", **RNN},
            {"type": "Dense", "name": "features", "output_dim": 4, "activation": "tanh", "input": "static"},
            {"type": "Merge", "mode": "concat", "inputs": ["encoder", "features"]},
            {"type": "Dense", "name": "out", "output_dim": 2},
        ],
        "outputs": ["out"]})
    assert [layer.name for layer in plan.layers] == ["encoder", "features", "merge_1", "out"]
    check_against_keras(plan, graph, keras_oracle)


def test_shared_layer_applies_the_same_weights_to_both_inputs(keras_oracle, tmp_path):
    plan, graph = _build(tmp_path, {
        "inputs": {"forward": {"shape": [T, D]}, "reverse": {"shape": [T, D]}},
        "layers": [
            {"type": "GRU", "name": "trunk", "output_dim": U, "input": "forward", **RNN},
            {"share": "trunk", "name": "trunk_rc", "input": "reverse"},
            {"type": "Merge", "mode": "ave", "inputs": ["trunk", "trunk_rc"], "name": "average"},
            {"type": "Dense", "name": "out", "output_dim": 1, "activation": "sigmoid"},
        ]})
    assert [layer.name for layer in plan.layers] == ["trunk", "average", "out"]
    assert plan.params == 3 * (D * U + U * U + U) + U + 1  # the shared GRU counted once
    assert len(graph.trainable_by_path()) == 5
    check_against_keras(plan, graph, keras_oracle)
    # sharing means one set of weights: the same input through both branches gives the branch output itself
    x = np.random.default_rng(5).normal(size=(B, T, D)).astype(np.float32)
    trunk = graph.layers[0]
    out, _ = graph({"forward": x, "reverse": x})
    expected, _ = graph.layers[2](trunk(tf.constant(x))[0])
    _close(out["out"], expected, "same input through the shared trunk")


MERGES = [
    ({"type": "Merge", "mode": "sum"}, 2),
    ({"type": "Merge", "mode": "mul"}, 3),
    ({"type": "Merge", "mode": "ave"}, 3),
    ({"type": "Merge", "mode": "max"}, 2),
    ({"type": "Merge", "mode": "concat"}, 2),
    ({"type": "Merge", "mode": "dot", "dot_axes": 1}, 2),
    ({"type": "Merge", "mode": "cos", "dot_axes": 1}, 2),
    ({"type": "Add"}, 3),
    ({"type": "Multiply"}, 2),
    ({"type": "Average"}, 2),
    ({"type": "Maximum"}, 3),
    ({"type": "Concatenate", "axis": -1}, 3),
    ({"type": "Dot", "axes": 1}, 2),
    ({"type": "Dot", "axes": 1, "normalize": True}, 2),
]


@pytest.mark.parametrize("merge,count", MERGES, ids=[f"{m['type']}-{m.get('mode', '')}-{n}" for m, n in MERGES])
def test_merge_modes_on_vectors(keras_oracle, tmp_path, merge, count):
    inputs = {f"x{i}": {"shape": [D]} for i in range(count)}
    layers = [{"type": "Dense", "name": f"d{i}", "output_dim": U, "activation": "tanh", "input": f"x{i}"}
              for i in range(count)]
    layers.append({**merge, "name": "merged", "inputs": [f"d{i}" for i in range(count)]})
    layers.append({"type": "Dense", "name": "out", "output_dim": 2})
    plan, graph = _build(tmp_path, {"inputs": inputs, "layers": layers})
    check_against_keras(plan, graph, keras_oracle)


SEQUENCE_MERGES = [
    {"type": "Merge", "mode": "concat", "concat_axis": 1},
    {"type": "Merge", "mode": "concat", "concat_axis": -1},
    {"type": "Merge", "mode": "dot", "dot_axes": [2, 2]},
    {"type": "Merge", "mode": "dot", "dot_axes": [1, 1]},
    {"type": "Merge", "mode": "mul"},
]


@pytest.mark.parametrize("merge", SEQUENCE_MERGES, ids=[f"{m['mode']}-{m.get('concat_axis', m.get('dot_axes'))}"
                                                        for m in SEQUENCE_MERGES])
def test_merge_modes_on_sequences(keras_oracle, tmp_path, merge):
    plan, graph = _build(tmp_path, {
        "inputs": {"a": {"shape": [T, D]}, "b": {"shape": [T, D]}},
        "layers": [
            {"type": "LSTM", "name": "ra", "output_dim": U, "return_sequences": True, "input": "a", **RNN},
            {"type": "SimpleRNN", "name": "rb", "output_dim": U, "return_sequences": True, "input": "b"},
            {**merge, "name": "merged", "inputs": ["ra", "rb"]},
        ]})
    check_against_keras(plan, graph, keras_oracle)


def test_two_outputs(keras_oracle, tmp_path):
    plan, graph = _build(tmp_path, {
        "inputs": {"x": {"shape": [T, D]}},
        "layers": [
            {"type": "LSTM", "name": "trunk", "output_dim": U, "return_sequences": True, **RNN},
            {"type": "TimeDistributed", "name": "per_step", "layer": {"type": "Dense", "output_dim": 2}},
            {"type": "GRU", "name": "summary", "output_dim": U, "input": "trunk", **RNN},
            {"type": "Dense", "name": "label", "output_dim": 3, "activation": "softmax"},
        ],
        "outputs": ["per_step", "label"]})
    assert plan.output_shapes == {"per_step": (None, T, 2), "label": (None, 3)}
    check_against_keras(plan, graph, keras_oracle)


def test_encoder_decoder_passes_lstm_states(keras_oracle, tmp_path):
    plan, graph = _build(tmp_path, {
        "inputs": {"source": {"shape": [T, D]}, "target": {"shape": [T + 2, 3]}},
        "layers": [
            {"type": "LSTM", "name": "encoder", "output_dim": U, "return_state": True, "input": "source", **RNN},
            {"type": "LSTM", "name": "decoder", "output_dim": U, "return_sequences": True, "input": "target",
             "initial_state": ["encoder:1", "encoder:2"], **RNN},
            {"type": "TimeDistributed", "name": "out", "layer": {"type": "Dense", "output_dim": 2}},
        ],
        "outputs": ["out", "encoder:1"]})
    check_against_keras(plan, graph, keras_oracle)


def test_gru_encoder_decoder_and_state_output(keras_oracle, tmp_path):
    plan, graph = _build(tmp_path, {
        "inputs": {"source": {"shape": [T, D]}, "target": {"shape": [T, D]}},
        "layers": [
            {"type": "GRU", "name": "encoder", "output_dim": U, "return_state": True, "input": "source", **RNN},
            {"type": "GRU", "name": "decoder", "output_dim": U, "input": "target", "initial_state": "encoder:1",
             **RNN},
        ]})
    check_against_keras(plan, graph, keras_oracle)


def test_masks_flow_through_a_shared_layer(keras_oracle, tmp_path):
    plan, graph = _build(tmp_path, {
        "inputs": {"words": {"shape": [T]}, "other": {"shape": [T]}},
        "layers": [
            {"type": "Embedding", "name": "embed", "input_dim": 7, "output_dim": D, "mask_zero": True,
             "input": "words"},
            {"share": "embed", "name": "embed_other", "input": "other"},
            {"type": "LSTM", "name": "reader", "output_dim": U, "input": "embed", **RNN},
            {"share": "reader", "name": "reader_other", "input": "embed_other"},
            {"type": "Merge", "mode": "sum", "inputs": ["reader", "reader_other"]},
        ]})
    assert [i.dtype for i in plan.inputs] == ["int32", "int32"]
    check_against_keras(plan, graph, keras_oracle)
