"""``GraphModel``: the TensorFlow model of a ``GraphPlan``.

Layers that own weights are built once (in the plan's ``layers`` order, each from its own seeded numpy generator as
``Sequential`` does); a shared node applies its owner's layer again. Recurrent nodes with ``initial_state`` or
``return_state`` run through ``call_with_states`` (the same recurrence, explicit states). Calling the model with one
tensor (one input) returns ``(y, mask)`` for one output, as ``Sequential`` does; with a mapping of input names it
returns ``({output name: y}, {output name: mask})``.
"""

from __future__ import annotations

from typing import Callable

import numpy as np
import tensorflow as tf

from rnncli.config.graph_plan import GraphPlan
from rnncli.config.plan import LayerPlan
from rnncli.graphs.merge import Merge
from rnncli.layers.base import Layer, as_float32
from rnncli.layers.stack import LayerStack
from rnncli.layers.recurrent import Recurrent

# build_layer(layer_plan, batch_size, rng, weight_files) -> Layer (rnncli.model.build_layer)
LayerBuilder = Callable[[LayerPlan, "int | None", np.random.Generator, bool], Layer]


class GraphModel(tf.Module, LayerStack):
    """Named inputs -> nodes -> named outputs. ``layers``: the layers that own weights, in plan order."""

    def __init__(self, plan: GraphPlan, seed: int, weight_files: bool, build_layer: LayerBuilder,
                 precision: str = "float32"):
        super().__init__(name="graph")
        self.plan = plan
        self.precision = precision
        self.compute_dtype = tf.bfloat16 if precision == "mixed_bfloat16" else tf.float32
        ranks = {i.name: len(i.shape) for i in plan.inputs}
        for node in plan.nodes:
            for tensor, shape in zip(node.tensor_names, node.outputs):
                ranks[tensor] = len(shape)
        self.layers: list[Layer] = []
        for index, layer in enumerate(plan.layers):
            if layer.type == "Merge":
                node = next(n for n in plan.nodes if n.name == layer.name)
                self.layers.append(Merge(layer.config, [ranks[t] for t in node.inbound]))
            else:
                self.layers.append(build_layer(layer, plan.batch_size, np.random.default_rng([seed, index]),
                                               weight_files))
        for layer in self.layers:  # mixed_bfloat16: bfloat16 compute, float32 variables and outputs
            layer.set_compute_dtype(self.compute_dtype)
        self._owners = {layer.layer_name: layer for layer in self.layers}

    @property
    def input_names(self) -> list[str]:
        return self.plan.input_names

    @property
    def output_names(self) -> list[str]:
        return list(self.plan.outputs)

    def __call__(self, x, training: bool = False, rng: tf.random.Generator | None = None, mask=None):
        """x: one tensor (a one-input graph), or ``{input name: tensor}``; ``mask`` likewise (or None).
        Returns ``(y, mask)`` for a one-output graph called with one tensor, else ``({name: y}, {name: mask})``."""
        single = not isinstance(x, dict)
        inputs = {self.plan.inputs[0].name: x} if single else x
        masks = {self.plan.inputs[0].name: mask} if single else dict(mask or {})
        outputs, out_masks = self.run(inputs, masks, training, rng)
        if single and len(outputs) == 1:
            name = self.plan.outputs[0]
            return outputs[name], out_masks[name]
        return outputs, out_masks

    def run(self, inputs: dict, masks: dict, training: bool, rng: tf.random.Generator | None,
            explicit: dict[str, list] | None = None) -> tuple[dict, dict]:
        """Evaluate every node; returns the output tensors and their masks by output name. ``explicit``: explicit
        states per stateful layer name (``call_with_states``), replaced in place by the layers' final states."""
        values: dict[str, tf.Tensor] = {}
        value_masks: dict[str, tf.Tensor | None] = {}
        for graph_input in self.plan.inputs:
            if graph_input.name not in inputs:
                raise ValueError(f"missing input `{graph_input.name}` (the model takes "
                                 f"{', '.join(self.plan.input_names)})")
            dtype = tf.int32 if graph_input.dtype == "int32" else tf.float32
            values[graph_input.name] = tf.cast(inputs[graph_input.name], dtype)
            value_masks[graph_input.name] = masks.get(graph_input.name)
        for node in self.plan.nodes:
            layer = self._owners[node.owner]
            xs = [values[t] for t in node.inbound]
            if isinstance(layer, Merge):
                results, out_mask = [layer.call_many(xs)], None
            elif explicit is not None and node.owner in explicit:
                y, out_mask, final = layer.call_with_states(xs[0], value_masks[node.inbound[0]], training, rng,
                                                            explicit[node.owner])
                explicit[node.owner] = list(final)
                results = [y] + (list(final) if node.return_state else [])
            elif node.initial_state or node.return_state:
                assert isinstance(layer, Recurrent)
                initial = [values[t] for t in node.initial_state] or None
                y, out_mask, states = layer.call_with_states(xs[0], value_masks[node.inbound[0]], training, rng,
                                                             initial)
                results = [y] + (list(states) if node.return_state else [])
            else:
                y, out_mask = layer(xs[0], value_masks[node.inbound[0]], training, rng)
                results = [y]
            for k, (tensor, value) in enumerate(zip(node.tensor_names, results)):
                values[tensor] = value
                value_masks[tensor] = out_mask if k == 0 else None
        return ({name: as_float32(values[name]) for name in self.plan.outputs},
                {name: value_masks[name] for name in self.plan.outputs})

    # -- what the Engine, checkpoints and the importer ask of a model (as ``Sequential``) -------------------------

    def explicit_state_problem(self) -> str | None:
        """Why the states of this graph cannot be passed explicitly (None: they can): a stateful layer applied at
        several nodes, or one that also takes ``initial_state``."""
        for layer in self.stateful_layers():
            nodes = [node for node in self.plan.nodes if node.owner == layer.layer_name]
            if not hasattr(layer, "call_with_states"):
                return f"layer `{layer.layer_name}` keeps states that cannot be passed explicitly"
            if len(nodes) > 1:
                return f"stateful layer `{layer.layer_name}` is shared by {len(nodes)} nodes"
            if nodes and nodes[0].initial_state:
                return f"stateful layer `{layer.layer_name}` also takes initial_state"
        return None

    def call_with_states(self, x, states):
        """Inference from explicit states of the stateful layers, touching no state variable: x ``{input name:
        [B, ...]}`` (or one tensor for a one-input graph); ``states`` one [B, u] tensor per entry of
        ``state_layout()``. Returns ``({output name: y}, final_states)`` in the same layout."""
        problem = self.explicit_state_problem()
        if problem is not None:
            raise ValueError(problem)
        inputs = x if isinstance(x, dict) else {self.plan.inputs[0].name: x}
        remaining = list(states)
        by_layer: dict[str, list] = {}
        for layer in self.stateful_layers():
            count = len(layer.state_variables)
            by_layer[layer.layer_name], remaining = remaining[:count], remaining[count:]
        outputs, _ = self.run(inputs, {}, False, None, by_layer)
        final = [state for layer in self.stateful_layers() for state in by_layer[layer.layer_name]]
        return outputs, final
