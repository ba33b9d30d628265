"""Missing values (``data.missing``, ``data.series.missing``) against pandas, for CSV tables and series; the
default error names the file line for an empty cell and for NaN alike."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from rnncli.config.validate import load_config
from rnncli.data.dataset import load_arrays
from rnncli.data.missing import fill_missing
from rnncli.data.series import series_sets
from rnncli.errors import DataError

PANDAS = {
    "drop": lambda df: df.dropna(),
    "zero": lambda df: df.fillna(0.0),
    "ffill": lambda df: df.ffill().bfill(),
    "interpolate": lambda df: df.interpolate(method="linear", limit_direction="both"),
}


def table_with_gaps(seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    table = rng.normal(size=(30, 4)).astype(np.float32)
    table[rng.random(table.shape) < 0.2] = np.nan
    table[0, 1] = table[-1, 2] = table[-2, 2] = np.nan  # leading and trailing gaps
    return table


@pytest.mark.parametrize("policy", sorted(PANDAS))
def test_policies_equal_pandas(policy: str) -> None:
    table = table_with_gaps()
    ours, kept = fill_missing(table, policy, "t.csv")
    expected = PANDAS[policy](pd.DataFrame(table.astype(np.float64)))
    np.testing.assert_allclose(ours, expected.to_numpy(), rtol=1e-6, atol=1e-7)
    if policy == "drop":
        np.testing.assert_array_equal(kept, expected.index.to_numpy())


def write_csv(path: Path, rows: list[list[str]]) -> Path:
    path.write_text("\n".join(",".join(r) for r in rows) + "\n")
    return path


@pytest.mark.parametrize("policy", sorted(PANDAS))
def test_csv_tables_follow_data_missing(tmp_path: Path, policy: str) -> None:
    table = table_with_gaps(1)
    cells = [["" if np.isnan(v) else repr(float(v)) for v in row] for row in table]
    cells[3][0] = "nan"  # a NaN written out counts as missing too
    table[3, 0] = np.nan
    data = load_arrays(write_csv(tmp_path / "t.csv", [["a", "b", "c", "y"]] + cells), missing=policy)
    expected = PANDAS[policy](pd.DataFrame(table.astype(np.float64))).to_numpy()
    np.testing.assert_allclose(np.concatenate([data.x, data.y], axis=1), expected, rtol=1e-6, atol=1e-7)


def test_default_error_names_the_line_for_empty_cells_and_nan(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "e.csv", [["a", "y"], ["1", "0"], ["", "1"]])
    with pytest.raises(DataError, match=r"e.csv:3: missing value: column 1 \(`a`\) is empty; set "
                                        r"`data.missing` to drop, zero, ffill or interpolate"):
        load_arrays(path)
    path = write_csv(tmp_path / "n.csv", [["a", "y"], ["1", "0"], ["2", "1"], ["3", "NaN"]])
    with pytest.raises(DataError, match=r"n.csv:4: missing value: column 2 \(`y`\) is NaN \('NaN'\)"):
        load_arrays(path)


@pytest.mark.parametrize("policy", ["error", "ffill", "interpolate", "drop"])
def test_series_missing(tmp_path: Path, policy: str) -> None:
    values = np.arange(40, dtype=np.float64).reshape(20, 2)
    values[5, 0] = np.nan
    lines = ["p,q"] + [("" if np.isnan(a) else str(a)) + f",{b}" for a, b in values]
    (tmp_path / "s.csv").write_text("\n".join(lines) + "\n")
    doc = {"model": {"layers": [{"type": "GRU", "output_dim": 2, "input_shape": [3, 2]},
                                {"type": "Dense", "output_dim": 1}]},
           "data": {"train": "s.csv", "series": {"targets": ["q"], "window": 3, "missing": policy}},
           "training": {"loss": "mse"}}
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(doc))
    config = load_config(tmp_path / "c.yaml")
    if policy == "error":
        with pytest.raises(DataError, match=r"s.csv:7: missing value .* column `p`; set `data.series.missing`"):
            series_sets(config)
        return
    x = np.asarray(series_sets(config).train.x)
    filled = PANDAS[policy](pd.DataFrame(values)).to_numpy().astype(np.float32)
    np.testing.assert_array_equal(x, np.stack([filled[i:i + 3] for i in range(len(filled) - 3)]))
