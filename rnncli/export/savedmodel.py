"""SavedModel export: ``predict`` (stateful models keep their states in variables) and ``reset_states``."""

from __future__ import annotations

from pathlib import Path

import tensorflow as tf

from rnncli.config.plan import ModelPlan
from rnncli.model import Sequential


def write_savedmodel(model: Sequential, plan: ModelPlan, folder: Path) -> list[str]:
    """Save into ``folder`` (which must not exist); returns the signature names."""
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
