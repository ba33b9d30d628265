"""Graph tests: a Keras 3 functional model rebuilt from a ``GraphPlan`` with rnncli's weights (the oracle of the graph tests)."""

from __future__ import annotations

import numpy as np
import pytest


def _keras_layer(config: dict, return_state: bool = False):
    import keras

    kind, name = config["type"], config["name"]
    if kind in ("LSTM", "GRU", "SimpleRNN"):
        assert config.get("inner_activation", "sigmoid") == "sigmoid", "oracles use sigmoid gates"
        common = dict(activation=config["activation"], return_sequences=config["return_sequences"],
                      go_backwards=config["go_backwards"], return_state=return_state, name=name)
        if kind == "SimpleRNN":
            return keras.layers.SimpleRNN(config["output_dim"], **common)
        extra = {"reset_after": False} if kind == "GRU" else {}
        cls = keras.layers.GRU if kind == "GRU" else keras.layers.LSTM
        return cls(config["output_dim"], recurrent_activation="sigmoid", use_cudnn=False, **extra, **common)
    if kind == "Dense":
        return keras.layers.Dense(config["output_dim"], activation=config["activation"], use_bias=config["bias"],
                                  name=name)
    if kind == "TimeDistributed":
        return keras.layers.TimeDistributed(_keras_layer(config["layer"]), name=name)
    if kind == "Embedding":
        return keras.layers.Embedding(config["input_dim"], config["output_dim"], mask_zero=config["mask_zero"],
                                      name=name)
    if kind == "Dropout":
        return keras.layers.Dropout(config["p"], name=name)
    if kind == "Merge":
        mode = config["mode"]
        axes = config["dot_axes"]
        return {"sum": lambda: keras.layers.Add(name=name), "mul": lambda: keras.layers.Multiply(name=name),
                "ave": lambda: keras.layers.Average(name=name), "max": lambda: keras.layers.Maximum(name=name),
                "concat": lambda: keras.layers.Concatenate(axis=config["concat_axis"], name=name),
                "dot": lambda: keras.layers.Dot(axes=axes, name=name),
                "cos": lambda: keras.layers.Dot(axes=axes, normalize=True, name=name)}[mode]()
    raise NotImplementedError(kind)


def keras_graph(plan, model):
    """(Keras model, {layer name: Keras layer}) computing ``plan`` with the weights of rnncli ``model``."""
    import keras

    tensors = {}
    inputs = []
    for graph_input in plan.inputs:
        tensor = keras.Input(batch_shape=graph_input.shape, dtype=graph_input.dtype, name=graph_input.name)
        tensors[graph_input.name] = tensor
        inputs.append(tensor)
    layers = {}
    for node in plan.nodes:
        if node.owner not in layers:
            states = any(n.return_state for n in plan.nodes if n.owner == node.owner)
            layers[node.owner] = _keras_layer(node.layer.config, states)
        layer = layers[node.owner]
        xs = [tensors[t] for t in node.inbound]
        kwargs = {}
        if node.initial_state:
            kwargs["initial_state"] = [tensors[t] for t in node.initial_state]
        out = layer(xs if node.layer.type == "Merge" else xs[0], **kwargs)
        outs = list(out) if isinstance(out, (list, tuple)) else [out]
        outs = outs if node.return_state else outs[:1]
        for tensor, value in zip(node.tensor_names, outs):
            tensors[tensor] = value
    keras_model = keras.Model(inputs, [tensors[o] for o in plan.outputs])
    for rnn_layer in model.layers:
        if rnn_layer.layer_name in layers and rnn_layer.get_weights():
            layers[rnn_layer.layer_name].set_weights([np.asarray(w) for w in rnn_layer.get_weights()])
    return keras_model, layers


@pytest.fixture(scope="session")
def keras_oracle():
    """``keras_graph(plan, model)``: the Keras 3 functional rebuild of a graph with rnncli's weights."""
    return keras_graph
