"""``rnncli init``: a commented starter config from the shapes and values of two arrays.

"I have two arrays" to a trained model in two commands::

    rnncli init --x x.npy --y y.npy --cell LSTM      # writes model.yaml
    rnncli train model.yaml

The input decides the first layers: float ``[N, T, D]`` sequences feed the recurrent layer directly; integer
``[N, T]`` token ids go through an ``Embedding`` (``mask_zero`` when 0 occurs only as leading or trailing
padding; a 0 between other ids is a token, so ``mask_zero: false`` with a note). The targets decide
the output layer, loss and metrics: ``[N]``/``[N, 1]`` with only 0 and 1 -> sigmoid + binary_crossentropy;
integer labels ``[N]`` -> softmax + sparse_categorical_crossentropy; one-hot ``[N, K]`` -> softmax +
categorical_crossentropy; anything else -> linear + mse. ``[N, T, K]`` targets (one per timestep) make the
recurrent layer return sequences under a ``TimeDistributed`` output. The written config is validated and checked
against the data before it is kept.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from rnncli.data.dataset import load_arrays
from rnncli.errors import DataError, UserInputError

CELLS = ("SimpleRNN", "GRU", "LSTM")


@dataclass
class Head:
    """Output layer, loss and metrics chosen from the targets."""

    units: int
    activation: str
    loss: str
    metrics: list[str]
    why: str


def choose_head(y: np.ndarray) -> Head:
    """The output of a model for targets ``y`` ([N], [N, K] or [N, T, K] per timestep)."""
    per_sample = y.reshape(len(y), -1) if y.ndim <= 2 else y.reshape(-1, y.shape[-1])
    k = 1 if y.ndim == 1 else y.shape[-1]
    values = np.unique(per_sample) if per_sample.size <= 10_000_000 else np.unique(per_sample[:100_000])
    binary = set(values.tolist()) <= {0.0, 1.0}
    if k == 1 and binary:
        return Head(1, "sigmoid", "binary_crossentropy", ["accuracy"], "targets are 0/1: one sigmoid unit")
    if k == 1 and y.dtype.kind in "iu" and values.min() >= 0:
        classes = int(values.max()) + 1
        return Head(classes, "softmax", "sparse_categorical_crossentropy", ["accuracy"],
                    f"integer labels 0..{classes - 1}: a softmax over {classes} classes")
    if k > 1 and binary and np.all(per_sample.sum(axis=-1) == 1):
        return Head(k, "softmax", "categorical_crossentropy", ["accuracy"], f"one-hot targets: a softmax over {k}")
    return Head(k, "linear", "mse", ["mae"], f"real-valued targets: {k} linear unit{'s' if k > 1 else ''}")


def zeros_inside_rows(x: np.ndarray) -> int:
    """How many rows of token ids ``x`` [N, T] hold a 0 between two non-zero ids (so 0 is not only padding
    before or after the sequence, which is what ``mask_zero`` assumes)."""
    present = x != 0
    count = present.sum(axis=1)
    first = np.argmax(present, axis=1)
    last = x.shape[1] - 1 - np.argmax(present[:, ::-1], axis=1)
    return int(np.sum((count > 0) & (last - first + 1 > count)))


def _q(text: str) -> str:
    return json.dumps(text)  # a JSON string is a valid YAML scalar, whatever the path holds


def starter_config(x_path: Path, y_path: Path, cell: str, units: int, config_dir: Path,
                   notes: list[str] | None = None) -> str:
    """The commented YAML text of a starter config for ``x_path``/``y_path`` (paths written relative to
    ``config_dir``, where the config will live); what the user should know about a choice goes to ``notes``."""
    notes = [] if notes is None else notes
    if cell not in CELLS:
        raise UserInputError(f"--cell must be one of {', '.join(CELLS)}, got {cell!r}")
    data = load_arrays(x_path, y_path)
    x, y = data.x, data.y
    assert y is not None
    if len(x) != len(y):
        raise DataError(f"{x_path} has {len(x)} samples but {y_path} has {len(y)}")
    if x.dtype.kind not in "biuf" or y.dtype.kind not in "biuf":
        raise DataError(f"{x_path}, {y_path}: expected numeric arrays, got {x.dtype} and {y.dtype}")
    n = len(x)
    lines = [f"# Starter config written by `rnncli init` from {x_path.name} {tuple(x.shape)} {x.dtype} and "
             f"{y_path.name} {tuple(y.shape)} {y.dtype}.",
             "# Check every choice below; `rnncli validate --resolved THIS_FILE` shows all the defaults.",
             "seed: 1337", "model:", "  layers:"]
    if x.ndim == 2 and x.dtype.kind in "iu":
        vocab = int(np.max(x)) + 1
        inside = zeros_inside_rows(x)
        mask = bool(np.any(x == 0)) and inside == 0
        why = "; 0 occurs only before or after the ids of a row, so it is taken as padding (masked)" if mask else ""
        if inside:
            why = (f"; 0 occurs between other ids in {inside} of {len(x)} rows, so it is a token, not padding "
                   f"(mask_zero: false)")
            notes.append(f"mask_zero: false: {x_path.name} has 0 between other ids in {inside} of {len(x)} rows, so "
                         f"0 is a token there, not padding; if 0 is padding, keep it to the start or end of each row "
                         f"and set mask_zero: true")
        lines += [f"    # integer token ids in 0..{vocab - 1}: embedded into {units}-dimensional vectors" + why,
                  f"    - {{type: Embedding, input_dim: {vocab}, output_dim: {units}, input_length: {x.shape[1]}, "
                  f"mask_zero: {str(mask).lower()}}}"]
        recurrent_input = ""
        timesteps = x.shape[1]
    elif x.ndim == 3:
        lines.append(f"    # {x.shape[1]} timesteps of {x.shape[2]} features per sample")
        recurrent_input = f", input_shape: [{x.shape[1]}, {x.shape[2]}]"
        timesteps = x.shape[1]
    else:
        raise DataError(f"{x_path}: x has shape {tuple(x.shape)} ({x.dtype}); rnncli init expects float "
                        f"sequences [samples, timesteps, features] or an integer array of token ids [samples, "
                        f"timesteps] (for one number per step, save x[..., None])")
    sequence_targets = y.ndim == 3
    if sequence_targets and y.shape[1] != timesteps:
        raise DataError(f"{y_path}: per-timestep targets {tuple(y.shape)} need {timesteps} timesteps like x")
    if y.ndim > 3 or y.ndim == 0:
        raise DataError(f"{y_path}: y has shape {tuple(y.shape)}; expected [samples], [samples, outputs] or "
                        f"[samples, timesteps, outputs]")
    head = choose_head(y)
    lines += [f"    # the recurrent layer ({units} units); Keras 1 arguments such as dropout_W, dropout_U, "
              f"consume_less apply",
              f"    - {{type: {cell}, output_dim: {units}{recurrent_input}"
              + (", return_sequences: true}" if sequence_targets else "}"),
              f"    # output: {head.why}" + (", at every timestep" if sequence_targets else "")]
    dense = f"{{type: Dense, output_dim: {head.units}, activation: {head.activation}}}"
    lines.append(f"    - {{type: TimeDistributed, layer: {dense}}}" if sequence_targets else f"    - {dense}")
    relative = [os.path.relpath(p.resolve(), config_dir.resolve()) for p in (x_path, y_path)]
    split = 0.1 if n >= 50 else 0.0
    lines += ["data:", f"  train: {_q(relative[0])}", f"  y_train: {_q(relative[1])}",
              "  # the last 10% of the samples (unshuffled, as Keras 1) are held out to validate each epoch"
              if split else "  # too few samples to hold some out for validation; add `validation: FILE` later",
              f"  validation_split: {split}",
              "training:", f"  loss: {head.loss}", f"  metrics: [{', '.join(head.metrics)}]",
              "  optimizer: {name: adam, lr: 0.001}", f"  batch_size: {min(32, n)}", "  nb_epoch: 10",
              "  # the best epoch (by val_loss, or loss without validation) is kept in checkpoints/best/",
              "  checkpoint: {monitor: " + ("val_loss" if split else "loss") + "}", ""]
    return "\n".join(lines)


def init_config(x_path: Path, y_path: Path | None, output: Path, cell: str = "LSTM", units: int = 32,
                force: bool = False, notes: list[str] | None = None) -> str:
    """Write the starter config to ``output`` after validating it and checking the data against it; returns a
    one-line description of the model (what the user should know about a choice goes to ``notes``). Without
    ``y_path``, ``x_path`` is a long series (``init_series``)."""
    from rnncli.config.validate import load_config
    from rnncli.data.sets import training_data

    if output.exists() and not force:
        raise UserInputError(f"{output} exists; pass --force to replace it, or -o another file")
    if not output.parent.exists():
        raise UserInputError(f"-o: folder {output.parent} does not exist")
    if y_path is None:
        from rnncli.commands.init_series import series_starter

        if x_path.suffix.lower() not in (".csv", ".npy"):
            raise UserInputError(f"--y is needed for {x_path.name}: without it, --x is a long series (a .csv with a "
                                 f"header or a .npy [steps, columns])")
        text = series_starter(x_path, cell, units, output.parent)
    else:
        text = starter_config(x_path, y_path, cell, units, output.parent, notes)
    scratch = output.with_name(f".{output.name}.init")
    scratch.write_text(text, encoding="utf-8")
    try:
        config = load_config(scratch, require_training=True)
        training_data(config)
        os.replace(scratch, output)
    finally:
        scratch.unlink(missing_ok=True)
    layers = " -> ".join(f"{layer.config['type']}" for layer in config.model.layers)
    return f"{layers} ({config.model.params:,} parameters), loss {config.training['loss']}"
