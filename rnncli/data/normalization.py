"""Per-column normalization of a series, fitted on the training part and saved with the run.

``value_normalized = (value - shift) / scale`` per column: ``standard`` uses the mean and the standard deviation,
``minmax`` the minimum and the range (a constant column gets scale 1). Inputs ``x [..., len(inputs)]`` are
normalized before the model; the model's outputs ``y [..., len(targets)]`` (or flat ``[N, k*targets]``) are mapped
back with ``y * scale + shift`` of the target columns. The run keeps the statistics in ``normalization.json``;
``predict``, ``evaluate``, ``serve`` and ``export`` read them from there.

>>> import numpy as np
>>> n = Normalization.fit(np.array([[0.0, 10.0], [2.0, 30.0]], np.float32), "standard", [0, 1], [1], ["a", "b"])
>>> n.apply_inputs(np.array([[1.0, 20.0]], np.float32)).tolist()
[[0.0, 0.0]]
>>> n.invert_targets(np.array([[1.0]], np.float32)).tolist()
[[30.0]]
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

FILE_NAME = "normalization.json"
_CHUNK = 1 << 16


@dataclass(frozen=True)
class Normalization:
    """Statistics of the input and target columns (float32 ``shift``/``scale`` vectors, one entry per column)."""

    method: str
    input_columns: tuple[str, ...]
    input_shift: np.ndarray
    input_scale: np.ndarray
    target_columns: tuple[str, ...]
    target_shift: np.ndarray
    target_scale: np.ndarray

    @staticmethod
    def fit(series: np.ndarray, method: str, inputs: list[int], targets: list[int], names: list[str]
            ) -> "Normalization":
        """Fit on ``series`` [steps, columns] (the training part), in float64 over chunks of steps (no copy of a
        memory-mapped series)."""
        columns = sorted(set(inputs) | set(targets))
        count = 0
        total = np.zeros(len(columns))
        squares = np.zeros(len(columns))
        low = np.full(len(columns), np.inf)
        high = np.full(len(columns), -np.inf)
        for start in range(0, len(series), _CHUNK):
            block = np.asarray(series[start:start + _CHUNK][:, columns], dtype=np.float64)
            count += len(block)
            total += block.sum(axis=0)
            low = np.minimum(low, block.min(axis=0))
            high = np.maximum(high, block.max(axis=0))
        mean = total / count
        for start in range(0, len(series), _CHUNK):  # a second pass: the variance without cancellation
            block = np.asarray(series[start:start + _CHUNK][:, columns], dtype=np.float64)
            squares += ((block - mean) ** 2).sum(axis=0)
        if method == "standard":
            shift, scale = mean, np.sqrt(squares / count)
        elif method == "minmax":
            shift, scale = low, high - low
        else:
            raise ValueError(f"unknown normalization {method!r}")
        scale = np.where(scale > 0, scale, 1.0)
        at = {c: i for i, c in enumerate(columns)}
        pick = lambda values, which: np.array([values[at[c]] for c in which], np.float32)  # noqa: E731
        return Normalization(method, tuple(names[c] for c in inputs), pick(shift, inputs), pick(scale, inputs),
                             tuple(names[c] for c in targets), pick(shift, targets), pick(scale, targets))

    def apply_inputs(self, x: np.ndarray) -> np.ndarray:
        """x [..., len(inputs)] in the inputs' units -> normalized float32."""
        return ((np.asarray(x, np.float32) - self.input_shift) / self.input_scale).astype(np.float32)

    def apply_targets(self, y: np.ndarray) -> np.ndarray:
        """y [N, k, targets] or flat [N, k*targets] in the targets' units -> normalized float32."""
        y = np.asarray(y, np.float32)
        flat = y.reshape(y.shape[:-1] + (-1, len(self.target_columns)))
        return ((flat - self.target_shift) / self.target_scale).astype(np.float32).reshape(y.shape)

    def invert_targets(self, y: np.ndarray) -> np.ndarray:
        """Model outputs y [N, k, targets] or flat [N, k*targets] -> the targets' units (float32)."""
        y = np.asarray(y, np.float32)
        flat = y.reshape(y.shape[:-1] + (-1, len(self.target_columns)))
        return (flat * self.target_scale + self.target_shift).astype(np.float32).reshape(y.shape)

    def to_json(self) -> dict:
        return {"method": self.method,
                "inputs": {"columns": list(self.input_columns), "shift": self.input_shift.tolist(),
                           "scale": self.input_scale.tolist()},
                "targets": {"columns": list(self.target_columns), "shift": self.target_shift.tolist(),
                            "scale": self.target_scale.tolist()},
                "formula": "normalized = (value - shift) / scale; outputs: value = output * scale + shift"}

    @staticmethod
    def from_json(data: dict) -> "Normalization":
        vector = lambda part, key: np.asarray(data[part][key], np.float32)  # noqa: E731
        return Normalization(data["method"], tuple(data["inputs"]["columns"]), vector("inputs", "shift"),
                             vector("inputs", "scale"), tuple(data["targets"]["columns"]),
                             vector("targets", "shift"), vector("targets", "scale"))


def write_normalization(run_dir: Path, normalization: Normalization | None) -> None:
    """Save (or, for None, remove) ``RUN/normalization.json``."""
    from rnncli.runs.files import atomic_write_text

    path = Path(run_dir) / FILE_NAME
    if normalization is None:
        path.unlink(missing_ok=True)
    else:
        atomic_write_text(path, json.dumps(normalization.to_json(), indent=1) + "\n")


def read_normalization(run_dir: Path) -> Normalization | None:
    """The statistics a run saved, or None when it trained without normalization."""
    path = Path(run_dir) / FILE_NAME
    if not path.exists():
        return None
    return Normalization.from_json(json.loads(path.read_text(encoding="utf-8")))
