"""``rnncli export``: a run as a TensorFlow SavedModel."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

from rnncli.commands.source import load_source
from rnncli.data_io import ensure_folder
from rnncli.errors import UserInputError


def export(run_path: Path, output: Path, fmt: str = "savedmodel", force: bool = False, checkpoint: str = "latest"
           ) -> list[str]:
    """Write the ``checkpoint`` (``latest`` or ``best``) of a run as a SavedModel with a ``predict`` signature
    (and ``reset_states`` for stateful models); returns the signature names."""
    if fmt != "savedmodel":
        raise UserInputError(f"unsupported export format {fmt!r}; supported: savedmodel")
    if output.exists() and any(output.iterdir()) and not force:
        raise UserInputError(f"{output} is not empty; choose another folder or pass --force to replace it")
    loaded = load_source(run_path, checkpoint, "cpu")
    ensure_folder(output.parent, "-o")
    import tensorflow as tf

    model = loaded.engine.model
    plan = loaded.config.model
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
    staging = Path(tempfile.mkdtemp(prefix=f".{output.name}.", dir=output.parent))
    try:
        tf.saved_model.save(module, str(staging), signatures=signatures)
        if output.exists():
            shutil.rmtree(output)
        os.replace(staging, output)  # the export appears complete or not at all
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return sorted(signatures)
