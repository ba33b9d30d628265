"""``predict`` and ``evaluate`` for a series config: raw values in, the targets' units out.

A series file (``.csv`` with a header, ``.npy`` [steps(, columns)]) is cut into windows; a windows file (``.npz``
with x (and y), ``.npy`` ``[N, T, D]``) is used as it is. Either way x (and y) in the series' units are normalized
with the run's statistics (``RUN/normalization.json``), and ``predict`` maps the outputs back
(``Normalization.invert_targets``).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import numpy as np

from rnncli.data.dataset import Dataset, check_dataset, load_arrays
from rnncli.data.normalization import Normalization, read_normalization
from rnncli.data.series import SeriesSpec, load_table, series_sets, windows
from rnncli.errors import DataError, UserInputError


def source_normalization(config: Any, run_dir: Path | None) -> Normalization | None:
    """The statistics a run saved; for a config (no run), fitted again on its training part."""
    series = (config.data or {}).get("series")
    if not series or series.get("normalize", "none") == "none":
        return None
    if run_dir is not None:
        found = read_normalization(run_dir)
        if found is None:
            raise UserInputError(f"{run_dir}: the config normalizes its series but the run has no "
                                 f"normalization.json; train the run again")
        return found
    return series_sets(config).normalization


def is_series_file(path: Path) -> bool:
    """A raw series (``.csv``, or a ``.npy`` of 1 or 2 axes) rather than windows ``[N, T, D]``."""
    suffix = path.suffix.lower()
    if suffix == ".csv":
        return True
    if suffix == ".npy" and path.exists():
        try:
            return np.load(path, mmap_mode="r", allow_pickle=False).ndim <= 2
        except (ValueError, OSError, EOFError):
            return False
    return False


def _series_windows(path: Path, config: Any, normalization: Normalization | None, with_targets: bool) -> Dataset:
    spec = SeriesSpec.of(config)
    if not with_targets:  # every window, the last one ending at the last step
        spec = dataclasses.replace(spec, stride=1, streams=1, horizon=1, outputs=0)
    table, inputs, targets = load_table(path, spec)
    names = [table.names[i] for i in inputs]
    if normalization is not None and list(normalization.input_columns) != names:
        raise DataError(f"{path}: input columns {names} differ from the ones the run's normalization was "
                        f"fitted on {list(normalization.input_columns)}")
    data = windows(table.values, spec, inputs, targets, table.source, normalization, with_targets)
    what = "; output n forecasts the steps after window n" if not with_targets else ""
    data.notes = [f"{path}: {len(table.values)} steps -> {len(data)} windows of {spec.window} steps{what}"]
    return data


def series_predict_input(path: Path, config: Any, normalization: Normalization | None) -> Dataset:
    """``predict --input`` of a series config: the (normalized) windows of a series file, or raw windows."""
    if is_series_file(path):
        return _series_windows(path, config, normalization, with_targets=False)
    data = load_arrays(path, need_y=False)
    x = data.x if normalization is None else normalization.apply_inputs(data.x)
    return check_dataset(Dataset(x, None, data.source, normalization=normalization), config.model, None)


def series_evaluation_data(config: Any, data_path: Path | None, y_path: Path | None,
                           normalization: Normalization | None) -> Dataset:
    """``evaluate`` of a series config: a series file's windows with targets, raw windows (x, y), or else the
    config's test part (or validation part)."""
    if data_path is None:
        sets = series_sets(config)
        data = sets.test if sets.test is not None else sets.validation
        if data is None:
            raise UserInputError("the config's series has no test or validation part "
                                 "(data.series.split); pass --data FILE")
        return data
    if is_series_file(data_path) and y_path is None:
        return _series_windows(data_path, config, normalization, with_targets=True)
    raw = load_arrays(data_path, y_path)
    x, y = raw.x, raw.y
    if normalization is not None:
        x, y = normalization.apply_inputs(x), normalization.apply_targets(y)
    loss = config.training["loss"]
    return check_dataset(Dataset(x, y, raw.source, normalization=normalization), config.model, loss)
