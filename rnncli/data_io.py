"""The data a command reads and writes, as the config and the command line name it (formats are in ``data.py``).

``training_data`` gives the training and validation sets of a config, checked against the model and fitted to a
stateful model's batches; ``evaluation_data`` the set ``evaluate`` scores; ``read_input``/``write_output`` the
arrays of ``predict``.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np

from rnncli.config.config import Config
from rnncli.data import Dataset, check_dataset, fit_to_batches, load_arrays, load_text_windows, split_validation
from rnncli.errors import UserInputError
from rnncli.runs.files import atomic_write_bytes, atomic_write_text

OUTPUT_SUFFIXES = (".npy", ".csv")


def training_data(config: Config) -> tuple[Dataset, Dataset | None]:
    """(train, validation or None) of ``config.data``; stateful models get whole batches only."""
    data_cfg = config.data
    assert data_cfg is not None and config.training is not None
    loss = config.training["loss"]
    if data_cfg["window"]:
        raw = load_text_windows(data_cfg["train"], data_cfg["window"], data_cfg["step"], data_cfg["lowercase"],
                                data_cfg["vocab"])
    else:
        raw = load_arrays(data_cfg["train"], data_cfg["y_train"])
    train = check_dataset(raw, config.model, loss)
    validation = None
    if data_cfg["validation"]:
        validation = check_dataset(load_arrays(data_cfg["validation"], data_cfg["y_validation"]), config.model,
                                   loss)
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
    if data_path is not None:
        data = check_dataset(load_arrays(data_path, y_path), config.model, config.training["loss"])
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
    data = load_arrays(path, need_y=False)
    return check_dataset(Dataset(data.x, None, data.source, table=data.table), config.model, None)


def check_output_path(path: Path) -> None:
    if path.suffix.lower() not in OUTPUT_SUFFIXES:
        raise UserInputError(f"--output must end in .npy or .csv, got {path}")
    ensure_folder(path.parent, "--output")


def ensure_folder(folder: Path, option: str) -> None:
    """Create a missing output folder (as `train -o` and `plot -o` do); refuse a file in its place."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError):
        raise UserInputError(f"{option}: {folder} is not a folder") from None
    except OSError as exc:
        raise UserInputError(f"{option}: cannot create folder {folder} ({exc.strerror})") from None


def write_output(array: np.ndarray, path: Path) -> None:
    """``.npy`` or ``.csv`` by extension, replaced atomically."""
    check_output_path(path)
    if path.suffix.lower() == ".npy":
        buffer = io.BytesIO()
        np.save(buffer, array)
        atomic_write_bytes(path, buffer.getvalue())
    else:
        flat = array.reshape(len(array), -1)
        atomic_write_text(path, "\n".join(",".join(f"{v:.8g}" for v in row) for row in flat) + "\n")
