"""The data a command reads and writes, as the config and the command line name it (formats are in ``data.py``).

``training_data`` gives the training and validation sets of a config, checked against the model and fitted to a
stateful model's batches; ``evaluation_data`` the set ``evaluate`` scores; ``read_input``/``write_output`` the
arrays of ``predict``.
"""

from __future__ import annotations

from pathlib import Path

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
    if data_cfg["window"]:
        raw = load_text_windows(data_cfg["train"], data_cfg["window"], data_cfg["step"], data_cfg["lowercase"],
                                data_cfg["vocab"])
    else:
        raw = load_arrays(data_cfg["train"], data_cfg["y_train"])

    def check(data: Dataset) -> Dataset:
        return check_dataset(data, config.model, loss)

    train = weighted_dataset(raw, check, data_cfg, config.training, "train")
    validation = None
    if data_cfg["validation"]:
        validation = weighted_dataset(load_arrays(data_cfg["validation"], data_cfg["y_validation"]), check,
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


def evaluation_data(config: Config, data_path: Path | None, y_path: Path | None = None) -> Dataset:
    """``data_path`` (x and y, or x with ``y_path``), or else the config's validation data."""
    if config.training is None:
        raise UserInputError("evaluate needs a `training:` section (the loss)")
    if data_path is not None and needs_graph_training(config.model):
        if y_path is not None:
            raise UserInputError("--y is not used by a model with several inputs or outputs: keep the targets as "
                                 "named arrays in the --data .npz")
        return load_graph_dataset(data_path, config)  # type: ignore[return-value]
    if data_path is not None:
        loss = config.training["loss"]
        data = weighted_dataset(load_arrays(data_path, y_path), lambda d: check_dataset(d, config.model, loss),
                                {"sample_weight": (config.data or {}).get("sample_weight")}, config.training,
                                "validation")
    else:
        if config.data is None:
            raise UserInputError("no data: pass --data FILE")
        _, validation = training_data(config)
        if validation is None:
            raise UserInputError("the config has no validation data; pass --data FILE")
        data = validation
    if config.model.stateful:
        data = fit_to_batches(data, config.model.batch_size, config.data["remainder"] if config.data else "error",
                              "evaluation")
    return data


def read_input(path: Path, config: Config) -> Dataset:
    """The x array of ``predict --input`` (``.x``), checked against the model's input, with ``.notes`` on what
    was done to fit it (a CSV reshaped to the model's sequence input)."""
    if needs_graph_training(config.model):
        return load_graph_dataset(path, config, need_y=False)  # type: ignore[return-value]
    data = load_arrays(path, need_y=False)
    return check_dataset(Dataset(data.x, None, data.source, table=data.table), config.model, None)
