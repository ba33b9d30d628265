"""The conformance suite's descriptors: one per layer type in ``LAYER_SPECS``, plus stateful and masked variants.

A descriptor is a tiny model at the config surface (the layer under test and whatever it needs around it) and the
shape of its input. Every check in this folder runs over every descriptor (Sonnet's ``conformance`` suite); the
coverage test fails when a layer type has no descriptor, so a new layer type is added here, in ``DESCRIPTORS``.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass

import numpy as np
import pytest
import tensorflow as tf

B, T, D = 2, 6, 3  # T > unroll.SHORT_SEQUENCE, so the recurrent layers run their tf.while_loop


@dataclass(frozen=True)
class Descriptor:
    """``covers``: the layer type under test; ``layers``: the model's layer configs (the first one without its
    input shape); ``input_shape``: one sample's shape; ``vocabulary``: integer inputs in [0, vocabulary) instead of
    floats; ``padded``: the inputs end with all-zero steps (for masks); ``stateful``: the batch size is fixed."""

    name: str
    covers: str
    layers: tuple[dict, ...]
    input_shape: tuple[int, ...] = (T, D)
    vocabulary: int | None = None
    padded: bool = False
    stateful: bool = False
    tags: tuple[str, ...] = ()
    graph: bool = False  # the layers name their inputs (`input`/`inputs`); the model input is called `x`

    def model_layers(self) -> list[dict] | dict:
        if self.graph:
            shape = {"batch_shape": [B, *self.input_shape]} if self.stateful else {"shape": list(self.input_shape)}
            return {"inputs": {"x": shape}, "layers": [dict(layer) for layer in self.layers]}
        first = dict(self.layers[0])
        if self.stateful:
            first["batch_input_shape"] = [B, *self.input_shape]
        else:
            first["input_shape"] = list(self.input_shape)
        return [first, *(dict(layer) for layer in self.layers[1:])]

    def batches(self, count: int) -> list[tf.Tensor]:
        """``count`` different input batches [B, *input_shape] of the same shape and dtype."""
        rng = np.random.default_rng(zlib.crc32(self.name.encode()))
        shape = (B, *self.input_shape)
        result = []
        for _ in range(count):
            if self.vocabulary is not None:
                x = rng.integers(1, self.vocabulary, size=shape).astype(np.int32)
            else:
                x = rng.normal(size=shape).astype(np.float32)
            if self.padded:
                x[0, -2:] = 0  # the first sample ends with two padded steps
            result.append(tf.constant(x))
        return result


def _rnn(kind: str, **args) -> dict:
    return {"type": kind, "output_dim": 4, **args}


DESCRIPTORS: tuple[Descriptor, ...] = (
    Descriptor("simple_rnn", "SimpleRNN", (_rnn("SimpleRNN", return_sequences=True, dropout_W=0.3, dropout_U=0.3),)),
    Descriptor("gru_mem", "GRU", (_rnn("GRU", consume_less="mem", dropout_W=0.3, dropout_U=0.3),)),
    Descriptor("gru_reset_after_gpu_backwards", "GRU",
               (_rnn("GRU", reset_after=True, consume_less="gpu", go_backwards=True, dropout_W=0.3, dropout_U=0.3),)),
    Descriptor("gru_reset_after_stateful_masked", "GRU",
               ({"type": "Masking"}, _rnn("GRU", reset_after=True, stateful=True, return_sequences=True,
                                          dropout_U=0.2)),
               stateful=True, padded=True, tags=("stateful", "masked")),
    Descriptor("lstm_gpu_backwards", "LSTM",
               (_rnn("LSTM", consume_less="gpu", go_backwards=True, dropout_W=0.3, dropout_U=0.3),)),
    Descriptor("lstm_stateful", "LSTM", (_rnn("LSTM", stateful=True, return_sequences=True, dropout_U=0.2),),
               stateful=True, tags=("stateful",)),
    Descriptor("lstm_masked", "LSTM",
               ({"type": "Masking"}, _rnn("LSTM", return_sequences=True, go_backwards=True, dropout_W=0.2)),
               padded=True, tags=("masked",)),
    Descriptor("embedding_masked_gru", "Embedding",
               ({"type": "Embedding", "input_dim": 9, "output_dim": 3, "mask_zero": True, "dropout": 0.2},
                _rnn("GRU", return_sequences=True)),
               input_shape=(T,), vocabulary=9, padded=True, tags=("masked",)),
    Descriptor("masking", "Masking", ({"type": "Masking"}, _rnn("SimpleRNN", consume_less="gpu")), padded=True,
               tags=("masked",)),
    Descriptor("dense", "Dense", ({"type": "Dense", "output_dim": 2, "activation": "tanh"},)),
    Descriptor("time_distributed", "TimeDistributed", ({"type": "TimeDistributed",
                                                        "layer": {"type": "Dense", "output_dim": 2}},)),
    Descriptor("dropout", "Dropout", ({"type": "Dropout", "p": 0.5}, {"type": "Dense", "output_dim": 2})),
    Descriptor("flatten", "Flatten", ({"type": "Flatten"}, {"type": "Dense", "output_dim": 2})),
    Descriptor("repeat_vector", "RepeatVector", ({"type": "RepeatVector", "n": 3}, _rnn("GRU")), input_shape=(D,)),
    Descriptor("activation", "Activation", ({"type": "Activation", "activation": "softmax"},)),
    Descriptor("bidirectional", "Bidirectional",
               ({"type": "Bidirectional", "merge_mode": "concat",
                 "layer": _rnn("LSTM", return_sequences=True, dropout_U=0.2)},)),
    Descriptor("bidirectional_stateful_masked", "Bidirectional",
               ({"type": "Masking"},
                {"type": "Bidirectional", "merge_mode": "sum", "layer": _rnn("GRU", stateful=True)}),
               stateful=True, padded=True, tags=("stateful", "masked")),
    # the Keras 1 layers recurrent models sit next to (rnncli import); none of them takes a mask, as in Keras 1
    Descriptor("input_layer", "InputLayer", ({"type": "InputLayer"}, _rnn("GRU"))),
    Descriptor("reshape", "Reshape", ({"type": "Reshape", "target_shape": [D, T]}, _rnn("SimpleRNN"))),
    Descriptor("permute", "Permute", ({"type": "Permute", "dims": [2, 1]}, _rnn("LSTM", consume_less="mem"))),
    Descriptor("convolution1d", "Convolution1D",
               ({"type": "Convolution1D", "nb_filter": 4, "filter_length": 3, "activation": "relu",
                 "border_mode": "same"}, _rnn("LSTM"))),
    # a normalised output sums to ~0 over the batch, so each is followed by a nonlinearity (else the checked
    # gradients are rounding noise)
    Descriptor("batch_normalization", "BatchNormalization",
               ({"type": "BatchNormalization", "momentum": 0.9}, _rnn("LSTM", return_sequences=True))),
    Descriptor("batch_normalization_2d", "BatchNormalization",
               ({"type": "BatchNormalization", "center": False}, {"type": "Dense", "output_dim": 2,
                                                                   "activation": "tanh"}), input_shape=(D,)),
    Descriptor("leaky_relu_masked", "LeakyReLU", ({"type": "Masking"}, {"type": "LeakyReLU", "alpha": 0.2},
                                                  _rnn("GRU", reset_after=True)), padded=True, tags=("masked",)),
    Descriptor("elu", "ELU", (_rnn("SimpleRNN", return_sequences=True), {"type": "ELU"})),
    Descriptor("prelu", "PReLU", ({"type": "PReLU", "init": {"name": "uniform", "scale": 0.5}}, _rnn("LSTM"))),
    Descriptor("spatial_dropout1d", "SpatialDropout1D", ({"type": "SpatialDropout1D", "p": 0.4}, _rnn("GRU"))),
    Descriptor("highway", "Highway", (_rnn("LSTM"), {"type": "Highway", "activation": "tanh"})),
    Descriptor("maxout_dense", "MaxoutDense", (_rnn("GRU"), {"type": "MaxoutDense", "output_dim": 2,
                                                             "nb_feature": 3})),
    Descriptor("max_pooling1d", "MaxPooling1D", ({"type": "MaxPooling1D", "pool_length": 2}, _rnn("GRU"))),
    Descriptor("average_pooling1d", "AveragePooling1D",
               ({"type": "AveragePooling1D", "pool_length": 2, "stride": 1}, _rnn("SimpleRNN"))),
    Descriptor("global_max_pooling1d", "GlobalMaxPooling1D",
               (_rnn("GRU", return_sequences=True), {"type": "GlobalMaxPooling1D"})),
    Descriptor("global_average_pooling1d", "GlobalAveragePooling1D",
               (_rnn("LSTM", return_sequences=True), {"type": "GlobalAveragePooling1D"})),
    # graphs (issue 27): every merge layer over two branches of one input, and a layer shared by two nodes
    *(Descriptor(f"merge_{kind.lower()}", kind,
                 ({"type": "GRU", "name": "g", "output_dim": 4, "input": "x", "dropout_W": 0.3},
                  {"type": "LSTM", "name": "l", "output_dim": 4, "input": "x", "consume_less": "gpu"},
                  {"type": kind, "name": "m", "inputs": ["g", "l"], **args}),
                 graph=True, tags=("graph",))
      for kind, args in (("Merge", {"mode": "cos", "dot_axes": 1}), ("Add", {}), ("Multiply", {}), ("Average", {}),
                         ("Maximum", {}), ("Concatenate", {"axis": -1}), ("Dot", {"axes": 1}))),
    Descriptor("graph_shared_dense_merge_sum", "Merge",
               ({"type": "Dense", "name": "d", "output_dim": D, "activation": "tanh", "input": "x"},
                {"share": "d", "name": "d_again", "input": "d"},
                {"type": "Merge", "name": "m", "mode": "sum", "inputs": ["d", "d_again"]},
                _rnn("GRU", name="after", return_sequences=True, dropout_U=0.2)),
               graph=True, tags=("graph", "shared")),
)


@pytest.fixture(scope="session")
def descriptors() -> tuple[Descriptor, ...]:
    return DESCRIPTORS


@pytest.fixture(scope="module", params=DESCRIPTORS, ids=[d.name for d in DESCRIPTORS])
def descriptor(request) -> Descriptor:
    return request.param
