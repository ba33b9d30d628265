"""The data a command reads and writes, as the config and the command line name it (formats are in ``data.py``).

``training_data`` gives the training and validation sets of a config, checked against the model and fitted to a
stateful model's batches; ``evaluation_data`` the set ``evaluate`` scores; ``read_input``/``write_output`` the
arrays of ``predict``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from rnncli.config.config import Config
from rnncli.config.graph_training import needs_graph_training
from rnncli.data.graph_sets import graph_training_data, load_graph_dataset
from rnncli.data.dataset import Dataset, check_dataset, fit_to_batches, load_arrays, load_text_windows, split_validation
from rnncli.errors import UserInputError
from rnncli.data.outputs import check_output_path, ensure_folder, write_output  # noqa: F401 (re-exported)
from rnncli.data.weighting import weighted_dataset


def training_data(config: Config) -> tuple[Dataset, Dataset | None]:
    """(train, validation or None) of ``config.data``; stateful models get whole batches only."""
    if needs_graph_training(config.model):  # several inputs or outputs: named arrays (rnncli.data.graph_sets)
        return graph_training_data(config)  # type: ignore[return-value]
    data_cfg = config.data
    assert data_cfg is not None and config.training is not None
    loss = config.training["loss"]
    if data_cfg.get("series"):
        from rnncli.data.series import series_sets

        sets = series_sets(config)
        return sets.train, sets.validation
    if data_cfg.get("pad"):
        from rnncli.data.ragged import ragged_dataset

        train = ragged_dataset(data_cfg["train"], config)
        validation = ragged_dataset(data_cfg["validation"], config) if data_cfg["validation"] else None
        if validation is None and data_cfg["validation_split"]:
            train, validation = split_validation(train, data_cfg["validation_split"])
        return train, validation
    if data_cfg["window"]:
        raw = load_text_windows(data_cfg["train"], data_cfg["window"], data_cfg["step"], data_cfg["lowercase"],
                                data_cfg["vocab"])
    else:
        raw = load_arrays(data_cfg["train"], data_cfg["y_train"], missing=data_cfg.get("missing", "error"))

    def check(data: Dataset) -> Dataset:
        return check_dataset(data, config.model, loss)

    train = weighted_dataset(raw, check, data_cfg, config.training, "train")
    validation = None
    if data_cfg["validation"]:
        validation = weighted_dataset(load_arrays(data_cfg["validation"], data_cfg["y_validation"],
                                                  missing=data_cfg.get("missing", "error")), check,
                                      data_cfg, config.training, "validation")
    elif data_cfg["validation_split"]:
        train, validation = split_validation(train, data_cfg["validation_split"],
                                             config.model.batch_size if config.model.stateful else 1)
    if config.model.stateful:
        batch = config.model.batch_size
        train = fit_to_batches(train, batch, data_cfg["remainder"], "training")
        if validation is not None:
            validation = fit_to_batches(validation, batch, data_cfg["remainder"], "validation")
    return train, validation


def evaluation_data(config: Config, data_path: Path | None, y_path: Path | None = None,
                    normalization: Any = None) -> Dataset:
    """``data_path`` (x and y, or x with ``y_path``), or else the config's validation data. A series config
    (``data.series``) reads a series file into windows, or else scores its test part (or validation part);
    ``normalization``: the run's statistics, applied to x and y."""
    if config.training is None:
        raise UserInputError("evaluate needs a `training:` section (the loss): pass --set training.loss=mse (or another Keras 1 loss), or add `training: {loss: ...}` to the config")
    if data_path is not None and needs_graph_training(config.model):
        if y_path is not None:
            raise UserInputError("--y is not used by a model with several inputs or outputs: keep the targets as "
                                 "named arrays in the --data .npz")
        graph_data = load_graph_dataset(data_path, config)
        if config.model.stateful:
            graph_data = fit_to_batches(graph_data, config.model.batch_size,  # type: ignore[arg-type]
                                        (config.data or {}).get("remainder", "error"), "evaluation")
        return graph_data  # type: ignore[return-value]
    if (config.data or {}).get("series"):
        from rnncli.data.series_inference import series_evaluation_data

        return series_evaluation_data(config, data_path, y_path, normalization)
    if data_path is not None and (config.data or {}).get("pad") and data_path.suffix.lower() in (".jsonl", ".csv"):
        from rnncli.data.ragged import ragged_dataset

        return ragged_dataset(data_path, config)
    if data_path is not None:
        loss = config.training["loss"]
        data = weighted_dataset(load_arrays(data_path, y_path), lambda d: check_dataset(d, config.model, loss),
                                {"sample_weight": (config.data or {}).get("sample_weight")}, config.training,
                                "validation")
    else:
        if config.data is None:
            raise UserInputError("no data: pass --data FILE (or --set data.validation=FILE)")
        _, validation = training_data(config)
        if validation is None:
            raise UserInputError("the config has no validation data; pass --data FILE (or --set data.validation=FILE)")
        data = validation
    if config.model.stateful:
        data = fit_to_batches(data, config.model.batch_size, config.data["remainder"] if config.data else "error",
                              "evaluation")
    return data


def read_input(path: Path, config: Config, normalization: Any = None) -> Dataset:
    """The x array of ``predict --input`` (``.x``), checked against the model's input, with ``.notes`` on what
    was done to fit it (a CSV reshaped to the model's sequence input). A series config (``data.series``) reads a
    series file into windows, and normalizes x with ``normalization``; a graph with several inputs reads a named
    ``.npz``."""
    if needs_graph_training(config.model):
        return load_graph_dataset(path, config, need_y=False)  # type: ignore[return-value]
    if (config.data or {}).get("series"):
        from rnncli.data.series_inference import series_predict_input

        return series_predict_input(path, config, normalization)
    if (config.data or {}).get("pad") and path.suffix.lower() in (".jsonl", ".csv"):
        from rnncli.data.ragged import ragged_dataset

        return ragged_dataset(path, config, need_y=False)
    data = load_arrays(path, need_y=False)
    notes: list[str] = []
    if data.table:
        data, notes = _without_target_column(data, config)
    checked = check_dataset(Dataset(data.x, None, data.source, table=data.table), config.model, None)
    checked.notes[:0] = notes
    return checked


def _without_target_column(data: Dataset, config: Config) -> tuple[Dataset, list[str]]:
    """A CSV in the training layout (the model's input values, then the target column) given to ``predict``:
    the last column is dropped, with a note. Any other table is returned as it is."""
    expected = config.model.input_shape[1:]
    if None in expected or data.x.ndim != 2:
        return data, []
    inputs = int(np.prod(expected))
    width = data.x.shape[1]
    if width != inputs + 1:
        return data, []
    note = (f"{data.source}: {width} columns are the training layout ({inputs} input values, then the target): "
            f"the last column is ignored")
    return Dataset(data.x[:, :-1], None, data.source, table=True), [note]
