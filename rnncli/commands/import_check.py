"""``rnncli import --check``: prove an import before trusting it.

After the run is written, one forward pass through it: on ``--check-input X.npy`` (checked against the model's
input like ``predict --input``), or on a small synthetic batch (4 samples of N(0, 1) features, or token ids in
[1, input_dim) for an Embedding; 10 timesteps where the length is free). The report gives the output shape and
range and whether everything is finite; with ``--check-output Y.npy`` (outputs the user recorded in the old
environment on the same X) the largest absolute error, which fails the check above ``--atol``. A stateful run is
checked from zero states, with its states left as imported.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from rnncli.commands.source import load_source
from rnncli.errors import DataError, UserInputError

SYNTHETIC_SAMPLES = 4
FREE_LENGTH = 10


@dataclass
class CheckReport:
    """What the forward pass gave: ``shape`` of the outputs, their ``low``/``high``, ``finite``; with recorded
    outputs, ``max_error`` (max |ours - recorded|) and ``passed`` (``max_error <= atol``)."""

    inputs: str
    shape: tuple[int, ...]
    low: float
    high: float
    finite: bool
    atol: float
    max_error: float | None = None

    @property
    def passed(self) -> bool:
        return self.finite and (self.max_error is None or self.max_error <= self.atol)

    def lines(self) -> list[str]:
        """The report, one line each (the CLI prints them)."""
        out = [f"check: forward pass on {self.inputs}: outputs {self.shape}, range [{self.low:.6g}, {self.high:.6g}]"
               + ("" if self.finite else ", NOT all finite")]
        if self.max_error is not None:
            verdict = "ok" if self.max_error <= self.atol else "FAILED"
            out.append(f"check: max |rnncli - recorded| = {self.max_error:.3g} (atol {self.atol:g}): {verdict}")
        return out


def synthetic_input(plan) -> np.ndarray:
    """A batch that fits ``plan``'s input (see the module docstring)."""
    rng = np.random.default_rng(0)
    shape = tuple(FREE_LENGTH if d is None else d for d in plan.input_shape[1:])
    batch = plan.batch_size or SYNTHETIC_SAMPLES
    first = plan.layers[0].config if plan.layers else {}
    if plan.input_dtype.startswith("int") or first.get("type") == "Embedding":
        vocabulary = int(first.get("input_dim") or 2)
        return rng.integers(1, max(vocabulary, 2), size=(batch, *shape)).astype(np.int32)
    return rng.normal(size=(batch, *shape)).astype(np.float32)


def check_import(run_dir: Path, check_input: Path | None = None, check_output: Path | None = None,
                 atol: float = 1e-5) -> CheckReport:
    """One forward pass through the imported run ``run_dir``; see the module docstring."""
    from rnncli.data.sets import read_input

    if check_output is not None and check_input is None:
        raise UserInputError("--check-output needs --check-input (the inputs the recorded outputs belong to)")
    loaded = load_source(run_dir)
    try:
        config, engine = loaded.config, loaded.engine
        if check_input is not None:
            x, label = read_input(check_input, config).x, str(check_input)
        else:
            x, label = synthetic_input(config.model), "a synthetic batch"
        plan = config.model
        batch = plan.batch_size if plan.stateful else min(len(x), config.training_settings["batch_size"])
        if plan.stateful and len(x) % batch:
            raise DataError(f"{check_input}: the stateful model takes batches of {batch}; the input has {len(x)} "
                            f"samples")
        engine.model.reset_states()
        outputs = engine.predict(x, batch).astype(np.float64)
    finally:
        loaded.release()
    report = CheckReport(label, tuple(outputs.shape), float(np.nanmin(outputs)), float(np.nanmax(outputs)),
                         bool(np.isfinite(outputs).all()), atol)
    if check_output is not None:
        try:
            recorded = np.load(check_output, allow_pickle=False)
        except (OSError, ValueError) as exc:
            raise DataError(f"{check_output}: cannot read a .npy array ({exc})") from None
        if recorded.shape != outputs.shape:
            raise DataError(f"{check_output}: recorded outputs have shape {recorded.shape}, the imported model gives "
                            f"{outputs.shape} on {check_input}")
        report.max_error = float(np.max(np.abs(outputs - recorded.astype(np.float64)))) if outputs.size else 0.0
    return report
