"""``rnncli init --x SERIES.csv`` (no ``--y``): a starter config that windows a long series.

The series (a ``.csv`` with a header, or a ``.npy`` ``[steps]``/``[steps, columns]``) is read from its header and
line count. The proposal: every numeric column as input, the last one as the target, the next step as the
forecast (``horizon: 1``, ``outputs: 1``), a window of about a twentieth of the series (2..48 steps), the last 10%
for validation and 10% for test (by time), ``standard`` normalization fitted on the training part. No TensorFlow.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from rnncli.config.series_section import series_header
from rnncli.errors import DataError


def _numeric_columns(path: Path, names: list[str]) -> list[str]:
    """The columns whose first data row holds a number (a date or label column is left out)."""
    with open(path, encoding="utf-8") as handle:
        rows = [line for line in handle if line.strip()]
    if len(rows) < 2:
        return names
    cells = [c.strip() for c in rows[1].rstrip("\n").split(",")]

    def number(cell: str) -> bool:
        try:
            float(cell)
        except ValueError:
            return cell == ""
        return True

    return [name for name, cell in zip(names, cells) if number(cell)]


def series_starter(x_path: Path, cell: str, units: int, config_dir: Path) -> str:
    """The commented YAML text of a series config for ``x_path`` (written relative to ``config_dir``)."""
    try:
        names, named, steps = series_header(x_path)
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise DataError(f"{x_path}: {exc}") from None
    columns = _numeric_columns(x_path, names) if named else names
    if not columns:
        raise DataError(f"{x_path}: no numeric column to forecast")
    window = max(2, min(48, steps // 20))
    if steps < 4 * window:
        raise DataError(f"{x_path}: {steps} steps are too few for a windowed series (at least {4 * window})")
    cols = [json.dumps(c) if named else c for c in columns]
    target = cols[-1]
    inputs = "[" + ", ".join(str(c) for c in cols) + "]"
    relative = os.path.relpath(x_path.resolve(), config_dir.resolve())
    return "\n".join([
        f"# Starter config written by `rnncli init` from the series {x_path.name} ({steps} steps, "
        f"{len(names)} column{'s' if len(names) > 1 else ''}).",
        "# Check every choice below; `rnncli validate --resolved THIS_FILE` shows all the defaults.",
        "seed: 1337", "model:", "  layers:",
        f"    # windows of {window} steps of {len(columns)} input column{'s' if len(columns) > 1 else ''}",
        f"    - {{type: {cell}, output_dim: {units}, input_shape: [{window}, {len(columns)}]}}",
        f"    # the next step of {columns[-1]}", "    - {type: Dense, output_dim: 1}",
        "data:", f"  train: {json.dumps(relative)}", "  series:",
        f"    inputs: {inputs}", f"    targets: [{target}]",
        f"    window: {window}        # steps per sample", "    horizon: 1        # forecast the next step",
        "    outputs: 1        # steps forecast per sample",
        "    split: {validation: 0.1, test: 0.1}   # the last 20% of the steps, by time",
        "    normalize: standard   # fitted on the training part, applied by predict/serve/export",
        "training:", "  loss: mse", "  metrics: [mae]", "  optimizer: {name: adam, lr: 0.001}",
        "  batch_size: 32", "  nb_epoch: 10", "  checkpoint: {monitor: val_loss}", ""])
