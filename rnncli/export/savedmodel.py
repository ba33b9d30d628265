"""SavedModel export: ``predict`` (stateful models keep their states in variables) and ``reset_states``.

A graph with several inputs or outputs gets a ``predict`` that takes each input by its name and answers each output
by its name (``layer:k`` spelled ``layer_k``, as in the history's column names)."""

from __future__ import annotations

from pathlib import Path

import tensorflow as tf

from rnncli.config.graph_plan import GraphPlan, output_key
from rnncli.config.graph_training import needs_graph_training
from rnncli.config.plan import ModelPlan
from rnncli.model import Sequential


def write_savedmodel(model: Sequential, plan: ModelPlan, folder: Path) -> list[str]:
    """Save into ``folder`` (which must not exist); returns the signature names."""
    if needs_graph_training(plan):
        return _write_graph(model, plan, folder)
    dtype = tf.int32 if plan.input_dtype == "int32" else tf.float32
    spec = tf.TensorSpec((plan.batch_size,) + tuple(plan.input_shape[1:]), dtype, name="x")

    class Exported(tf.Module):
        def __init__(self):
            super().__init__()
            self.model = model

        @tf.function(input_signature=[spec])
        def predict(self, x):
            y, _ = self.model(x, training=False)
            return {"y": y}

        @tf.function(input_signature=[])
        def reset_states(self):
            for variable in self.model.state_variables:
                variable.assign(tf.zeros_like(variable))
            return {"reset": tf.constant(len(self.model.state_variables))}

    module = Exported()
    signatures = {"serving_default": module.predict, "predict": module.predict}
    if plan.stateful:
        signatures["reset_states"] = module.reset_states
    tf.saved_model.save(module, str(folder), signatures=signatures)
    return sorted(signatures)


def _write_graph(model, plan: GraphPlan, folder: Path) -> list[str]:
    specs = {i.name: tf.TensorSpec((None,) + tuple(i.shape[1:]), tf.int32 if i.dtype == "int32" else tf.float32,
                                   name=i.name) for i in plan.inputs}

    class Exported(tf.Module):
        def __init__(self):
            super().__init__()
            self.model = model

        @tf.function(input_signature=[specs])
        def _predict(self, inputs):
            outputs, _ = self.model(inputs, training=False)
            return {output_key(name): y for name, y in outputs.items()}

    module = Exported()
    # a signature's arguments are keywords: the concrete function of one mapping argument takes them by name
    concrete = module._predict.get_concrete_function()
    tf.saved_model.save(module, str(folder), signatures={"serving_default": concrete, "predict": concrete})
    return ["predict", "serving_default"]
