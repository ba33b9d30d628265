"""Sequences of different lengths: ``.jsonl`` (``{"x": [...], "y": ...}`` per line) and ragged CSV rows, padded
as ``data.pad`` says (Keras ``pad_sequences`` semantics), optionally in length buckets.

* ``length``: an int N (longer sequences are cut) or ``longest``; ``side``: where the padding goes (``pre``: before
  the sequence, ``post``: after); ``truncate``: which end a cut removes; ``value``: the padding value (0, which
  ``mask_zero`` / ``Masking`` mask).
* ``buckets: K``: K length boundaries (quantiles of the lengths, the last one the full length); each batch is
  padded only to the smallest boundary that holds its longest sequence (so at most K compiled shapes), and a
  shuffled epoch batches sequences of the same bucket together (``bucketed_order``). Under masking the results
  equal full padding.

``PaddedArray`` holds the sequences as they are and pads per gathered batch, so ``x [N, L, ...]`` is never built.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from rnncli.errors import DataError


@dataclass(frozen=True)
class Padding:
    """The resolved ``data.pad`` (``length`` None: the longest) and ``data.buckets`` (0: none)."""

    length: int | None
    side: str = "post"
    truncate: str = "pre"
    value: float = 0.0
    buckets: int = 0


def read_jsonl(path: Path) -> tuple[list[np.ndarray], np.ndarray | None]:
    """(sequences, y or None) of a ``.jsonl`` file: ``x`` a list of numbers ``[t]`` or of vectors ``[t, D]``."""
    sequences: list[np.ndarray] = []
    targets: list[Any] = []
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise DataError(f"{path}: cannot read ({exc})") from None
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            raise DataError(f"{path}:{number}: not a JSON object ({exc.msg})") from None
        if not isinstance(record, dict) or "x" not in record:
            raise DataError(f"{path}:{number}: each line is an object {{\"x\": [...], \"y\": ...}}")
        try:
            x = np.asarray(record["x"], dtype=np.float64)
        except (ValueError, TypeError):
            raise DataError(f"{path}:{number}: `x` must be a list of numbers or of equal-length lists") from None
        if x.ndim not in (1, 2) or len(x) == 0:
            raise DataError(f"{path}:{number}: `x` must be a non-empty list of numbers or of feature vectors")
        if sequences and x.shape[1:] != sequences[0].shape[1:]:
            raise DataError(f"{path}:{number}: `x` has steps of shape {x.shape[1:]}, the first line {sequences[0].shape[1:]}")
        if np.isnan(x).any():
            raise DataError(f"{path}:{number}: missing value (NaN) in `x`")
        sequences.append(x)
        if "y" in record:
            targets.append(record["y"])
        elif targets:
            raise DataError(f"{path}:{number}: no `y`, while earlier lines have one")
    if not sequences:
        raise DataError(f"{path}: no data lines")
    y = None
    if targets:
        if len(targets) != len(sequences):
            raise DataError(f"{path}: {len(targets)} lines have `y` but {len(sequences)} have `x`")
        try:
            y = np.asarray(targets, dtype=np.float32)
        except (ValueError, TypeError):
            raise DataError(f"{path}: every `y` must be a number or a list of the same length") from None
        y = y.reshape(len(y), -1) if y.ndim == 1 else y
    return sequences, y


def read_ragged_csv(path: Path, features: int, need_y: bool) -> tuple[list[np.ndarray], np.ndarray | None]:
    """Rows of different lengths: x = the row's values (``features`` per step), y = its last value."""
    sequences: list[np.ndarray] = []
    targets: list[float] = []
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise DataError(f"{path}: cannot read ({exc})") from None
    for number, line in enumerate(lines, start=1):
        cells = [c.strip() for c in line.split(",")]
        cells = cells[:-1] if cells and cells[-1] == "" else cells  # a trailing comma
        if not line.strip():
            continue
        try:
            values = [float(c) for c in cells]
        except ValueError:
            if number == 1 and not sequences:
                continue  # a header
            raise DataError(f"{path}:{number}: not a number (or an empty cell) in the row") from None
        if need_y:
            targets.append(values[-1])
            values = values[:-1]
        if not values or len(values) % features:
            raise DataError(f"{path}:{number}: {len(values)} values are not whole steps of {features} features")
        sequences.append(np.asarray(values, np.float64).reshape(-1, features) if features > 1
                         else np.asarray(values, np.float64))
    if not sequences:
        raise DataError(f"{path}: no data rows")
    return sequences, (np.asarray(targets, np.float32).reshape(-1, 1) if need_y else None)


def pad_one(sequence: np.ndarray, length: int, padding: Padding) -> np.ndarray:
    """One sequence ``[t, ...]`` cut and padded to ``[length, ...]`` (Keras ``pad_sequences``)."""
    if len(sequence) > length:
        sequence = sequence[-length:] if padding.truncate == "pre" else sequence[:length]
    out = np.full((length,) + sequence.shape[1:], padding.value, dtype=np.float32)
    if padding.side == "post":
        out[:len(sequence)] = sequence
    else:
        out[length - len(sequence):] = sequence
    return out


class PaddedArray:
    """``N`` sequences padded on demand: ``[N, length, ...]`` float32 (or int32 indices). With bucket
    ``boundaries``, a gathered batch is padded to the smallest boundary holding its longest sequence."""

    def __init__(self, sequences: list[np.ndarray], padding: Padding, length: int, dtype: Any,
                 boundaries: list[int] | None = None):
        self.sequences, self.padding, self.length = sequences, padding, length
        self.dtype = np.dtype(dtype)
        self.boundaries = boundaries
        self.lengths = np.array([min(len(s), length) for s in sequences], np.int64)

    @property
    def shape(self) -> tuple:
        return (len(self.sequences), self.length) + self.sequences[0].shape[1:]

    @property
    def ndim(self) -> int:
        return len(self.shape)

    def __len__(self) -> int:
        return len(self.sequences)

    def bucket_of(self, lengths: np.ndarray) -> np.ndarray:
        """Index of the boundary each length falls under."""
        return np.searchsorted(np.asarray(self.boundaries), lengths, side="left")

    def gather(self, index: np.ndarray) -> np.ndarray:
        index = np.asarray(index, dtype=np.int64)
        length = self.length
        if self.boundaries is not None and len(index):
            length = int(self.boundaries[int(self.bucket_of(self.lengths[index]).max())])
        out = [pad_one(self.sequences[i], length, self.padding) for i in index]
        if not out:
            return np.zeros((0, length) + self.sequences[0].shape[1:], self.dtype)
        return np.stack(out).astype(self.dtype)

    def __getitem__(self, index: Any) -> Any:
        if isinstance(index, slice):
            start, stop, step = index.indices(len(self))
            picked = list(range(start, stop, step))
            return PaddedArray([self.sequences[i] for i in picked], self.padding, self.length, self.dtype,
                               self.boundaries)
        if isinstance(index, (int, np.integer)):
            return self.gather(np.array([index]))[0]
        return self.gather(np.asarray(index))

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        full = np.stack([pad_one(s, self.length, self.padding) for s in self.sequences]).astype(self.dtype)
        return full if dtype is None else full.astype(dtype)


def bucket_boundaries(lengths: np.ndarray, buckets: int, length: int) -> list[int]:
    """``buckets`` increasing lengths: the quantiles of ``lengths``, the last one ``length``."""
    quantiles = [int(math.ceil(np.quantile(lengths, (k + 1) / buckets))) for k in range(buckets - 1)]
    return sorted(set(min(q, length) for q in quantiles) | {length})


def bucketed_order(x: PaddedArray, rng: np.random.Generator, batch_size: int) -> np.ndarray:
    """A shuffled epoch whose batches each hold sequences of one bucket: shuffle within buckets, cut into batches,
    shuffle the batches."""
    buckets = x.bucket_of(x.lengths)
    full, partial = [], []
    for bucket in np.unique(buckets):
        members = rng.permutation(np.flatnonzero(buckets == bucket))
        for i in range(0, len(members), batch_size):
            (full if len(members[i:i + batch_size]) == batch_size else partial).append(members[i:i + batch_size])
    # whole batches in random order; the buckets' remainders last (only those batches mix buckets)
    return np.concatenate([full[i] for i in rng.permutation(len(full))] + partial)


def ragged_dataset(path: str | Path, config: Any, need_y: bool = True) -> Any:
    """The ``Dataset`` of a ``.jsonl`` or ragged ``.csv`` file for ``config``'s model, padded per ``data.pad``."""
    from rnncli.data.dataset import Dataset, _check_targets

    path = Path(path)
    if not path.exists():
        raise DataError(f"{path}: file not found")
    plan = config.model
    data_cfg = config.data or {}
    pad = data_cfg.get("pad") or {}
    padding = Padding(pad.get("length") if pad.get("length") != "longest" else None, pad.get("side", "post"),
                      pad.get("truncate", "pre"), float(pad.get("value", 0.0)), int(data_cfg.get("buckets") or 0))
    expected = tuple(plan.input_shape[1:])
    features = expected[1] if len(expected) == 2 else 1
    if path.suffix.lower() == ".jsonl":
        sequences, y = read_jsonl(path)
    elif path.suffix.lower() == ".csv":
        sequences, y = read_ragged_csv(path, features or 1, need_y)
    else:
        raise DataError(f"{path}: padded sequences come from a `.jsonl` or a `.csv`, not `{path.suffix}`")
    step_shape = sequences[0].shape[1:]
    if step_shape != expected[1:]:
        raise DataError(f"{path}: each step holds {step_shape or 'one value'} but the model input "
                        f"{expected} wants {expected[1:] or 'one value'} per step")
    longest = max(len(s) for s in sequences)
    length = padding.length or expected[0] or longest
    if expected[0] is not None and length != expected[0]:
        raise DataError(f"{path}: data.pad.length {length} differs from the model's {expected[0]} timesteps")
    dtype = np.float32
    if plan.input_dtype == "int32":
        vocab = plan.layers[0].config["input_dim"]
        for number, sequence in enumerate(sequences, start=1):
            if np.any(np.mod(sequence, 1) != 0) or sequence.min() < 0 or sequence.max() >= vocab:
                raise DataError(f"{path}: sequence {number} holds values that are not indices 0..{vocab - 1} of the "
                                f"Embedding (input_dim={vocab})")
        dtype = np.int32
    boundaries = bucket_boundaries(np.array([min(len(s), length) for s in sequences]), padding.buckets, length) \
        if padding.buckets else None
    x = PaddedArray(sequences, padding, length, dtype, boundaries)
    if need_y and y is None:
        raise DataError(f"{path}: no `y` in the lines (each line is {{\"x\": [...], \"y\": ...}})")
    if y is not None and need_y:
        y = _check_targets(y, len(sequences), plan, config.training and config.training.get("loss"), str(path))
    cut = int(np.sum([len(s) > length for s in sequences]))
    note = (f"{path}: {len(sequences)} sequences of {min(len(s) for s in sequences)}..{longest} steps padded "
            f"({padding.side}) to {length}" + (f", {cut} cut ({padding.truncate})" if cut else "")
            + (f"; batches padded to their bucket's length ({', '.join(map(str, boundaries))})" if boundaries else ""))
    data = Dataset(x, y if need_y else None, str(path), notes=[note])  # type: ignore[arg-type]
    if boundaries:
        data.epoch_order = lambda rng, batch_size: bucketed_order(x, rng, batch_size)
    return data
