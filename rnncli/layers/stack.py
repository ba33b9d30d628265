"""``LayerStack``: what a model built of rnncli layers offers the engine, checkpoints and the importer, whatever
connects its layers (``rnncli.model.Sequential`` in a chain, ``rnncli.graphs.model.GraphModel`` in a graph)."""

from __future__ import annotations

from typing import Iterator

import tensorflow as tf

from rnncli.layers.base import Layer, module_name
from rnncli.layers.recurrent import Recurrent


class LayerStack:
    """Mixin over ``self.layers`` (the layers that own weights, each once): regularization, states, variables."""

    layers: list[Layer]

    def regularization_loss(self) -> tf.Tensor:
        total = tf.constant(0.0)
        for layer in self.layers:
            total += layer.regularization_loss()
        return total

    @property
    def state_variables(self) -> list[tf.Variable]:
        return [v for layer in self.layers for v in layer.state_variables]

    def stateful_layers(self) -> list[Layer]:
        return [layer for layer in self.layers if layer.state_variables]

    def stateful_cores(self) -> list[Layer]:
        """The recurrent layers that keep states, also those inside a Bidirectional wrapper."""
        return [core for layer in self.layers for core in layer.walk()
                if isinstance(core, Recurrent) and core.stateful]

    def state_layout(self) -> list[tuple[str, str, int]]:
        """(layer name, state name, units) of every state ``call_with_states`` takes, in its order (the stateful
        recurrent layers in ``layers`` order; ``h``, and ``c`` for an LSTM)."""
        layout = []
        for core in self.stateful_cores():
            labels = ["h", "c"] if len(core.state_variables) == 2 else ["h"]
            layout += [(core.layer_name, label, int(variable.shape[-1]))
                       for label, variable in zip(labels, core.state_variables)]
        return layout

    def reset_states(self, layer_name: str | None = None) -> list[str]:
        """Zero the states of every stateful layer (or only ``layer_name``); returns the names reset."""
        reset = []
        for layer in self.stateful_layers():
            if layer_name is None or layer.layer_name == layer_name:
                layer.reset_states()
                reset.append(layer.layer_name)
        return reset

    def trainable_by_path(self) -> dict[str, tf.Variable]:
        """Trainable variables keyed by a stable path such as ``lstm_1__kernel`` (used for optimizer slots)."""
        result: dict[str, tf.Variable] = {}
        for layer in self.layers:
            for path, variable in variable_paths(layer, layer.layer_name):
                if variable.trainable:
                    result[path] = variable
        return result


def variable_paths(layer: Layer, prefix: str) -> Iterator[tuple[str, tf.Variable]]:
    """(path, variable) for the layer's own weights, then its children's: ``bidi__forward__kernel``."""
    for role, variable in layer.named_weights().items():
        yield f"{module_name(prefix)}__{role}", variable
    for role, child in layer.children().items():
        yield from variable_paths(child, f"{prefix}__{role}")
