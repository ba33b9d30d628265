"""A long time series as training data: windows, horizons, multi-step targets, time splits, streams for TBPTT.

The series is a table ``[steps, columns]``: a ``.csv`` with a header (one row per step) or a ``.npy`` of shape
``[steps]`` or ``[steps, columns]`` (memory-mapped). With ``window: T``, ``horizon: h``, ``outputs: k`` and
``stride: s``, sample ``n`` starts at step ``start(n)`` and is

* ``x[n] = series[start : start + T, inputs]``                                   ``[T, len(inputs)]``
* ``y[n] = series[start + T + h - 1 : start + T + h - 1 + k, targets]``          ``[k, len(targets)]`` (or flat
  ``[k * len(targets)]`` when the model's output is flat)

with ``start(n) = n * s``. A stateful model (batch size B) gets the truncated-BPTT layout instead: the part is cut
into B contiguous streams of ``L // B`` steps, and ``start(n) = (n % B) * (L // B) + (n // B) * T``, so row i of
batch j+1 continues row i of batch j.

Windows are never materialized: ``WindowArray`` is indexed like an array (``len``, ``shape``, a slice gives a
narrower ``WindowArray``, an index array or ``np.asarray`` gathers just those samples), so the training loop's
batch-wise gathers read ``B * T`` steps per batch from the (memory-mapped) series.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from rnncli.data.dataset import Dataset
from rnncli.data.missing import fill_missing
from rnncli.data.normalization import Normalization
from rnncli.errors import DataError


# ---------------------------------------------------------------------------------------------------------------
# reading
# ---------------------------------------------------------------------------------------------------------------


@dataclass
class SeriesTable:
    """The series' values ``[steps, columns]`` (float32, maybe a memory map), its column names, and for a CSV
    the file line of each step (for messages)."""

    values: np.ndarray
    names: list[str]
    source: str
    lines: np.ndarray | None = None
    csv: bool = False
    text: dict[int, tuple[int, str]] = field(default_factory=dict)  # column -> (line, cell) of its first non-number


def _read_csv(path: Path) -> SeriesTable:
    try:
        content = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise DataError(f"{path}: cannot read ({exc})") from None
    header: list[str] | None = None
    text: dict[int, tuple[int, str]] = {}
    rows: list[list[float]] = []
    lines: list[int] = []
    for number, line in enumerate(content.splitlines(), start=1):
        if not line.strip():
            continue
        cells = [c.strip() for c in line.split(",")]
        if header is None:
            if all(_is_number(c) for c in cells if c):
                raise DataError(f"{path}:{number}: a series `.csv` starts with a header line naming its columns "
                                f"(found numbers: {line[:60]!r})")
            header = cells
            continue
        if len(cells) != len(header):
            raise DataError(f"{path}:{number}: row has {len(cells)} columns, the header has {len(header)}")
        try:
            rows.append([float(c) if c else math.nan for c in cells])
        except ValueError:  # a text column (a date, a label): fine unless the series uses it
            row = []
            for column, cell in enumerate(cells):
                try:
                    row.append(float(cell) if cell else math.nan)
                except ValueError:
                    text.setdefault(column, (number, cell))
                    row.append(0.0)
            rows.append(row)
        lines.append(number)
    if header is None or not rows:
        raise DataError(f"{path}: no data rows (a series `.csv` is a header line, then one row per step)")
    return SeriesTable(np.asarray(rows, dtype=np.float32), header, str(path), np.asarray(lines, np.int64), True,
                       text)


def _is_number(cell: str) -> bool:
    try:
        float(cell)
    except ValueError:
        return False
    return True


def _read_npy(path: Path) -> SeriesTable:
    try:
        values = np.load(path, mmap_mode="r", allow_pickle=False)
    except (ValueError, OSError, EOFError) as exc:
        raise DataError(f"{path}: not a readable numeric .npy ({exc})") from None
    if values.ndim == 1:
        values = values.reshape(-1, 1)
    if values.ndim != 2:
        raise DataError(f"{path}: a series `.npy` is [steps] or [steps, columns], got shape {values.shape}")
    if values.dtype.kind not in "biuf":
        raise DataError(f"{path}: dtype {values.dtype}, expected numbers")
    if values.dtype != np.float32:
        values = np.asarray(values, dtype=np.float32)
    return SeriesTable(values, [str(i) for i in range(values.shape[1])], str(path))


def read_series(path: str | Path) -> SeriesTable:
    """The table of a series file (``.csv`` with a header, or ``.npy``)."""
    path = Path(path)
    if not path.exists():
        raise DataError(f"{path}: file not found")
    suffix = path.suffix.lower()
    if suffix == ".csv":
        return _read_csv(path)
    if suffix == ".npy":
        return _read_npy(path)
    raise DataError(f"{path}: a series is a `.csv` with a header or a `.npy` [steps, columns], not `{suffix}`")


def resolve_columns(wanted: Any, table: SeriesTable, what: str) -> list[int]:
    """Column indices of ``wanted`` (names for a CSV, indices for a ``.npy``; None: every column)."""
    if wanted is None:
        return list(range(len(table.names)))
    wanted = wanted if isinstance(wanted, list) else [wanted]
    out = []
    for item in wanted:
        if table.csv:
            if str(item) not in table.names:
                raise DataError(f"{table.source}: data.series.{what}: no column `{item}` (the header has "
                                f"{', '.join(table.names)})")
            out.append(table.names.index(str(item)))
        else:
            if not isinstance(item, int) or not 0 <= item < len(table.names):
                raise DataError(f"{table.source}: data.series.{what}: {item!r} is not a column index of a series "
                                f"with {len(table.names)} columns (0..{len(table.names) - 1})")
            out.append(item)
    return out


# ---------------------------------------------------------------------------------------------------------------
# windows
# ---------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Layout:
    """Where sample n starts: ``base + (n // streams) * step + (n % streams) * stream_length`` (streams = 1:
    ``base + n * step``), for ``count`` samples."""

    count: int
    step: int
    streams: int = 1
    stream_length: int = 0
    base: int = 0

    def starts(self, index: np.ndarray) -> np.ndarray:
        index = np.asarray(index, dtype=np.int64)
        return self.base + (index // self.streams) * self.step + (index % self.streams) * self.stream_length


class WindowArray:
    """``len(layout)`` windows of ``length`` steps of ``columns`` of ``series``, starting ``offset`` steps after
    each sample's start; float32 ``[N, length, C]`` or, with ``flat``, ``[N, length * C]``. Normalized by
    ``(value - shift) / scale`` when given. Indexing gathers; nothing of size N x length is ever built."""

    def __init__(self, series: np.ndarray, layout: Layout, length: int, columns: Sequence[int], offset: int = 0,
                 flat: bool = False, shift: np.ndarray | None = None, scale: np.ndarray | None = None,
                 first: int = 0, count: int | None = None):
        self.series, self.layout, self.length, self.columns = series, layout, length, list(columns)
        self.offset, self.flat, self.shift, self.scale = offset, flat, shift, scale
        self.first = first
        self.count = layout.count - first if count is None else count
        self._contiguous = self.columns == list(range(self.columns[0], self.columns[0] + len(self.columns)))

    @property
    def shape(self) -> tuple[int, ...]:
        inner = (self.length * len(self.columns),) if self.flat else (self.length, len(self.columns))
        return (self.count,) + inner

    @property
    def ndim(self) -> int:
        return len(self.shape)

    dtype = np.dtype(np.float32)

    def __len__(self) -> int:
        return self.count

    def _narrowed(self, first: int, count: int) -> "WindowArray":
        return WindowArray(self.series, self.layout, self.length, self.columns, self.offset, self.flat, self.shift,
                           self.scale, self.first + first, count)

    def gather(self, index: np.ndarray) -> np.ndarray:
        """The samples ``index`` (positions in this array) as float32 ``[len(index), ...]``."""
        index = np.asarray(index, dtype=np.int64)
        if index.size and (index.min() < 0 or index.max() >= self.count):
            raise IndexError(f"sample index out of range 0..{self.count - 1}")
        starts = self.layout.starts(index + self.first) + self.offset
        rows = starts[:, None] + np.arange(self.length)[None, :]
        if self._contiguous:
            c0 = self.columns[0]
            values = np.asarray(self.series[rows.reshape(-1)][:, c0:c0 + len(self.columns)])
        else:
            values = np.asarray(self.series[rows.reshape(-1)][:, self.columns])
        values = values.reshape(len(index), self.length, len(self.columns)).astype(np.float32, copy=False)
        if self.shift is not None:
            values = ((values - self.shift) / self.scale).astype(np.float32)
        return values.reshape((len(index),) + self.shape[1:])

    def __getitem__(self, index: Any) -> Any:
        if isinstance(index, slice):
            start, stop, step = index.indices(self.count)
            if step == 1:
                return self._narrowed(start, max(stop - start, 0))
            return self.gather(np.arange(start, stop, step))
        if isinstance(index, (int, np.integer)):
            return self.gather(np.array([index]))[0]
        return self.gather(np.asarray(index))

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        values = self.gather(np.arange(self.count))
        return values if dtype is None else values.astype(dtype)


# ---------------------------------------------------------------------------------------------------------------
# a config's series
# ---------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SeriesSpec:
    """The resolved ``data.series`` mapping, with the model facts the layout needs."""

    inputs: Any
    targets: Any
    window: int
    horizon: int
    outputs: int
    stride: int
    validation: float
    test: float
    missing: str
    normalize: str
    flat: bool                   # y is [N, k * targets] (a flat model output), else [N, k, targets]
    streams: int = 1             # a stateful model's batch size: the truncated-BPTT layout

    @staticmethod
    def of(config: Any) -> "SeriesSpec":
        series = config.data["series"]
        split = series.get("split") or {}
        plan = config.model
        out = tuple(plan.output_shape[1:])
        streams = plan.batch_size if plan.stateful else 1
        return SeriesSpec(series["inputs"], series["targets"], series["window"], series["horizon"],
                          series["outputs"], series["stride"] or (series["window"] if plan.stateful else 1),
                          split.get("validation", 0.0), split.get("test", 0.0), series["missing"],
                          series["normalize"], len(out) != 2, streams)

    @property
    def reach(self) -> int:
        """Steps one sample spans: its window, the gap to the first target, the target steps."""
        return self.window + self.horizon - 1 + self.outputs


def layout_for(steps: int, spec: SeriesSpec, source: str) -> Layout:
    """Where the samples of a part of ``steps`` steps start; ``DataError`` when it holds none."""
    if spec.streams > 1:
        length = steps // spec.streams
        if length < spec.reach:
            raise DataError(f"{source}: {steps} steps in {spec.streams} streams (the stateful batch size) leave "
                            f"{length} steps per stream, fewer than one window of {spec.window} + horizon "
                            f"{spec.horizon} + {spec.outputs} target steps - 1 = {spec.reach}")
        chunks = (length - spec.reach) // spec.window + 1
        return Layout(chunks * spec.streams, spec.window, spec.streams, length)
    if steps < spec.reach:
        raise DataError(f"{source}: {steps} steps are fewer than one sample needs: window {spec.window} + horizon "
                        f"{spec.horizon} + {spec.outputs} target steps - 1 = {spec.reach}")
    return Layout((steps - spec.reach) // spec.stride + 1, spec.stride)


def load_table(path: str | Path, spec: SeriesSpec) -> tuple[SeriesTable, list[int], list[int]]:
    """The series of ``path`` with its missing values handled, and the input and target column indices."""
    table = read_series(path)
    inputs = resolve_columns(spec.inputs, table, "inputs")
    targets = resolve_columns(spec.targets, table, "targets")
    used = sorted(set(inputs) | set(targets))
    for column in used:
        if column in table.text:
            line, cell = table.text[column]
            raise DataError(f"{table.source}:{line}: column `{table.names[column]}` holds text ({cell!r}); the "
                            f"series' inputs and targets must be numbers")
    if used != list(range(len(table.names))):  # only the columns used (a copy: an in-memory CSV, or a subset)
        at = {c: i for i, c in enumerate(used)}
        table = replace(table, values=np.asarray(table.values[:, used]), names=[table.names[c] for c in used],
                        text={})
        inputs, targets = [at[c] for c in inputs], [at[c] for c in targets]
    values, kept = fill_missing(table.values, spec.missing, table.source, table.lines, table.names)
    table = replace(table, values=values, lines=None if table.lines is None or kept is not None else table.lines)
    return table, inputs, targets


def windows(values: np.ndarray, spec: SeriesSpec, inputs: list[int], targets: list[int], source: str,
            normalization: Normalization | None, with_targets: bool = True, layout: Layout | None = None
            ) -> Dataset:
    """The samples of ``values`` [steps, columns] as a ``Dataset`` of ``WindowArray``s."""
    layout = layout or layout_for(len(values), spec, source)
    norm_x = (normalization.input_shift, normalization.input_scale) if normalization else (None, None)
    norm_y = (normalization.target_shift, normalization.target_scale) if normalization else (None, None)
    x = WindowArray(values, layout, spec.window, inputs, 0, False, *norm_x)
    y = WindowArray(values, layout, spec.outputs, targets, spec.window + spec.horizon - 1, spec.flat, *norm_y) \
        if with_targets else None
    return Dataset(x, y, source, normalization=normalization)  # type: ignore[arg-type]  (array-likes)


@dataclass
class SeriesSets:
    """The parts of a series config: train, validation and test (None when absent), and the statistics."""

    train: Dataset
    validation: Dataset | None
    test: Dataset | None
    normalization: Normalization | None
    notes: list[str] = field(default_factory=list)


def split_bounds(steps: int, validation: float, test: float) -> tuple[int, int]:
    """(end of train, end of validation): the last ``test`` and the ``validation`` before it, by time."""
    val_end = steps - int(steps * test)
    train_end = val_end - int(steps * validation)
    return train_end, val_end


def series_sets(config: Any) -> SeriesSets:
    """Train/validation/test of a config with ``data.series`` (validation from ``data.validation`` or the
    split), normalized with statistics of the training part."""
    spec = SeriesSpec.of(config)
    data_cfg = config.data
    table, inputs, targets = load_table(data_cfg["train"], spec)
    values = table.values
    train_end, val_end = split_bounds(len(values), spec.validation, spec.test)
    source = table.source
    normalization = None
    if spec.normalize != "none":
        normalization = Normalization.fit(values[:train_end], spec.normalize, inputs, targets, table.names)
    train = windows(values[:train_end], spec, inputs, targets, f"{source} (steps 0..{train_end - 1})",
                    normalization)
    validation = None
    if val_end > train_end:
        validation = windows(values[train_end:val_end], spec, inputs, targets,
                             f"{source} (validation, steps {train_end}..{val_end - 1})", normalization)
    elif data_cfg.get("validation"):
        other, other_inputs, other_targets = load_table(data_cfg["validation"], spec)
        validation = windows(other.values, spec, other_inputs, other_targets, other.source, normalization)
    test = None
    if len(values) > val_end:
        test = windows(values[val_end:], spec, inputs, targets, f"{source} (test, steps {val_end}..{len(values) - 1})",
                       normalization)
    notes = [f"{source}: {len(values)} steps -> {len(train)} training windows of {spec.window} steps"
             + (f", {len(validation)} validation" if validation is not None else "")
             + (f", {len(test)} test" if test is not None else "")
             + (f" ({spec.streams} contiguous streams per batch: truncated BPTT)" if spec.streams > 1 else "")
             + (f"; {spec.normalize} normalization fitted on the training part" if normalization else "")]
    train.notes = notes
    return SeriesSets(train, validation, test, normalization, notes)
