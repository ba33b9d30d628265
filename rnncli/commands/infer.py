"""``rnncli predict`` and ``rnncli evaluate``: a restored model applied to data."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from rnncli.commands.source import load_source
from rnncli.data.graph_sets import write_graph_outputs
from rnncli.data.sets import check_output_path, evaluation_data, read_input, write_output
from rnncli.errors import DataError, UserInputError
from rnncli.data.outputs import predicted_classes
from rnncli.data.series_inference import source_normalization
from rnncli.training.compile_policy import inference_compiles


def predict(source: Path, input_path: Path, *, output_path: Path | None = None, batch_size: int | None = None,
            checkpoint: str = "latest", save_states: bool = True, device_spec: str = "auto", classes: bool = False,
            precision: str | None = None) -> tuple[np.ndarray, list[str]]:
    """Outputs for ``input_path`` (written to ``output_path`` when given), or with ``classes`` the predicted class
    of each sample (``rnncli.data.outputs.predicted_classes``; a graph's: of each output, by name). A stateful run
    starts from its saved states and, after the output is safely written, saves the final states back as its newest
    checkpoint."""
    if output_path is not None and output_path.suffix.lower() != ".npz":  # .npz: a graph's named outputs
        check_output_path(output_path)
    stateful_run = source.is_dir() and save_states  # a model with states writes them back: locked
    loaded = load_source(source, checkpoint, device_spec, lock=stateful_run, precision=precision,
                         read_only_hint="pass --no-save-states to predict without saving the final states",
                         before_tensorflow=lambda config: _predict_input(input_path, config, source))
    try:
        config, engine = loaded.config, loaded.engine
        inputs, normalization = loaded.prepared
        x = inputs.x
        plan = config.model
        notes = list(loaded.notes) + inputs.notes
        if plan.stateful:
            if batch_size is not None and batch_size != plan.batch_size:
                raise UserInputError(f"--batch-size {batch_size} differs from the stateful model's batch size "
                                     f"{plan.batch_size} (its states have one row per stream)")
            batch_size = plan.batch_size
            count = len(inputs)
            if count % batch_size:
                raise DataError(f"{input_path}: a stateful model with batch size {batch_size} needs a number of "
                                f"samples divisible by {batch_size} (one row per stream); the input has {count}")
        else:
            batch_size = batch_size or config.training_settings["batch_size"]
        outputs = engine.predict(x, batch_size, inference_compiles(engine, config, len(inputs), batch_size))
        if isinstance(outputs, dict) and len(outputs) == 1 and (output_path is None
                                                                or output_path.suffix.lower() != ".npz"):
            outputs = next(iter(outputs.values()))  # one output: written as a chain's (.npy, .csv, stdout)
        if isinstance(outputs, dict):  # a graph with several inputs or outputs: named arrays in an .npz
            # --classes: each output's classes (Keras 1 predict_classes per output), int32 arrays under its name
            outputs = {name: predicted_classes(value) if classes else value.astype(np.float32)
                       for name, value in outputs.items()}
            if output_path is not None:
                write_graph_outputs(outputs, output_path)
            if plan.stateful and stateful_run:
                _save_states(loaded, checkpoint, notes)
            return outputs, notes
        outputs = outputs.astype(np.float32)
        if normalization is not None:  # back to the targets' units
            outputs = normalization.invert_targets(outputs)
        if classes:
            outputs = predicted_classes(outputs)
        if output_path is not None:
            write_output(outputs, output_path, "class" if classes else "y")
        if plan.stateful and stateful_run:
            _save_states(loaded, checkpoint, notes)
    finally:
        loaded.release()
    return outputs, notes


def _save_states(loaded: Any, checkpoint: str, notes: list[str]) -> None:
    """After a stateful run's predict: its final states become the newest checkpoint (streaming)."""
    if checkpoint == "best":
        notes.append("states not saved: they were read from the best checkpoint, and saving them as the "
                     "newest would rewind the run (use --checkpoint latest to stream)")
        return
    loaded.checkpoints.save("latest")
    names = ", ".join(layer.layer_name for layer in loaded.engine.model.stateful_layers())
    notes.append(f"saved the final states of {names} into {loaded.run.path}")


def evaluate(source: Path, data_path: Path | None = None, device_spec: str = "auto", checkpoint: str = "latest",
             y_path: Path | None = None, overrides: list[str] | None = None, precision: str | None = None
             ) -> tuple[dict, str]:
    """Loss and metrics of the ``checkpoint`` (``latest`` or ``best``) of a run on ``data_path`` or on the
    config's validation data, and which data that was (``"on the validation split of x.npz (20 samples)"``).
    ``overrides`` are ``--set`` values for the config (``training.loss=mse`` for an imported architecture). The
    data is read and checked before TensorFlow starts, so a bad file is refused at once. ``precision``: as
    ``--precision`` (None: the config's)."""
    loaded = load_source(source, checkpoint, device_spec, overrides=overrides, precision=precision,
                         before_tensorflow=lambda config: evaluation_data(config, data_path, y_path,
                                                                          _normalization(config, source)))
    config, engine, data = loaded.config, loaded.engine, loaded.prepared
    results = engine.evaluate(data, compile_xla=inference_compiles(engine, config, len(data),
                                                                   config.training_settings["batch_size"]))
    return results, describe_evaluation_data(config, data_path, len(data))


def describe_evaluation_data(config: Any, data_path: Path | None, samples: int) -> str:
    """Which data ``evaluate`` scored, for the user: ``--data``, the validation file or the validation split."""
    if data_path is not None:
        return f"on {data_path} ({samples} samples)"
    data = config.data or {}
    if data.get("validation"):
        return f"on the validation data {data['validation']} ({samples} samples)"
    return (f"on the validation split ({samples} samples: the last {data.get('validation_split')} of "
            f"{data.get('train')})")


def _normalization(config: Any, source: Path) -> Any:
    """A series run's saved statistics (``source`` a run directory), or for a config, fitted on its training part."""
    return source_normalization(config, source if source.is_dir() else None)


def _predict_input(input_path: Path, config: Any, source: Path) -> tuple[Any, Any]:
    """(``predict``'s checked input, the series statistics or None), read before TensorFlow starts."""
    normalization = _normalization(config, source)
    return read_input(input_path, config, normalization), normalization
