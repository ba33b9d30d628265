"""``rnncli states`` and ``rnncli reset-states``: the saved recurrent states of a stateful run."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from rnncli.commands.source import load_source
from rnncli.errors import UserInputError


def reset_states(run_path: Path, layer: str | None = None) -> list[str]:
    """Zero the states of every stateful layer (or one) and save them into the run, keeping everything else."""
    loaded = load_source(run_path, "latest", "cpu", lock=True,
                         read_only_hint="copy the run to a writable folder to reset its states there")
    try:
        model = loaded.engine.model
        names = [l.layer_name for l in model.stateful_layers()]
        if not names:
            raise UserInputError(f"{run_path}: the model has no stateful layer")
        if layer is not None and layer not in names:
            raise UserInputError(f"{run_path}: no stateful layer named `{layer}`; stateful layers: {', '.join(names)}")
        reset = model.reset_states(layer)
        loaded.checkpoints.save("latest")
    finally:
        loaded.release()
    return reset


def describe_states(run_path: Path) -> list[dict]:
    """One row per state variable: layer, ``h``/``c``, shape, norm, steps since the last reset."""
    loaded = load_source(run_path, "latest", "cpu")
    rows = []
    for core in loaded.engine.model.stateful_cores():
        labels = ["h", "c"] if len(core.state_variables) == 2 else ["h"]
        for label, variable in zip(labels, core.state_variables):
            value = variable.numpy()
            rows.append({"layer": core.layer_name, "state": label, "shape": list(value.shape),
                         "norm": float(np.linalg.norm(value)),
                         "steps_since_reset": int(core.steps_since_reset.numpy())})
    if not rows:
        raise UserInputError(f"{run_path}: the model has no stateful layer")
    return rows
