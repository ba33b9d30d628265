"""``rnncli predict`` and ``rnncli evaluate``: a restored model applied to data."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from rnncli.commands.source import load_source
from rnncli.data.sets import check_output_path, evaluation_data, read_input, write_output
from rnncli.errors import DataError, UserInputError
from rnncli.data.outputs import predicted_classes
from rnncli.training.compile_policy import inference_compiles


def predict(source: Path, input_path: Path, *, output_path: Path | None = None, batch_size: int | None = None,
            checkpoint: str = "latest", save_states: bool = True, device_spec: str = "auto", classes: bool = False,
            precision: str | None = None) -> tuple[np.ndarray, list[str]]:
    """Outputs for ``input_path`` (written to ``output_path`` when given), or with ``classes`` the predicted class
    of each sample (``rnncli.data.outputs.predicted_classes``). A stateful run starts from its saved states and, after
    the output is safely written, saves the final states back as its newest checkpoint."""
    if output_path is not None:
        check_output_path(output_path)
    stateful_run = source.is_dir() and save_states
    loaded = load_source(source, checkpoint, device_spec, lock=stateful_run, precision=precision)
    try:
        config, engine = loaded.config, loaded.engine
        inputs = read_input(input_path, config)
        x = inputs.x
        plan = config.model
        notes = list(loaded.notes) + inputs.notes
        if plan.stateful:
            if batch_size is not None and batch_size != plan.batch_size:
                raise UserInputError(f"--batch-size {batch_size} differs from the stateful model's batch size "
                                     f"{plan.batch_size} (its states have one row per stream)")
            batch_size = plan.batch_size
            if len(x) % batch_size:
                raise DataError(f"{input_path}: a stateful model with batch size {batch_size} needs a number of "
                                f"samples divisible by {batch_size} (one row per stream); the input has {len(x)}")
        else:
            batch_size = batch_size or config.training_settings["batch_size"]
        outputs = engine.predict(x, batch_size, inference_compiles(engine, config, len(x), batch_size))
        outputs = outputs.astype(np.float32)
        if classes:
            outputs = predicted_classes(outputs)
        if output_path is not None:
            write_output(outputs, output_path, "class" if classes else "y")
        if plan.stateful and stateful_run:
            if checkpoint == "best":
                notes.append("states not saved: they were read from the best checkpoint, and saving them as the "
                             "newest would rewind the run (use --checkpoint latest to stream)")
            else:
                loaded.checkpoints.save("latest")
                names = ", ".join(layer.layer_name for layer in engine.model.stateful_layers())
                notes.append(f"saved the final states of {names} into {loaded.run.path}")
    finally:
        loaded.release()
    return outputs, notes


def evaluate(source: Path, data_path: Path | None = None, device_spec: str = "auto", checkpoint: str = "latest",
             y_path: Path | None = None, precision: str | None = None) -> dict:
    """Loss and metrics of the ``checkpoint`` (``latest`` or ``best``) of a run on ``data_path`` or on the
    config's validation data."""
    loaded = load_source(source, checkpoint, device_spec, precision=precision)
    config, engine = loaded.config, loaded.engine
    data = evaluation_data(config, data_path, y_path)
    return engine.evaluate(data, compile_xla=inference_compiles(engine, config, len(data),
                                                                config.training_settings["batch_size"]))
