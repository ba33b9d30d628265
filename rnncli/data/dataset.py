"""Loading and checking training data before any training starts.

Formats: ``.npz`` with arrays ``x`` and ``y``; an ``x`` ``.npy`` with a ``y`` ``.npy`` beside it (memory-mapped);
``.csv`` (numeric, last column is y; a row of T*D values feeds a sequence model [T, D]). Every problem is a
``DataError`` naming the file, the array and the shapes. ``allow_pickle=False`` everywhere.
"""

from __future__ import annotations

import math
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from rnncli.config.plan import ModelPlan
from rnncli.config.data_shapes import TABLE_SUFFIXES, input_layout, target_layout
from rnncli.errors import DataError


PAD_HINT = ('; for sequences of different lengths write a `.jsonl` (`{"x": [...], "y": ...}` per line) and set '
            '`data.pad`')


@dataclass
class Dataset:
    """Inputs x [N, ...] and targets y [N, ...] with where they came from (for messages)."""

    x: np.ndarray
    y: np.ndarray | None
    source: str
    vocab: str | None = None  # character models: the alphabet, index i <-> vocab[i]
    table: bool = False  # read from CSV rows: a sequence model reads each row as [T, D]
    notes: list[str] = field(default_factory=list)  # what was done to fit the model (for the user)
    sample_weight: np.ndarray | None = None  # loss weights [N] or [N, T] (rnncli.data.weighting); None: unweighted
    normalization: Any = None  # a series' statistics (rnncli.data.normalization.Normalization); None: raw values
    epoch_order: Any = None  # (rng, batch_size) -> a shuffled epoch's order (length buckets); None: a permutation

    def __len__(self) -> int:
        return int(self.x.shape[0])

    def slice(self, start: int, stop: int, source: str | None = None) -> "Dataset":
        return Dataset(self.x[start:stop], None if self.y is None else self.y[start:stop], source or self.source,
                       self.vocab, self.table, self.notes,
                       None if self.sample_weight is None else self.sample_weight[start:stop], self.normalization)


def _load_npy(path: Path) -> np.ndarray:
    try:
        return np.load(path, mmap_mode="r", allow_pickle=False)
    except ValueError as exc:
        if "pickle" in str(exc).lower() or "object" in str(exc).lower():
            raise DataError(f"{path}: holds Python objects (pickled data), which rnncli never loads; "
                            f"save numeric arrays instead{PAD_HINT}") from None
        raise DataError(f"{path}: not a valid .npy file ({exc})") from None
    except (OSError, EOFError) as exc:
        raise DataError(f"{path}: cannot read ({exc}); is the file truncated?") from None


def _load_npz(path: Path, need_y: bool) -> tuple[np.ndarray, np.ndarray | None]:
    try:
        with np.load(path, allow_pickle=False) as archive:
            names = set(archive.files)
            if "x" not in names:
                raise DataError(f"{path}: no array named `x` (found: {', '.join(sorted(names)) or 'none'}); "
                                f"save with np.savez(path, x=..., y=...)")
            if need_y and "y" not in names:
                raise DataError(f"{path}: no array named `y` (found: {', '.join(sorted(names))})")
            x = archive["x"]
            y = archive["y"] if "y" in names else None
            return x, y
    except DataError:
        raise
    except ValueError as exc:
        if "pickle" in str(exc).lower() or "object" in str(exc).lower():
            raise DataError(f"{path}: holds Python objects (pickled data), which rnncli never loads{PAD_HINT}") from None
        raise DataError(f"{path}: not a valid .npz file ({exc})") from None
    except (OSError, EOFError, zipfile.BadZipFile) as exc:
        raise DataError(f"{path}: cannot read as .npz ({exc}); is the file truncated?") from None


def _load_csv(path: Path, need_y: bool, missing: str = "error") -> tuple[np.ndarray, np.ndarray | None]:
    """A numeric table (an optional header line); empty cells and NaN follow ``missing``
    (``rnncli.data.missing``), the default naming the file line."""
    from rnncli.data.missing import fill_missing

    rows: list[list[float]] = []
    lines: list[int] = []
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise DataError(f"{path}: cannot read ({exc})") from None
    width = None
    header: list[str] = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        cells = line.split(",")
        try:
            values = [float(c) if c.strip() else float("nan") for c in cells]
        except ValueError:
            if not rows and number == 1:
                header = [c.strip() for c in cells]
                continue  # a header line
            raise DataError(f"{path}:{number}: {_bad_cell(cells, header)}") from None
        total = sum(values)
        if total != total or total in (math.inf, -math.inf):  # a NaN or Inf cell (or an overflowing sum)
            bad = next((j for j, v in enumerate(values) if not math.isfinite(v)), None)
            if bad is not None:
                cell = cells[bad].strip()
                if math.isinf(values[bad]):
                    raise DataError(f"{path}:{number}: {_column(bad, header)} contains Inf ({cell!r}), which no "
                                    f"model can use")
                if missing == "error":  # an empty cell or NaN is a missing value: the policy decides
                    what = "is empty" if not cell else f"is NaN ({cell!r})"
                    raise DataError(f"{path}:{number}: missing value: {_column(bad, header)} {what}; set "
                                    f"`data.missing` to drop, zero, ffill or interpolate")
        if width is None:
            width = len(values)
        elif len(values) != width:
            raise DataError(f"{path}:{number}: row has {len(values)} columns, the first row has {width}; rows of "
                            f"different lengths are sequences to pad: set `data.pad` (e.g. `{{length: longest}}`)")
        rows.append(values)
        lines.append(number)
    if not rows:
        raise DataError(f"{path}: no data rows")
    table, _ = fill_missing(np.asarray(rows, dtype=np.float32), missing, str(path), np.asarray(lines), None,
                            "data.missing")
    if need_y:
        if table.shape[1] < 2:
            raise DataError(f"{path}: needs at least 2 columns (features, then the target)")
        return table[:, :-1], table[:, -1:]
    return table, None


def _column(index: int, header: list[str]) -> str:
    """``column 3`` (1-based, as spreadsheets count), with the header's name when there is one."""
    name = header[index] if index < len(header) and header[index] else None
    return f"column {index + 1}" + (f" (`{name}`)" if name else "")


def _bad_cell(cells: list[str], header: list[str]) -> str:
    """What is wrong with the first cell of a CSV row that is not a number (empty, or text)."""
    for j, cell in enumerate(cells):
        try:
            float(cell)
        except ValueError:
            if not cell.strip():
                return f"not a number: {_column(j, header)} is empty (row {cells!r})"
            return f"not a number in {_column(j, header)}: {cell.strip()!r} (row {cells!r})"
    return f"not a number in row {cells!r}"


def read_text(path: str | Path, lowercase: bool) -> str:
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise DataError(f"{path}: cannot read as UTF-8 text ({exc})") from None
    return text.lower() if lowercase else text


def encode_windows(text: str, vocab: str, window: int, step: int, source: str) -> Dataset:
    """Keras 1 lstm_text_generation.py windows: x [N, window, V] one-hot (uint8), y [N, V] the next character."""
    index = {c: i for i, c in enumerate(vocab)}
    unknown = sorted(set(text) - set(index))
    if unknown:
        raise DataError(f"{source}: characters {''.join(unknown)[:20]!r} are not in the model's vocabulary")
    codes = np.fromiter((index[c] for c in text), dtype=np.int32, count=len(text))
    starts = np.arange(0, len(text) - window, step)
    if len(starts) == 0:
        raise DataError(f"{source}: the text has {len(text)} characters, fewer than one window of {window} + 1")
    eye = np.eye(len(vocab), dtype=np.uint8)
    x = eye[codes[starts[:, None] + np.arange(window)[None, :]]]
    y = eye[codes[starts + window]]
    return Dataset(x, y, source, vocab)


def load_text_windows(path: str | Path, window: int, step: int, lowercase: bool, vocab: str | None = None
                      ) -> Dataset:
    """A character corpus cut into one-hot windows; the vocabulary is the sorted set of characters."""
    text = read_text(path, lowercase)
    if vocab is not None and len(set(vocab)) != len(vocab):
        raise DataError("data.vocab repeats characters: each character must appear once")
    return encode_windows(text, vocab or "".join(sorted(set(text))), window, step, str(path))


def load_arrays(path: str | Path, y_path: str | Path | None = None, need_y: bool = True, missing: str = "error"
                ) -> Dataset:
    """Read x (and y) from a data file; raise ``DataError`` for anything unreadable. ``missing``: the policy for
    empty cells and NaN of a ``.csv`` (``rnncli.data.missing``)."""
    path = Path(path)
    if not path.exists():
        raise DataError(f"{path}: file not found")
    suffix = path.suffix.lower()
    if suffix == ".npz":
        x, y = _load_npz(path, need_y)
    elif suffix == ".npy":
        x = _load_npy(path)
        y = None
        if y_path is not None:
            y = _load_npy(Path(y_path))
        elif need_y:
            raise DataError(f"{path}: an x .npy needs its targets: set `y_train`/`y_validation` (or --y) to a y .npy")
    elif suffix in TABLE_SUFFIXES:
        x, y = _load_csv(path, need_y, missing)
    else:
        raise DataError(f"{path}: unsupported data format `{suffix}`; use .npz (x, y), .npy or .csv")
    return Dataset(x, y, str(path), table=suffix in TABLE_SUFFIXES)


def check_dataset(data: Dataset, plan: ModelPlan, loss: str | None) -> Dataset:
    """Check dtypes, shapes, finiteness and label ranges against the model; return float32/int32 copies."""
    x, y, source = data.x, data.y, data.source
    if x.dtype == object or (y is not None and y.dtype == object):
        raise DataError(f"{source}: object arrays are not supported")
    if x.dtype.kind not in "biuf":
        raise DataError(f"{source}: x has dtype {x.dtype}, expected numbers")
    if x.ndim == 0:
        raise DataError(f"{source}: x is a single number, expected an array of samples")
    if len(x) == 0:
        raise DataError(f"{source}: x is empty (0 samples)")
    shape, note = input_layout(x.shape, plan, source, data.table, inputs_only=y is None)
    notes = list(data.notes) + ([note] if note else [])
    if shape != x.shape:
        x = x.reshape(shape)
    if plan.input_dtype == "int32":
        if x.dtype.kind == "f" and not np.all(np.isfinite(x)):
            raise DataError(f"{source}: x contains NaN or Inf")
        if x.dtype.kind == "f" and not np.all(np.equal(np.mod(x, 1), 0)):
            raise DataError(f"{source}: x must hold integer indices for the Embedding layer")
        x = np.asarray(x, dtype=np.int64)
        vocab = plan.layers[0].config["input_dim"]
        if x.min() < 0 or x.max() >= vocab:
            bad = int(x.max()) if x.max() >= vocab else int(x.min())
            raise DataError(f"{source}: x holds index {bad} but the Embedding has input_dim={vocab} "
                            f"(valid indices 0..{vocab - 1})")
        x = x.astype(np.int32)
    elif x.dtype in (np.uint8, np.bool_):
        x = np.asarray(x)  # one-hot data stays compact; batches are cast to float32 as they are fed
    else:
        if x.dtype != np.float32:
            x = np.asarray(x, dtype=np.float32)  # float32 memory maps stay memory maps (read batch by batch)
        _check_finite(x, source, "x")
    if y is not None:
        y = _check_targets(y, len(x), plan, loss, source)
    return Dataset(x, y, source, data.vocab, data.table, notes)


def _check_finite(array: np.ndarray, source: str, name: str, chunk: int = 4096) -> None:
    """Scan in chunks of samples so a memory-mapped array is never copied whole."""
    for start in range(0, len(array), chunk):
        block = np.asarray(array[start:start + chunk])
        if not np.all(np.isfinite(block)):
            index = np.argwhere(~np.isfinite(block))[0]
            index[0] += start
            raise DataError(f"{source}: {name} contains NaN or Inf (first at index {tuple(int(i) for i in index)})")


def _check_targets(y: np.ndarray, n: int, plan: ModelPlan, loss: str | None, source: str) -> np.ndarray:
    if y.dtype.kind not in "biuf":
        raise DataError(f"{source}: y has dtype {y.dtype}, expected numbers")
    if y.ndim == 0:
        raise DataError(f"{source}: y is a single number, expected one target per sample")
    shape = target_layout(y.shape, n, plan, loss, source)
    y = np.asarray(y, dtype=np.float32)
    _check_finite(y, source, "y")
    y = y.reshape(shape)
    out = plan.output_shape[1:]
    if loss == "sparse_categorical_crossentropy":
        if np.any(y < 0) or np.any(y >= out[-1]) or np.any(np.mod(y, 1) != 0):
            raise DataError(f"{source}: sparse labels must be integers in 0..{out[-1] - 1} for the model's "
                            f"{out[-1]} outputs; found range {y.min():g}..{y.max():g}")
        return y
    if loss in ("binary_crossentropy",) and (np.any(y < 0) or np.any(y > 1)):
        raise DataError(f"{source}: binary_crossentropy needs targets in [0, 1]; found {y.min():g}..{y.max():g}")
    if loss == "categorical_crossentropy" and (np.any(y < 0) or np.any(y > 1)):
        raise DataError(f"{source}: categorical_crossentropy needs one-hot or probability targets in [0, 1]; "
                        f"found {y.min():g}..{y.max():g}")
    return y


def data_notes(*datasets: Dataset | None) -> list[str]:
    """What was done to fit the data to the model (reshaped CSV rows, ...), each note once."""
    return list(dict.fromkeys(note for data in datasets if data is not None for note in data.notes))


def split_validation(data: Dataset, fraction: float, multiple: int = 1) -> tuple[Dataset, Dataset]:
    """Keras 1 ``validation_split``: the last ``fraction`` of the samples, unshuffled. ``multiple`` (a stateful
    model's batch size) moves the split down to a whole number of batches."""
    split_at = int(len(data) * (1.0 - fraction)) // multiple * multiple
    if split_at <= 0 or split_at >= len(data):
        raise DataError(f"{data.source}: validation_split={fraction} leaves no training or no validation samples "
                        f"out of {len(data)}")
    return data.slice(0, split_at), data.slice(split_at, len(data), f"{data.source} (validation_split)")


def fit_to_batches(data: Dataset, batch_size: int, remainder: str, what: str) -> Dataset:
    """Stateful models need whole batches: drop the tail (``remainder: drop``) or refuse with the counts."""
    extra = len(data) % batch_size
    if extra == 0:
        return data
    if remainder == "drop":
        keep = len(data) - extra
        if keep == 0:
            raise DataError(f"{data.source}: {len(data)} {what} samples are fewer than one batch of {batch_size}")
        return data.slice(0, keep)
    raise DataError(
        f"{data.source}: a stateful model needs a number of {what} samples divisible by the batch size "
        f"{batch_size}; found {len(data)} ({len(data) // batch_size} batches and {extra} left over). "
        f"Set `data.remainder: drop` to drop the last {extra}, or change the data"
    )
