"""Build a ``Sequential`` model of rnncli layers from a validated ``ModelPlan``.

The model owns the layers (variables created eagerly, initial values drawn in numpy from the config seed, then
overwritten by ``weights:`` files), propagates masks, sums regularization losses, and exposes the state variables of
stateful layers. Under ``precision="mixed_bfloat16"`` every layer computes in bfloat16 (``Layer.compute_dtype``)
while its variables stay float32; the model's output is float32 in either precision, so losses and metrics are too.
"""

from __future__ import annotations

import copy

import numpy as np
import tensorflow as tf

from rnncli.config.graph_plan import GraphPlan
from rnncli.config.plan import LayerPlan, ModelPlan, prelu_alpha_shape
from rnncli.config.weight_layouts import weights_to_fused
from rnncli.config.weights import read_weight_arrays
from rnncli.errors import ConfigError, Diagnostic
from rnncli.graphs.model import GraphModel
from rnncli.layers import advanced, convolutional
from rnncli.layers.base import Layer, as_float32
from rnncli.layers.stack import LayerStack
from rnncli.layers.core import (Activation, Dense, Dropout, Embedding, Flatten, InputLayer, Masking, Permute,
                                RepeatVector, Reshape)
from rnncli.layers.normalization import BatchNormalization
from rnncli.layers.recurrent import RECURRENT_LAYERS
from rnncli.layers.wrappers import Bidirectional, TimeDistributed

_SIMPLE = {"Masking": Masking, "Dropout": Dropout, "Activation": Activation, "Flatten": Flatten,
           "RepeatVector": RepeatVector, "InputLayer": InputLayer, "Reshape": Reshape, "Permute": Permute,
           "MaxPooling1D": convolutional.MaxPooling1D, "AveragePooling1D": convolutional.AveragePooling1D,
           "GlobalMaxPooling1D": convolutional.GlobalMaxPooling1D,
           "GlobalAveragePooling1D": convolutional.GlobalAveragePooling1D, "LeakyReLU": advanced.LeakyReLU,
           "ELU": advanced.ELU, "SpatialDropout1D": advanced.SpatialDropout1D}


class Sequential(tf.Module, LayerStack):
    """A stack of rnncli layers. ``model(x, training)`` returns ``(y, mask)``; mask is [B, T] bool or None."""

    def __init__(self, plan: ModelPlan, seed: int = 1337, weight_files: bool = True, precision: str = "float32"):
        super().__init__(name="sequential")
        self.plan = plan
        self.layers: list[Layer] = [build_layer(layer, plan.batch_size, _layer_rng(seed, i), weight_files)
                                    for i, layer in enumerate(plan.layers)]
        self.precision = precision
        self.compute_dtype = tf.bfloat16 if precision == "mixed_bfloat16" else tf.float32
        for layer in self.layers:
            layer.set_compute_dtype(self.compute_dtype)

    def __call__(self, x: tf.Tensor, training: bool = False, rng: tf.random.Generator | None = None,
                 mask: tf.Tensor | None = None) -> tuple[tf.Tensor, tf.Tensor | None]:
        for layer in self.layers:
            x, mask = layer(x, mask, training, rng)
        return as_float32(x), mask

    def call_with_states(self, x: tf.Tensor, states: list[tf.Tensor]) -> tuple[tf.Tensor, list[tf.Tensor]]:
        """Inference from explicit states of the stateful layers, touching no state variable, so any number of
        streams can be batched: x [B, ...]; ``states`` one [B, u] tensor per entry of ``state_layout()``.
        Returns ``(y, final_states)`` in the same layout. Layers without states run as in ``__call__``."""
        remaining = list(states)
        final: list[tf.Tensor] = []
        mask = None
        for layer in self.layers:
            count = len(layer.state_variables)
            if count and not hasattr(layer, "call_with_states"):
                raise ValueError(f"layer `{layer.layer_name}` keeps states that cannot be passed explicitly")
            if count:
                x, mask, new = layer.call_with_states(x, mask, False, None, remaining[:count])
                remaining = remaining[count:]
                final += new
            else:
                x, mask = layer(x, mask, False, None)
        return as_float32(x), final


def build_model(plan: ModelPlan, seed: int = 1337, weight_files: bool = True, precision: str = "float32"
                ) -> "Sequential | GraphModel":
    """The model of a plan: ``Sequential`` for a chain (unchanged), ``GraphModel`` for a ``GraphPlan``; both
    compute in bfloat16 under ``precision="mixed_bfloat16"`` and answer in float32."""
    if isinstance(plan, GraphPlan):
        return GraphModel(plan, seed, weight_files, build_layer, precision)
    return Sequential(plan, seed, weight_files, precision)


def _layer_rng(seed: int, index: int) -> np.random.Generator:
    return np.random.default_rng([seed, index])


def build_layer(layer: LayerPlan, batch_size: int | None, rng: np.random.Generator, weight_files: bool = True
                ) -> Layer:
    """One TensorFlow layer for a planned layer, with its `weights:` file applied (unless ``weight_files`` is
    False: a checkpoint is about to overwrite the weights)."""
    config = layer.config
    kind = config["type"]
    if kind in RECURRENT_LAYERS:
        built: Layer = RECURRENT_LAYERS[kind](config, layer.input_shape[-1], rng, batch_size)
    elif kind == "Dense":
        built = Dense(config, layer.input_shape[-1], rng)
    elif kind == "Embedding":
        built = Embedding(config, rng)
    elif kind == "Convolution1D":
        built = convolutional.Convolution1D(config, layer.input_shape[-1], rng)
    elif kind == "BatchNormalization":
        built = BatchNormalization(config, layer.input_shape[-1], rng)
    elif kind in ("Highway", "MaxoutDense"):
        built = getattr(advanced, kind)(config, layer.input_shape[-1], rng)
    elif kind == "PReLU":
        built = advanced.PReLU(config, prelu_alpha_shape(config, layer.input_shape), rng)
    elif kind == "TimeDistributed":
        built = TimeDistributed(config, build_layer(layer.inner, batch_size, rng, weight_files))
    elif kind == "Bidirectional":
        forward_config = dict(layer.inner.config, weights=None)  # the wrapper's file holds both directions
        forward = build_layer(LayerPlan(forward_config, layer.inner.input_shape, layer.inner.output_shape,
                                        layer.inner.params, layer.inner.mask_in, layer.inner.mask_out),
                              batch_size, rng)
        backward_config = copy.deepcopy(layer.inner.config)
        backward_config["go_backwards"] = not backward_config["go_backwards"]
        backward_config["name"] = f"{backward_config['name']}_backward"
        backward_config["weights"] = None
        backward_plan = LayerPlan(backward_config, layer.inner.input_shape, layer.inner.output_shape,
                                  layer.inner.params, layer.inner.mask_in, layer.inner.mask_out)
        built = Bidirectional(config, forward, build_layer(backward_plan, batch_size, rng))
    else:
        built = _SIMPLE[kind](config)
    if weight_files:
        _apply_weights_file(built, layer)
    return built


def _apply_weights_file(built: Layer, layer: LayerPlan) -> None:
    config = layer.config
    source = config["layer"] if config["type"] == "Bidirectional" else config
    path = source.get("weights")  # TimeDistributed's inner layer applied its own file when it was built
    if not path:
        return
    try:
        arrays = read_weight_arrays(path, (config["name"], source["name"]))
    except ValueError as exc:
        raise ConfigError([Diagnostic(path, 0, 0, f"weights: {exc}")]) from None
    kind = source["type"]
    try:
        if kind in RECURRENT_LAYERS:
            # a Bidirectional's list is forward + backward, each fused or per gate on its own
            half = len(arrays) // 2
            lists = [arrays[:half], arrays[half:]] if config["type"] == "Bidirectional" else [arrays]
            arrays = [fused for one in lists for fused in weights_to_fused(kind, one)]
        built.set_weights(arrays)
    except ValueError as exc:
        raise ConfigError([Diagnostic(path, 0, 0, f"weights: {exc}")]) from None
