"""Broken data files: each is a clear DataError naming the file and the problem, before any training."""

from __future__ import annotations

import textwrap
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rnncli.config.validate import load_config
from rnncli.data.dataset import check_dataset, load_arrays
from rnncli.errors import DataError


def plan_of(tmp_path: Path, first: str, last: str, loss: str = "mse"):
    path = tmp_path / "c.yaml"
    path.write_text(textwrap.dedent(f"""\
        model:
          layers:
            - {first}
            - {last}
        """))
    return load_config(path).model, loss


def check(tmp_path: Path, plan_loss, x, y=None, name: str = "d.npz") -> None:
    plan, loss = plan_loss
    path = tmp_path / name
    if name.endswith(".npz"):
        arrays = {"x": x} if y is None else {"x": x, "y": y}
        np.savez(path, **arrays)
    check_dataset(load_arrays(path), plan, loss)


@pytest.fixture
def lstm(tmp_path: Path):
    return plan_of(tmp_path, "{type: LSTM, output_dim: 4, input_shape: [5, 3]}", "{type: Dense, output_dim: 2}")


@pytest.mark.parametrize("x,y,message", [
    (np.zeros((8, 5, 3), "U3"), np.zeros((8, 2)), "expected numbers"),
    (np.zeros((8, 5)), np.zeros((8, 2)), "(8, 5) (2-D) but the model expects (None, 5, 3)"),
    (np.zeros((8, 5, 4)), np.zeros((8, 2)), "x has 4 features per step but the first layer expects 3"),
    (np.zeros((8, 6, 3)), np.zeros((8, 2)), "x has 6 entries on axis 1 but the first layer expects 5"),
    (np.zeros((0, 5, 3)), np.zeros((0, 2)), "x is empty"),
    (np.full((8, 5, 3), np.inf), np.zeros((8, 2)), "x contains NaN or Inf (first at index (0, 0, 0))"),
    (np.zeros((8, 5, 3)), np.full((8, 2), np.nan), "y contains NaN or Inf"),
    (np.zeros((8, 5, 3)), np.zeros((7, 2)), "x has 8 samples but y has 7"),
    (np.zeros((8, 5, 3)), np.zeros((8, 3)), "y has shape (8, 3) but the model outputs (None, 2)"),
])
def test_array_problems(tmp_path: Path, lstm, x, y, message: str) -> None:
    with pytest.raises(DataError) as info:
        check(tmp_path, lstm, x, y)
    assert message in str(info.value) and "d.npz" in str(info.value)


def test_object_arrays_and_pickles_are_refused(tmp_path: Path, lstm) -> None:
    np.save(tmp_path / "x.npy", np.array([{"evil": 1}] * 3, dtype=object), allow_pickle=True)
    with pytest.raises(DataError, match="holds Python objects"):
        load_arrays(tmp_path / "x.npy", need_y=False)
    np.savez(tmp_path / "o.npz", x=np.array([None] * 3, dtype=object), y=np.zeros(3))
    with pytest.raises(DataError, match="holds Python objects"):
        load_arrays(tmp_path / "o.npz")


def test_truncated_files(tmp_path: Path) -> None:
    np.save(tmp_path / "x.npy", np.zeros((100, 5, 3), np.float32))
    data = (tmp_path / "x.npy").read_bytes()
    (tmp_path / "x.npy").write_bytes(data[: len(data) // 2])
    with pytest.raises(DataError, match="x.npy"):
        load_arrays(tmp_path / "x.npy", need_y=False)
    np.savez(tmp_path / "d.npz", x=np.zeros((10, 5, 3)), y=np.zeros((10, 2)))
    blob = (tmp_path / "d.npz").read_bytes()
    (tmp_path / "d.npz").write_bytes(blob[: len(blob) // 3])
    with pytest.raises(DataError, match="d.npz"):
        load_arrays(tmp_path / "d.npz")


def test_csv_ragged_rows_and_text(tmp_path: Path) -> None:
    (tmp_path / "d.csv").write_text("a,b,c\n1,2,3\n4,5\n")
    with pytest.raises(DataError, match=r"d.csv:3: row has 2 columns, the first row has 3"):
        load_arrays(tmp_path / "d.csv")
    (tmp_path / "e.csv").write_text("1,2,3\n4,five,6\n")
    with pytest.raises(DataError, match=r"e.csv:2: not a number"):
        load_arrays(tmp_path / "e.csv")


def test_labels_out_of_range_for_the_loss(tmp_path: Path) -> None:
    sparse = plan_of(tmp_path, "{type: LSTM, output_dim: 4, input_shape: [5, 3]}",
                     "{type: Dense, output_dim: 3, activation: softmax}", "sparse_categorical_crossentropy")
    with pytest.raises(DataError, match=r"sparse labels must be integers in 0..2"):
        check(tmp_path, sparse, np.zeros((4, 5, 3)), np.array([[0], [1], [2], [3]]))
    binary = plan_of(tmp_path, "{type: LSTM, output_dim: 4, input_shape: [5, 3]}",
                     "{type: Dense, output_dim: 1, activation: sigmoid}", "binary_crossentropy")
    with pytest.raises(DataError, match=r"binary_crossentropy needs targets in \[0, 1\]"):
        check(tmp_path, binary, np.zeros((2, 5, 3)), np.array([[0.0], [2.0]]))


def test_embedding_indices_beyond_input_dim(tmp_path: Path) -> None:
    plan = plan_of(tmp_path, "{type: Embedding, input_dim: 10, output_dim: 4, input_length: 6}",
                   "{type: LSTM, output_dim: 2}")
    x = np.ones((3, 6), np.int32)
    x[1, 2] = 10
    with pytest.raises(DataError, match=r"index 10 but the Embedding has input_dim=10"):
        check(tmp_path, plan, x, np.zeros((3, 2)))
    with pytest.raises(DataError, match="integer indices"):
        check(tmp_path, plan, np.full((3, 6), 1.5), np.zeros((3, 2)))


@settings(max_examples=60, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(shape=st.lists(st.integers(0, 6), min_size=0, max_size=4),
       dtype=st.sampled_from(["float32", "float64", "int8", "uint8", "bool", "complex64", "U2", "V4", "int64"]),
       special=st.sampled_from([None, np.nan, np.inf, -np.inf, 1e40]))
def test_fuzzed_arrays_never_crash(tmp_path: Path, lstm, shape: list[int], dtype: str, special) -> None:
    """Any array is either accepted or refused with a DataError: never another exception."""
    x = np.zeros(shape, dtype=dtype)
    if special is not None and x.size and x.dtype.kind == "f":
        x.flat[0] = special
    y = np.zeros((shape[0] if shape else 1, 2), np.float32)
    try:
        check(tmp_path, lstm, x, y)
    except DataError:
        pass
