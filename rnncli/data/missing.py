"""Missing values (empty cells, NaN) in a table of steps or samples, by the policy ``missing:`` names.

``table`` is float32 ``[rows, columns]`` with NaN where a value is missing. The policies, and their pandas
equivalents (the tests check them against pandas):

* ``error``: a ``DataError`` naming the file line (``lines[row]``) and the column of the first missing value;
* ``drop``: rows with any missing value are removed (``df.dropna()``);
* ``zero``: missing values become 0 (``df.fillna(0)``);
* ``ffill``: the last valid value above; a column's first values take its first valid one (``df.ffill().bfill()``);
* ``interpolate``: linear in the row index between the valid neighbours; the ends take the nearest valid value
  (``df.interpolate(limit_direction="both")``).

A table without missing values is returned as it is (a memory map stays a memory map): only a table that needs
filling is copied.

>>> import numpy as np
>>> t = np.array([[1.0], [np.nan], [3.0]], np.float32)
>>> fill_missing(t, "interpolate", "s.csv")[0][:, 0].tolist()
[1.0, 2.0, 3.0]
>>> fill_missing(t, "ffill", "s.csv")[0][:, 0].tolist()
[1.0, 1.0, 3.0]
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from rnncli.errors import DataError

POLICIES = ("error", "drop", "zero", "ffill", "interpolate")
_CHUNK = 1 << 16  # rows scanned at a time (a memory-mapped table is never copied whole to look for NaN)


def first_missing(table: np.ndarray) -> tuple[int, int] | None:
    """(row, column) of the first NaN of ``table`` [rows, columns], or None; scanned in chunks of rows."""
    for start in range(0, len(table), _CHUNK):
        block = np.asarray(table[start:start + _CHUNK])
        bad = np.isnan(block) if block.dtype.kind == "f" else None
        if bad is not None and bad.any():
            row, column = np.argwhere(bad)[0]
            return start + int(row), int(column)
    return None


def _where(source: str, row: int, lines: np.ndarray | None) -> str:
    return f"{source}:{int(lines[row])}" if lines is not None else f"{source}: step {row}"


def _column_name(column: int, names: Sequence[str] | None) -> str:
    return f"`{names[column]}`" if names is not None else str(column)


def fill_missing(table: np.ndarray, policy: str, source: str, lines: np.ndarray | None = None,
                 names: Sequence[str] | None = None, key: str = "data.series.missing"
                 ) -> tuple[np.ndarray, np.ndarray | None]:
    """``(table, kept)``: ``table`` [rows, columns] with its missing values handled by ``policy``; ``kept`` is the
    index of the rows kept by ``drop`` (None when every row is kept). ``lines``: the file line of each row (CSV),
    for messages; ``names``: the column names."""
    if policy not in POLICIES:
        raise ValueError(f"unknown missing-value policy {policy!r}")
    found = first_missing(table)
    if found is None:
        return table, None
    row, column = found
    if policy == "error":
        raise DataError(f"{_where(source, row, lines)}: missing value (an empty cell or NaN) in column "
                        f"{_column_name(column, names)}; set `{key}` to drop, zero, ffill or interpolate")
    values = np.array(table, dtype=np.float32)  # the one copy: the table needs changing
    bad = np.isnan(values)
    if policy == "drop":
        kept = np.flatnonzero(~bad.any(axis=1))
        if len(kept) == 0:
            raise DataError(f"{source}: every row has a missing value; `{key}: drop` leaves nothing")
        return values[kept], kept
    if policy == "zero":
        values[bad] = 0.0
        return values, None
    for c in range(values.shape[1]):
        valid = np.flatnonzero(~bad[:, c])
        if len(valid) == 0:
            raise DataError(f"{source}: column {_column_name(c, names)} has no value at all; `{key}: {policy}` "
                            f"needs at least one")
        if len(valid) == len(values):
            continue
        if policy == "ffill":
            last = np.maximum.accumulate(np.where(bad[:, c], 0, np.arange(len(values))))
            last[: valid[0]] = valid[0]  # leading gaps take the first valid value
            values[:, c] = values[last, c]
        else:  # interpolate: np.interp holds the end values constant
            rows = np.arange(len(values), dtype=np.float64)
            values[:, c] = np.interp(rows, valid.astype(np.float64), values[valid, c].astype(np.float64))
    return values, None
